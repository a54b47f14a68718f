#include "controlplane/budget/budget_ledger.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"

namespace ccrelay::controlplane {
namespace {

using common::F;
using common::Q;

int64_t MillisOf(absl::CivilSecond t) {
  return absl::ToUnixMillis(absl::FromCivil(t, absl::UTCTimeZone()));
}

bool HasLimit(const ccrelay::v1::Budget& b) {
  return b.usd_per_day() > 0 || b.usd_per_month() > 0 || b.tokens_per_day() > 0 ||
         b.tokens_per_month() > 0;
}

bool SameBudget(const ccrelay::v1::Budget& a, const ccrelay::v1::Budget& b) {
  return a.usd_per_day() == b.usd_per_day() && a.usd_per_month() == b.usd_per_month() &&
         a.tokens_per_day() == b.tokens_per_day() &&
         a.tokens_per_month() == b.tokens_per_month() && a.soft_fraction() == b.soft_fraction();
}

uint64_t TokensOf(const ccrelay::v1::UsageRecord& r) {
  return r.input_tokens() + r.output_tokens() + r.cache_read_tokens() +
         r.cache_creation_tokens();
}

void Add(const ccrelay::v1::UsageRecord& r, Spend* s) {
  s->usd += r.cost_usd();
  s->tokens += TokensOf(r);
  s->requests += r.requests();
}

// One non-zero limit of a user's budget and its committed spend.
struct Limit {
  bool usd = false;
  bool daily = false;
  double limit = 0;
  double spent = 0;
  int64_t resets_ms = 0;

  double left() const { return limit - spent; }
  double used_fraction() const { return spent / limit; }
  std::string text() const {
    return usd ? UsdText(limit) : TokensText(static_cast<uint64_t>(limit));
  }
  const char* period() const { return daily ? "daily" : "monthly"; }
};

}  // namespace

BudgetPeriod UtcDayOf(int64_t unix_ms) {
  const absl::CivilDay day =
      absl::ToCivilDay(absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
  return {MillisOf(day), MillisOf(day + 1)};
}

BudgetPeriod UtcMonthOf(int64_t unix_ms) {
  const absl::CivilMonth month =
      absl::ToCivilMonth(absl::FromUnixMillis(unix_ms), absl::UTCTimeZone());
  return {MillisOf(month), MillisOf(month + 1)};
}

std::string UsdText(double usd) {
  std::string text = absl::StrFormat("$%.2f", usd);
  if (std::fabs(std::round(usd * 100) - usd * 100) > 1e-6) {
    text = absl::StrFormat("$%.6g", usd);  // e.g. $0.005: never shown as $0.01
  }
  return text;
}

std::string TokensText(uint64_t tokens) { return common::StrCat(tokens, " tokens"); }

BudgetLedger::BudgetLedger(TeamStore& store, const common::Clock& clock)
    : store_(store), clock_(clock) {}

bool BudgetLedger::SetUsers(const ccrelay::v1::Users& users) {
  std::map<std::string, Entry, std::less<>> next;
  for (const ccrelay::v1::RelayUser& u : users.users()) {
    if (!HasLimit(u.policy().budget())) {
      continue;
    }
    Entry e;
    if (auto it = users_.find(u.name()); it != users_.end()) {
      e = it->second;  // the cached spend stays valid: it is per name, not per budget
    }
    e.budget = u.policy().budget();
    next.emplace(u.name(), std::move(e));
  }
  bool changed = next.size() != users_.size();
  for (auto a = next.begin(), b = users_.begin(); !changed && a != next.end(); ++a, ++b) {
    changed = a->first != b->first || !SameBudget(a->second.budget, b->second.budget);
  }
  users_ = std::move(next);
  return changed;
}

bool BudgetLedger::Committed(const std::vector<ccrelay::v1::UsageRecord>& records) {
  bool touched = false;
  if (users_.empty()) {
    return touched;
  }
  for (const ccrelay::v1::UsageRecord& r : records) {
    auto it = users_.find(r.user());
    if (it == users_.end()) {
      continue;
    }
    touched = true;
    Entry& e = it->second;
    if (!e.loaded) {
      continue;
    }
    if (r.unix_ms() >= e.day.start_ms && r.unix_ms() < e.day.end_ms) {
      Add(r, &e.day_spend);
    }
    if (r.unix_ms() >= e.month.start_ms && r.unix_ms() < e.month.end_ms) {
      Add(r, &e.month_spend);
    }
  }
  return touched;
}

bool BudgetLedger::Refresh(const std::string& name, Entry* e, int64_t now_ms) {
  const BudgetPeriod day = UtcDayOf(now_ms);
  const BudgetPeriod month = UtcMonthOf(now_ms);
  if (e->loaded && e->day.start_ms == day.start_ms && e->month.start_ms == month.start_ms) {
    return true;
  }
  absl::StatusOr<Spend> d = store_.SpendOf(name, day.start_ms, day.end_ms);
  absl::StatusOr<Spend> m = store_.SpendOf(name, month.start_ms, month.end_ms);
  if (!d.ok() || !m.ok()) {
    CCR_LOG(kError, "budget_spend_unavailable", F("user", name),
            Q("error", (d.ok() ? m.status() : d.status()).message()));
    e->loaded = false;
    return false;
  }
  e->loaded = true;
  e->day = day;
  e->month = month;
  e->day_spend = *d;
  e->month_spend = *m;
  return true;
}

ccrelay::v1::BudgetGrants BudgetLedger::Grants(uint64_t committed_seq, size_t data_planes) {
  ccrelay::v1::BudgetGrants out;
  const int64_t now_ms = clock_.UnixMillis();
  for (auto& [name, e] : users_) {
    const bool known = Refresh(name, &e, now_ms);
    Grant(name, e, known, committed_seq, std::max<size_t>(1, data_planes), out.add_grants());
  }
  return out;
}

void BudgetLedger::Grant(const std::string& name, const Entry& e, bool spend_known,
                         uint64_t committed_seq, size_t data_planes,
                         ccrelay::v1::BudgetGrant* out) const {
  const ccrelay::v1::Budget& b = e.budget;
  Limit limits[4];
  size_t n = 0;
  const auto add = [&](bool usd, bool daily, double limit, double spent) {
    if (limit > 0) {
      limits[n++] = Limit{usd, daily, limit, spent, daily ? e.day.end_ms : e.month.end_ms};
    }
  };
  add(true, true, b.usd_per_day(), e.day_spend.usd);
  add(true, false, b.usd_per_month(), e.month_spend.usd);
  add(false, true, static_cast<double>(b.tokens_per_day()),
      static_cast<double>(e.day_spend.tokens));
  add(false, false, static_cast<double>(b.tokens_per_month()),
      static_cast<double>(e.month_spend.tokens));

  out->set_user(name);
  out->set_committed_seq(committed_seq);
  if (!spend_known) {
    // The store failed and nothing is cached: nothing to share until it answers (the data plane
    // answers the retryable 429), never "unlimited".
    for (size_t i = 0; i < n; ++i) {
      if (limits[i].usd) {
        out->set_usd(0);
      } else {
        out->set_tokens(0);
      }
    }
    out->set_period(limits[0].period());
    out->set_limit(limits[0].text());
    out->set_resets_unix_ms(limits[0].daily ? UtcDayOf(clock_.UnixMillis()).end_ms
                                            : UtcMonthOf(clock_.UnixMillis()).end_ms);
    return;
  }

  // The binding limit: among spent ones the one that resets last (a spent month outlasts a
  // spent day), else the one with the least left (of the same unit; across USD and tokens, the
  // smaller fraction left).
  const Limit* binding = nullptr;
  const Limit* warn = nullptr;
  double left_usd = HUGE_VAL;
  double left_tokens = HUGE_VAL;
  for (size_t i = 0; i < n; ++i) {
    const Limit& l = limits[i];
    (l.usd ? left_usd : left_tokens) = std::min(l.usd ? left_usd : left_tokens, l.left());
    if (binding == nullptr) {
      binding = &l;
    } else if ((l.left() <= 0) != (binding->left() <= 0)) {
      binding = l.left() <= 0 ? &l : binding;
    } else if (l.left() <= 0) {
      // On the month's last day both reset together: the month is the one to name.
      binding = l.resets_ms > binding->resets_ms || (l.resets_ms == binding->resets_ms && !l.daily)
                    ? &l
                    : binding;
    } else if (l.usd == binding->usd ? l.left() < binding->left()
                                      : l.left() / l.limit < binding->left() / binding->limit) {
      binding = &l;
    }
    if (b.soft_fraction() > 0 && l.spent >= b.soft_fraction() * l.limit &&
        (warn == nullptr || l.used_fraction() > warn->used_fraction())) {
      warn = &l;
    }
  }
  if (left_usd != HUGE_VAL) {
    out->set_usd(std::max(0.0, left_usd) / static_cast<double>(data_planes));
  }
  if (left_tokens != HUGE_VAL) {
    // Like a key limit's share: floor, but at least 1 while anything is left.
    const uint64_t left = left_tokens <= 0 ? 0 : static_cast<uint64_t>(left_tokens);
    out->set_tokens(left == 0 ? 0 : std::max<uint64_t>(1, left / data_planes));
  }
  out->set_exhausted(binding->left() <= 0);
  out->set_period(binding->period());
  out->set_limit(binding->text());
  out->set_resets_unix_ms(binding->resets_ms);
  if (warn != nullptr) {
    const int percent = static_cast<int>(std::floor(warn->used_fraction() * 100));
    out->set_warning(absl::StrFormat("%d%% of the %s budget of %s used", percent, warn->period(),
                                     warn->text()));
  }
}

}  // namespace ccrelay::controlplane
