#include "dataplane/http/sse_boundary.h"

namespace ccrelay::http {

size_t LastEventBoundary(std::string_view data) {
  for (size_t i = data.size(); i >= 2; --i) {
    if (data[i - 1] != '\n') {
      continue;
    }
    if (data[i - 2] == '\n') {
      return i;
    }
    if (i >= 4 && data[i - 2] == '\r' && data[i - 3] == '\n') {
      return i;
    }
  }
  return 0;
}

}  // namespace ccrelay::http
