#include "dataplane/routing/strategies/cost_based.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"

#include "dataplane/common/str.h"
#include "dataplane/routing/explanation.h"
#include "dataplane/routing/model_catalog.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/output_estimator.h"

namespace ccrelay::routing {

namespace {

// One eligible provider as this request sees it.
struct Candidate {
  uint32_t provider = 0;
  bool priced = false;  // a price is known (ollama without one: free)
  double cost = 0;      // expected USD (0 when not priced)
  Tier tier = Tier::kUnknown;
  uint32_t missing = 0;      // capabilities the request uses that the provider lacks
  int64_t window = 0;        // context window (0: no known limit)
  bool too_long = false;     // the estimated input does not fit the window
  bool below_floor = false;  // the tier is below the request's quality floor
  bool fits() const { return !too_long && missing == 0 && !below_floor; }
};

Tier Max(Tier a, Tier b) { return static_cast<uint8_t>(a) >= static_cast<uint8_t>(b) ? a : b; }

// The lowest tier this request may go to (kUnknown: none).
Tier Floor(const CostBasedOptions& o, const RouteRequest& r) {
  Tier floor = o.floor_default;
  if (r.thinking) {
    floor = Max(floor, o.floor_thinking);
  }
  if (r.tool_count > 0) {
    floor = Max(floor, o.floor_tools);
  }
  return floor;
}

// What the request uses, as capability bits.
uint32_t Needs(const RouteRequest& r) {
  uint32_t needs = r.server_tools;
  if (r.thinking) {
    needs |= kCapThinking;
  }
  return needs;  // images: asked only of a provider that lacks them (RouteRequest::images)
}

// Why a candidate cannot handle the request (explain only).
std::string WhyNot(const ProviderEntry& p, std::string_view model, const Candidate& c,
                   const RouteRequest& r, Tier floor) {
  std::string why;
  auto add = [&why](std::string_view part) {
    common::StrAppend(&why, why.empty() ? "" : "; ", part);
  };
  if (c.too_long) {
    add(common::StrCat("context window ", c.window, " < estimated ", r.input_tokens, " tokens"));
  }
  if (c.missing != 0) {
    if (p.fit.capabilities_set) {
      add(common::StrCat("providers[].capabilities: no ", CapabilityList(c.missing)));
    } else {
      const uint32_t by_type = c.missing & ~TypeCapabilities(p.type);
      const uint32_t by_model = c.missing & ~by_type;
      if (by_type != 0) {
        add(common::StrCat("provider type ", p.type, ": no ", CapabilityList(by_type)));
      }
      if (by_model != 0) {
        add(common::StrCat("model ", model, ": no ", CapabilityList(by_model)));
      }
    }
  }
  if (c.below_floor) {
    add(common::StrCat("tier ", TierName(c.tier), " below the quality floor ", TierName(floor)));
  }
  return why;
}

}  // namespace

int64_t ExpectedOutputTokens(const RoutingTable& table, std::string_view model,
                             int64_t max_tokens) {
  int64_t expected = table.output_tokens ? table.output_tokens->Estimate(model) : -1;
  if (expected < 0) {
    expected = kDefaultOutputTokens;
  }
  return max_tokens > 0 ? std::min(expected, max_tokens) : expected;
}

void CostBasedStrategy::Rank(const RoutingTable& table, const RouteRequest& request,
                             std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                             Explanation* explain) const {
  out->clear();
  if (eligible.empty()) {
    return;
  }
  const CostBasedOptions& options = table.cost_based;
  const Tier floor = Floor(options, request);
  const uint32_t needs = Needs(request);
  const int64_t input = std::max<int64_t>(0, request.input_tokens);
  const int64_t output = ExpectedOutputTokens(table, request.model, request.max_tokens);
  const bool quality_first = options.threshold_tokens > 0 && input >= options.threshold_tokens;

  absl::InlinedVector<Candidate, 8> all;
  size_t fitting = 0;
  for (size_t i = 0; i < eligible.size(); ++i) {
    Candidate c;
    c.provider = eligible[i];
    const ProviderEntry& p = table.providers[c.provider];
    const std::string_view model = p.MapModel(request.model);
    const ModelFit fit = ResolveFit(p.fit, p.type, model, request.betas);
    c.tier = fit.tier;
    c.window = fit.context_window;
    c.too_long = fit.context_window > 0 && input > fit.context_window;
    c.missing = needs & ~fit.capabilities;
    if ((fit.capabilities & kCapImages) == 0 && request.images()) {
      c.missing |= kCapImages;
    }
    c.below_floor = floor != Tier::kUnknown &&
                    static_cast<uint8_t>(fit.tier) < static_cast<uint8_t>(floor);
    if (const ModelPrice* price = p.pricing.Find(model); price != nullptr) {
      c.priced = true;
      c.cost = (static_cast<double>(input) * price->input_per_mtok +
                static_cast<double>(output) * price->output_per_mtok) /
               1e6;
    } else if (p.type == "ollama") {
      c.priced = true;  // local: free unless providers[].pricing says otherwise
    }
    fitting += c.fits() ? 1 : 0;
    all.push_back(c);
  }
  // Nothing fits: keep them all (the upstream decides) rather than answer 503.
  const bool keep_all = fitting == 0;

  auto before = [quality_first](const Candidate& a, const Candidate& b) {
    if (quality_first && a.tier != b.tier) {
      return static_cast<uint8_t>(a.tier) > static_cast<uint8_t>(b.tier);
    }
    if (a.priced != b.priced) {
      return a.priced;
    }
    return a.cost < b.cost;
  };
  std::stable_sort(all.begin(), all.end(), before);
  // Ties take turns: each run of equal candidates is rotated by the request counter.
  const uint64_t turn = cursor_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < all.size();) {
    size_t end = i + 1;
    while (end < all.size() && !before(all[i], all[end])) {
      ++end;
    }
    if (end - i > 1) {
      std::rotate(all.begin() + static_cast<std::ptrdiff_t>(i),
                  all.begin() + static_cast<std::ptrdiff_t>(i + turn % (end - i)),
                  all.begin() + static_cast<std::ptrdiff_t>(end));
    }
    i = end;
  }

  for (size_t i = 0; i < all.size(); ++i) {
    const Candidate& c = all[i];
    const ProviderEntry& p = table.providers[c.provider];
    if (!keep_all && !c.fits()) {
      if (explain != nullptr) {
        explain->excluded.push_back(
            ExcludedProvider{c.provider, WhyNot(p, p.MapModel(request.model), c, request, floor)});
      }
      continue;
    }
    const bool first = out->empty();
    out->push_back(c.provider);
    if (explain == nullptr) {
      continue;
    }
    RankedProvider r;
    r.provider = c.provider;
    r.expected_cost_usd = c.priced ? c.cost : -1;
    r.score = c.priced ? c.cost : -1;
    std::string note;
    // A tie with the next one kept: they take turns.
    bool tie = false;
    for (size_t j = i + 1; j < all.size(); ++j) {
      if (keep_all || all[j].fits()) {
        tie = !before(c, all[j]) && !before(all[j], c);
        break;
      }
    }
    if (first) {
      note = quality_first ? common::StrCat("above threshold_tokens ", options.threshold_tokens,
                                            ": quality first (tier ", TierName(c.tier), ")")
                           : std::string(c.priced ? "cheapest" : "no price known");
    } else if (!c.priced) {
      note = "price unknown: after the priced ones";
    }
    if (tie) {
      common::StrAppend(&note, note.empty() ? "" : ", ", "tie, in turn");
    }
    if (c.priced && c.cost == 0 && p.type == "ollama") {
      common::StrAppend(&note, note.empty() ? "" : ", ", "free (ollama)");
    }
    if (keep_all) {
      const std::string why = WhyNot(p, p.MapModel(request.model), c, request, floor);
      common::StrAppend(&note, note.empty() ? "" : "; ",
                        "no provider fits the request: all kept, cheapest first (", why, ")");
    }
    r.note = std::move(note);
    explain->ranked.push_back(std::move(r));
  }
}

}  // namespace ccrelay::routing
