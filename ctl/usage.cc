// cc-relayctl usage [--user U] [--since S] [--until U] [--by G,...]
#include <chrono>
#include <cstdio>
#include <optional>

#include <grpcpp/grpcpp.h>

#include "proto/management.grpc.pb.h"

#include "ctl/commands.h"
#include "dataplane/common/str.h"
#include "dataplane/common/timestamps.h"

namespace ccrelay::ctl {

namespace {

constexpr std::string_view kHelp =
    R"(Who spent what: requests, tokens and cost from the control plane's usage database.

Usage:
  cc-relayctl usage [--user U] [--since WHEN] [--until WHEN] [--by GROUP[,GROUP...]]...

Flags:
  --user U      One user ("anonymous": requests without a relay key); default everyone
  --since WHEN  Start (default: the start of this UTC month)
  --until WHEN  End (default: now); a date alone means the end of that day
  --by GROUP    Rows per user, model, provider, key (the provider key's fingerprint) or day,
                in the order given (repeat the flag or separate with commas); none = one total

WHEN: YYYY-MM-DD (UTC), RFC 3339 (2026-12-01T09:00:00Z), or a time ago: 7d, 12h, 30m.
--output json prints the report; --output csv the rows (no total line).

A teammate may run this with their own relay key as the token (--token-file FILE holding the
key): they see their own usage only.

Example:
  cc-relayctl usage --by user,model --since 2026-12-01
)";

// WHEN as unix ms; `end_of_day`: a date alone stands for the end of that day.
std::optional<int64_t> ParseWhen(std::string_view text, bool end_of_day, int64_t now_ms) {
  if (text.size() >= 2) {
    const char unit = text.back();
    uint64_t n = 0;
    if ((unit == 'd' || unit == 'h' || unit == 'm') &&
        common::ParseUint(text.substr(0, text.size() - 1), &n)) {
      const int64_t per = unit == 'd' ? 86400000 : unit == 'h' ? 3600000 : 60000;
      return now_ms - static_cast<int64_t>(n) * per;
    }
  }
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    std::optional<int64_t> day = common::ParseRfc3339Ms(common::StrCat(text, "T00:00:00Z"));
    if (day.has_value() && end_of_day) {
      *day += 86400000;
    }
    return day;
  }
  return common::ParseRfc3339Ms(text);
}

std::string Usd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", v);
  return buf;
}

std::vector<std::string> Cells(const v1::UsageRow& r, const std::vector<std::string>& by) {
  std::vector<std::string> cells;
  for (const std::string& g : by) {
    if (g == "user") {
      cells.push_back(r.user());
    } else if (g == "model") {
      cells.push_back(r.model());
    } else if (g == "provider") {
      cells.push_back(r.provider());
    } else if (g == "key") {
      cells.push_back(r.key_fingerprint());
    } else if (g == "day") {
      cells.push_back(r.day());
    }
  }
  for (uint64_t v : {r.requests(), r.errors(), r.input_tokens(), r.output_tokens(),
                     r.cache_read_tokens(), r.cache_creation_tokens()}) {
    cells.push_back(common::StrCat(v));
  }
  cells.push_back(Usd(r.cost_usd()));
  return cells;
}

}  // namespace

int RunUsage(const Invocation& inv) {
  common::FlagParser flags;
  std::string user;
  std::string since;
  std::string until;
  std::vector<std::string> by;
  flags.String("--user", &user);
  flags.String("--since", &since);
  flags.String("--until", &until);
  flags.Custom("--by", [&by](std::string_view v) {
    std::string_view rest = v;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view g = common::StripWhitespace(rest.substr(0, comma));
      if (g != "user" && g != "model" && g != "provider" && g != "key" && g != "day") {
        return absl::InvalidArgumentError(common::StrCat(
            "--by takes user, model, provider, key or day, got \"", g, "\""));
      }
      by.emplace_back(g);
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
    return absl::OkStatus();
  });
  if (std::optional<int> done = ParseArgs(flags, inv, kHelp)) {
    return *done;
  }
  if (!flags.positional().empty()) {
    return UsageError("usage takes no operand", kHelp);
  }
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  v1::GetUsageRequest req;
  req.set_user(user);
  for (const std::string& g : by) {
    req.add_group_by(g);
  }
  // --since / --until into the request; false on a malformed value.
  auto when = [now](const char* flag, const std::string& text, bool end_of_day,
                    void (v1::GetUsageRequest::*set)(int64_t), v1::GetUsageRequest* r) {
    if (text.empty()) {
      return true;
    }
    std::optional<int64_t> ms = ParseWhen(text, end_of_day, now);
    if (!ms.has_value()) {
      UsageError(common::StrCat(flag, ": expected YYYY-MM-DD, RFC 3339 or 7d, got \"", text, "\""),
                 kHelp);
      return false;
    }
    (r->*set)(*ms);
    return true;
  };
  if (!when("--since", since, false, &v1::GetUsageRequest::set_since_unix_ms, &req) ||
      !when("--until", until, true, &v1::GetUsageRequest::set_until_unix_ms, &req)) {
    return kExitUsage;
  }

  auto client = ConnectOrReport(inv, inv.flags.control_plane);
  if (client == nullptr) {
    return kExitFailed;
  }
  auto stub = v1::Management::NewStub(client->channel());
  auto ctx = client->Context();
  v1::UsageReport report;
  const grpc::Status s = stub->GetUsage(ctx.get(), req, &report);
  if (!s.ok()) {
    return ReportRpcError(s, client->address());
  }
  if (inv.out->json()) {
    inv.out->Json(report);
    return kExitOk;
  }
  std::vector<std::string> header;
  for (const std::string& g : by) {
    std::string h = g;
    for (char& c : h) {
      c = static_cast<char>(c - 'a' + 'A');  // the group names are lower-case letters
    }
    header.push_back(std::move(h));
  }
  for (const char* h : {"REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHE_READ", "CACHE_WRITE",
                        "COST_USD"}) {
    header.emplace_back(h);
  }
  std::vector<std::vector<std::string>> rows;
  for (const v1::UsageRow& r : report.rows()) {
    rows.push_back(Cells(r, by));
  }
  if (inv.out->csv()) {
    inv.out->Table(header, rows);
    return kExitOk;
  }
  inv.out->Line(common::StrCat("usage ", common::FormatRfc3339(report.since_unix_ms()), " .. ",
                               common::FormatRfc3339(report.until_unix_ms()),
                               user.empty() ? std::string() : common::StrCat(" (user ", user, ")")));
  if (!by.empty()) {
    std::vector<std::string> total = Cells(report.total(), {});
    total.insert(total.begin(), by.size(), "");
    total[0] = "TOTAL";
    rows.push_back(std::move(total));
  } else {
    rows.push_back(Cells(report.total(), {}));
  }
  inv.out->Table(header, rows);
  return kExitOk;
}

}  // namespace ccrelay::ctl
