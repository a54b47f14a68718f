// cc-relayctl providers list | get NAME | enable NAME | disable NAME
#include <cmath>

#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp = R"(Providers and their state.

Usage:
  cc-relayctl providers list
  cc-relayctl providers get NAME
  cc-relayctl providers enable NAME
  cc-relayctl providers disable NAME

enable/disable are runtime changes: they reach every data plane at once and persist across a
control-plane restart (in the control plane's state file).
)";

std::string Fixed1(double v) {
  const int64_t tenths = std::llround(v * 10);
  return common::StrCat(tenths / 10, ".", tenths % 10);
}

std::vector<std::string> Row(const v1::ProviderInfo& p) {
  size_t active = 0;
  for (const auto& k : p.keys()) {
    active += k.state() == "active" ? 1 : 0;
  }
  return {p.name(),
          p.type(),
          p.enabled() ? "enabled" : "disabled",
          p.health(),
          common::StrCat(active, "/", p.keys_size()),
          common::StrCat(p.requests()),
          common::StrCat(p.errors()),
          p.avg_latency_ms() > 0 ? Fixed1(p.avg_latency_ms()) : "-",
          p.source(),
          p.base_url()};
}

std::vector<std::string> Header() {
  return {"NAME",     "TYPE",   "STATE",   "HEALTH", "KEYS",
          "REQUESTS", "ERRORS", "TTFB_MS", "SOURCE", "BASE_URL"};
}

}  // namespace

int RunProviders(const Invocation& inv) {
  common::FlagParser flags;
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  const std::string verb = pos.empty() ? "list" : pos[0];
  if (verb == "list") {
    if (pos.size() > 1) {
      return UsageError("providers list takes no operand", kHelp);
    }
  } else if (verb == "get" || verb == "enable" || verb == "disable") {
    if (pos.size() != 2) {
      return UsageError(common::StrCat("providers ", verb, " needs exactly one NAME"), kHelp);
    }
  } else {
    return UsageError(common::StrCat("unknown providers command \"", verb, "\""), kHelp);
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  if (verb == "list") {
    v1::ListProvidersResponse resp;
    const grpc::Status s = stub->ListProviders(ctx.get(), v1::ListProvidersRequest(), &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : resp.providers()) {
      rows.push_back(Row(p));
    }
    inv.out->Table(Header(), rows, "no providers");
    // A minted credential in trouble (none, or its refresh failing): why, under the table.
    for (const auto& p : resp.providers()) {
      if (!p.credentials().empty() && (p.health() == "unhealthy" || p.health() == "degraded")) {
        inv.out->Line(common::StrCat("credentials of ", p.name(), ": ", p.credentials()));
      }
    }
    inv.out->Line(common::StrCat("strategy ", resp.strategy(), ", snapshot version ",
                                 resp.snapshot_version()));
    return kExitOk;
  }
  v1::ProviderInfo info;
  grpc::Status s;
  if (verb == "get") {
    v1::GetProviderRequest req;
    req.set_name(pos[1]);
    s = stub->GetProvider(ctx.get(), req, &info);
  } else {
    v1::SetProviderEnabledRequest req;
    req.set_name(pos[1]);
    req.set_enabled(verb == "enable");
    s = stub->SetProviderEnabled(ctx.get(), req, &info);
  }
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(info);
    return kExitOk;
  }
  if (verb != "get") {
    inv.out->Line(
        common::StrCat("provider ", info.name(), " ", info.enabled() ? "enabled" : "disabled"));
    return kExitOk;
  }
  inv.out->Table(Header(), {Row(info)});
  if (info.models_size() > 0) {
    std::string models;
    for (const auto& m : info.models()) {
      common::StrAppend(&models, models.empty() ? "" : ", ", m);
    }
    inv.out->Line(common::StrCat("models: ", models));
  }
  if (!info.credentials().empty()) {
    inv.out->Line(common::StrCat("credentials: ", info.credentials()));
  }
  return kExitOk;
}

}  // namespace ccrelay::ctl
