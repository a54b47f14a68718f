#include "controlplane/config/metrics_config.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

#include "controlplane/config/value_checks.h"

namespace ccrelay::controlplane {

ccrelay::v1::Metrics ReadMetrics(ConfigReader& reader, const Field& field) {
  ccrelay::v1::Metrics metrics;
  std::optional<Mapping> map = reader.Map(field, {"listen"});
  if (!map.has_value()) {
    return metrics;
  }
  const Field listen = map->Get("listen");
  if (std::optional<std::string> v = reader.String(listen); v.has_value() && !v->empty()) {
    if (absl::Status s = CheckListen(*v); !s.ok()) {
      reader.Error(listen, absl::StrCat(s.message(), ", got ", ConfigReader::Quote(listen, *v)));
    } else {
      metrics.set_listen(*v);
    }
  }
  return metrics;
}

}  // namespace ccrelay::controlplane
