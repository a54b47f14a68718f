#include "dataplane/common/token_file.h"

#include <fstream>
#include <sstream>

#include "dataplane/common/str.h"

namespace ccrelay::common {

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(StrCat("token file ", path, ": cannot read"));
  }
  std::string line;
  std::getline(in, line);
  std::string_view v = line;
  while (!v.empty() &&
         (v.back() == '\r' || v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) {
    v.remove_suffix(1);
  }
  v = StripWhitespace(v);
  if (v.empty()) {
    return absl::InvalidArgumentError(StrCat("token file ", path, ": empty first line"));
  }
  return std::string(v);
}

}  // namespace ccrelay::common
