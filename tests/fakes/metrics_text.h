#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::testing {

// Samples of a Prometheus text exposition: "name{labels}" exactly as written -> value.
std::map<std::string, double> ParseSamples(std::string_view exposition);
// The family names of its `# TYPE` lines, in order.
std::vector<std::string> MetricFamilies(std::string_view exposition);
// The value of one series, nullopt when absent.
std::optional<double> SampleOf(const std::map<std::string, double>& samples,
                               const std::string& series);
// Sum of every sample of `name` whose series contains each of `label_parts` ("provider=\"a\"").
double SumOf(const std::map<std::string, double>& samples, std::string_view name,
             const std::vector<std::string>& label_parts = {});

// An executable found in $PATH ("" when none).
std::string FindInPath(std::string_view name);


}  // namespace ccrelay::testing
