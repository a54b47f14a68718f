#include "dataplane/routing/rules.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "proto/snapshot.pb.h"
#include "dataplane/common/str.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/routing/strategies/ordered.h"

namespace ccrelay::routing {

namespace {

bool AnyMatches(std::span<const Glob> globs, std::string_view text) {
  for (const Glob& g : globs) {
    if (g.Matches(text)) {
      return true;
    }
  }
  return false;
}

absl::Status CheckGlob(std::string_view rule, std::string_view what, std::string_view glob) {
  if (absl::Status s = Glob::Validate(glob); !s.ok()) {
    return absl::InvalidArgumentError(
        common::StrCat("routing.rules ", rule, ": ", what, " \"", glob, "\": ", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace

bool Rule::Matches(const RouteRequest& request, std::span<const Glob> background_models) const {
  if (!models.empty() && !AnyMatches(models, request.model)) {
    return false;
  }
  if (background.has_value() &&
      *background != AnyMatches(background_models, request.model)) {
    return false;
  }
  if (thinking.has_value() && *thinking != request.thinking) {
    return false;
  }
  if (long_context > 0 && request.input_tokens <= long_context) {
    return false;
  }
  if (tools != 0 && (request.server_tools & tools) == 0) {
    return false;
  }
  for (const HeaderCondition& h : headers) {
    if (request.headers == nullptr) {
      return false;
    }
    const std::string_view value = request.headers->Get(h.name);
    if (value.empty() || !h.value.Matches(value)) {
      return false;
    }
  }
  if (!users.empty() &&
      std::find(users.begin(), users.end(), request.client_key) == users.end()) {
    return false;
  }
  // Last: the only condition that may read the whole body.
  return !images.has_value() || *images == request.images();
}

const Rule* FirstMatchingRule(std::span<const Rule> rules, const RouteRequest& request,
                              std::span<const Glob> background_models) {
  for (const Rule& r : rules) {
    if (r.Matches(request, background_models)) {
      return &r;
    }
  }
  return nullptr;
}

absl::Status CompileRules(const ccrelay::v1::Routing& routing,
                          const absl::flat_hash_map<std::string, uint32_t>& index_by_name,
                          std::vector<Rule>* rules, std::vector<Glob>* background_models) {
  rules->clear();
  background_models->clear();
  for (const std::string& g : routing.background_models()) {
    if (absl::Status s = Glob::Validate(g); !s.ok()) {
      return absl::InvalidArgumentError(common::StrCat("routing.background_models \"", g,
                                                       "\": ", s.message()));
    }
    background_models->emplace_back(g);
  }
  if (background_models->empty()) {
    background_models->emplace_back(kDefaultBackgroundModel);
  }
  for (const auto& r : routing.rules()) {
    Rule rule;
    rule.name = r.name();
    const auto& m = r.match();
    for (const std::string& g : m.models()) {
      if (absl::Status s = CheckGlob(r.name(), "model", g); !s.ok()) {
        return s;
      }
      rule.models.emplace_back(g);
    }
    if (m.has_background()) {
      rule.background = m.background();
    }
    if (m.has_thinking()) {
      rule.thinking = m.thinking();
    }
    if (m.has_images()) {
      rule.images = m.images();
    }
    rule.long_context = static_cast<int64_t>(std::min<uint64_t>(m.long_context(), INT64_MAX));
    for (const std::string& t : m.tools()) {
      const uint32_t bit = http::ServerToolBit(t);
      if (bit == 0 || bit == http::kOtherServerTool) {
        return absl::InvalidArgumentError(
            common::StrCat("routing.rules ", r.name(), ": unknown tool \"", t, "\""));
      }
      rule.tools |= bit;
    }
    for (const auto& h : m.headers()) {
      if (absl::Status s = CheckGlob(r.name(), common::StrCat("header ", h.name()), h.value());
          !s.ok()) {
        return s;
      }
      rule.headers.push_back(HeaderCondition{absl::AsciiStrToLower(h.name()), Glob(h.value())});
    }
    rule.users.assign(m.users().begin(), m.users().end());
    for (const std::string& p : r.providers()) {
      if (auto it = index_by_name.find(p); it != index_by_name.end()) {
        rule.providers.push_back(it->second);
      }
    }
    rule.model = r.model();
    // A rule's list is its own failover chain: under routing.strategy failover (whose chain
    // the rule's providers need not be in) a rule without a strategy keeps its list's order.
    const std::string& name = r.strategy().empty() ? routing.strategy() : r.strategy();
    if (name == "ordered" || name == "failover") {
      rule.strategy = std::make_unique<OrderedStrategy>();
    } else if (!r.strategy().empty()) {
      rule.strategy = CreateStrategy(r.strategy());
      if (!rule.strategy) {
        return absl::InvalidArgumentError(common::StrCat(
            "routing.rules ", r.name(), ": unknown strategy \"", r.strategy(), "\""));
      }
    }
    rule.fallback = !r.has_fallback() || r.fallback();
    rules->push_back(std::move(rule));
  }
  return absl::OkStatus();
}

}  // namespace ccrelay::routing
