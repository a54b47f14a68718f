#include "dataplane/providers/ollama.h"

namespace ccrelay::providers {

void OllamaProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  out->push_back({"x-api-key", key.empty() ? std::string("ollama") : std::string(key)});
}

}  // namespace ccrelay::providers
