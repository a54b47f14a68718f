#include "controlplane/tui/dashboard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <optional>
#include <utility>

#include "dataplane/common/str.h"

namespace ccrelay::controlplane::tui {

using common::StrCat;

namespace {

constexpr std::string_view kHelpText[] = {
    "Keys",
    "",
    "  q          quit",
    "  ?          show or hide this help (Esc hides it too)",
    "  up / down  select a provider (also k / j)",
    "  e          enable the selected provider",
    "  d          disable the selected provider",
    "  r          reload the control plane's config file",
    "  u          teammates (spend against budget) instead of keys, and back",
    "",
    "Providers: health, place in the strategy's ranking with the figure it",
    "ranks by (for the model requested last), requests, mean time to first",
    "byte, error rate, keys.",
    "Keys of the selected provider: state, requests per minute and tokens per",
    "minute used over the last minute against their limits (- = no limit).",
    "Recent requests: most recent first, with the time to first token.",
    "Teammates: relay key fingerprint, state, spend today and against the",
    "budget that binds first, budget state (ok | warning | exhausted).",
};

std::string Pad(std::string_view s, int width) { return FitColumns(s, width); }

// Right-aligned in `width` columns (cut when longer).
std::string RightAlign(std::string_view s, int width) {
  const int cols = ColumnsOf(s);
  if (cols >= width) {
    return FitColumns(s, width);
  }
  return StrCat(std::string(static_cast<size_t>(width - cols), ' '), s);
}

// `left` and `right` on one line of `width` columns, `right` flush right when both fit.
std::string Spread(std::string_view left, std::string_view right, int width) {
  const int l = ColumnsOf(left);
  const int r = ColumnsOf(right);
  if (l + r + 1 > width) {
    return FitColumns(left, width);
  }
  return StrCat(left, std::string(static_cast<size_t>(width - l - r), ' '), right);
}

std::string Repeat(std::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out.append(unit);
  }
  return out;
}

bool IsActive(const ccrelay::v1::ProviderInfo& p) {
  return p.enabled() && p.health() != "unhealthy" && p.health() != "disabled";
}

std::string HealthWord(const ccrelay::v1::ProviderInfo& p) {
  if (!p.enabled()) {
    return "disabled";
  }
  return p.health().empty() ? std::string("unknown") : p.health();
}

std::string ErrorRate(uint64_t errors, uint64_t requests) {
  if (requests == 0) {
    return "-";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%",
                100.0 * static_cast<double>(errors) / static_cast<double>(requests));
  return buf;
}

// "12.30".
std::string FormatUsd(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string UsedOfLimit(double used, uint32_t limit) {
  return StrCat(FormatCount(used), "/", limit == 0 ? std::string("-") : FormatCount(limit));
}

std::string ClockTime(int64_t unix_ms) {
  if (unix_ms <= 0) {
    return "--:--:--";
  }
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

int ColumnsOf(std::string_view s) {
  int n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

std::string FitColumns(std::string_view s, int width) {
  if (width <= 0) {
    return "";
  }
  std::string out;
  int cols = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || c == '\r' || c == '\t') {
      if (cols == width) {
        break;
      }
      out.push_back(' ');
      ++cols;
      continue;
    }
    if ((c & 0xC0) != 0x80) {
      if (cols == width) {
        break;
      }
      ++cols;
    }
    out.push_back(static_cast<char>(c));
  }
  out.append(static_cast<size_t>(width - cols), ' ');
  return out;
}

std::string GroupThousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const size_t len = digits.size();
  for (size_t i = 0; i < len; ++i) {
    if (i > 0 && (len - i) % 3 == 0) {
      out.push_back(',');
    }
    out.push_back(digits[i]);
  }
  return out;
}

std::string FormatLatency(double ms) {
  if (ms <= 0 || !std::isfinite(ms)) {
    return "-";
  }
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%.0fms", ms);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", ms / 1000);
  }
  return buf;
}

std::string FormatCount(double n) {
  if (!std::isfinite(n) || n < 0) {
    n = 0;
  }
  char buf[32];
  if (n < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  } else if (n < 10000) {
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1000);
  } else if (n < 1000000) {
    std::snprintf(buf, sizeof buf, "%.0fk", n / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1000000);
  }
  return buf;
}

std::string RankFigure(const ccrelay::v1::RouteCandidate& c) {
  char buf[32];
  if (c.expected_cost_usd() >= 0) {
    const double usd = c.expected_cost_usd();
    std::snprintf(buf, sizeof buf, usd < 0.01 ? "$%.4f" : usd < 1 ? "$%.3f" : "$%.2f", usd);
    return buf;
  }
  if (c.ttft_ms() >= 0) {
    return FormatLatency(std::max(1.0, c.ttft_ms()));
  }
  if (c.in_flight() >= 0) {
    return StrCat(c.in_flight(), " busy");
  }
  if (c.score() >= 0) {
    std::snprintf(buf, sizeof buf, "s%.3g", c.score());
    return buf;
  }
  return "";
}

void Dashboard::OnRanking(ccrelay::v1::RouteExplanation ranking) {
  ranking_ = std::move(ranking);
  ranking_error_.clear();
}

void Dashboard::OnRankingUnavailable(std::string why) {
  ranking_.reset();
  ranking_error_ = std::move(why);
}

std::string Dashboard::RankingModel() const {
  if (snapshot_.has_value() && snapshot_->recent_size() > 0 &&
      !snapshot_->recent(0).model().empty()) {
    return snapshot_->recent(0).model();
  }
  return std::string(kDefaultRankingModel);
}

std::string Dashboard::RankingDataPlane() const {
  if (snapshot_.has_value() && snapshot_->data_planes_size() > 1) {
    return snapshot_->data_planes(0).data_plane();
  }
  return "";
}

std::string Dashboard::RankCell(const std::string& name) const {
  if (!ranking_.has_value()) {
    return "";
  }
  for (int i = 0; i < ranking_->ranked_size(); ++i) {
    const auto& c = ranking_->ranked(i);
    if (c.name() == name) {
      const std::string figure = RankFigure(c);
      return figure.empty() ? StrCat("#", i + 1) : StrCat("#", i + 1, " ", figure);
    }
  }
  return "-";
}

Dashboard::Dashboard(std::string address, bool unicode)
    : address_(std::move(address)), unicode_(unicode) {}

void Dashboard::OnSnapshot(ccrelay::v1::StatsSnapshot snapshot) {
  snapshot_ = std::move(snapshot);
  connected_ = true;
  ever_connected_ = true;
  error_.clear();
  if (SelectedIndex() < 0 && snapshot_->providers_size() > 0) {
    selected_ = snapshot_->providers(0).name();
  }
}

void Dashboard::OnDisconnected(std::string error) {
  connected_ = false;
  error_ = std::move(error);
}

int Dashboard::SelectedIndex() const {
  if (!snapshot_.has_value()) {
    return -1;
  }
  for (int i = 0; i < snapshot_->providers_size(); ++i) {
    if (snapshot_->providers(i).name() == selected_) {
      return i;
    }
  }
  return -1;
}

std::string Dashboard::SelectedProvider() const {
  const int i = SelectedIndex();
  return i < 0 ? std::string() : snapshot_->providers(i).name();
}

Action Dashboard::HandleKey(int key) {
  if (show_help_) {
    // Any key closes the overlay; q still quits.
    if (key == 'q' || key == 'Q') {
      return Action::kQuit;
    }
    show_help_ = false;
    return Action::kRedraw;
  }
  switch (key) {
    case 'q':
    case 'Q':
      return Action::kQuit;
    case '?':
    case 'h':
      show_help_ = true;
      return Action::kRedraw;
    case kKeyUp:
    case kKeyDown:
    case 'k':
    case 'j': {
      if (!snapshot_.has_value() || snapshot_->providers_size() == 0) {
        return Action::kNone;
      }
      const int n = snapshot_->providers_size();
      int i = SelectedIndex();
      const int delta = (key == kKeyUp || key == 'k') ? -1 : 1;
      i = i < 0 ? 0 : std::clamp(i + delta, 0, n - 1);
      selected_ = snapshot_->providers(i).name();
      return Action::kRedraw;
    }
    case 'e':
      return SelectedProvider().empty() ? Action::kNone : Action::kEnableProvider;
    case 'd':
      return SelectedProvider().empty() ? Action::kNone : Action::kDisableProvider;
    case 'r':
      return Action::kReloadConfig;
    case 'u':
      show_users_ = !show_users_;
      if (show_users_ && (!snapshot_.has_value() || snapshot_->users_size() == 0)) {
        status_ = "no teammates yet: cc-relayctl users add NAME";
      }
      return Action::kRedraw;
    default:
      return Action::kNone;
  }
}

std::vector<std::string> Dashboard::Render(int width, int height) const {
  std::vector<std::string> lines;
  if (width <= 0 || height <= 0) {
    return lines;
  }
  const std::string_view rule_unit = unicode_ ? "─" : "-";
  if (height < 8 || width < 30) {
    lines.push_back(FitColumns(StrCat("terminal too small (", width, "x", height, ")"), width));
    while (static_cast<int>(lines.size()) < height) {
      lines.push_back(FitColumns("", width));
    }
    return lines;
  }
  std::string version;
  if (snapshot_.has_value() && !snapshot_->version().empty()) {
    version = snapshot_->version().front() == 'v' ? StrCat(" ", snapshot_->version())
                                                  : StrCat(" v", snapshot_->version());
  }
  lines.push_back(Spread(StrCat(" cc-relay", version), "[q]uit [?]help ", width));
  lines.push_back(FitColumns(Repeat(rule_unit, width), width));
  if (connected_ && snapshot_.has_value()) {
    int active = 0;
    for (const auto& p : snapshot_->providers()) {
      active += IsActive(p) ? 1 : 0;
    }
    lines.push_back(FitColumns(
        StrCat(" Strategy: ", snapshot_->strategy().empty() ? "-" : snapshot_->strategy(),
               "    Active: ", active, "/", snapshot_->providers_size(),
               "    Requests: ", GroupThousands(snapshot_->requests()),
               "    Errors: ", GroupThousands(snapshot_->errors())),
        width));
  } else if (!ever_connected_ && error_.empty()) {
    lines.push_back(
        FitColumns(StrCat(" connecting to the control plane at ", address_, " ..."), width));
  } else {
    lines.push_back(FitColumns(StrCat(" ", unicode_ ? "⚠" : "!", " control plane unreachable at ",
                                      address_, unicode_ ? " — retrying" : " -- retrying"),
                               width));
  }
  lines.push_back(FitColumns(Repeat(rule_unit, width), width));

  const int body_rows = height - 5;
  std::vector<std::string> body =
      show_help_ ? RenderHelp(width, body_rows) : RenderBody(width, body_rows);
  for (auto& l : body) {
    lines.push_back(std::move(l));
  }

  std::string status = status_;
  if (status.empty() && !connected_ && !error_.empty()) {
    status = StrCat("last error: ", error_,
                    snapshot_.has_value() ? " (showing the last data received)" : "");
  }
  if (status.empty()) {
    status = unicode_ ? "↑/↓ select  e enable  d disable  r reload  u users  ? help  q quit"
                      : "up/down select  e enable  d disable  r reload  u users  ? help  q quit";
  }
  lines.push_back(FitColumns(StrCat(" ", status), width));
  return lines;
}

std::vector<std::string> Dashboard::RenderHelp(int width, int rows) const {
  std::vector<std::string> out;
  for (std::string_view l : kHelpText) {
    if (static_cast<int>(out.size()) == rows) {
      break;
    }
    out.push_back(FitColumns(StrCat("   ", l), width));
  }
  if (static_cast<int>(out.size()) < rows) {
    out.push_back(FitColumns("   (press any key to close)", width));
  }
  while (static_cast<int>(out.size()) < rows) {
    out.push_back(FitColumns("", width));
  }
  return out;
}

std::vector<std::string> Dashboard::RenderBody(int width, int rows) const {
  std::vector<std::string> out;
  auto push = [&](std::string_view l) {
    if (static_cast<int>(out.size()) < rows) {
      out.push_back(FitColumns(l, width));
    }
  };
  auto pad_to = [&](int n) {
    while (static_cast<int>(out.size()) < std::min(n, rows)) {
      out.push_back(FitColumns("", width));
    }
  };
  if (!snapshot_.has_value()) {
    push("");
    push(connected_ || error_.empty() ? "   waiting for the first stats ..."
                                      : "   no data yet: start the control plane, or check "
                                        "--control-plane and --token-file");
    while (static_cast<int>(out.size()) < rows) {
      out.push_back(FitColumns("", width));
    }
    return out;
  }
  const auto& snap = *snapshot_;
  const int sel = SelectedIndex();
  const ccrelay::v1::ProviderInfo* selected = sel < 0 ? nullptr : &snap.providers(sel);
  const int n_providers = snap.providers_size();
  const int n_keys = selected == nullptr ? 0 : selected->keys_size();
  const int n_recent = snap.recent_size();

  // Three titled sections; rows left by a short section go to the next ones.
  const int content = std::max(0, rows - 3);
  const int prov_rows = std::min(std::max(1, n_providers), std::max(1, content / 3));
  const int n_second = show_users_ ? snap.users_size() : n_keys;
  const int key_rows = std::min(std::max(1, n_second), std::max(1, (content - prov_rows) / 2));
  const int recent_rows = std::max(0, content - prov_rows - key_rows);

  std::string ranking_title;
  if (ranking_.has_value()) {
    ranking_title = StrCat("   ranking by ", ranking_->strategy(), " for ", ranking_->model(),
                           ranking_->rule().empty() ? "" : StrCat(" (rule ", ranking_->rule(), ")"));
  } else if (!ranking_error_.empty()) {
    ranking_title = StrCat("   ranking: ", ranking_error_);
  }
  push(StrCat(" Providers (", n_providers, ")", ranking_title));
  if (n_providers == 0) {
    push("   (none configured)");
  } else {
    // Scroll so the selection stays visible.
    int first = 0;
    if (sel >= prov_rows) {
      first = sel - prov_rows + 1;
    }
    // Names and ranks whole: columns sized from the content; a name is cut (to no less than 8
    // columns) only when the terminal is too narrow for the rest of the line.
    int name_cols = 8;
    int rank_cols = 0;
    for (int i = 0; i < n_providers; ++i) {
      name_cols = std::max(name_cols, ColumnsOf(snap.providers(i).name()));
      rank_cols = std::max(rank_cols, ColumnsOf(RankCell(snap.providers(i).name())));
    }
    for (int i = first; i < n_providers && i < first + prov_rows; ++i) {
      const auto& p = snap.providers(i);
      const bool healthy = p.enabled() && p.health() == "healthy";
      const std::string_view glyph = unicode_ ? (healthy ? "●" : "○") : (healthy ? "*" : "o");
      const std::string keys =
          p.keys_size() == 1 ? std::string("[1 key]") : StrCat("[", p.keys_size(), " keys]");
      const std::string rest =
          StrCat(" ", Pad(HealthWord(p), 9), rank_cols > 0 ? " " : "",
                 Pad(RankCell(p.name()), rank_cols), " ",
                 RightAlign(GroupThousands(p.requests()), 7), " req  avg ",
                 Pad(FormatLatency(p.avg_latency_ms()), 6), " err ",
                 RightAlign(ErrorRate(p.errors(), p.requests()), 6), "  ", keys);
      const int fit = std::max(8, width - 4 - ColumnsOf(rest));
      push(StrCat(i == sel ? ">" : " ", " ", glyph, " ", Pad(p.name(), std::min(name_cols, fit)),
                  rest));
    }
  }
  pad_to(1 + prov_rows);

  if (show_users_) {
    RenderUsers(width, 1 + key_rows, &out);
  } else {
    push(StrCat(" Keys", selected == nullptr ? "" : StrCat(" of ", selected->name())));
    if (n_keys == 0) {
      // A provider whose credential the control plane mints: what it is, or why there is none.
      push(selected == nullptr                ? std::string("   (no provider selected)")
           : !selected->credentials().empty() ? StrCat("   credentials: ", selected->credentials())
                                              : std::string("   (no keys: local or keyless)"));
    } else {
      for (int i = 0; i < n_keys && i < key_rows; ++i) {
        const auto& k = selected->keys(i);
        std::string line = StrCat("   ", Pad(k.fingerprint(), 20), " ", Pad(k.state(), 11), " rpm ",
                                  Pad(UsedOfLimit(k.rpm_used(), k.limits().rpm_limit()), 11), " tpm ",
                                  Pad(UsedOfLimit(k.tpm_used(), k.limits().tpm_limit()), 13));
        if (!k.reason().empty()) {
          line = StrCat(line, " ", k.reason());
        }
        push(line);
      }
      if (n_keys > key_rows && !out.empty()) {
        out.back() = FitColumns(StrCat("   ... ", n_keys - key_rows + 1, " more keys"), width);
      }
    }
  }
  pad_to(2 + prov_rows + key_rows);

  if (recent_rows > 0 || content == 0) {
    push(" Recent requests");
    if (n_recent == 0) {
      push("   (none yet)");
    }
    for (int i = 0; i < n_recent && i < recent_rows; ++i) {
      const auto& r = snap.recent(i);
      push(StrCat(" ", ClockTime(r.unix_ms()), "  ", Pad(r.provider(), 14), " ", Pad(r.model(), 26),
                  " ", RightAlign(StrCat(r.status()), 3), "  ttft ",
                  Pad(FormatLatency(static_cast<double>(r.ttfb_ms())), 6), " ",
                  FormatLatency(static_cast<double>(r.duration_ms()))));
    }
  }
  while (static_cast<int>(out.size()) < rows) {
    out.push_back(FitColumns("", width));
  }
  return out;
}

std::string SpendCell(const ccrelay::v1::UserInfo& u) {
  auto usd = [](double v) { return StrCat("$", FormatUsd(v)); };
  const auto& b = u.policy().budget();
  // The budget that binds first: the highest share spent.
  struct Candidate {
    double share;
    std::string text;
  };
  std::optional<Candidate> best;
  auto consider = [&best](double spent, double limit, std::string text) {
    if (limit <= 0) {
      return;
    }
    const double share = spent / limit;
    if (!best.has_value() || share > best->share) {
      best = Candidate{share, std::move(text)};
    }
  };
  consider(u.usd_today(), b.usd_per_day(), StrCat(usd(u.usd_today()), "/", usd(b.usd_per_day()), " day"));
  consider(u.usd_this_month(), b.usd_per_month(),
           StrCat(usd(u.usd_this_month()), "/", usd(b.usd_per_month()), " mo"));
  consider(static_cast<double>(u.tokens_today()), static_cast<double>(b.tokens_per_day()),
           StrCat(FormatCount(static_cast<double>(u.tokens_today())), "/",
                  FormatCount(static_cast<double>(b.tokens_per_day())), " tok day"));
  consider(static_cast<double>(u.tokens_this_month()), static_cast<double>(b.tokens_per_month()),
           StrCat(FormatCount(static_cast<double>(u.tokens_this_month())), "/",
                  FormatCount(static_cast<double>(b.tokens_per_month())), " tok mo"));
  return best.has_value() ? best->text : StrCat(usd(u.usd_this_month()), " mo");
}

void Dashboard::RenderUsers(int width, int rows, std::vector<std::string>* out) const {
  const int limit = static_cast<int>(out->size()) + rows;
  auto push = [&](std::string_view l) {
    if (static_cast<int>(out->size()) < limit) {
      out->push_back(FitColumns(l, width));
    }
  };
  const int n = snapshot_.has_value() ? snapshot_->users_size() : 0;
  push(StrCat(" Teammates (", n, ")", n == 0 ? "" : "   key, state, spent today, against the budget"));
  if (n == 0) {
    push("   (none: cc-relayctl users add NAME)");
    return;
  }
  int name_cols = 8;
  int spend_cols = 0;
  for (const auto& u : snapshot_->users()) {
    name_cols = std::max(name_cols, ColumnsOf(u.name()));
    spend_cols = std::max(spend_cols, ColumnsOf(SpendCell(u)));
  }
  const int shown = std::min(n, rows - 1);
  for (int i = 0; i < shown; ++i) {
    const auto& u = snapshot_->users(i);
    const std::string rest =
        StrCat(" ", Pad(u.key_fingerprint(), 8), " ", Pad(u.enabled() ? "active" : "disabled", 8),
               " ", RightAlign(StrCat("$", FormatUsd(u.usd_today())), 8), " ",
               Pad(SpendCell(u), spend_cols), " ",
               u.budget_state().empty() ? std::string("-") : u.budget_state());
    const int fit = std::max(8, width - 3 - ColumnsOf(rest));
    push(StrCat("   ", Pad(u.name(), std::min(name_cols, fit)), rest));
  }
  if (n > shown && !out->empty()) {
    out->back() = FitColumns(StrCat("   ... ", n - shown + 1, " more teammates"), width);
  }
}

}  // namespace ccrelay::controlplane::tui
