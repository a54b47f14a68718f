#include "dataplane/providers/anthropic.h"

#include "dataplane/common/str.h"

namespace ccrelay::providers {

void AnthropicProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  if (std::string_view(key).starts_with("sk-ant-oat")) {
    out->push_back({"Authorization", common::StrCat("Bearer ", key)});
  } else {
    out->push_back({"x-api-key", std::string(key)});
  }
}

}  // namespace ccrelay::providers
