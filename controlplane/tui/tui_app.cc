// The ncurses front end of `cc-relay tui`: a thread reading Management.WatchStats (reconnecting
// with backoff), a loop reading keys and drawing what Dashboard::Render() returns.
#include "controlplane/tui/tui_app.h"

#include <atomic>
#include <chrono>
#include <clocale>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <langinfo.h>
#include <unistd.h>

#include "proto/management.grpc.pb.h"

#include "controlplane/tui/dashboard.h"
#include "dataplane/common/backoff.h"
#include "dataplane/common/grpc_channel.h"
#include "dataplane/common/str.h"

// Last: curses defines OK and ERR as macros, which collide with gRPC's StatusCode::OK.
#include <curses.h>

namespace ccrelay::controlplane::tui {

using common::StrCat;

namespace {

std::atomic<bool> g_stop_signal{false};

void OnStopSignal(int) { g_stop_signal.store(true); }

constexpr auto kRpcTimeout = std::chrono::seconds(5);
// How often the strategy's ranking is asked for (a route explain of the reference request).
constexpr auto kRankingInterval = std::chrono::seconds(3);

std::string ShortError(const grpc::Status& s) {
  std::string msg = s.error_message();
  if (msg.size() > 120) {
    msg = StrCat(msg.substr(0, 117), "...");
  }
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return StrCat("unavailable: ", msg);
    case grpc::StatusCode::UNAUTHENTICATED:
      return StrCat("unauthenticated (give the token with --token-file): ", msg);
    case grpc::StatusCode::PERMISSION_DENIED:
      return StrCat("permission denied: ", msg);
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "timed out";
    default:
      return StrCat("error ", static_cast<int>(s.error_code()), ": ", msg);
  }
}

class TuiApp {
 public:
  TuiApp(const TuiOptions& options, std::shared_ptr<grpc::Channel> channel, bool unicode)
      : options_(options),
        stub_(ccrelay::v1::Management::NewStub(channel)),
        dashboard_(options.control_plane, unicode) {}

  void Run();

 private:
  // The channel adds the token to every call.
  std::unique_ptr<grpc::ClientContext> Context(bool streaming) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!streaming) {
      ctx->set_deadline(std::chrono::system_clock::now() + kRpcTimeout);
    }
    return ctx;
  }

  void WatchLoop();
  void RankingLoop();
  void Perform(Action action);
  void Draw();

  const TuiOptions& options_;
  std::unique_ptr<ccrelay::v1::Management::Stub> stub_;

  std::mutex mu_;
  std::condition_variable cv_;
  Dashboard dashboard_;                       // guarded by mu_
  bool dirty_ = true;                         // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  grpc::ClientContext* watch_ctx_ = nullptr;  // guarded by mu_
  grpc::ClientContext* ranking_ctx_ = nullptr;  // guarded by mu_
};

void TuiApp::WatchLoop() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  common::JitteredBackoff backoff(std::chrono::milliseconds(250), std::chrono::seconds(2),
                                  [&] { return dist(rng); });
  ccrelay::v1::WatchStatsRequest req;
  req.set_interval_ms(options_.refresh_ms);
  for (;;) {
    auto ctx = Context(/*streaming=*/true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return;
      }
      watch_ctx_ = ctx.get();
    }
    auto reader = stub_->WatchStats(ctx.get(), req);
    ccrelay::v1::StatsSnapshot snap;
    while (reader->Read(&snap)) {
      backoff.Reset();
      std::lock_guard<std::mutex> lock(mu_);
      dashboard_.OnSnapshot(std::move(snap));
      snap = ccrelay::v1::StatsSnapshot();
      dirty_ = true;
    }
    const grpc::Status status = reader->Finish();
    std::unique_lock<std::mutex> lock(mu_);
    watch_ctx_ = nullptr;
    if (stopping_) {
      return;
    }
    dashboard_.OnDisconnected(status.ok() ? std::string("the stats stream ended")
                                          : ShortError(status));
    dirty_ = true;
    cv_.wait_for(lock, backoff.Next(), [this] { return stopping_; });
    if (stopping_) {
      return;
    }
  }
}

// Every few seconds: a connected data plane's route explain of the reference request (the model
// requested last, else Claude Code's default main model), for the providers' ranking column.
void TuiApp::RankingLoop() {
  for (;;) {
    ccrelay::v1::ExplainRouteViaControlPlaneRequest req;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) {
        return;
      }
      req.set_data_plane_id(dashboard_.RankingDataPlane());
      req.mutable_request()->set_model(dashboard_.RankingModel());
    }
    ccrelay::v1::RouteExplanation e;
    auto ctx = Context(/*streaming=*/false);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        return;
      }
      ranking_ctx_ = ctx.get();
    }
    const grpc::Status s = stub_->ExplainRoute(ctx.get(), req, &e);
    std::unique_lock<std::mutex> lock(mu_);
    ranking_ctx_ = nullptr;
    if (stopping_) {
      return;
    }
    if (s.ok()) {
      dashboard_.OnRanking(std::move(e));
    } else {
      dashboard_.OnRankingUnavailable(s.error_code() == grpc::StatusCode::UNIMPLEMENTED
                                          ? std::string("not offered by this control plane")
                                          : s.error_message());
    }
    dirty_ = true;
    cv_.wait_for(lock, kRankingInterval, [this] { return stopping_; });
  }
}

void TuiApp::Perform(Action action) {
  std::string provider;
  {
    std::lock_guard<std::mutex> lock(mu_);
    provider = dashboard_.SelectedProvider();
    if (action == Action::kEnableProvider || action == Action::kDisableProvider) {
      dashboard_.SetStatus(
          StrCat(action == Action::kEnableProvider ? "enabling " : "disabling ", provider, " ..."));
    } else {
      dashboard_.SetStatus("reloading the config ...");
    }
  }
  Draw();
  std::string result;
  if (action == Action::kEnableProvider || action == Action::kDisableProvider) {
    const bool enable = action == Action::kEnableProvider;
    ccrelay::v1::SetProviderEnabledRequest req;
    req.set_name(provider);
    req.set_enabled(enable);
    ccrelay::v1::ProviderInfo info;
    auto ctx = Context(/*streaming=*/false);
    const grpc::Status s = stub_->SetProviderEnabled(ctx.get(), req, &info);
    result = s.ok() ? StrCat(provider, ": ", info.enabled() ? "enabled" : "disabled")
                    : StrCat(enable ? "enable " : "disable ", provider, " failed: ", ShortError(s));
  } else {
    ccrelay::v1::ConfigStatus st;
    auto ctx = Context(/*streaming=*/false);
    const grpc::Status s = stub_->ReloadConfig(ctx.get(), ccrelay::v1::ReloadConfigRequest(), &st);
    if (!s.ok()) {
      result = StrCat("reload failed: ", ShortError(s));
    } else if (st.last_reload_ok()) {
      result = StrCat("reload: ok, config version ", st.snapshot_version(),
                      st.path().empty() ? "" : StrCat(" (", st.path(), ")"));
    } else {
      const auto& e = st.last_errors();
      result = StrCat(
          "reload rejected (", e.size(), " error(s)); running config stays",
          e.empty()
              ? std::string()
              : StrCat(": ", e[0].line() > 0 ? StrCat("line ", e[0].line(), ": ") : std::string(),
                       e[0].key_path(), " ", e[0].message()));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  dashboard_.SetStatus(std::move(result));
  dirty_ = true;
}

void TuiApp::Draw() {
  std::vector<std::string> lines;
  bool help = false;
  bool connected = false;
  int rows = 0;
  int cols = 0;
  getmaxyx(stdscr, rows, cols);
  {
    std::lock_guard<std::mutex> lock(mu_);
    lines = dashboard_.Render(cols, rows);
    help = dashboard_.help_visible();
    connected = dashboard_.connected();
    dirty_ = false;
  }
  erase();
  for (int i = 0; i < static_cast<int>(lines.size()); ++i) {
    // The bottom-right cell cannot be written without scrolling: leave it out.
    const std::string& l = lines[static_cast<size_t>(i)];
    const std::string text = i == rows - 1 ? FitColumns(l, cols - 1) : l;
    attr_t attr = A_NORMAL;
    if (i == 0) {
      attr = A_BOLD;
    } else if (i == 2 && !connected && has_colors()) {
      attr = COLOR_PAIR(1) | A_BOLD;
    } else if (!help && i > 3 && l.rfind("> ", 0) == 0) {
      attr = A_REVERSE;
    }
    attron(attr);
    mvaddstr(i, 0, text.c_str());
    attroff(attr);
  }
  refresh();
}

void TuiApp::Run() {
  std::thread watcher([this] { WatchLoop(); });
  std::thread ranker([this] { RankingLoop(); });
  for (;;) {
    if (g_stop_signal.load()) {
      break;
    }
    bool dirty = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      dirty = dirty_;
    }
    if (dirty) {
      Draw();
    }
    const int ch = getch();  // waits up to the timeout set in RunTui
    if (ch == ERR) {
      continue;
    }
    if (ch == KEY_RESIZE) {
      clear();
      Draw();
      continue;
    }
    int key = ch;
    if (ch == KEY_UP) {
      key = kKeyUp;
    } else if (ch == KEY_DOWN) {
      key = kKeyDown;
    } else if (ch == 3) {  // Ctrl-C in raw mode
      break;
    }
    Action action;
    {
      std::lock_guard<std::mutex> lock(mu_);
      action = dashboard_.HandleKey(key);
    }
    if (action == Action::kQuit) {
      break;
    }
    if (action == Action::kEnableProvider || action == Action::kDisableProvider ||
        action == Action::kReloadConfig) {
      Perform(action);
    }
    if (action != Action::kNone) {
      Draw();
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (watch_ctx_ != nullptr) {
      watch_ctx_->TryCancel();
    }
    if (ranking_ctx_ != nullptr) {
      ranking_ctx_->TryCancel();
    }
  }
  cv_.notify_all();
  watcher.join();
  ranker.join();
}

}  // namespace

absl::Status RunTui(const TuiOptions& options) {
  common::GrpcChannelOptions channel_options;
  channel_options.target = options.control_plane;
  channel_options.tls_ca_file = options.tls_ca_file;
  channel_options.insecure = options.insecure;
  channel_options.token_file = options.token_file;
  // Reconnect promptly when the control plane comes back (gRPC's default backoff grows to 2 min).
  channel_options.min_reconnect_backoff = std::chrono::milliseconds(250);
  channel_options.max_reconnect_backoff = std::chrono::milliseconds(2000);
  channel_options.keepalive_time = std::chrono::milliseconds(10000);
  channel_options.keepalive_timeout = std::chrono::milliseconds(5000);
  auto channel = common::CreateGrpcChannel(channel_options);
  if (!channel.ok()) {
    return channel.status();
  }

  if (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0) {
    return absl::FailedPreconditionError("cc-relay tui needs a terminal (stdin and stdout)");
  }
  std::setlocale(LC_ALL, "");
  const bool unicode = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
  SCREEN* screen = newterm(nullptr, stdout, stdin);
  if (screen == nullptr) {
    return absl::FailedPreconditionError(
        "cannot initialise the terminal (is TERM set to a known terminal type?)");
  }
  set_term(screen);
  g_stop_signal.store(false);
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  raw();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  set_escdelay(25);
  timeout(100);
  if (has_colors()) {
    start_color();
    use_default_colors();
    init_pair(1, COLOR_RED, -1);
  }
  {
    TuiApp app(options, *std::move(channel), unicode);
    app.Run();
  }
  endwin();
  delscreen(screen);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  return absl::OkStatus();
}

}  // namespace ccrelay::controlplane::tui
