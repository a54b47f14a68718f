#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "dataplane/routing/routing_table.h"

namespace ccrelay::stats {
class DataPlaneMetrics;
}  // namespace ccrelay::stats

namespace ccrelay::server {

// A request for one of the endpoints a data plane answers itself.
struct LocalRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string_view method_string;
  std::string_view path;
  std::string_view query;
  const routing::RoutingTable* table = nullptr;
  stats::DataPlaneMetrics* metrics = nullptr;  // null: metrics are not enabled
  int64_t open_connections = 0;
  bool metrics_only = false;  // the metrics listener: only /metrics and /health
};

// The answer: a body, or an error the session turns into Anthropic's error JSON.
struct LocalAnswer {
  int status = 200;
  std::string_view content_type = "application/json";
  std::string body;
  bool error = false;         // body holds the error message
  std::string extra_headers;  // "name: value\r\n" lines (Allow on a 405)
};

// GET /v1/models (paginated as Anthropic's list), GET /v1/models/{id}, GET|HEAD /health and /,
// GET|HEAD /metrics; 404 for anything else that is not a proxied path. Returns false for the
// proxied paths (/v1/messages and /v1/messages/count_tokens), which the session hands to an
// exchange.
bool AnswerLocally(const LocalRequest& req, LocalAnswer* out);

}  // namespace ccrelay::server
