#include "tests/fakes/metrics_text.h"

#include <cmath>
#include <cstdlib>

#include <unistd.h>

namespace ccrelay::testing {

std::map<std::string, double> ParseSamples(std::string_view exposition) {
  std::map<std::string, double> out;
  size_t pos = 0;
  while (pos < exposition.size()) {
    size_t end = exposition.find('\n', pos);
    if (end == std::string_view::npos) {
      end = exposition.size();
    }
    const std::string_view line = exposition.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    const size_t space = line.rfind(' ');
    if (space == std::string_view::npos) {
      continue;
    }
    const std::string value(line.substr(space + 1));
    double v = 0;
    if (value == "+Inf") {
      v = HUGE_VAL;
    } else if (value == "-Inf") {
      v = -HUGE_VAL;
    } else {
      v = std::strtod(value.c_str(), nullptr);
    }
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

std::vector<std::string> MetricFamilies(std::string_view exposition) {
  std::vector<std::string> out;
  constexpr std::string_view kType = "# TYPE ";
  size_t pos = 0;
  while ((pos = exposition.find(kType, pos)) != std::string_view::npos) {
    const size_t start = pos + kType.size();
    const size_t space = exposition.find(' ', start);
    out.emplace_back(exposition.substr(start, space - start));
    pos = start;
  }
  return out;
}

std::optional<double> SampleOf(const std::map<std::string, double>& samples,
                               const std::string& series) {
  auto it = samples.find(series);
  return it == samples.end() ? std::nullopt : std::optional<double>(it->second);
}

double SumOf(const std::map<std::string, double>& samples, std::string_view name,
             const std::vector<std::string>& label_parts) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    const std::string_view s(series);
    if (!s.starts_with(name) || (s.size() > name.size() && s[name.size()] != '{')) {
      continue;
    }
    bool all = true;
    for (const std::string& part : label_parts) {
      all = all && s.find(part) != std::string_view::npos;
    }
    if (all) {
      sum += value;
    }
  }
  return sum;
}

std::string FindInPath(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path == nullptr ? "/usr/local/bin:/usr/bin:/bin" : path;
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    if (!dir.empty()) {
      std::string candidate(dir);
      candidate += '/';
      candidate += name;
      if (::access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    if (colon == std::string_view::npos) {
      break;
    }
    dirs.remove_prefix(colon + 1);
  }
  return "";
}

}  // namespace ccrelay::testing
