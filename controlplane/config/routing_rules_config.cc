#include "controlplane/config/routing_rules_config.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#include "controlplane/config/did_you_mean.h"
#include "controlplane/config/routing_config.h"
#include "controlplane/config/value_checks.h"
#include "dataplane/routing/model_pattern.h"

namespace ccrelay::controlplane {

namespace {

// The server tools a rule may name (the short names of http::ServerToolBit).
const std::vector<std::string_view>& ToolNames() {
  static const std::vector<std::string_view> kNames = {
      "web_search", "web_fetch", "code_execution", "computer", "bash", "text_editor", "memory"};
  return kNames;
}

// A glob; nullopt (error reported) when it is not a string or not a usable glob.
std::optional<std::string> ReadGlob(ConfigReader& reader, const Field& field) {
  std::optional<std::string> glob = reader.String(field);
  if (!glob.has_value()) {
    return std::nullopt;
  }
  if (absl::Status s = routing::Glob::Validate(*glob); !s.ok()) {
    reader.Error(field, std::string(s.message()));
    return std::nullopt;
  }
  return glob;
}

// A glob or a list of globs (at least one); appended to `out`.
void ReadGlobs(ConfigReader& reader, const Field& field,
               google::protobuf::RepeatedPtrField<std::string>* out) {
  if (!field.present) {
    return;
  }
  if (!field.node.IsSequence()) {
    if (std::optional<std::string> g = ReadGlob(reader, field); g.has_value()) {
      out->Add(std::move(*g));
    }
    return;
  }
  std::optional<std::vector<Field>> items = reader.List(field);
  if (!items.has_value()) {
    return;
  }
  if (items->empty()) {
    reader.Error(field, "must hold at least one glob (\"*\" matches every name)");
  }
  for (const Field& item : *items) {
    if (std::optional<std::string> g = ReadGlob(reader, item); g.has_value()) {
      out->Add(std::move(*g));
    }
  }
}

// True when `name` is non-empty and every character is a letter, a digit or one of `others`.
bool AlnumOr(std::string_view name, std::string_view others) {
  if (name.empty()) {
    return false;
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        others.find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// True when a header name is an HTTP token.
bool IsHeaderName(std::string_view name) { return AlnumOr(name, "!#$%&'*+-.^_`|~"); }

// A relay key's user name (issue 15): [A-Za-z0-9._@-]{1,64}.
bool IsUserName(std::string_view name) { return name.size() <= 64 && AlnumOr(name, "._@-"); }


// `match:` of one rule (a match without any condition is reported).
void ReadMatch(ConfigReader& reader, const Field& field, ccrelay::v1::RuleMatch* match) {
  if (!field.present) {
    reader.Error(field, "required: the conditions a request must meet (model, background, "
                        "thinking, long_context, tools, images, header, users)");
    return;
  }
  std::optional<Mapping> map =
      reader.Map(field, {"model", "background", "thinking", "long_context", "tools", "images",
                         "header", "users", "client_key"});
  if (!map.has_value()) {
    return;
  }
  if (map->entries().empty()) {
    reader.Error(field, "a rule needs at least one match condition (model, background, "
                        "thinking, long_context, tools, images, header, users)");
    return;
  }
  ReadGlobs(reader, map->Get("model"), match->mutable_models());
  if (std::optional<bool> v = reader.Bool(map->Get("background")); v.has_value()) {
    match->set_background(*v);
  }
  if (std::optional<bool> v = reader.Bool(map->Get("thinking")); v.has_value()) {
    match->set_thinking(*v);
  }
  if (std::optional<bool> v = reader.Bool(map->Get("images")); v.has_value()) {
    match->set_images(*v);
  }
  const Field long_context = map->Get("long_context");
  if (std::optional<uint64_t> v =
          reader.Uint(long_context, std::numeric_limits<int64_t>::max());
      v.has_value()) {
    if (*v == 0) {
      reader.Error(long_context, "must be at least 1 (estimated input tokens above it match)");
    } else {
      match->set_long_context(*v);
    }
  }
  const Field tools = map->Get("tools");
  if (std::optional<std::vector<Field>> items = reader.List(tools); items.has_value()) {
    if (items->empty()) {
      reader.Error(tools, "must name at least one server tool");
    }
    for (const Field& item : *items) {
      std::optional<std::string> name = reader.String(item);
      if (!name.has_value()) {
        continue;
      }
      bool known = false;
      for (std::string_view t : ToolNames()) {
        known = known || t == *name;
      }
      if (!known) {
        reader.Error(item, absl::StrCat("unknown server tool ", ConfigReader::Quote(item, *name),
                                        DidYouMeanSuffix(*name, ToolNames()),
                                        "; expected web_search, web_fetch, code_execution, "
                                        "computer, bash, text_editor or memory"));
        continue;
      }
      match->add_tools(*name);
    }
  }
  if (std::optional<Mapping> headers = reader.FreeMap(map->Get("header")); headers.has_value()) {
    if (map->Get("header").present && headers->entries().empty()) {
      reader.Error(map->Get("header"), "must name at least one header");
    }
    for (const Mapping::Entry& e : headers->entries()) {
      if (!IsHeaderName(e.key)) {
        reader.Error(e.key_mark, e.value.path, "not a valid HTTP header name");
        continue;
      }
      if (std::optional<std::string> g = ReadGlob(reader, e.value); g.has_value()) {
        ccrelay::v1::HeaderMatch* h = match->add_headers();
        h->set_name(absl::AsciiStrToLower(e.key));
        h->set_value(std::move(*g));
      }
    }
  }
  const Field users = map->Get("users");
  if (std::optional<std::vector<Field>> items = reader.List(users); items.has_value()) {
    if (items->empty()) {
      reader.Error(users, "must name at least one user");
    }
    for (const Field& item : *items) {
      std::optional<std::string> name = reader.String(item);
      if (!name.has_value()) {
        continue;
      }
      if (!IsUserName(*name)) {
        reader.Error(item, absl::StrCat("user name ", ConfigReader::Quote(item, *name),
                                        ": expected 1 to 64 of A-Z a-z 0-9 . _ @ -"));
        continue;
      }
      match->add_users(*name);
    }
  }
  if (const Field client_key = map->Get("client_key"); client_key.present) {
    reader.Error(client_key, "not supported: match relay keys by their user with `users`");
  }
}

void ReadRule(ConfigReader& reader, const Field& item, const std::vector<ReadProvider>& providers,
              std::unordered_map<std::string, std::string>* names, ccrelay::v1::Routing* routing) {
  std::optional<Mapping> map =
      reader.Map(item, {"name", "match", "providers", "model", "strategy", "fallback"});
  if (!map.has_value()) {
    return;
  }
  ccrelay::v1::RoutingRule rule;
  const Field name_field = map->Get("name");
  std::optional<std::string> name = reader.String(name_field);
  if (!name_field.present) {
    reader.Error(name_field, "required: the rule's name (logs, metrics, route explain)");
  } else if (name.has_value()) {
    if (!IsValidProviderName(*name)) {
      reader.Error(name_field, absl::StrCat("invalid rule name ", ConfigReader::Quote(name_field,
                                                                                      *name),
                                            "; expected [A-Za-z0-9._-]{1,64}"));
    } else if (*name == "default") {
      reader.Error(name_field,
                   "\"default\" is reserved (the metrics' rule label of requests no rule matched)");
    } else if (auto [pos, inserted] = names->emplace(*name, item.path); !inserted) {
      reader.Error(name_field, absl::StrCat("duplicate rule name ",
                                            ConfigReader::Quote(name_field, *name),
                                            " (already at ", pos->second, ")"));
    }
    rule.set_name(*name);
  }
  ReadMatch(reader, map->Get("match"), rule.mutable_match());

  const Field list = map->Get("providers");
  if (!list.present) {
    reader.Error(list, "required: the providers this rule sends to, in order");
  }
  if (std::optional<std::vector<Field>> items = reader.List(list); items.has_value()) {
    if (list.present && items->empty()) {
      reader.Error(list, "must name at least one provider");
    }
    std::unordered_map<std::string, size_t> seen;
    for (size_t i = 0; i < items->size(); ++i) {
      const Field& p = (*items)[i];
      std::optional<std::string> ref = ReadProviderName(reader, p, providers);
      if (!ref.has_value()) {
        continue;
      }
      if (auto [pos, inserted] = seen.emplace(*ref, i); !inserted) {
        reader.Error(p, absl::StrCat("duplicate provider ", ConfigReader::Quote(p, *ref),
                                     " (already at ", IndexPath(list.path, pos->second), ")"));
        continue;
      }
      rule.add_providers(*ref);
    }
  }
  const Field model = map->Get("model");
  if (std::optional<std::string> m = reader.String(model); m.has_value()) {
    if (m->empty()) {
      reader.Error(model, "must not be empty (leave it out to keep the requested model)");
    } else {
      rule.set_model(*m);
    }
  }
  const Field strategy = map->Get("strategy");
  if (strategy.present && strategy.node.IsScalar() &&
      (strategy.node.Scalar() == "ordered" || strategy.node.Scalar() == "failover")) {
    rule.set_strategy("ordered");
  } else if (std::optional<std::string> s = ReadStrategyName(reader, strategy); s.has_value()) {
    rule.set_strategy(*s);
  }
  if (std::optional<bool> v = reader.Bool(map->Get("fallback")); v.has_value()) {
    rule.set_fallback(*v);
  }
  *routing->add_rules() = std::move(rule);
}

}  // namespace

void ReadRoutingRules(ConfigReader& reader, const Field& rules, const Field& background_models,
                      const std::vector<ReadProvider>& providers, ccrelay::v1::Routing* routing) {
  if (background_models.present) {
    routing->clear_background_models();
    ReadGlobs(reader, background_models, routing->mutable_background_models());
  }
  std::optional<std::vector<Field>> items = reader.List(rules);
  if (!items.has_value()) {
    return;
  }
  std::unordered_map<std::string, std::string> names;
  for (size_t i = 0; i < items->size() && !reader.stopped(); ++i) {
    ReadRule(reader, (*items)[i], providers, &names, routing);
  }
}

}  // namespace ccrelay::controlplane
