// cc-relayctl dataplane status|drain --addr ADDR (a data plane's own admin API)
#include <chrono>

#include <grpcpp/grpcpp.h>

#include "proto/admin.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp =
    R"(One data plane, through its admin API (cc-relay data-plane --admin-listen).

Usage:
  cc-relayctl dataplane status --addr HOST:PORT
  cc-relayctl dataplane drain --addr HOST:PORT [--keep-running]

status: its id, snapshot version, control-plane connection, streams and connections.
drain: it stops accepting connections, lets responses in flight finish, then exits.
  --keep-running  after the drain, wait for SIGTERM instead of exiting: for a Kubernetes
                  preStop hook, whose process dies with the container if the relay exits
                  first (the kubelet sends SIGTERM when the hook returns).
The address is the ADMIN column of `cc-relayctl dataplanes list`.
)";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int RunDataPlane(const Invocation& inv) {
  common::FlagParser flags;
  std::string addr;
  bool keep_running = false;
  flags.String("--addr", &addr);
  flags.Bool("--keep-running", &keep_running);
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  if (pos.size() != 1 || (pos[0] != "status" && pos[0] != "drain")) {
    return UsageError("usage: dataplane status|drain --addr HOST:PORT", kHelp);
  }
  if (addr.empty()) {
    return UsageError("--addr HOST:PORT is required", kHelp);
  }
  auto client = ConnectOrReport(inv, addr);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::DataPlaneAdmin::NewStub(client->channel());
  auto ctx = client->Context();
  if (pos[0] == "drain") {
    v1::DrainRequest req;
    req.set_keep_running(keep_running);
    v1::DrainResponse resp;
    const grpc::Status s = stub->Drain(ctx.get(), req, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, addr);
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
    } else {
      inv.out->Line(common::StrCat("draining (", resp.open_connections(), " open connection(s))"));
    }
    return kExitOk;
  }
  v1::DataPlaneState st;
  const grpc::Status s = stub->GetState(ctx.get(), v1::GetDataPlaneStateRequest(), &st);
  if (!s.ok()) {
    return ReportRpcError(s, addr);
  }
  if (inv.out->json()) {
    inv.out->Json(st);
    return kExitOk;
  }
  std::string providers;
  for (const auto& p : st.providers()) {
    common::StrAppend(&providers, providers.empty() ? "" : ", ", p);
  }
  inv.out->Table({"FIELD", "VALUE"},
                 {{"id", st.id()},
                  {"version", st.build_version()},
                  {"listen", st.listen_address()},
                  {"snapshot_version", common::StrCat(st.snapshot_version())},
                  {"control_plane", st.control_plane()},
                  {"connected", YesNo(st.control_plane_connected())},
                  {"last_contact", Ago(st.last_contact_unix_ms(), NowMs())},
                  {"active_streams", common::StrCat(st.active_streams())},
                  {"open_connections", common::StrCat(st.open_connections())},
                  {"draining", YesNo(st.draining())},
                  {"providers", providers.empty() ? "-" : providers},
                  {"last_nack_error", st.last_nack_error().empty() ? "-" : st.last_nack_error()}});
  return kExitOk;
}

}  // namespace ccrelay::ctl
