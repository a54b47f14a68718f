#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "proto/management.pb.h"
#include "proto/team.pb.h"

namespace ccrelay::controlplane {

// A teammate as the store keeps it (never the key: its SHA-256 only).
struct StoredUser {
  std::string name;
  std::string key_sha256;       // 32 raw bytes
  std::string key_fingerprint;  // common::FingerprintOf(key)
  bool enabled = true;
  ccrelay::v1::UserPolicy policy;
  int64_t created_unix_ms = 0;
  int64_t key_rotated_unix_ms = 0;
};

// Spend of one user over a time range (sums of usage records).
struct Spend {
  double usd = 0;
  uint64_t tokens = 0;    // input + output + cache read + cache write
  uint64_t requests = 0;
};

// The control plane's embedded database (SQLite, WAL): teammates and their usage per minute.
// Schema and migrations in SPEC.md "Usage database". Thread-safe (one connection behind a
// mutex; every write is one transaction). Never throws; errors are Status.
class TeamStore {
 public:
  // Opens (creating if needed) the database at `path` (":memory:" for tests and for a control
  // plane run with --db none), sets WAL and synchronous=FULL, and runs pending migrations. A
  // database from a newer cc-relay (unknown schema version) is FailedPrecondition.
  static absl::StatusOr<std::unique_ptr<TeamStore>> Open(const std::string& path);
  virtual ~TeamStore() = default;

  // Users. Names are unique; AlreadyExists / NotFound as the case may be.
  virtual absl::Status AddUser(const StoredUser& user) = 0;
  virtual absl::StatusOr<std::vector<StoredUser>> ListUsers() = 0;  // by name
  virtual absl::StatusOr<StoredUser> GetUser(std::string_view name) = 0;
  virtual absl::Status UpdateUser(const StoredUser& user) = 0;  // by name: every field
  virtual absl::Status RemoveUser(std::string_view name) = 0;   // usage rows stay

  // Adds the usage records of `source` (one data plane process: "<id>/<instance>") to the
  // per-minute sums, and raises the source's committed seq to their highest, in one
  // transaction. A record whose seq is not above the source's committed seq is skipped (a
  // resend after a lost ack). Returns that committed seq as it was before: the records above it
  // were added. `now_ms` dates the source (sources silent for 30 days are forgotten at open).
  virtual absl::StatusOr<uint64_t> RecordUsage(std::string_view source,
                                               const std::vector<ccrelay::v1::UsageRecord>& records,
                                               int64_t now_ms) = 0;

  // Sums for `user` with unix_ms in [since_ms, until_ms).
  virtual absl::StatusOr<Spend> SpendOf(std::string_view user, int64_t since_ms,
                                        int64_t until_ms) = 0;

  // GetUsage's rows (see proto/management.proto GetUsageRequest; `request.user` "" = all).
  // Unknown group_by names are InvalidArgument.
  virtual absl::StatusOr<ccrelay::v1::UsageReport> Usage(
      const ccrelay::v1::GetUsageRequest& request, int64_t now_ms) = 0;
};

}  // namespace ccrelay::controlplane
