#include "dataplane/routing/strategies/latency_based.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"

#include "proto/snapshot.pb.h"

#include "dataplane/routing/explanation.h"
#include "dataplane/routing/route_request.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/state/key_state.h"

namespace ccrelay::routing {

namespace {

enum Group : uint8_t { kNoData, kTied, kRanked, kOutlier };

struct Row {
  uint32_t provider = 0;
  state::LatencyEstimate estimate;
  double score = -1;  // expected ms for this request
  Group group = kNoData;
  bool explored = false;
};

std::string Note(const Row& r) {
  std::string note;
  auto add = [&note](std::string_view part) {
    if (!note.empty()) {
      note += "; ";
    }
    note += part;
  };
  if (r.explored) {
    add("explored");
  }
  if (r.group == kNoData) {
    add("no data yet: tried first");
  } else if (r.group == kOutlier) {
    add("outlier: set aside");
  }
  if (r.estimate.source == state::LatencyEstimate::Source::kLocal) {
    add("local");
  } else if (r.estimate.source == state::LatencyEstimate::Source::kShared) {
    add("shared");
  }
  if (r.estimate.source != state::LatencyEstimate::Source::kNone && r.estimate.provider_wide) {
    add("provider-wide");
  }
  return note;
}

}  // namespace

LatencyOptions CompileLatencyOptions(const ccrelay::v1::LatencyBased& options) {
  LatencyOptions o;
  if (options.has_explore_share()) {
    o.explore_share = std::clamp(options.explore_share(), 0.0, 1.0);
  }
  if (options.outlier_factor() > 1) {
    o.outlier_factor = options.outlier_factor();
  }
  if (options.outlier_margin_ms() != 0) {
    o.outlier_margin_ms = options.outlier_margin_ms();
  }
  if (options.has_tolerance()) {
    o.tolerance = std::max(0.0, options.tolerance());
  }
  if (options.expected_output_tokens() != 0) {
    o.expected_output_tokens = options.expected_output_tokens();
  }
  return o;
}

void LatencyBasedStrategy::Rank(const RoutingTable& table, const RouteRequest& request,
                                std::span<const uint32_t> eligible, std::vector<uint32_t>* out,
                                Explanation* explain) const {
  out->clear();
  if (eligible.empty()) {
    return;
  }
  const LatencyOptions& o = table.latency;
  const common::MonoTime now = clock_->Now();
  const uint64_t key = state::LatencyTracker::ModelKey(request.model);
  // Explain shows what the next request would get without taking its turn.
  auto next = [explain](std::atomic<uint64_t>& counter) {
    return explain != nullptr ? counter.load(std::memory_order_relaxed)
                              : counter.fetch_add(1, std::memory_order_relaxed);
  };

  absl::InlinedVector<Row, 8> rows;
  double speed_sum = 0;
  int speeds = 0;
  for (const uint32_t p : eligible) {
    Row r;
    r.provider = p;
    r.estimate = table.providers[p].state->latency.Estimate(key, now);
    if (r.estimate.tokens_per_s > 0) {
      speed_sum += r.estimate.tokens_per_s;
      ++speeds;
    }
    rows.push_back(r);
  }
  const double mean_speed = speeds > 0 ? speed_sum / speeds : -1;
  int64_t expected_output = o.expected_output_tokens;
  if (request.max_tokens > 0) {
    expected_output = std::min(expected_output, request.max_tokens);
  }
  double best = std::numeric_limits<double>::infinity();
  bool any_without_data = false;
  for (Row& r : rows) {
    if (r.estimate.ttft_ms < 0 || r.estimate.samples < state::LatencyTracker::kWarmSamples) {
      any_without_data = true;
      continue;  // kNoData
    }
    const double speed = r.estimate.tokens_per_s > 0 ? r.estimate.tokens_per_s : mean_speed;
    r.score = r.estimate.ttft_ms +
              (speed > 0 ? static_cast<double>(expected_output) * 1000.0 / speed : 0);
    r.group = kRanked;
    best = std::min(best, r.score);
  }
  const double tie = std::max(o.tolerance * best, kTieMs);
  for (Row& r : rows) {
    if (r.group != kRanked) {
      continue;
    }
    if (r.score <= best + tie) {
      r.group = kTied;
    } else if (r.score > o.outlier_factor * best && r.score - best > o.outlier_margin_ms) {
      r.group = kOutlier;
    }
  }

  // Exploration: an exact share of requests (every 1/share-th) put one of the others first, in
  // turn. Not while a provider without data goes first anyway.
  bool explore = false;
  if (o.explore_share > 0 && rows.size() > 1 && !any_without_data) {
    const uint64_t n = next(requests_);
    const double share = std::min(1.0, o.explore_share);
    explore = std::floor(static_cast<double>(n + 1) * share) >
              std::floor(static_cast<double>(n) * share);
  }
  // Ties (and providers without data) take turns: rotated, then a stable sort. An exploring
  // request does not take a turn, so that the turns and the exploration do not fall into step.
  const uint64_t turn = explore ? tie_cursor_.load(std::memory_order_relaxed) : next(tie_cursor_);
  std::rotate(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(turn % rows.size()),
              rows.end());
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.group != b.group) {
      return a.group < b.group;
    }
    return a.group >= kRanked && a.score < b.score;
  });
  if (explore) {
    const size_t pick = 1 + next(explore_cursor_) % (rows.size() - 1);
    std::rotate(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(pick),
                rows.begin() + static_cast<std::ptrdiff_t>(pick) + 1);
    rows.front().explored = true;
  }

  for (const Row& r : rows) {
    out->push_back(r.provider);
    if (explain != nullptr) {
      RankedProvider rp;
      rp.provider = r.provider;
      rp.ttft_ms = r.estimate.ttft_ms;
      rp.output_tokens_per_s = r.estimate.tokens_per_s;
      rp.score = r.score;
      rp.note = Note(r);
      explain->ranked.push_back(std::move(rp));
    }
  }
}

}  // namespace ccrelay::routing
