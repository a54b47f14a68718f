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

absl::Status Glob::Validate(std::string_view written) {
  if (written.empty()) {
    return absl::InvalidArgumentError("must not be empty (\"*\" matches everything)");
  }
  for (const char c : written) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("a glob must not hold control characters");
    }
  }
  return absl::OkStatus();
}

// Iterative wildcard match with one backtracking point (the last '*'): linear in practice,
// never exponential.
bool Glob::Matches(std::string_view text) const {
  const std::string_view p = pattern_;
  size_t pi = 0;
  size_t ti = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (ti < text.size()) {
    if (pi < p.size() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == text[ti]))) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      star_text = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++star_text;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') {
    ++pi;
  }
  return pi == p.size();
}

}  // namespace ccrelay::routing
