#include "tests/fakes/fake_vertex_process.h"

namespace ccrelay::testing {

FakeVertex::FakeVertex(const FakeVertexOptions& options)
    : AnthropicFakeProcess("fake_vertex.py", options,
                           {"--project=" + options.project, "--region=" + options.region}),
      project_(options.project),
      region_(options.region) {}

}  // namespace ccrelay::testing
