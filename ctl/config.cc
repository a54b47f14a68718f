// cc-relayctl config validate [FILE] | reload | show | status
#include <chrono>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp = R"(The control plane's configuration.

Usage:
  cc-relayctl config validate [FILE]   Validate FILE (read here, checked by the control plane),
                                      or the control plane's own config file; exit 1 if invalid
  cc-relayctl config reload            Reload the config file now (rejected whole if invalid;
                                      exit 1 then, with the errors)
  cc-relayctl config show              The effective config, secrets redacted
  cc-relayctl config status            Config path, version in force, outcome of the last reload

Errors are printed as file:line:column: key.path: message.
)";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatError(const v1::ConfigError& e) {
  std::string out = e.file();
  if (e.line() > 0) {
    common::StrAppend(&out, ":", e.line());
    if (e.column() > 0) {
      common::StrAppend(&out, ":", e.column());
    }
  }
  common::StrAppend(&out, out.empty() ? "" : ": ");
  if (!e.key_path().empty()) {
    common::StrAppend(&out, e.key_path(), ": ");
  }
  common::StrAppend(&out, e.message());
  return out;
}

void PrintErrors(const google::protobuf::RepeatedPtrField<v1::ConfigError>& errors) {
  for (const auto& e : errors) {
    std::fprintf(stderr, "%s\n", FormatError(e).c_str());
  }
}

void PrintStatus(const Output& out, const v1::ConfigStatus& st) {
  const int64_t now = NowMs();
  out.Table({"FIELD", "VALUE"},
            {{"path", st.path().empty() ? "(built-in default)" : st.path()},
             {"snapshot_version", common::StrCat(st.snapshot_version())},
             {"loaded", Ago(st.loaded_unix_ms(), now)},
             {"last_reload", st.last_reload_unix_ms() == 0
                                 ? std::string("never")
                                 : common::StrCat(st.last_reload_ok() ? "ok, " : "rejected, ",
                                                  Ago(st.last_reload_unix_ms(), now))},
             {"state_file", st.state_file().empty() ? "-" : st.state_file()}});
  for (const auto& e : st.last_errors()) {
    out.Line(FormatError(e));
  }
}

}  // namespace

int RunConfig(const Invocation& inv) {
  common::FlagParser flags;
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  if (pos.empty()) {
    return UsageError("a config command is required", kHelp);
  }
  const std::string& verb = pos[0];
  if (verb == "validate") {
    if (pos.size() > 2) {
      return UsageError("config validate takes at most one FILE", kHelp);
    }
  } else if (verb == "reload" || verb == "show" || verb == "status") {
    if (pos.size() != 1) {
      return UsageError(common::StrCat("config ", verb, " takes no operand"), kHelp);
    }
  } else {
    return UsageError(common::StrCat("unknown config command \"", verb, "\""), kHelp);
  }
  v1::ValidateConfigRequest validate;
  if (verb == "validate" && pos.size() == 2) {
    std::ifstream in(pos[1], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: %s: cannot read\n", pos[1].c_str());
      return kExitFailed;
    }
    std::ostringstream s;
    s << in.rdbuf();
    validate.set_path(pos[1]);
    validate.set_yaml(s.str());
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  if (verb == "validate") {
    v1::ValidateConfigResponse resp;
    const grpc::Status s = stub->ValidateConfig(ctx.get(), validate, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
    } else if (resp.valid()) {
      inv.out->Line(common::StrCat(
          validate.path().empty() ? "the control plane's config" : validate.path(), ": OK"));
    } else {
      PrintErrors(resp.errors());
      std::fprintf(stderr, "%d error(s)\n", resp.errors_size());
    }
    return resp.valid() ? kExitOk : kExitFailed;
  }
  if (verb == "reload") {
    v1::ConfigStatus st;
    const grpc::Status s = stub->ReloadConfig(ctx.get(), v1::ReloadConfigRequest(), &st);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(st);
    } else if (st.last_reload_ok()) {
      inv.out->Line(
          common::StrCat("reloaded ", st.path(), ": snapshot version ", st.snapshot_version()));
    } else {
      PrintErrors(st.last_errors());
      std::fprintf(stderr, "reload rejected: the running config (version %llu) stays\n",
                   static_cast<unsigned long long>(st.snapshot_version()));  // NOLINT
    }
    return st.last_reload_ok() ? kExitOk : kExitFailed;
  }
  if (verb == "show") {
    v1::ShowConfigResponse resp;
    const grpc::Status s = stub->ShowConfig(ctx.get(), v1::ShowConfigRequest(), &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
    } else {
      std::fwrite(resp.yaml().data(), 1, resp.yaml().size(), stdout);
      if (!resp.yaml().empty() && resp.yaml().back() != '\n') {
        std::fputc('\n', stdout);
      }
    }
    return kExitOk;
  }
  v1::ConfigStatus st;
  const grpc::Status s = stub->GetConfigStatus(ctx.get(), v1::GetConfigStatusRequest(), &st);
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(st);
  } else {
    PrintStatus(*inv.out, st);
  }
  return kExitOk;
}

}  // namespace ccrelay::ctl
