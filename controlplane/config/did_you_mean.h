#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::controlplane {

// Edit distance (optimal string alignment: insert, delete, substitute, swap two neighbours).
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate `word` was most likely meant to be: a case-insensitive match, else the closest
// candidate within edit distance 2 (and closer than the word's own length, so "x" suggests
// nothing). Ties go to the earlier candidate. nullopt when nothing is close.
std::optional<std::string> DidYouMean(std::string_view word,
                                      const std::vector<std::string_view>& candidates);

// " (did you mean \"x\"?)" or "".
std::string DidYouMeanSuffix(std::string_view word,
                             const std::vector<std::string_view>& candidates);

}  // namespace ccrelay::controlplane
