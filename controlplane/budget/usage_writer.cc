#include "controlplane/budget/usage_writer.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "proto/snapshot.pb.h"

#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"

namespace ccrelay::controlplane {

using common::F;
using common::Q;

UsageWriter::UsageWriter(TeamStore& store, const common::Clock& clock)
    : store_(store), clock_(clock), ledger_(store, clock), thread_([this] { Run(); }) {}

UsageWriter::~UsageWriter() { Stop(); }

void UsageWriter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void UsageWriter::Open(UsageStream* stream, const std::string& data_plane) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  streams_[id] = Stream{stream, data_plane};
  ids_[stream] = id;
  if (connected_[data_plane]++ == 0) {
    grants_to_all_ = true;  // one more data plane: every share shrinks
  } else {
    grants_to_.insert(id);
  }
}

void UsageWriter::Close(UsageStream* stream) {
  absl::MutexLock lock(&mu_);
  auto it = ids_.find(stream);
  if (it == ids_.end()) {
    return;
  }
  const uint64_t id = it->second;
  ids_.erase(it);
  const std::string data_plane = std::move(streams_[id].data_plane);
  streams_.erase(id);
  grants_to_.erase(id);
  if (--connected_[data_plane] == 0) {
    connected_.erase(data_plane);
    committed_.erase(data_plane);
    grants_to_all_ = true;  // one data plane fewer: every share grows
  }
}

void UsageWriter::Submit(UsageStream* stream, ccrelay::v1::UsageBatch* batch) {
  if (batch->records_size() == 0) {
    return;
  }
  Batch b;
  b.records.reserve(static_cast<size_t>(batch->records_size()));
  for (ccrelay::v1::UsageRecord& r : *batch->mutable_records()) {
    b.records.push_back(std::move(r));
  }
  absl::MutexLock lock(&mu_);
  auto it = ids_.find(stream);
  if (it == ids_.end() || stopping_) {
    return;  // not opened (no hello) or shutting down: the data plane resends
  }
  Stream& s = streams_[it->second];
  if (s.failed) {
    ++counters_.batches_dropped;
    return;  // resent after the reconnect
  }
  if (queue_.size() >= kMaxQueuedBatches) {
    ++counters_.batches_dropped;
    if (!s.failed) {
      s.failed = true;
      CCR_LOG(kError, "usage_queue_full", F("data_plane", s.data_plane),
              F("queued_batches", queue_.size()));
      s.stream->AbortForUsage("usage database behind; resend after reconnecting");
    }
    return;
  }
  b.stream = it->second;
  b.data_plane = s.data_plane;
  b.source = common::StrCat(s.data_plane, "/", batch->instance());
  queue_.push_back(std::move(b));
}

UsageWriterCounters UsageWriter::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

void UsageWriter::OnSnapshot(const SnapshotConstSharedPtr& snapshot) {
  absl::MutexLock lock(&mu_);
  users_snapshot_ = snapshot;  // a newer one replaces one not yet applied
}

void UsageWriter::Run() {
  for (;;) {
    SnapshotConstSharedPtr snapshot;
    bool to_all = false;
    std::vector<uint64_t> to;
    std::optional<Batch> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](UsageWriter* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(w->mu_) {
            return w->stopping_ || !w->queue_.empty() || w->users_snapshot_ != nullptr ||
                   w->grants_to_all_ || !w->grants_to_.empty();
          },
          this));
      snapshot = std::move(users_snapshot_);
      users_snapshot_.reset();
      to_all = grants_to_all_;
      grants_to_all_ = false;
      to.assign(grants_to_.begin(), grants_to_.end());
      grants_to_.clear();
      if (!queue_.empty()) {
        batch = std::move(queue_.front());
        queue_.pop_front();
      } else if (stopping_ && snapshot == nullptr && !to_all && to.empty()) {
        return;
      }
    }
    if (snapshot != nullptr && ledger_.SetUsers(snapshot->users())) {
      to_all = true;
    }
    if (to_all) {
      SendGrants({});
    } else if (!to.empty()) {
      SendGrants(to);
    }
    if (batch.has_value()) {
      CommitBatch(&*batch);
    }
  }
}

void UsageWriter::CommitBatch(Batch* batch) {
  uint64_t highest = 0;
  for (const ccrelay::v1::UsageRecord& r : batch->records) {
    highest = std::max(highest, r.seq());
  }
  absl::StatusOr<uint64_t> before =
      store_.RecordUsage(batch->source, batch->records, clock_.UnixMillis());
  if (!before.ok()) {
    CCR_LOG(kError, "usage_commit_failed", F("data_plane", batch->data_plane),
            F("records", batch->records.size()), F("highest_seq", highest),
            Q("error", before.status().message()));
    absl::MutexLock lock(&mu_);
    ++counters_.commit_failures;
    auto it = streams_.find(batch->stream);
    if (it != streams_.end() && !it->second.failed) {
      it->second.failed = true;
      it->second.stream->AbortForUsage("usage not committed; resend after reconnecting");
    }
    // Its later batches must not be committed before this one is resent.
    counters_.batches_dropped +=
        std::erase_if(queue_, [&](const Batch& b) { return b.stream == batch->stream; });
    return;
  }
  // The records above the source's committed seq were added; the others were resends.
  std::vector<ccrelay::v1::UsageRecord> added;
  uint64_t requests = 0;
  for (ccrelay::v1::UsageRecord& r : batch->records) {
    if (r.seq() > *before) {
      requests += r.requests();
      added.push_back(std::move(r));
    }
  }
  const bool spend_changed = ledger_.Committed(added);
  CCR_LOG(kDebug, "usage_committed", F("data_plane", batch->data_plane),
          F("records", batch->records.size()), F("new", added.size()), F("committed_seq", highest));
  {
    absl::MutexLock lock(&mu_);
    ++counters_.batches_committed;
    counters_.records_added += added.size();
    counters_.records_resent += batch->records.size() - added.size();
    counters_.requests_added += requests;
    if (auto c = committed_.find(batch->data_plane); c != committed_.end()) {
      c->second = std::max(c->second, highest);
    } else if (connected_.contains(batch->data_plane)) {
      committed_[batch->data_plane] = highest;
    }
    auto it = streams_.find(batch->stream);
    if (it == streams_.end() || it->second.failed) {
      return;  // ended, or an earlier batch of it failed: never acknowledged
    }
    it->second.stream->SendUsageAck(highest);
  }
  // A budgeted user spent: every data plane's share changed (sent to all at once, so that no
  // data plane, an idle one included, keeps a share computed on older spend). Otherwise only
  // this data plane's committed_seq moved.
  if (spend_changed) {
    SendGrants({});
  } else {
    SendGrants({batch->stream});
  }
}

void UsageWriter::SendGrants(const std::vector<uint64_t>& ids) {
  // What each target needs, read under the lock; the grants are computed without it (the
  // ledger may read the store).
  struct Target {
    uint64_t id;
    uint64_t committed_seq;
  };
  std::vector<Target> targets;
  size_t data_planes = 0;
  {
    absl::MutexLock lock(&mu_);
    data_planes = connected_.size();
    const auto add = [&](uint64_t id, const Stream& s) {
      if (!ledger_.has_budgets() && !s.sent_grants) {
        return;  // nothing to say: no budgets, and none sent that an empty set must clear
      }
      auto c = committed_.find(s.data_plane);
      targets.push_back({id, c == committed_.end() ? 0 : c->second});
    };
    if (ids.empty()) {
      for (const auto& [id, s] : streams_) {
        add(id, s);
      }
    } else {
      for (uint64_t id : ids) {
        if (auto it = streams_.find(id); it != streams_.end()) {
          add(id, it->second);
        }
      }
    }
  }
  if (targets.empty()) {
    return;
  }
  // The shares are the same for every data plane; only committed_seq differs.
  const ccrelay::v1::BudgetGrants base = ledger_.Grants(0, data_planes);
  std::map<uint64_t, std::shared_ptr<const ccrelay::v1::BudgetGrants>> by_seq;
  for (const Target& t : targets) {
    auto& grants = by_seq[t.committed_seq];
    if (grants == nullptr) {
      auto mine = std::make_shared<ccrelay::v1::BudgetGrants>(base);
      for (ccrelay::v1::BudgetGrant& g : *mine->mutable_grants()) {
        g.set_committed_seq(t.committed_seq);
      }
      grants = std::move(mine);
    }
  }
  absl::MutexLock lock(&mu_);
  for (const Target& t : targets) {
    auto it = streams_.find(t.id);
    if (it == streams_.end()) {
      continue;
    }
    const auto& grants = by_seq[t.committed_seq];
    it->second.sent_grants = grants->grants_size() > 0;
    it->second.stream->SendBudgets(grants);
    ++counters_.grant_sets_sent;
  }
}

}  // namespace ccrelay::controlplane
