#include "tests/fakes/fake_foundry_process.h"

namespace ccrelay::testing {

namespace {

std::vector<std::string> FoundryArgs(const FakeFoundryOptions& options) {
  std::vector<std::string> args;
  for (const std::string& d : options.deployments) {
    args.push_back("--deployment=" + d);
  }
  for (const std::string& k : options.api_keys) {
    args.push_back("--api-key=" + k);  // "=": a key may start with '-'
  }
  return args;
}

}  // namespace

FakeFoundry::FakeFoundry(const FakeFoundryOptions& options)
    : AnthropicFakeProcess("fake_foundry.py", options, FoundryArgs(options)) {}

}  // namespace ccrelay::testing
