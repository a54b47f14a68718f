// cc-relayctl dataplanes list
#include <chrono>

#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp = R"(Data planes known to the control plane.

Usage:
  cc-relayctl dataplanes list

ACKED is the snapshot version a data plane applied; NACKED (with its error) one it rejected
while it kept serving the last good one.
)";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int RunDataPlanes(const Invocation& inv) {
  common::FlagParser flags;
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  if (!(pos.empty() || (pos.size() == 1 && pos[0] == "list"))) {
    return UsageError("usage: dataplanes list", kHelp);
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  v1::ListDataPlanesResponse resp;
  const grpc::Status s = stub->ListDataPlanes(ctx.get(), v1::ListDataPlanesRequest(), &resp);
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(resp);
    return kExitOk;
  }
  const int64_t now = NowMs();
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : resp.data_planes()) {
    std::string labels;
    for (const auto& [k, v] : d.labels()) {
      common::StrAppend(&labels, labels.empty() ? "" : ",", k, "=", v);
    }
    rows.push_back({d.id(), d.connected() ? "connected" : "disconnected",
                    common::StrCat(d.acked_version()),
                    d.nacked_version() == 0 ? "-" : common::StrCat(d.nacked_version()),
                    d.listen_address(), d.admin_address().empty() ? "-" : d.admin_address(),
                    common::StrCat(d.active_streams()), common::StrCat(d.open_connections()),
                    Ago(d.last_contact_unix_ms(), now), labels, d.nack_error()});
  }
  inv.out->Table({"ID", "STATE", "ACKED", "NACKED", "LISTEN", "ADMIN", "STREAMS", "CONNECTIONS",
                  "LAST_CONTACT", "LABELS", "NACK_ERROR"},
                 rows, "no data planes");
  return kExitOk;
}

}  // namespace ccrelay::ctl
