#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace ccrelay::routing {

// A model name as written in config (`model_mapping` and `pricing` keys): it matches that name
// exactly, or, written with a trailing '*' ("glm-*"), every name that starts with the rest.
// The config readers accept a pattern only when Validate is ok; the data plane compiles what
// the snapshot carries. Plain data, no I/O: the config library links it too.
class ModelPattern {
 public:
  ModelPattern() = default;  // matches only the empty name
  // Parses the written form. A '*' before the end (which Validate rejects) is taken literally.
  explicit ModelPattern(std::string_view written);

  // Ok, or InvalidArgument with the text config errors show ("'*' is only allowed at the end
  // of a model name (a prefix match)").
  static absl::Status Validate(std::string_view written);

  bool Matches(std::string_view model) const;
  // The written form ("glm-*").
  std::string ToString() const;

 private:
  std::string name_;  // without the trailing '*'
  bool prefix_ = false;
};

// A glob over model names and header values (scenario rules' `match.model`, `match.header`,
// `routing.background_models`): '*' matches any run of characters (none included), '?' any one
// character, everything else itself, case-sensitively. "*haiku*" matches every name holding
// "haiku". Plain data, no allocation when matching.
class Glob {
 public:
  Glob() = default;  // matches only the empty string
  explicit Glob(std::string_view written) : pattern_(written) {}

  // Ok, or InvalidArgument with the text config errors show (empty, or a control character).
  static absl::Status Validate(std::string_view written);

  bool Matches(std::string_view text) const;
  const std::string& ToString() const { return pattern_; }

 private:
  std::string pattern_;
};

}  // namespace ccrelay::routing
