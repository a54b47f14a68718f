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

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed; -1 when it could not run
  std::string output;  // stdout and stderr
};
// Runs argv[0] (a path) with `stdin_text` on its standard input; waits for it to exit.
CommandResult RunCommand(const std::vector<std::string>& argv, std::string_view stdin_text = {});

}  // namespace ccrelay::testing
