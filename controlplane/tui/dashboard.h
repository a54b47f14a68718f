#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/admin.pb.h"
#include "proto/management.pb.h"

namespace ccrelay::controlplane::tui {

// What a key press asks the front end to do (the model itself never talks to the network).
enum class Action {
  kNone,
  kRedraw,
  kQuit,
  kEnableProvider,   // Management.SetProviderEnabled(selected, true)
  kDisableProvider,  // Management.SetProviderEnabled(selected, false)
  kReloadConfig,     // Management.ReloadConfig
};

// Key codes the model understands besides printable characters (the ncurses layer maps
// KEY_UP/KEY_DOWN/27 onto these, so the model does not depend on curses.h).
inline constexpr int kKeyUp = 0x1001;
inline constexpr int kKeyDown = 0x1002;
inline constexpr int kKeyEscape = 27;

// The dashboard: the last StatsSnapshot, the connection state and the UI state (selection,
// help overlay, status line). Pure: Render() turns it into lines of text, no terminal involved.
// Not thread-safe; the front end serializes access.
class Dashboard {
 public:
  // `address` is the control plane's, as shown in the "unreachable" message. `unicode` picks
  // ●/○/─ over ASCII (*/o/-) for terminals without UTF-8.
  Dashboard(std::string address, bool unicode);

  void OnSnapshot(ccrelay::v1::StatsSnapshot snapshot);
  // The stream failed (or never connected); `error` is a short reason. Keeps the last snapshot
  // (shown as stale) until the next one arrives.
  void OnDisconnected(std::string error);
  // The strategy's current ranking: a data plane's route explain of a reference request (the
  // model most recently requested, else kDefaultRankingModel), refreshed every few seconds.
  void OnRanking(ccrelay::v1::RouteExplanation ranking);
  // The last ranking could not be had (no data plane, an older one): why, shown in its place.
  void OnRankingUnavailable(std::string why);
  // The reference request's model: the most recent request's, else kDefaultRankingModel.
  std::string RankingModel() const;
  // The data plane to ask: "" (the only one connected) unless the stats name several.
  std::string RankingDataPlane() const;
  // A line at the bottom (the result of e/d/r), replaced by the next one.
  void SetStatus(std::string status) { status_ = std::move(status); }

  Action HandleKey(int key);

  // The selected provider's name, "" when there is none.
  std::string SelectedProvider() const;
  bool connected() const { return connected_; }
  bool help_visible() const { return show_help_; }
  // `u`: the teammates (spend against budget) in place of the selected provider's keys.
  bool users_visible() const { return show_users_; }
  const std::optional<ccrelay::v1::StatsSnapshot>& snapshot() const { return snapshot_; }

  // Exactly `height` lines of exactly `width` columns (a column per code point; every glyph
  // used here is one column wide).
  std::vector<std::string> Render(int width, int height) const;

 private:
  int SelectedIndex() const;
  std::vector<std::string> RenderBody(int width, int rows) const;
  std::vector<std::string> RenderHelp(int width, int rows) const;

  // The teammates section: a title and up to `rows` - 1 lines (issue 15).
  void RenderUsers(int width, int rows, std::vector<std::string>* out) const;
  // The ranking column of provider `name`: "#2 $0.0031" ("-" when not ranked).
  std::string RankCell(const std::string& name) const;

  std::string address_;
  bool unicode_;
  std::optional<ccrelay::v1::RouteExplanation> ranking_;
  std::string ranking_error_;
  std::optional<ccrelay::v1::StatsSnapshot> snapshot_;
  bool connected_ = false;
  bool ever_connected_ = false;
  std::string error_;
  std::string selected_;  // by name, so the selection survives reordering
  bool show_help_ = false;
  bool show_users_ = false;
  std::string status_;
};

// The reference request's model before any request was seen: Claude Code's default main model.
inline constexpr std::string_view kDefaultRankingModel = "claude-sonnet-4-5";

// Helpers, exposed for tests.
// The figure a strategy ranked a provider by, shortest form: expected cost ("$0.0031"), time to
// first token ("850ms"), attempts in flight ("3 busy"), score ("s0.42"); "" when none is set.
std::string RankFigure(const ccrelay::v1::RouteCandidate& c);
// What a teammate spent against the budget that binds first: "$12.30/$50.00 mo",
// "120k/1.0M tok day"; the month's spend alone ("$12.30 mo") without a budget.
std::string SpendCell(const ccrelay::v1::UserInfo& u);
// "1,247".
std::string GroupThousands(uint64_t n);
// "234ms", "1.2s".
std::string FormatLatency(double ms);
// "950", "1.2k", "40k", "1.5M".
std::string FormatCount(double n);
// Cuts `s` to at most `width` code points, then pads with spaces to exactly `width`.
std::string FitColumns(std::string_view s, int width);
// Number of code points in UTF-8 text.
int ColumnsOf(std::string_view s);

}  // namespace ccrelay::controlplane::tui
