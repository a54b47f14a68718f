#include "dataplane/server/local_endpoints.h"

#include <algorithm>
#include <chrono>

#include "dataplane/common/str.h"
#include "dataplane/http/request_scan.h"
#include "dataplane/stats/data_plane_metrics.h"
#include "dataplane/stats/key_metrics.h"
#include "dataplane/stats/prometheus_text.h"

namespace ccrelay::server {

namespace bhttp = boost::beast::http;

namespace {

std::string_view QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view kv = query.substr(0, amp);
    const std::string_view k = kv.substr(0, kv.find('='));
    if (k == name) {
      return kv.size() > k.size() ? kv.substr(k.size() + 1) : std::string_view();
    }
    if (amp == std::string_view::npos) {
      break;
    }
    query.remove_prefix(amp + 1);
  }
  return {};
}

void Error(int status, std::string message, LocalAnswer* out, std::string_view allow = {}) {
  out->status = status;
  out->error = true;
  out->body = std::move(message);
  if (!allow.empty()) {
    out->extra_headers = common::StrCat("allow: ", allow, "\r\n");
  }
}

void Models(const routing::RoutingTable& table, std::string_view query, LocalAnswer* out) {
  const auto& entries = table.model_entries;
  size_t limit = 20;
  if (std::string_view l = QueryParam(query, "limit"); !l.empty()) {
    if (!common::ParseUint(l, &limit) || limit < 1 || limit > 1000) {
      Error(400, "limit: must be an integer between 1 and 1000", out);
      return;
    }
  }
  size_t begin = 0;
  size_t end = entries.size();
  const std::string_view after = QueryParam(query, "after_id");
  const std::string_view before = QueryParam(query, "before_id");
  auto index_of = [&](std::string_view id) -> size_t {
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].first == id) {
        return i;
      }
    }
    return entries.size();
  };
  if (!after.empty()) {
    begin = std::min(entries.size(), index_of(after) + 1);
    end = std::min(entries.size(), begin + limit);
  } else if (!before.empty()) {
    end = index_of(before);
    begin = end > limit ? end - limit : 0;
  } else {
    end = std::min(entries.size(), limit);
  }
  std::string& body = out->body;
  body = "{\"object\":\"list\",\"data\":[";
  for (size_t i = begin; i < end; ++i) {
    if (i != begin) {
      body.push_back(',');
    }
    body += entries[i].second;
  }
  const bool has_more = !before.empty() ? begin > 0 : end < entries.size();
  common::StrAppend(&body, "],\"has_more\":", has_more ? "true" : "false", ",\"first_id\":",
                    begin < end ? http::JsonQuote(entries[begin].first) : "null", ",\"last_id\":",
                    begin < end ? http::JsonQuote(entries[end - 1].first) : "null", "}");
}

void Metrics(const LocalRequest& req, LocalAnswer* out) {
  if (req.metrics == nullptr) {
    Error(404, "metrics are not enabled on this data plane", out);
    return;
  }
  stats::ScrapeState state;
  state.snapshot_version = req.table->version;
  state.open_connections = req.open_connections;
  const auto now = std::chrono::steady_clock::now();
  state.keys = stats::SampleKeys(*req.table, now);
  state.latency = stats::SampleLatency(*req.table, now);
  out->content_type = stats::kPrometheusContentType;
  out->body = req.metrics->Render(state);
}

}  // namespace

bool AnswerLocally(const LocalRequest& req, LocalAnswer* out) {
  const std::string_view path = req.path;
  const bool is_get = req.method == bhttp::verb::get;
  const bool is_head = req.method == bhttp::verb::head;
  if (path == "/metrics") {
    if (!is_get && !is_head) {
      Error(405, "method not allowed on /metrics", out, "GET, HEAD");
    } else {
      Metrics(req, out);
    }
    return true;
  }
  if (req.metrics_only && path != "/health" && path != "/") {
    Error(404,
          common::StrCat("no route for ", path,
                         " on the metrics listener (it serves /metrics and /health)"),
          out);
    return true;
  }
  if (path == "/v1/messages" || path == "/v1/messages/count_tokens") {
    return false;
  }
  if (path == "/v1/models") {
    if (!is_get) {
      Error(405, "method not allowed on /v1/models", out, "GET");
    } else {
      Models(*req.table, req.query, out);
    }
    return true;
  }
  if (path.starts_with("/v1/models/")) {
    if (!is_get) {
      Error(405, "method not allowed", out, "GET");
      return true;
    }
    const std::string_view id = path.substr(std::string_view("/v1/models/").size());
    for (const auto& [model_id, json] : req.table->model_entries) {
      if (model_id == id) {
        out->body = json;
        return true;
      }
    }
    Error(404, common::StrCat("model ", id, " is not served by this relay"), out);
    return true;
  }
  if (path == "/health" || path == "/") {
    if (!is_get && !is_head) {
      Error(405, common::StrCat("method not allowed on ", path), out, "GET, HEAD");
      return true;
    }
    const bool ready = !req.table->providers.empty();
    out->status = path == "/health" && !ready ? 503 : 200;
    out->body = path == "/health"
                    ? common::StrCat("{\"status\":\"", ready ? "ok" : "waiting_for_snapshot",
                                     "\",\"snapshot_version\":", req.table->version, "}")
                    : std::string("{\"name\":\"cc-relay\",\"status\":\"ok\"}");
    return true;
  }
  Error(404, common::StrCat("no route for ", req.method_string, " ", path), out);
  return true;
}

}  // namespace ccrelay::server
