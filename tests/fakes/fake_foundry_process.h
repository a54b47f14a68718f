#pragma once

#include <string>
#include <vector>

#include "tests/fakes/anthropic_fake_process.h"

namespace ccrelay::testing {

struct FakeFoundryOptions : AnthropicFakeOptions {
  // Deployment names `model` may be (at least one).
  std::vector<std::string> deployments = {"claude-sonnet-4-5"};
  // Accepted api-key / x-api-key values (`tokens` are the accepted Entra ID bearer tokens).
  std::vector<std::string> api_keys;
};

// tests/fakes/fake_foundry.py: a strict Azure AI Foundry Claude endpoint that checks every
// request's api-key or Entra ID bearer token (never both), its deployment name and the
// Anthropic body rules (protocols.md 5). Deployment names carrying "throttle", "overloaded",
// "denied", "hang", "midstream-drop", "midstream-error" fail the way fake_foundry.py --help
// says. Started in the constructor (check ok()); stopped in the destructor.
class FakeFoundry : public AnthropicFakeProcess {
 public:
  explicit FakeFoundry(const FakeFoundryOptions& options = {});

  // What a `type: azure` provider's base_url is set to: "http://127.0.0.1:PORT/anthropic".
  std::string base_url() const { return url() + "/anthropic"; }
};

}  // namespace ccrelay::testing
