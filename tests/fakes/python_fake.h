#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fakes/child_process.h"

namespace ccrelay::testing {

// What the C++ wrappers of the Python fakes (tests/fakes/fake_*.py) share.

// Starts CCR_PYTHON tests/fakes/<script> --listen 127.0.0.1:0 args... in `process` and waits
// for its "listening 127.0.0.1:PORT" line: the port, 0 if it did not start or say so in time.
uint16_t StartPythonFake(ChildProcess* process, std::string_view script,
                         const std::vector<std::string>& args);

// The JSON lines of a fake's request log (one object per request), the test's own /__fake/
// control calls (operation "Control") left out.
std::vector<nlohmann::json> ReadFakeRequestLog(const std::string& path);

// Writes `contents` next to `path` and renames it over `path`: a fake re-reading the file on
// every request never sees half of it.
void ReplaceFileAtomically(const std::string& path, std::string_view contents);

}  // namespace ccrelay::testing
