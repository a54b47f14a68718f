#include "dataplane/providers/zai.h"

#include "dataplane/common/str.h"

namespace ccrelay::providers {

void ZaiProvider::AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const {
  out->push_back({"Authorization", common::StrCat("Bearer ", key)});
}

}  // namespace ccrelay::providers
