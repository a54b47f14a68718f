#include "dataplane/team/usage_journal.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/string_view.h"

#include "dataplane/common/log.h"

namespace ccrelay::team {

namespace {

constexpr int64_t kMinuteMs = 60000;

// A budget warning goes into a response header: no control characters.
std::string HeaderSafe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  }
  return out;
}

std::string RandomInstance() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<size_t>(i)] = kHex[(v >> (60 - 4 * i)) & 0xf];
  }
  return out;
}

int64_t MinuteOf(int64_t unix_ms) {
  const int64_t r = unix_ms % kMinuteMs;
  return unix_ms - (r < 0 ? r + kMinuteMs : r);
}

// The open sum's key: status and minute as bytes, then the strings, each followed by NUL
// (none of them holds one: names, fingerprints and model ids).
void BuildKey(const UsageEntry& e, int64_t minute, std::string* key) {
  key->clear();
  key->append(reinterpret_cast<const char*>(&e.status), sizeof(e.status));
  key->append(reinterpret_cast<const char*>(&minute), sizeof(minute));
  for (std::string_view part :
       {e.user, e.user_key_fingerprint, e.provider, e.key_fingerprint, e.model}) {
    key->append(part);
    key->push_back('\0');
  }
}

void AddTo(const UsageEntry& e, ccrelay::v1::UsageRecord* r) {
  r->set_requests(r->requests() + 1);
  r->set_input_tokens(r->input_tokens() + e.input_tokens);
  r->set_output_tokens(r->output_tokens() + e.output_tokens);
  r->set_cache_read_tokens(r->cache_read_tokens() + e.cache_read_tokens);
  r->set_cache_creation_tokens(r->cache_creation_tokens() + e.cache_creation_tokens);
  r->set_cost_usd(r->cost_usd() + e.cost_usd);
  r->set_duration_ms(r->duration_ms() + e.duration_ms);
}

}  // namespace

uint64_t BudgetTokens(const ccrelay::v1::UsageRecord& r) {
  return r.input_tokens() + r.output_tokens() + r.cache_read_tokens() +
         r.cache_creation_tokens();
}

UsageJournal::UsageJournal(size_t capacity) : capacity_(capacity), instance_(RandomInstance()) {}

void UsageJournal::Add(const UsageEntry& e, state::UserState* user) {
  uint64_t dropped = 0;
  uint64_t dropped_seq = 0;
  {
    const int64_t minute = MinuteOf(e.unix_ms);
    absl::MutexLock lock(&mu_);
    if (user != nullptr) {
      user->AddSpend(e.cost_usd, e.input_tokens + e.output_tokens + e.cache_read_tokens +
                                     e.cache_creation_tokens);
    }
    BuildKey(e, minute, &key_scratch_);
    auto it = open_index_.find(absl::string_view(key_scratch_.data(), key_scratch_.size()));
    if (it == open_index_.end()) {
      if (open_.size() >= kMaxOpen) {
        SealLocked(&dropped, &dropped_seq);
      }
      it = open_index_.emplace(key_scratch_, open_.size()).first;
      ccrelay::v1::UsageRecord& r = open_.emplace_back();
      r.set_user(std::string(e.user));
      r.set_user_key_fingerprint(std::string(e.user_key_fingerprint));
      r.set_provider(std::string(e.provider));
      r.set_key_fingerprint(std::string(e.key_fingerprint));
      r.set_model(std::string(e.model));
      r.set_status(e.status);
      r.set_unix_ms(minute);
    }
    AddTo(e, &open_[it->second]);
  }
  ReportDrops(dropped, dropped_seq);
}

void UsageJournal::SealLocked(uint64_t* dropped, uint64_t* dropped_seq) {
  for (ccrelay::v1::UsageRecord& r : open_) {
    r.set_seq(next_seq_++);
    records_.push_back(std::move(r));
  }
  open_.clear();
  open_index_.clear();
  while (records_.size() > capacity_) {
    *dropped_seq = records_.front().seq();
    ++*dropped;
    records_.pop_front();
    next_send_ = std::max(next_send_, *dropped_seq + 1);
  }
}

void UsageJournal::ReportDrops(uint64_t dropped, uint64_t dropped_seq) {
  if (dropped == 0) {
    return;
  }
  const uint64_t before = dropped_.fetch_add(dropped, std::memory_order_relaxed);
  const uint64_t n = before + dropped;
  if (on_drop_) {
    for (uint64_t i = 0; i < dropped; ++i) {
      on_drop_();
    }
  }
  // Once per thousand at most: a control plane away for long would flood the log otherwise.
  if (before == 0 || before / 1000 != n / 1000) {
    CCR_LOG(kWarn, "usage_records_dropped", common::F("dropped_total", n),
            common::F("seq", dropped_seq),
            common::Q("reason",
                      "unacknowledged usage records over the bound (is the control "
                      "plane reachable?)"));
  }
}

bool UsageJournal::TakeBatch(ccrelay::v1::UsageBatch* batch) {
  uint64_t dropped = 0;
  uint64_t dropped_seq = 0;
  bool any = false;
  {
    absl::MutexLock lock(&mu_);
    SealLocked(&dropped, &dropped_seq);
    if (!records_.empty() && next_send_ <= records_.back().seq()) {
      const uint64_t first = records_.front().seq();
      size_t i = next_send_ > first ? static_cast<size_t>(next_send_ - first) : 0;
      size_t n = 0;
      for (; i < records_.size() && n < kMaxBatch; ++i, ++n) {
        *batch->add_records() = records_[i];
      }
      next_send_ = records_[i - 1].seq() + 1;
      batch->set_instance(instance_);
      any = n > 0;
    }
  }
  ReportDrops(dropped, dropped_seq);
  return any;
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
  const auto count = [&](const ccrelay::v1::UsageRecord& r) {
    if (r.user() == grant.user()) {
      pending_usd += r.cost_usd();
      pending_tokens += BudgetTokens(r);
    }
  };
  absl::MutexLock lock(&mu_);
  for (const ccrelay::v1::UsageRecord& r : records_) {
    if (r.seq() > grant.committed_seq()) {
      count(r);
    }
  }
  for (const ccrelay::v1::UsageRecord& r : open_) {
    count(r);  // not sealed yet: after every committed seq
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
