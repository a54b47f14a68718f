#include "dataplane/team/usage_journal.h"

#include <algorithm>
#include <utility>

#include "dataplane/common/log.h"

namespace ccrelay::team {

namespace {

// A budget warning goes into a response header: no control characters.
std::string HeaderSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  }
  return out;
}

}  // namespace

uint64_t BudgetTokens(const ccrelay::v1::UsageRecord& r) {
  return r.input_tokens() + r.output_tokens() + r.cache_read_tokens() +
         r.cache_creation_tokens();
}

uint64_t UsageJournal::Append(ccrelay::v1::UsageRecord record, state::UserState* user) {
  uint64_t dropped_seq = 0;
  uint64_t seq = 0;
  {
    absl::MutexLock lock(&mu_);
    seq = next_seq_++;
    record.set_seq(seq);
    if (user != nullptr) {
      user->AddSpend(record.cost_usd(), BudgetTokens(record));
    }
    records_.push_back(std::move(record));
    if (records_.size() > capacity_) {
      dropped_seq = records_.front().seq();
      records_.pop_front();
      next_send_ = std::max(next_send_, dropped_seq + 1);
    }
  }
  if (dropped_seq != 0) {
    const uint64_t n = dropped_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (on_drop_) {
      on_drop_();
    }
    // Once per thousand at most: a control plane away for long would flood the log otherwise.
    if (n == 1 || n % 1000 == 0) {
      CCR_LOG(kWarn, "usage_records_dropped", common::F("dropped_total", n),
              common::F("seq", dropped_seq),
              common::Q("reason", "unacknowledged usage records over the bound (is the control "
                                  "plane reachable?)"));
    }
  }
  return seq;
}

bool UsageJournal::TakeBatch(ccrelay::v1::UsageBatch* batch) {
  absl::MutexLock lock(&mu_);
  if (records_.empty() || next_send_ > records_.back().seq()) {
    return false;
  }
  const uint64_t first = records_.front().seq();
  size_t i = next_send_ > first ? static_cast<size_t>(next_send_ - first) : 0;
  size_t n = 0;
  for (; i < records_.size() && n < kMaxBatch; ++i, ++n) {
    *batch->add_records() = records_[i];
  }
  next_send_ = records_[i - 1].seq() + 1;
  return n > 0;
}

void UsageJournal::Rewind() {
  absl::MutexLock lock(&mu_);
  next_send_ = records_.empty() ? next_seq_ : records_.front().seq();
}

void UsageJournal::Ack(uint64_t committed_seq) {
  absl::MutexLock lock(&mu_);
  acked_ = std::max(acked_, committed_seq);
  while (!records_.empty() && records_.front().seq() <= committed_seq) {
    records_.pop_front();
  }
  next_send_ = std::max(next_send_, committed_seq + 1);
}

std::shared_ptr<const state::BudgetGrantState> UsageJournal::MakeGrant(
    const ccrelay::v1::BudgetGrant& grant, const state::UserState& user) {
  auto g = std::make_shared<state::BudgetGrantState>();
  g->exhausted = grant.exhausted();
  g->period = grant.period();
  g->limit = HeaderSafe(grant.limit());
  g->resets_unix_ms = grant.resets_unix_ms();
  g->warning = HeaderSafe(grant.warning());
  g->committed_seq = grant.committed_seq();
  double pending_usd = 0;
  uint64_t pending_tokens = 0;
  absl::MutexLock lock(&mu_);
  for (const ccrelay::v1::UsageRecord& r : records_) {
    if (r.seq() > grant.committed_seq() && r.user() == grant.user()) {
      pending_usd += r.cost_usd();
      pending_tokens += BudgetTokens(r);
    }
  }
  // Spend as of committed_seq: what the control plane counted; the share comes on top of it.
  if (grant.has_usd()) {
    g->has_usd = true;
    g->cap_usd = user.spent_usd() - pending_usd + std::max(0.0, grant.usd());
  }
  if (grant.has_tokens()) {
    g->has_tokens = true;
    const uint64_t spent = user.spent_tokens();
    g->cap_tokens = (spent > pending_tokens ? spent - pending_tokens : 0) + grant.tokens();
  }
  return g;
}

size_t UsageJournal::pending() const {
  absl::MutexLock lock(&mu_);
  return records_.size();
}

uint64_t UsageJournal::last_seq() const {
  absl::MutexLock lock(&mu_);
  return next_seq_ - 1;
}

uint64_t UsageJournal::acked_seq() const {
  absl::MutexLock lock(&mu_);
  return acked_;
}

}  // namespace ccrelay::team
