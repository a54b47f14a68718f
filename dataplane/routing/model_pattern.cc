#include "dataplane/routing/model_pattern.h"

namespace ccrelay::routing {

ModelPattern::ModelPattern(std::string_view written)
    : name_(written), prefix_(written.ends_with('*')) {
  if (prefix_) {
    name_.pop_back();
  }
}

absl::Status ModelPattern::Validate(std::string_view written) {
  const size_t star = written.find('*');
  if (star != std::string_view::npos && star + 1 != written.size()) {
    return absl::InvalidArgumentError(
        "'*' is only allowed at the end of a model name (a prefix match)");
  }
  return absl::OkStatus();
}

bool ModelPattern::Matches(std::string_view model) const {
  return prefix_ ? model.starts_with(name_) : model == name_;
}

std::string ModelPattern::ToString() const { return prefix_ ? name_ + "*" : name_; }

}  // namespace ccrelay::routing
