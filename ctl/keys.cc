// cc-relayctl keys list | add | remove | rotate | enable | disable
#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp =
    R"(API keys of the providers. Keys are shown by fingerprint only; a new key is read from
--key-file F or from standard input (first line), never from the command line.

Usage:
  cc-relayctl keys list [--provider P]
  cc-relayctl keys add --provider P [--key-file F] [--rpm N] [--tpm N] [--itpm N] [--otpm N] [--weight N]
  cc-relayctl keys remove --provider P FINGERPRINT
  cc-relayctl keys rotate --provider P OLD_FINGERPRINT [--key-file F] [limits as for add]
  cc-relayctl keys enable --provider P FINGERPRINT
  cc-relayctl keys disable --provider P FINGERPRINT

rotate brings the new key in and drains the old one: no new request uses the old key, requests
in flight on it finish. Without limits, the new key takes the old key's limits. Every change
reaches all data planes at once and persists across a control-plane restart.

Example:
  cc-relayctl keys rotate --provider anthropic 1a2b3c4d < new-key.txt
)";

std::string Limit(uint32_t v) { return v == 0 ? "-" : common::StrCat(v); }

std::vector<std::string> Row(const v1::KeyInfo& k) {
  return {k.provider(),
          k.fingerprint(),
          k.state(),
          k.check_state().empty() ? std::string("unknown") : k.check_state(),
          k.source(),
          Limit(k.limits().rpm_limit()),
          Limit(k.limits().tpm_limit()),
          common::StrCat(k.limits().weight() == 0 ? 1 : k.limits().weight()),
          common::StrCat(k.requests()),
          common::StrCat(k.errors()),
          common::StrCat(static_cast<int64_t>(k.rpm_used())),
          common::StrCat(static_cast<int64_t>(k.tpm_used())),
          k.reason()};
}

std::vector<std::string> Header() {
  // CHECK: the control plane's last active health check verdict of the key.
  return {"PROVIDER", "FINGERPRINT", "STATE",    "CHECK",    "SOURCE", "RPM",
          "TPM",      "WEIGHT",      "REQUESTS", "ERRORS",   "RPM_USED", "TPM_USED",
          "REASON"};
}

}  // namespace

int RunKeys(const Invocation& inv) {
  common::FlagParser flags;
  std::string provider;
  std::string key_file;
  uint32_t rpm = 0;
  uint32_t tpm = 0;
  uint32_t itpm = 0;
  uint32_t otpm = 0;
  uint32_t weight = 0;
  std::string key_flag;
  flags.String("--provider", &provider);
  flags.String("--key-file", &key_file);
  flags.Uint("--rpm", &rpm);
  flags.Uint("--tpm", &tpm);
  flags.Uint("--itpm", &itpm);
  flags.Uint("--otpm", &otpm);
  flags.Uint("--weight", &weight);
  flags.String("--key", &key_flag);  // only to refuse it with a clear message
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  if (!key_flag.empty()) {
    return UsageError("a key is never taken from the command line: use --key-file F or stdin",
                      kHelp);
  }
  const auto& pos = flags.positional();
  const std::string verb = pos.empty() ? "list" : pos[0];
  const bool has_limits = rpm != 0 || tpm != 0 || itpm != 0 || otpm != 0 || weight != 0;
  if (verb == "list") {
    if (pos.size() > 1) {
      return UsageError("keys list takes no operand", kHelp);
    }
  } else if (verb == "add") {
    if (provider.empty() || pos.size() != 1) {
      return UsageError(
          "keys add needs --provider P and no operand (the key comes from "
          "--key-file or stdin)",
          kHelp);
    }
  } else if (verb == "remove" || verb == "rotate" || verb == "enable" || verb == "disable") {
    if (provider.empty() || pos.size() != 2) {
      return UsageError(common::StrCat("keys ", verb, " needs --provider P and one FINGERPRINT"),
                        kHelp);
    }
  } else {
    return UsageError(common::StrCat("unknown keys command \"", verb, "\""), kHelp);
  }
  if ((verb != "add" && verb != "rotate") && (has_limits || !key_file.empty())) {
    return UsageError(common::StrCat("keys ", verb, " takes no key and no limits"), kHelp);
  }

  std::string secret;
  if (verb == "add" || verb == "rotate") {
    auto read = ReadSecret(key_file);
    if (!read.ok()) {
      std::fprintf(stderr, "error: %s\n", std::string(read.status().message()).c_str());
      return kExitFailed;
    }
    secret = *std::move(read);
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  auto fill_limits = [&](v1::KeyLimits* l) {
    l->set_rpm_limit(rpm);
    l->set_tpm_limit(tpm);
    l->set_itpm_limit(itpm);
    l->set_otpm_limit(otpm);
    l->set_weight(weight);
  };

  if (verb == "list") {
    v1::ListKeysRequest req;
    req.set_provider(provider);
    v1::ListKeysResponse resp;
    const grpc::Status s = stub->ListKeys(ctx.get(), req, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& k : resp.keys()) {
      rows.push_back(Row(k));
    }
    inv.out->Table(Header(), rows, "no keys");
    return kExitOk;
  }
  if (verb == "remove") {
    v1::RemoveKeyRequest req;
    req.set_provider(provider);
    req.set_fingerprint(pos[1]);
    v1::RemoveKeyResponse resp;
    const grpc::Status s = stub->RemoveKey(ctx.get(), req, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
    } else {
      inv.out->Line(common::StrCat("removed key ", pos[1], " from provider ", provider));
    }
    return kExitOk;
  }

  v1::KeyInfo info;
  grpc::Status s;
  std::string done;
  if (verb == "add") {
    v1::AddKeyRequest req;
    req.set_provider(provider);
    req.set_key(secret);
    fill_limits(req.mutable_limits());
    s = stub->AddKey(ctx.get(), req, &info);
    done = "added key";
  } else if (verb == "rotate") {
    v1::RotateKeyRequest req;
    req.set_provider(provider);
    req.set_old_fingerprint(pos[1]);
    req.set_new_key(secret);
    if (has_limits) {
      fill_limits(req.mutable_limits());
    }
    s = stub->RotateKey(ctx.get(), req, &info);
    done = common::StrCat("rotated key ", pos[1], " to");
  } else {
    v1::SetKeyEnabledRequest req;
    req.set_provider(provider);
    req.set_fingerprint(pos[1]);
    req.set_enabled(verb == "enable");
    s = stub->SetKeyEnabled(ctx.get(), req, &info);
    done = verb == "enable" ? "enabled key" : "disabled key";
  }
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(info);
    return kExitOk;
  }
  inv.out->Line(common::StrCat(done, " ", info.fingerprint(), " (provider ", info.provider(),
                               ", state ", info.state(), ")"));
  return kExitOk;
}

}  // namespace ccrelay::ctl
