#include "controlplane/config/did_you_mean.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ccrelay::controlplane {

size_t EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // Three rows: i-2, i-1, i.
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) {
    prev[j] = j;
  }
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
      }
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::optional<std::string> DidYouMean(std::string_view word,
                                      const std::vector<std::string_view>& candidates) {
  for (std::string_view c : candidates) {
    if (absl::EqualsIgnoreCase(absl::string_view(word.data(), word.size()),
                               absl::string_view(c.data(), c.size()))) {
      return std::string(c);
    }
  }
  // Long garbage cannot be within distance 2 of a short name; skip the quadratic work.
  std::optional<std::string> best;
  size_t best_distance = 3;
  for (std::string_view c : candidates) {
    const size_t longer = std::max(word.size(), c.size());
    const size_t shorter = std::min(word.size(), c.size());
    if (longer - shorter > 2) {
      continue;
    }
    const size_t d = EditDistance(word, c);
    if (d < best_distance && d < word.size()) {
      best_distance = d;
      best = std::string(c);
    }
  }
  return best;
}

std::string DidYouMeanSuffix(std::string_view word,
                             const std::vector<std::string_view>& candidates) {
  std::optional<std::string> guess = DidYouMean(word, candidates);
  if (!guess.has_value()) {
    return "";
  }
  return absl::StrCat(" (did you mean \"", *guess, "\"?)");
}

}  // namespace ccrelay::controlplane
