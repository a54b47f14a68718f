// cc-relayctl users add | list | get | set | enable | disable | remove | rotate-key, and whoami
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp =
    R"(Teammates: each gets a relay key of their own, a policy and budgets. The key is shown
once, by add and rotate-key; the control plane keeps only its SHA-256 (listings show its
fingerprint).

Usage:
  cc-relayctl users add NAME [policy flags]
  cc-relayctl users list
  cc-relayctl users get NAME
  cc-relayctl users set NAME [policy flags]      Change the flags given; the rest stays
  cc-relayctl users enable|disable NAME
  cc-relayctl users remove NAME                  Its usage stays in the database
  cc-relayctl users rotate-key NAME              A new key; the old one stops working

Policy flags (lists are comma-separated; an empty value clears; 0 = no limit):
  --models GLOB,...      Models the user may request (globs: claude-sonnet-*, *haiku*)
  --providers P,...      Providers the user's requests may go to
  --rules R,...          Scenario rules (routing.rules names) the user's requests may take
  --rpm N  --tpm N       Requests / tokens per minute
  --usd-per-day X  --usd-per-month X  --tokens-per-day N  --tokens-per-month N
                         Budgets per UTC day and month (hard: refused once reached)
  --soft F               Warn from this fraction of a budget on (0.8 = 80%; 0 = never)

NAME: letters, digits and . _ @ - (at most 64); "anonymous" is reserved. Every change reaches
all data planes at once: a disabled, removed or rotated key is refused within a second.

Example:
  cc-relayctl users add alice --models 'claude-*' --usd-per-month 50 --soft 0.8
)";

constexpr std::string_view kWhoAmIHelp =
    R"(The role of the token in use (--token-file): admin, read-only, or user NAME for a
teammate's relay key.

Usage:
  cc-relayctl whoami
)";

// Policy flags as given: only those present change a policy (set); unset ones keep it.
struct PolicyFlags {
  std::optional<std::string> models;
  std::optional<std::string> providers;
  std::optional<std::string> rules;
  std::optional<uint32_t> rpm;
  std::optional<uint32_t> tpm;
  std::optional<double> usd_per_day;
  std::optional<double> usd_per_month;
  std::optional<uint64_t> tokens_per_day;
  std::optional<uint64_t> tokens_per_month;
  std::optional<double> soft;

  bool any() const {
    return models || providers || rules || rpm || tpm || usd_per_day || usd_per_month ||
           tokens_per_day || tokens_per_month || soft;
  }
};

absl::Status ParseDouble(std::string_view flag, std::string_view v, std::optional<double>* out) {
  const std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d) || d < 0) {
    return absl::InvalidArgumentError(
        common::StrCat("flag ", flag, " needs a non-negative number, got \"", v, "\""));
  }
  *out = d;
  return absl::OkStatus();
}

template <typename T>
absl::Status ParseCount(std::string_view flag, std::string_view v, std::optional<T>* out) {
  T n = 0;
  if (!common::ParseUint(v, &n)) {
    return absl::InvalidArgumentError(
        common::StrCat("flag ", flag, " needs a non-negative integer, got \"", v, "\""));
  }
  *out = n;
  return absl::OkStatus();
}

void RegisterPolicyFlags(common::FlagParser& flags, PolicyFlags* p) {
  auto text = [&flags](std::string_view name, std::optional<std::string>* out) {
    flags.Custom(name, [out](std::string_view v) {
      *out = std::string(v);
      return absl::OkStatus();
    });
  };
  text("--models", &p->models);
  text("--providers", &p->providers);
  text("--rules", &p->rules);
  flags.Custom("--rpm", [p](std::string_view v) { return ParseCount("--rpm", v, &p->rpm); });
  flags.Custom("--tpm", [p](std::string_view v) { return ParseCount("--tpm", v, &p->tpm); });
  flags.Custom("--usd-per-day",
               [p](std::string_view v) { return ParseDouble("--usd-per-day", v, &p->usd_per_day); });
  flags.Custom("--usd-per-month", [p](std::string_view v) {
    return ParseDouble("--usd-per-month", v, &p->usd_per_month);
  });
  flags.Custom("--tokens-per-day", [p](std::string_view v) {
    return ParseCount("--tokens-per-day", v, &p->tokens_per_day);
  });
  flags.Custom("--tokens-per-month", [p](std::string_view v) {
    return ParseCount("--tokens-per-month", v, &p->tokens_per_month);
  });
  flags.Custom("--soft", [p](std::string_view v) { return ParseDouble("--soft", v, &p->soft); });
}

void SetList(const std::string& csv, google::protobuf::RepeatedPtrField<std::string>* out) {
  out->Clear();
  std::string_view rest = csv;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = common::StripWhitespace(rest.substr(0, comma));
    if (!item.empty()) {
      out->Add(std::string(item));
    }
    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
}

// `p` applied over `policy`.
void Apply(const PolicyFlags& p, v1::UserPolicy* policy) {
  if (p.models) {
    SetList(*p.models, policy->mutable_allowed_models());
  }
  if (p.providers) {
    SetList(*p.providers, policy->mutable_allowed_providers());
  }
  if (p.rules) {
    SetList(*p.rules, policy->mutable_allowed_rules());
  }
  if (p.rpm) {
    policy->set_rpm_limit(*p.rpm);
  }
  if (p.tpm) {
    policy->set_tpm_limit(*p.tpm);
  }
  v1::Budget* b = policy->mutable_budget();
  if (p.usd_per_day) {
    b->set_usd_per_day(*p.usd_per_day);
  }
  if (p.usd_per_month) {
    b->set_usd_per_month(*p.usd_per_month);
  }
  if (p.tokens_per_day) {
    b->set_tokens_per_day(*p.tokens_per_day);
  }
  if (p.tokens_per_month) {
    b->set_tokens_per_month(*p.tokens_per_month);
  }
  if (p.soft) {
    b->set_soft_fraction(*p.soft);
  }
}

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  if (items.empty()) {
    return "*";
  }
  std::string out;
  for (const std::string& s : items) {
    common::StrAppend(&out, out.empty() ? "" : ",", s.empty() ? "(default)" : s);
  }
  return out;
}

std::string Usd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

std::string Count(uint64_t v) { return v == 0 ? "-" : common::StrCat(v); }

std::string BudgetText(const v1::Budget& b) {
  std::string out;
  auto add = [&out](const std::string& s) { common::StrAppend(&out, out.empty() ? "" : " ", s); };
  if (b.usd_per_day() > 0) {
    add(common::StrCat("$", Usd(b.usd_per_day()), "/day"));
  }
  if (b.usd_per_month() > 0) {
    add(common::StrCat("$", Usd(b.usd_per_month()), "/month"));
  }
  if (b.tokens_per_day() > 0) {
    add(common::StrCat(b.tokens_per_day(), " tok/day"));
  }
  if (b.tokens_per_month() > 0) {
    add(common::StrCat(b.tokens_per_month(), " tok/month"));
  }
  if (!out.empty() && b.soft_fraction() > 0) {
    add(common::StrCat("(warn ", static_cast<int>(std::lround(b.soft_fraction() * 100)), "%)"));
  }
  return out.empty() ? std::string("-") : out;
}

std::vector<std::string> Header() {
  return {"NAME",   "KEY",       "ENABLED",   "MODELS",       "PROVIDERS",  "RULES",
          "RPM",    "TPM",       "BUDGET",    "USD_TODAY",    "USD_MONTH", "TOKENS_MONTH",
          "STATE"};
}

std::vector<std::string> Row(const v1::UserInfo& u) {
  const v1::UserPolicy& p = u.policy();
  return {u.name(),
          u.key_fingerprint(),
          YesNo(u.enabled()),
          Join(p.allowed_models()),
          Join(p.allowed_providers()),
          Join(p.allowed_rules()),
          Count(p.rpm_limit()),
          Count(p.tpm_limit()),
          BudgetText(p.budget()),
          Usd(u.usd_today()),
          Usd(u.usd_this_month()),
          common::StrCat(u.tokens_this_month()),
          u.budget_state().empty() ? std::string("-") : u.budget_state()};
}

// The new key, once, and how a teammate uses it.
void PrintNewKey(const Invocation& inv, const v1::NewUserKey& k, std::string_view done) {
  if (inv.out->json()) {
    inv.out->Json(k);
    return;
  }
  inv.out->Line(common::StrCat(done, " user ", k.user().name(), " (key fingerprint ",
                               k.user().key_fingerprint(), ")"));
  inv.out->Line(common::StrCat("relay key (shown this once; hand it to ", k.user().name(),
                               " and keep no copy): ", k.key()));
  inv.out->Line(
      "Claude Code: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN) to the key; with a "
      "subscription of your own, keep it and set "
      "ANTHROPIC_CUSTOM_HEADERS=\"x-cc-relay-key: <key>\" instead");
}

}  // namespace

int RunUsers(const Invocation& inv) {
  common::FlagParser flags;
  PolicyFlags policy;
  RegisterPolicyFlags(flags, &policy);
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  const auto& pos = flags.positional();
  const std::string verb = pos.empty() ? "list" : pos[0];
  if (verb == "list") {
    if (pos.size() > 1) {
      return UsageError("users list takes no operand", kHelp);
    }
  } else if (verb == "add" || verb == "get" || verb == "set" || verb == "enable" ||
             verb == "disable" || verb == "remove" || verb == "rotate-key") {
    if (pos.size() != 2) {
      return UsageError(common::StrCat("users ", verb, " needs one NAME"), kHelp);
    }
  } else {
    return UsageError(common::StrCat("unknown users command \"", verb, "\""), kHelp);
  }
  if (policy.any() && verb != "add" && verb != "set") {
    return UsageError(common::StrCat("users ", verb, " takes no policy flags"), kHelp);
  }
  if (verb == "set" && !policy.any()) {
    return UsageError("users set needs at least one policy flag", kHelp);
  }

  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  grpc::Status s;

  if (verb == "list") {
    v1::ListUsersResponse resp;
    s = stub->ListUsers(ctx.get(), {}, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
      return kExitOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : resp.users()) {
      rows.push_back(Row(u));
    }
    inv.out->Table(Header(), rows, "no users (cc-relayctl users add NAME)");
    return kExitOk;
  }
  const std::string& name = pos[1];
  if (verb == "add" || verb == "rotate-key") {
    v1::NewUserKey resp;
    if (verb == "add") {
      v1::AddUserRequest req;
      req.set_name(name);
      Apply(policy, req.mutable_policy());
      s = stub->AddUser(ctx.get(), req, &resp);
    } else {
      v1::RotateUserKeyRequest req;
      req.set_name(name);
      s = stub->RotateUserKey(ctx.get(), req, &resp);
    }
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    PrintNewKey(inv, resp, verb == "add" ? "added" : "rotated the key of");
    return kExitOk;
  }
  if (verb == "remove") {
    v1::RemoveUserRequest req;
    req.set_name(name);
    v1::RemoveUserResponse resp;
    s = stub->RemoveUser(ctx.get(), req, &resp);
    if (!s.ok()) {
      return ReportRpcError(s, client->address());
    }
    if (inv.out->json()) {
      inv.out->Json(resp);
    } else {
      inv.out->Line(common::StrCat("removed user ", name, " (its usage stays)"));
    }
    return kExitOk;
  }

  v1::UserInfo info;
  std::string done;
  if (verb == "get") {
    v1::GetUserRequest req;
    req.set_name(name);
    s = stub->GetUser(ctx.get(), req, &info);
  } else if (verb == "set") {
    // The flags given over the policy in force (SetUserPolicy replaces it whole).
    v1::GetUserRequest get;
    get.set_name(name);
    s = stub->GetUser(ctx.get(), get, &info);
    if (s.ok()) {
      v1::SetUserPolicyRequest req;
      req.set_name(name);
      *req.mutable_policy() = info.policy();
      Apply(policy, req.mutable_policy());
      auto set_ctx = client->Context();
      s = stub->SetUserPolicy(set_ctx.get(), req, &info);
    }
    done = "set the policy of";
  } else {
    v1::SetUserEnabledRequest req;
    req.set_name(name);
    req.set_enabled(verb == "enable");
    s = stub->SetUserEnabled(ctx.get(), req, &info);
    done = verb == "enable" ? "enabled" : "disabled";
  }
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(info);
    return kExitOk;
  }
  if (!done.empty() && !inv.out->csv()) {
    inv.out->Line(common::StrCat(done, " user ", info.name()));
  }
  inv.out->Table(Header(), {Row(info)});
  return kExitOk;
}

int RunWhoAmI(const Invocation& inv) {
  common::FlagParser flags;
  if (std::optional<int> done = ParseArgs(flags, inv, kWhoAmIHelp)) {
    return *done;
  }
  if (!flags.positional().empty()) {
    return UsageError("whoami takes no operand", kWhoAmIHelp);
  }
  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  v1::WhoAmIResponse resp;
  const grpc::Status s = stub->WhoAmI(ctx.get(), {}, &resp);
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(resp);
  } else if (resp.role() == "user") {
    inv.out->Line(common::StrCat("user ", resp.user()));
  } else {
    inv.out->Line(resp.role());
  }
  return kExitOk;
}

}  // namespace ccrelay::ctl
