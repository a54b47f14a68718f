// cc-relayctl route explain: why a request goes where it goes (a data plane's live routing).
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>

#include <grpcpp/grpcpp.h>

#include "proto/admin.grpc.pb.h"
#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

using common::StrCat;

constexpr std::string_view kHelp =
    R"(Explain where a request would be routed, and why, without sending anything.

Usage:
  cc-relayctl route explain --file BODY.json [flags]
  cc-relayctl route explain --model MODEL [--tokens N] [--max-tokens N] [--thinking] [--images]
                            [--tools web_search,...] [flags]

The request:
  --file PATH         A Messages request body (JSON; "-" = standard input), read as the relay
                      reads it: model, max_tokens, thinking, tools, images, size / 4 = tokens
  --model M           Or the request's features: the model asked for
  --tokens N          Estimated input tokens (default 0)
  --max-tokens N      max_tokens
  --thinking          Extended thinking on
  --images            An image in the messages
  --tools LIST        Server tools, comma-separated (web_search, web_fetch, code_execution, ...)
  --header 'N: V'     A request header, for rules that match headers (repeatable)
  --betas LIST        The anthropic-beta header
  --count-tokens      As POST /v1/messages/count_tokens
  --user NAME         As a teammate's request (their relay key): rules' users match it, and
                      their allowed models, providers and rules apply

Which data plane:
  --data-plane ID     Through the control plane (--control-plane) to this data plane; without
                      it, to the only one connected (the default)
  --addr HOST:PORT    Directly to a data plane's admin API (cc-relayctl dataplanes list, ADMIN)

The data plane routes the request against its live snapshot and key state (nothing is sent,
no budget is reserved, no cursor moves) and prints the matched rule, the routed model, the
strategy, the providers in the order they would be tried with the figures that ranked them
(negative or "-": not used by the strategy), each provider's keys in the order they would be
tried (headroom, cooling, breaker, health check), where the first attempt would go, and each
provider left out with why. With Claude Code's session header (--header
'x-claude-code-session-id: ID'), the session's affinity target comes first, as for the request.
)";

// "-" for a figure the strategy did not set (negative).
std::string Figure(double v, const char* format) {
  if (v < 0) {
    return "-";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string Cooling(int64_t ms) {
  if (ms <= 0) {
    return "-";
  }
  return ms < 10000 ? StrCat(ms / 1000, ".", (ms % 1000) / 100, "s") : StrCat(ms / 1000, "s");
}

std::string Features(const v1::RouteFeatures& f) {
  std::string s = StrCat("model ", f.model(), ", ~", f.input_tokens(), " input tokens");
  if (f.max_tokens() > 0) {
    common::StrAppend(&s, ", max_tokens ", f.max_tokens());
  }
  if (f.thinking()) {
    s += ", thinking";
  }
  if (f.images()) {
    s += ", images";
  }
  if (f.tool_count() > 0) {
    common::StrAppend(&s, ", ", f.tool_count(), " tool(s)");
  }
  for (const std::string& t : f.server_tools()) {
    common::StrAppend(&s, " ", t);
  }
  if (!f.betas().empty()) {
    common::StrAppend(&s, ", betas ", f.betas());
  }
  if (f.count_tokens()) {
    s += ", count_tokens";
  }
  if (!f.user().empty()) {
    common::StrAppend(&s, ", user ", f.user());
  }
  return s;
}

void PrintTable(const Output& out, const v1::RouteExplanation& e) {
  std::vector<std::vector<std::string>> head = {
      {"data plane", StrCat(e.data_plane_id(), " (snapshot ", e.snapshot_version(), ")")},
      {"request", Features(e.request())},
      {"rule", e.rule().empty() ? "(none)" : e.rule()},
      {"model", e.model()},
      {"strategy", e.strategy()},
      {"first", e.first_provider().empty()
                    ? StrCat("none: ", e.first_reason())
                    : StrCat(e.first_provider(),
                             e.first_key().empty() ? "" : StrCat(" key ", e.first_key()), " (",
                             e.first_reason(), ")")}};
  for (const auto& row : head) {
    out.Line(StrCat(row[0], ":", std::string(12 - row[0].size(), ' '), row[1]));
  }
  out.Line("");
  // The strategy's figures: a column only when some provider has it.
  struct Col {
    const char* name;
    std::function<double(const v1::RouteCandidate&)> get;
    const char* format;
  };
  const std::vector<Col> figures = {
      {"COST", [](const v1::RouteCandidate& c) { return c.expected_cost_usd(); }, "$%.6f"},
      {"TTFT", [](const v1::RouteCandidate& c) { return c.ttft_ms(); }, "%.0fms"},
      {"TOK/S", [](const v1::RouteCandidate& c) { return c.output_tokens_per_s(); }, "%.1f"},
      {"SCORE", [](const v1::RouteCandidate& c) { return c.score(); }, "%.4g"},
      {"IN_FLIGHT",
       [](const v1::RouteCandidate& c) { return static_cast<double>(c.in_flight()); }, "%.0f"},
      {"CAPACITY", [](const v1::RouteCandidate& c) { return c.capacity(); }, "%.3g"},
  };
  std::vector<const Col*> shown;
  for (const Col& col : figures) {
    for (const auto& c : e.ranked()) {
      if (col.get(c) >= 0) {
        shown.push_back(&col);
        break;
      }
    }
  }
  std::vector<std::string> header = {"RANK", "PROVIDER", "TYPE", "MODEL"};
  for (const Col* col : shown) {
    header.push_back(col->name);
  }
  for (const char* h : {"KEYS", "CHECK", "BREAKER", "NOTE"}) {
    header.push_back(h);
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::string>> key_rows;
  int rank = 0;
  for (const auto& c : e.ranked()) {
    ++rank;
    std::vector<std::string> row = {StrCat(rank), c.name(), c.type(), c.model()};
    for (const Col* col : shown) {
      row.push_back(Figure(col->get(c), col->format));
    }
    int headroom = 0;
    for (const auto& k : c.keys()) {
      headroom += k.headroom() ? 1 : 0;
    }
    row.push_back(c.passthrough() ? "passthrough"
                                  : StrCat(headroom, "/", c.keys_size(), " with headroom"));
    row.push_back(c.check_reason().empty() ? c.check_state()
                                           : StrCat(c.check_state(), ": ", c.check_reason()));
    row.push_back(c.breaker());
    row.push_back(c.note().empty() ? "-" : c.note());
    rows.push_back(std::move(row));
    int order = 0;
    for (const auto& k : c.keys()) {
      key_rows.push_back({c.name(), StrCat(++order), k.fingerprint(), YesNo(k.headroom()),
                          k.state(), Cooling(k.available_in_ms()), k.breaker(), k.check_state(),
                          YesNo(k.disabled()), YesNo(k.expired())});
    }
  }
  out.Line("Ranked (in the order they would be tried):");
  out.Table(header, rows, "(no provider serves this request)");
  if (!key_rows.empty()) {
    out.Line("");
    out.Line("Keys (in the order they would be tried):");
    out.Table({"PROVIDER", "#", "KEY", "HEADROOM", "STATE", "COOLING", "BREAKER", "CHECK",
               "DISABLED", "EXPIRED"},
              key_rows);
  }
  out.Line("");
  out.Line("Excluded:");
  std::vector<std::vector<std::string>> excluded;
  for (const auto& x : e.excluded()) {
    excluded.push_back({x.name(), x.reason()});
  }
  out.Table({"PROVIDER", "REASON"}, excluded);
}

}  // namespace

int RunRoute(const Invocation& inv) {
  common::FlagParser flags;
  std::string file;
  std::string model;
  uint32_t tokens = 0;
  uint32_t max_tokens = 0;
  bool thinking = false;
  bool images = false;
  bool count_tokens = false;
  std::string tools;
  std::string betas;
  std::string addr;
  std::string data_plane;
  v1::ExplainRouteRequest request;
  flags.String("--file", &file);
  flags.String("--model", &model);
  flags.Uint("--tokens", &tokens, "--tokens needs a number");
  flags.Uint("--max-tokens", &max_tokens, "--max-tokens needs a number");
  flags.Bool("--thinking", &thinking);
  flags.Bool("--images", &images);
  flags.Bool("--count-tokens", &count_tokens);
  flags.String("--tools", &tools);
  flags.String("--betas", &betas);
  flags.String("--user", request.mutable_user());
  flags.Custom("--header", [&request](std::string_view value) {
    const size_t colon = value.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(
          StrCat("--header needs 'name: value', got \"", value, "\""));
    }
    (*request.mutable_headers())[std::string(common::StripWhitespace(value.substr(0, colon)))] =
        std::string(common::StripWhitespace(value.substr(colon + 1)));
    return absl::OkStatus();
  });
  flags.String("--addr", &addr);
  flags.String("--data-plane", &data_plane);
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  if (pos.size() != 1 || pos[0] != "explain") {
    return UsageError("usage: route explain (--file BODY.json | --model MODEL ...)", kHelp);
  }
  if (file.empty() == model.empty()) {
    return UsageError("give either --file BODY.json or --model MODEL", kHelp);
  }
  if (!addr.empty() && !data_plane.empty()) {
    return UsageError("--addr and --data-plane do not go together", kHelp);
  }
  if (!file.empty()) {
    std::string body;
    if (file == "-") {
      body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "error: --file %s: cannot read\n", file.c_str());
        return kExitFailed;
      }
      body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (body.empty()) {
      std::fprintf(stderr, "error: --file %s: empty\n", file.c_str());
      return kExitFailed;
    }
    request.set_body(std::move(body));
  } else {
    request.set_model(model);
    request.set_input_tokens(tokens);
    request.set_max_tokens(max_tokens);
    request.set_thinking(thinking);
    request.set_images(images);
    std::string_view rest = tools;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view t = common::StripWhitespace(rest.substr(0, comma));
      if (!t.empty()) {
        request.add_tools(std::string(t));
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  request.set_betas(betas);
  request.set_count_tokens(count_tokens);

  const std::string& target = addr.empty() ? inv.flags.control_plane : addr;
  auto client = ConnectOrReport(inv, target);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto ctx = client->Context();
  v1::RouteExplanation resp;
  grpc::Status s;
  if (!addr.empty()) {
    s = v1::DataPlaneAdmin::NewStub(client->channel())->ExplainRoute(ctx.get(), request, &resp);
  } else {
    v1::ExplainRouteViaControlPlaneRequest via;
    via.set_data_plane_id(data_plane);
    *via.mutable_request() = std::move(request);
    s = v1::Management::NewStub(client->channel())->ExplainRoute(ctx.get(), via, &resp);
  }
  if (!s.ok()) {
    return ReportRpcError(s, target);
  }
  if (inv.out->json()) {
    inv.out->Json(resp);
  } else {
    PrintTable(*inv.out, resp);
  }
  return kExitOk;
}

}  // namespace ccrelay::ctl
