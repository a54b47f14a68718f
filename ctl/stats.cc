// cc-relayctl stats [--watch [--interval-ms N]]
#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp =
    R"(Request, token and error totals since the control plane started, per provider, key and
data plane, with the most recent requests.

Usage:
  cc-relayctl stats [--watch] [--interval-ms N] [--recent N]

  --watch          Print a new snapshot every interval until interrupted (json: one object per line)
  --interval-ms N  Interval of --watch (default 1000)
  --recent N       Recent requests to show in the table (default 10)
)";

void PrintTable(const Output& out, const v1::StatsSnapshot& s, uint32_t recent) {
  out.Table(
      {"REQUESTS", "ERRORS", "INPUT_TOKENS", "OUTPUT_TOKENS", "ACTIVE_STREAMS", "STRATEGY",
       "SNAPSHOT"},
      {{common::StrCat(s.requests()), common::StrCat(s.errors()), common::StrCat(s.input_tokens()),
        common::StrCat(s.output_tokens()), common::StrCat(s.active_streams()), s.strategy(),
        common::StrCat(s.snapshot_version())}});
  std::vector<std::vector<std::string>> keys;
  for (const auto& p : s.providers()) {
    for (const auto& k : p.keys()) {
      keys.push_back({p.name(), k.fingerprint(), k.state(), common::StrCat(k.requests()),
                      common::StrCat(k.errors()), common::StrCat(k.input_tokens()),
                      common::StrCat(k.output_tokens())});
    }
    if (p.keys_size() == 0) {
      keys.push_back({p.name(), "-", p.health(), common::StrCat(p.requests()),
                      common::StrCat(p.errors()), "-", "-"});
    }
  }
  out.Line("");
  out.Table({"PROVIDER", "KEY", "STATE", "REQUESTS", "ERRORS", "INPUT_TOKENS", "OUTPUT_TOKENS"},
            keys, "no providers");
  std::vector<std::vector<std::string>> dps;
  for (const auto& d : s.data_planes()) {
    dps.push_back({d.data_plane(), common::StrCat(d.requests()), common::StrCat(d.errors()),
                   common::StrCat(d.active_streams())});
  }
  out.Line("");
  out.Table({"DATA_PLANE", "REQUESTS", "ERRORS", "ACTIVE_STREAMS"}, dps, "no data planes");
  std::vector<std::vector<std::string>> rec;
  for (const auto& r : s.recent()) {
    if (rec.size() >= recent) {
      break;
    }
    rec.push_back({r.request_id(), r.data_plane(), r.provider(),
                   r.key_fingerprint().empty() ? "-" : r.key_fingerprint(), r.model(),
                   common::StrCat(r.status()), common::StrCat(r.attempts()),
                   common::StrCat(r.ttfb_ms()), common::StrCat(r.duration_ms())});
  }
  if (recent > 0) {
    out.Line("");
    out.Table({"REQUEST_ID", "DATA_PLANE", "PROVIDER", "KEY", "MODEL", "STATUS", "ATTEMPTS",
               "TTFB_MS", "DURATION_MS"},
              rec, "no recent requests");
  }
}

}  // namespace

int RunStats(const Invocation& inv) {
  common::FlagParser flags;
  bool watch = false;
  uint32_t interval_ms = 1000;
  uint32_t recent = 10;
  flags.Bool("--watch", &watch);
  flags.Uint("--interval-ms", &interval_ms);
  flags.Uint("--recent", &recent);
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  if (!(pos.empty() || (pos.size() == 1 && pos[0] == "get"))) {
    return UsageError("stats takes no operand", kHelp);
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  if (!watch) {
    auto ctx = client->Context();
    v1::StatsSnapshot snap;
    const grpc::Status s = stub->GetStats(ctx.get(), v1::GetStatsRequest(), &snap);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(snap);
    } else {
      PrintTable(*inv.out, snap, recent);
    }
    return kExitOk;
  }
  auto ctx = client->Context(/*streaming=*/true);
  v1::WatchStatsRequest req;
  req.set_interval_ms(interval_ms);
  auto reader = stub->WatchStats(ctx.get(), req);
  v1::StatsSnapshot snap;
  bool first = true;
  while (reader->Read(&snap)) {
    if (inv.out->json()) {
      inv.out->Json(snap);
      continue;
    }
    if (!first) {
      inv.out->Line("");
      inv.out->Line("----");
    }
    first = false;
    PrintTable(*inv.out, snap, recent);
  }
  const grpc::Status s = reader->Finish();
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  return kExitOk;
}

}  // namespace ccrelay::ctl
