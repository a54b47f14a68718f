#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "controlplane/config/config_loader.h"
#include "controlplane/config/env_expand.h"

namespace ccrelay::controlplane {

// One value of the document with everything needed to report a problem with it.
struct Field {
  YAML::Node node;  // undefined when absent
  bool present = false;
  std::string path;     // key path: "providers[1].keys[0].rpm_limit"
  YAML::Mark mark;      // the node's; the key's for an empty value; the parent's when absent
  bool secret = false;  // its value is never echoed in a message
};

class ConfigReader;

// A mapping whose keys were checked against a schema (or accepted freely, for maps like
// model_mapping). Lookup returns an absent Field (with the mapping's position) for a missing key.
class Mapping {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    Field value;
  };

  const Field& self() const { return self_; }
  const std::vector<Entry>& entries() const { return entries_; }
  Field Get(std::string_view key) const;
  // Same, marking the value as a secret (never echoed; list items inherit this, mapping entries
  // do not).
  Field GetSecret(std::string_view key) const;

 private:
  friend class ConfigReader;
  Field self_;
  std::vector<Entry> entries_;
};

// Reads typed values out of a yaml-cpp tree: expands ${VAR} in scalar values, reports every
// problem as a ConfigError (collected, never thrown) and never throws itself for well-formed
// trees. Stops collecting after `max_errors` (a pathological file must not produce millions).
class ConfigReader {
 public:
  ConfigReader(std::string file, const EnvLookup& env, size_t max_errors = 100);

  void Error(const Field& field, std::string message);
  void Error(const YAML::Mark& mark, std::string path, std::string message);
  bool has_errors() const { return !errors_.empty(); }
  // True once the error limit was reached: callers stop walking.
  bool stopped() const { return stopped_; }
  std::vector<ConfigError> TakeErrors();

  // The document root as a Field (an empty document is an absent root).
  static Field Root(const YAML::Node& node);

  // Each returns nullopt, after reporting an error, when the value has the wrong type or an
  // environment reference fails; nullopt silently when the field is absent.
  // A string; an empty YAML value (`key:` or `~`) reads as "".
  std::optional<std::string> String(const Field& field);
  std::optional<bool> Bool(const Field& field);
  std::optional<uint64_t> Uint(const Field& field, uint64_t max);
  // A finite decimal number ("0.5", "1", "2e-1").
  std::optional<double> Number(const Field& field);
  // A string that must be one of `allowed` (otherwise reported with a "did you mean").
  std::optional<std::string> Enum(const Field& field, const std::vector<std::string_view>& allowed);
  // A list; an empty value reads as an empty list.
  std::optional<std::vector<Field>> List(const Field& field);
  // A mapping whose keys must be among `allowed` (unknown keys are reported with a "did you
  // mean"); an empty or absent value reads as an empty mapping. Duplicate keys are reported.
  std::optional<Mapping> Map(const Field& field, const std::vector<std::string_view>& allowed);
  // A mapping with arbitrary string keys (kept in file order); path of an entry is
  // `<path>["<key>"]`.
  std::optional<Mapping> FreeMap(const Field& field);

  // The value in quotes for a message (truncated and escaped), or `value` for a secret.
  static std::string Quote(const Field& field, std::string_view text);

 private:
  std::optional<Mapping> ReadMap(const Field& field, const std::vector<std::string_view>* allowed);
  // The scalar text after env expansion, or nullopt (error reported) for a non-scalar or a
  // failed expansion. `what` is the expected type for the message ("a string").
  std::optional<std::string> ScalarText(const Field& field, std::string_view what);
  std::string Got(const Field& field) const;

  std::string file_;
  const EnvLookup& env_;
  size_t max_errors_;
  bool stopped_ = false;
  std::vector<ConfigError> errors_;
};

// Parses `text` as exactly one YAML document (empty text: a null node). Syntax errors, a second
// document and input the parser cannot make progress on are reported to `reader` and yield
// nullopt. Catches yaml-cpp's exceptions.
std::optional<YAML::Node> ParseSingleDocument(const std::string& text, ConfigReader& reader);

// Path helpers: "a" + "b" -> "a.b", "" + "b" -> "b"; "a" + 3 -> "a[3]".
std::string JoinPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);

// 1-based line/column from a yaml-cpp Mark (0-based; null marks become 1:1).
int MarkLine(const YAML::Mark& mark);
int MarkColumn(const YAML::Mark& mark);

}  // namespace ccrelay::controlplane
