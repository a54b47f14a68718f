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

}  // namespace ccrelay::routing
