#pragma once

#include <string>

#include "tests/fakes/anthropic_fake_process.h"

namespace ccrelay::testing {

struct FakeVertexOptions : AnthropicFakeOptions {
  std::string project = "fake-project";
  std::string region = "us-east5";
};

// tests/fakes/fake_vertex.py: a strict Vertex AI Claude endpoint that checks every request's
// bearer token against its tokens files, its project and region, and Vertex's body rules
// (protocols.md 4). Model ids carrying "quota", "quota-array", "denied", "unavailable",
// "notfound", "hang", "midstream-drop", "midstream-error" fail the way fake_vertex.py --help
// says. Started in the constructor (check ok()); stopped in the destructor.
class FakeVertex : public AnthropicFakeProcess {
 public:
  explicit FakeVertex(const FakeVertexOptions& options = {});

  const std::string& project() const { return project_; }
  const std::string& region() const { return region_; }
  // What a `type: vertex` provider's base_url is set to: "http://127.0.0.1:PORT/v1" (the API
  // version included, as in SPEC.md's Vertex section).
  std::string base_url() const { return url() + "/v1"; }

 private:
  std::string project_;
  std::string region_;
};

}  // namespace ccrelay::testing
