#pragma once

#include <string_view>

namespace ccrelay::controlplane::webui {

// One file of the dashboard (controlplane/webui/assets/), built into the binary.
struct WebAsset {
  std::string_view name;          // "index.html", "app.js", "app.css"
  std::string_view content_type;  // by extension
  std::string_view body;
};

// The asset of that name, nullptr if none (the table is generated at build time by
// controlplane/webui/embed_assets.cmake).
const WebAsset* FindWebAsset(std::string_view name);

}  // namespace ccrelay::controlplane::webui
