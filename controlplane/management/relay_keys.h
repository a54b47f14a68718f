#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "proto/team.pb.h"
#include "dataplane/common/secret.h"

namespace ccrelay::v1 {
class RoutingSnapshot;
}

namespace ccrelay::controlplane {

// Teammates' relay keys and names (SPEC.md "Users and relay keys"). Pure functions.

inline constexpr std::string_view kRelayKeyPrefix = "ccr_";
inline constexpr size_t kRelayKeyLength = 4 + 43;  // "ccr_" + base64url(32 bytes), no padding
inline constexpr std::string_view kAnonymousUser = "anonymous";
inline constexpr std::string_view kDefaultKeyHeader = "x-cc-relay-key";

// [A-Za-z0-9._@-]{1,64}, not "anonymous" (any case): InvalidArgument saying what is wrong.
absl::Status ValidateUserName(std::string_view name);

// A new relay key: "ccr_" + 43 characters of base64url of 32 bytes from RAND_bytes.
// Internal when the random generator fails.
absl::StatusOr<std::string> NewRelayKey();
// True for the shape of a relay key (prefix, length, alphabet); says nothing of its validity.
bool LooksLikeRelayKey(std::string_view text);
using common::RelayKeySha256;

// A policy as AddUser/SetUserPolicy take it: model globs valid (routing::Glob), providers and
// rules named in `effective` (rule "" = the default route), budgets >= 0 and finite,
// soft_fraction in [0, 1). InvalidArgument naming the field otherwise.
absl::Status ValidatePolicy(const ccrelay::v1::UserPolicy& policy,
                            const ccrelay::v1::RoutingSnapshot& effective);

// UTC calendar periods: the start of the day / month holding `unix_ms`, and the next one.
int64_t UtcDayStartMs(int64_t unix_ms);
int64_t UtcMonthStartMs(int64_t unix_ms);
int64_t UtcNextMonthStartMs(int64_t unix_ms);

// UserInfo.budget_state: "" (no budget), "exhausted" (a hard limit reached), "warning" (a soft
// fraction reached), else "ok".
std::string BudgetState(const ccrelay::v1::Budget& budget, double usd_today, uint64_t tokens_today,
                        double usd_month, uint64_t tokens_month);

}  // namespace ccrelay::controlplane
