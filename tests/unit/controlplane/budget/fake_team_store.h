#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "controlplane/store/team_store.h"

namespace ccrelay::controlplane::testing {

// The usage half of a TeamStore in memory (users are not needed by the ledger): records above
// their source's committed seq kept (the others skipped as resends), sums by user and time, a
// switch that makes commits fail, and counters.
class FakeTeamStore final : public TeamStore {
 public:
  absl::Status AddUser(const StoredUser&) override { return absl::UnimplementedError("fake"); }
  absl::StatusOr<std::vector<StoredUser>> ListUsers() override { return std::vector<StoredUser>{}; }
  absl::StatusOr<StoredUser> GetUser(std::string_view) override {
    return absl::NotFoundError("fake");
  }
  absl::Status UpdateUser(const StoredUser&) override { return absl::UnimplementedError("fake"); }
  absl::Status RemoveUser(std::string_view) override { return absl::UnimplementedError("fake"); }

  absl::StatusOr<uint64_t> RecordUsage(std::string_view source,
                                       const std::vector<ccrelay::v1::UsageRecord>& records,
                                       int64_t /*now_ms*/) override {
    absl::MutexLock lock(&mu_);
    ++commits_;
    if (fail_commits_) {
      return absl::InternalError("disk I/O error");
    }
    uint64_t& committed = committed_[std::string(source)];
    const uint64_t before = committed;
    for (const ccrelay::v1::UsageRecord& r : records) {
      if (r.seq() > before) {
        rows_.push_back(r);
        committed = std::max(committed, r.seq());
      }
    }
    return before;
  }

  absl::StatusOr<Spend> SpendOf(std::string_view user, int64_t since_ms,
                                int64_t until_ms) override {
    absl::MutexLock lock(&mu_);
    ++spend_queries_;
    if (fail_queries_) {
      return absl::InternalError("database is locked");
    }
    Spend s;
    for (const auto& r : rows_) {
      if (r.user() == user && r.unix_ms() >= since_ms && r.unix_ms() < until_ms) {
        s.usd += r.cost_usd();
        s.tokens += r.input_tokens() + r.output_tokens() + r.cache_read_tokens() +
                    r.cache_creation_tokens();
        s.requests += r.requests();
      }
    }
    return s;
  }

  absl::StatusOr<ccrelay::v1::UsageReport> Usage(const ccrelay::v1::GetUsageRequest&,
                                                 int64_t) override {
    return absl::UnimplementedError("fake");
  }

  // Test controls and observations.
  void FailCommits(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_commits_ = fail;
  }
  void FailQueries(bool fail) {
    absl::MutexLock lock(&mu_);
    fail_queries_ = fail;
  }
  void Put(const ccrelay::v1::UsageRecord& r) {
    absl::MutexLock lock(&mu_);
    rows_.push_back(r);
  }
  size_t rows() {
    absl::MutexLock lock(&mu_);
    return rows_.size();
  }
  int spend_queries() {
    absl::MutexLock lock(&mu_);
    return spend_queries_;
  }
  int commits() {
    absl::MutexLock lock(&mu_);
    return commits_;
  }

 private:
  absl::Mutex mu_;
  bool fail_commits_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_queries_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ccrelay::v1::UsageRecord> rows_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> committed_ ABSL_GUARDED_BY(mu_);  // source -> seq
  int spend_queries_ ABSL_GUARDED_BY(mu_) = 0;
  int commits_ ABSL_GUARDED_BY(mu_) = 0;
};

// A usage record of one request of `user` in the minute starting at `unix_ms`.
inline ccrelay::v1::UsageRecord Record(uint64_t seq, const std::string& user, int64_t unix_ms,
                                       double usd, uint64_t input_tokens = 0,
                                       uint64_t output_tokens = 0) {
  ccrelay::v1::UsageRecord r;
  r.set_seq(seq);
  r.set_requests(1);
  r.set_user(user);
  r.set_unix_ms(unix_ms);
  r.set_cost_usd(usd);
  r.set_input_tokens(input_tokens);
  r.set_output_tokens(output_tokens);
  r.set_status(200);
  return r;
}

}  // namespace ccrelay::controlplane::testing
