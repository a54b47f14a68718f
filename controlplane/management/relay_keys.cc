#include "controlplane/management/relay_keys.h"

#include <chrono>
#include <cmath>
#include <set>

#include <openssl/rand.h>

#include "proto/snapshot.pb.h"

#include "dataplane/common/str.h"
#include "dataplane/routing/model_pattern.h"

namespace ccrelay::controlplane {
namespace {

using common::StrCat;

constexpr size_t kMaxUserName = 64;
constexpr size_t kRelayKeyBytes = 32;
constexpr char kBase64Url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '@' || c == '-';
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// base64url without padding.
std::string Base64Url(const unsigned char* data, size_t n) {
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
    out.push_back(kBase64Url[v & 63]);
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out.push_back(kBase64Url[(v >> 18) & 63]);
    out.push_back(kBase64Url[(v >> 12) & 63]);
    out.push_back(kBase64Url[(v >> 6) & 63]);
  }
  return out;
}

std::string List(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    common::StrAppend(&out, out.empty() ? "" : ", ", n.empty() ? "\"\" (default route)" : n);
  }
  return out.empty() ? std::string("none") : out;
}

absl::Status CheckAmount(double v, std::string_view field) {
  if (!std::isfinite(v) || v < 0) {
    return absl::InvalidArgumentError(StrCat("budget.", field, " must be a number >= 0"));
  }
  return absl::OkStatus();
}

using SysDays = std::chrono::sys_days;

std::chrono::year_month_day DateOf(int64_t unix_ms) {
  const auto days = std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(unix_ms)));
  return std::chrono::year_month_day(days);
}

int64_t MsOf(SysDays d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d.time_since_epoch()).count();
}

}  // namespace

absl::Status ValidateUserName(std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError("a user name is required");
  }
  if (name.size() > kMaxUserName) {
    return absl::InvalidArgumentError(
        StrCat("user name too long (", name.size(), " characters; at most ", kMaxUserName, ")"));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(
          "a user name may hold only letters, digits and . _ @ - (at most 64)");
    }
  }
  if (common::EqualsIgnoreCase(name, kAnonymousUser)) {
    return absl::InvalidArgumentError(
        "\"anonymous\" is reserved (the usage of requests without a relay key)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NewRelayKey() {
  unsigned char bytes[kRelayKeyBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("the random generator failed (RAND_bytes)");
  }
  std::string key = StrCat(kRelayKeyPrefix, Base64Url(bytes, sizeof(bytes)));
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return key;
}

bool LooksLikeRelayKey(std::string_view text) {
  if (text.size() != kRelayKeyLength || !text.starts_with(kRelayKeyPrefix)) {
    return false;
  }
  for (char c : text.substr(kRelayKeyPrefix.size())) {
    if (!IsBase64UrlChar(c)) {
      return false;
    }
  }
  return true;
}

absl::Status ValidatePolicy(const ccrelay::v1::UserPolicy& policy,
                            const ccrelay::v1::RoutingSnapshot& effective) {
  for (const std::string& m : policy.allowed_models()) {
    if (absl::Status st = routing::Glob::Validate(m); !st.ok()) {
      return absl::InvalidArgumentError(
          StrCat("allowed model \"", m, "\": ", st.message()));
    }
  }
  std::set<std::string> providers;
  for (const auto& p : effective.providers()) {
    providers.insert(p.name());
  }
  for (const std::string& p : policy.allowed_providers()) {
    if (providers.count(p) == 0) {
      return absl::InvalidArgumentError(
          StrCat("allowed provider \"", p, "\" is not a provider of the config (providers: ",
                 List(providers), ")"));
    }
  }
  std::set<std::string> rules = {""};
  for (const auto& r : effective.routing().rules()) {
    rules.insert(r.name());
  }
  for (const std::string& r : policy.allowed_rules()) {
    if (rules.count(r) == 0) {
      return absl::InvalidArgumentError(StrCat(
          "allowed rule \"", r, "\" is not a rule of routing.rules (rules: ", List(rules), ")"));
    }
  }
  const ccrelay::v1::Budget& b = policy.budget();
  if (absl::Status st = CheckAmount(b.usd_per_day(), "usd_per_day"); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckAmount(b.usd_per_month(), "usd_per_month"); !st.ok()) {
    return st;
  }
  if (!std::isfinite(b.soft_fraction()) || b.soft_fraction() < 0 || b.soft_fraction() >= 1) {
    return absl::InvalidArgumentError(
        "budget.soft_fraction must be in [0, 1) (0 = no warning; 0.8 = warn at 80%)");
  }
  return absl::OkStatus();
}

int64_t UtcDayStartMs(int64_t unix_ms) { return MsOf(SysDays(DateOf(unix_ms))); }

int64_t UtcMonthStartMs(int64_t unix_ms) {
  const std::chrono::year_month_day d = DateOf(unix_ms);
  return MsOf(SysDays(d.year() / d.month() / std::chrono::day(1)));
}

int64_t UtcNextMonthStartMs(int64_t unix_ms) {
  const std::chrono::year_month_day d = DateOf(unix_ms);
  const std::chrono::year_month next = d.year() / d.month() + std::chrono::months(1);
  return MsOf(SysDays(next / std::chrono::day(1)));
}

std::string BudgetState(const ccrelay::v1::Budget& budget, double usd_today, uint64_t tokens_today,
                        double usd_month, uint64_t tokens_month) {
  // (limit, spent) of every budget that is set.
  const std::pair<double, double> budgets[] = {
      {budget.usd_per_day(), usd_today},
      {budget.usd_per_month(), usd_month},
      {static_cast<double>(budget.tokens_per_day()), static_cast<double>(tokens_today)},
      {static_cast<double>(budget.tokens_per_month()), static_cast<double>(tokens_month)},
  };
  bool any = false;
  bool warning = false;
  for (const auto& [limit, spent] : budgets) {
    if (limit <= 0) {
      continue;
    }
    any = true;
    if (spent >= limit) {
      return "exhausted";
    }
    if (budget.soft_fraction() > 0 && spent >= budget.soft_fraction() * limit) {
      warning = true;
    }
  }
  if (!any) {
    return "";
  }
  return warning ? "warning" : "ok";
}

}  // namespace ccrelay::controlplane
