#include "controlplane/config/yaml_reader.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include <yaml-cpp/eventhandler.h>

#include "controlplane/config/did_you_mean.h"

namespace ccrelay::controlplane {

namespace {

constexpr size_t kMaxQuoted = 120;

// The value's own position, unless it is empty (yaml-cpp then marks the *next* token, which
// points at the wrong line) or has none; then `fallback` (its key, or its parent).
YAML::Mark MarkOr(const YAML::Node& node, const YAML::Mark& fallback) {
  if (!node.IsDefined() || node.IsNull() || node.Mark().is_null()) {
    return fallback;
  }
  return node.Mark();
}

std::string Join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) {
      out += ", ";
    }
    out += w;
  }
  return out;
}

std::string_view KindOf(const YAML::Node& node) {
  if (node.IsMap()) {
    return "a mapping";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  if (node.IsNull()) {
    return "an empty value";
  }
  return "a value";
}

// Records where each document starts; ignores everything else.
class DocumentStarts : public YAML::EventHandler {
 public:
  // YAML::EventHandler
  void OnDocumentStart(const YAML::Mark& mark) override { last_start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark last_start;
};

}  // namespace

std::optional<YAML::Node> ParseSingleDocument(const std::string& text, ConfigReader& reader) {
  try {
    // Count the documents with a bounded loop rather than YAML::LoadAll: on input such as ","
    // yaml-cpp 0.7 returns empty documents forever without consuming anything
    // (jbeder/yaml-cpp#1040, fixed upstream by PR #1319). Two documents starting at one place
    // mean the parser is stuck on a token it cannot use.
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts starts;
    int documents = 0;
    int previous_pos = -1;
    while (documents < 2 && parser.HandleNextDocument(starts)) {
      if (starts.last_start.pos <= previous_pos) {
        reader.Error(starts.last_start, "", "invalid YAML: unexpected token");
        return std::nullopt;
      }
      previous_pos = starts.last_start.pos;
      ++documents;
    }
    if (documents > 1) {
      reader.Error(starts.last_start, "",
                   "only one YAML document is allowed (found a second after \"---\")");
      return std::nullopt;
    }
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    reader.Error(e.mark, "", absl::StrCat("invalid YAML: ", e.msg));
  } catch (const YAML::Exception& e) {
    reader.Error(e.mark, "", absl::StrCat("cannot read YAML: ", e.msg));
  }
  return std::nullopt;
}

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) {
    return std::string(key);
  }
  return absl::StrCat(std::string(parent), ".", std::string(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(std::string(parent), "[", index, "]");
}

int MarkLine(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.line + 1; }
int MarkColumn(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.column + 1; }

Field Mapping::Get(std::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.key == key) {
      return e.value;
    }
  }
  Field absent;
  absent.path = JoinPath(self_.path, key);
  absent.mark = self_.mark;
  return absent;
}

Field Mapping::GetSecret(std::string_view key) const {
  Field f = Get(key);
  f.secret = true;
  return f;
}

ConfigReader::ConfigReader(std::string file, const EnvLookup& env, size_t max_errors)
    : file_(std::move(file)), env_(env), max_errors_(max_errors) {}

void ConfigReader::Error(const Field& field, std::string message) {
  Error(field.mark, field.path, std::move(message));
}

void ConfigReader::Error(const YAML::Mark& mark, std::string path, std::string message) {
  if (stopped_) {
    return;
  }
  if (errors_.size() + 1 >= max_errors_) {
    errors_.push_back(
        ConfigError{file_, MarkLine(mark), MarkColumn(mark), std::move(path),
                    absl::StrCat("too many errors (", max_errors_, "); stopped checking here")});
    stopped_ = true;
    return;
  }
  errors_.push_back(
      ConfigError{file_, MarkLine(mark), MarkColumn(mark), std::move(path), std::move(message)});
}

std::vector<ConfigError> ConfigReader::TakeErrors() { return std::exchange(errors_, {}); }

Field ConfigReader::Root(const YAML::Node& node) {
  Field root;
  root.node = node;
  root.present = node.IsDefined() && !node.IsNull();
  root.mark = MarkOr(node, YAML::Mark());
  return root;
}

std::string ConfigReader::Quote(const Field& field, std::string_view text) {
  if (field.secret) {
    return "value";
  }
  std::string out = "\"";
  size_t n = 0;
  for (unsigned char c : text) {
    if (n++ == kMaxQuoted) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

std::string ConfigReader::Got(const Field& field) const {
  if (field.node.IsScalar()) {
    return Quote(field, field.node.Scalar());
  }
  return std::string(KindOf(field.node));
}

std::optional<std::string> ConfigReader::ScalarText(const Field& field, std::string_view what) {
  if (!field.node.IsScalar()) {
    Error(field, absl::StrCat("expected ", std::string(what), ", got ", Got(field)));
    return std::nullopt;
  }
  EnvExpansion expanded = ExpandEnv(field.node.Scalar(), env_);
  if (!expanded.ok()) {
    for (std::string& e : expanded.errors) {
      Error(field, std::move(e));
    }
    return std::nullopt;
  }
  return std::move(expanded.value);
}

std::optional<std::string> ConfigReader::String(const Field& field) {
  if (!field.present) {
    return std::nullopt;
  }
  if (field.node.IsNull()) {
    return std::string();
  }
  return ScalarText(field, "a string");
}

std::optional<bool> ConfigReader::Bool(const Field& field) {
  if (!field.present) {
    return std::nullopt;
  }
  constexpr const char* kWhat = "true or false";
  std::optional<std::string> text = ScalarText(field, kWhat);
  if (!text.has_value()) {
    return std::nullopt;
  }
  if (*text == "true" || *text == "True" || *text == "TRUE") {
    return true;
  }
  if (*text == "false" || *text == "False" || *text == "FALSE") {
    return false;
  }
  Error(field, absl::StrCat("expected ", kWhat, ", got ", Quote(field, *text)));
  return std::nullopt;
}

std::optional<uint64_t> ConfigReader::Uint(const Field& field, uint64_t max) {
  if (!field.present) {
    return std::nullopt;
  }
  constexpr const char* kWhat = "a non-negative integer";
  std::optional<std::string> text = ScalarText(field, kWhat);
  if (!text.has_value()) {
    return std::nullopt;
  }
  bool digits = !text->empty();
  for (char c : *text) {
    digits = digits && c >= '0' && c <= '9';
  }
  if (!digits) {
    Error(field, absl::StrCat("expected ", kWhat, ", got ", Quote(field, *text)));
    return std::nullopt;
  }
  uint64_t value = 0;
  const std::string& digits_text = *text;
  const char* begin = digits_text.data();
  const char* end = begin + digits_text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || value > max) {
    Error(field,
          absl::StrCat("expected ", kWhat, " of at most ", max, ", got ", Quote(field, *text)));
    return std::nullopt;
  }
  return value;
}

std::optional<double> ConfigReader::Number(const Field& field) {
  if (!field.present) {
    return std::nullopt;
  }
  constexpr const char* kWhat = "a number";
  std::optional<std::string> text = ScalarText(field, kWhat);
  if (!text.has_value()) {
    return std::nullopt;
  }
  const std::string& number = *text;
  double value = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  const bool whole = ec == std::errc() && ptr == number.data() + number.size();
  if (number.empty() || !whole || !std::isfinite(value)) {
    Error(field, absl::StrCat("expected ", kWhat, ", got ", Quote(field, number)));
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> ConfigReader::Enum(const Field& field,
                                              const std::vector<std::string_view>& allowed) {
  std::optional<std::string> text = String(field);
  if (!text.has_value()) {
    return std::nullopt;
  }
  for (std::string_view a : allowed) {
    if (a == *text) {
      return text;
    }
  }
  Error(field, absl::StrCat("expected one of ", Join(allowed), ", got ", Quote(field, *text),
                            DidYouMeanSuffix(*text, allowed)));
  return std::nullopt;
}

std::optional<std::vector<Field>> ConfigReader::List(const Field& field) {
  if (!field.present || stopped_) {
    return std::nullopt;
  }
  std::vector<Field> items;
  if (field.node.IsNull()) {
    return items;
  }
  if (!field.node.IsSequence()) {
    Error(field, absl::StrCat("expected a list, got ", Got(field)));
    return std::nullopt;
  }
  items.reserve(field.node.size());
  size_t index = 0;
  for (const YAML::Node& item : field.node) {
    Field f;
    f.node = item;
    f.present = true;
    f.path = IndexPath(field.path, index++);
    f.mark = MarkOr(item, field.mark);
    f.secret = field.secret;
    items.push_back(std::move(f));
  }
  return items;
}

std::optional<Mapping> ConfigReader::Map(const Field& field,
                                         const std::vector<std::string_view>& allowed) {
  return ReadMap(field, &allowed);
}

std::optional<Mapping> ConfigReader::FreeMap(const Field& field) { return ReadMap(field, nullptr); }

std::optional<Mapping> ConfigReader::ReadMap(const Field& field,
                                             const std::vector<std::string_view>* allowed) {
  if (stopped_) {
    return std::nullopt;
  }
  Mapping out;
  out.self_ = field;
  if (!field.present || field.node.IsNull()) {
    return out;
  }
  if (!field.node.IsMap()) {
    Error(field, absl::StrCat("expected a mapping, got ", Got(field)));
    return std::nullopt;
  }
  std::unordered_map<std::string, YAML::Mark> seen;
  for (auto it = field.node.begin(); it != field.node.end() && !stopped_; ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    const YAML::Mark key_mark = MarkOr(key, field.mark);
    if (!key.IsScalar() || key.Scalar().empty()) {
      Error(key_mark, field.path,
            absl::StrCat("expected a non-empty string as key, got ", std::string(KindOf(key))));
      continue;
    }
    const std::string& name = key.Scalar();
    Field v;
    v.node = value;
    v.present = true;
    v.path = allowed != nullptr ? JoinPath(field.path, name)
                                : absl::StrCat(field.path, "[", Quote(Field(), name), "]");
    v.mark = MarkOr(value, key_mark);
    if (allowed != nullptr) {
      bool known = false;
      for (std::string_view a : *allowed) {
        known = known || a == name;
      }
      if (!known) {
        Error(key_mark, v.path,
              absl::StrCat("unknown key ", Quote(Field(), name), DidYouMeanSuffix(name, *allowed)));
        continue;
      }
    }
    auto [pos, inserted] = seen.emplace(name, key_mark);
    if (!inserted) {
      Error(key_mark, v.path,
            absl::StrCat("duplicate key ", Quote(Field(), name), " (first at line ",
                         MarkLine(pos->second), ")"));
      continue;
    }
    out.entries_.push_back(Mapping::Entry{name, key_mark, std::move(v)});
  }
  return out;
}

}  // namespace ccrelay::controlplane
