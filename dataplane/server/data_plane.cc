#include "dataplane/server/data_plane.h"

#include <future>

#include "absl/synchronization/mutex.h"
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proto/snapshot.pb.h"
#include "dataplane/common/log.h"
#include "dataplane/common/str.h"
#include "dataplane/routing/routing_table.h"
#include "dataplane/server/downstream_session.h"
#include "dataplane/server/worker.h"

namespace ccrelay::server {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

absl::StatusOr<asio::ip::tcp::endpoint> ParseListen(const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen[0] == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return absl::InvalidArgumentError(ccrelay::common::StrCat("listen \"", listen, "\": bad address"));
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          ccrelay::common::StrCat("listen \"", listen, "\": expected host:port"));
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  uint32_t port_num = 0;
  if (!ccrelay::common::ParseUint(port, &port_num) || port_num > 65535) {
    return absl::InvalidArgumentError(ccrelay::common::StrCat("listen \"", listen, "\": bad port"));
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  error_code ec;
  auto addr = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        ccrelay::common::StrCat("listen \"", listen, "\": host must be an IP address or localhost"));
  }
  return asio::ip::tcp::endpoint(addr, static_cast<uint16_t>(port_num));
}

std::string FormatEndpoint(const asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address();
  return addr.is_v6() ? ccrelay::common::StrCat("[", addr.to_string(), "]:", ep.port())
                      : ccrelay::common::StrCat(addr.to_string(), ":", ep.port());
}

// Opens, binds and listens; `what` names the listener in the error.
absl::Status Listen(asio::ip::tcp::acceptor& acceptor, const std::string& listen,
                    std::string_view what) {
  auto endpoint = ParseListen(listen);
  if (!endpoint.ok()) {
    return endpoint.status();
  }
  error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) {
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    acceptor.bind(*endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    return absl::UnavailableError(ccrelay::common::StrCat(
        "cannot listen", what, " on ", FormatEndpoint(*endpoint), ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

struct DataPlane::Impl {
  asio::io_context main_ioc{1};
  asio::ip::tcp::acceptor acceptor{main_ioc};
  asio::ip::tcp::acceptor metrics_acceptor{main_ioc};  // open only with metrics.listen
  stats::DataPlaneMetrics metrics{CCR_VERSION};
  std::vector<std::unique_ptr<Worker>> workers;
  state::StateRegistry states;
  std::atomic<int64_t> active{0};
  stats::StatsCollector collector;
  team::UsageJournal usage;
  stats::ObserverList observers;
  size_t next_worker = 0;
  uint64_t next_conn_id = 1;
  bool shutting_down = false;
  std::chrono::milliseconds drain{30000};
  mutable absl::Mutex table_mu;
  routing::RoutingTableConstSharedPtr table ABSL_GUARDED_BY(table_mu);
  std::unique_ptr<asio::steady_timer> drain_timer;
  std::chrono::steady_clock::time_point drain_deadline;

  // Accepts on `acc` forever, dealing connections to the workers round-robin.
  void Accept(asio::ip::tcp::acceptor& acc, bool metrics_only) {
    Worker& w = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    acc.async_accept(w.ioc(), [this, &w, &acc, metrics_only](const error_code& ec,
                                                            asio::ip::tcp::socket sock) {
      if (ec) {
        if (ec == asio::error::operation_aborted || shutting_down) {
          return;
        }
        CCR_LOG(kWarn, "accept_failed", ccrelay::common::Q("error", ec.message()));
        // EMFILE and friends: back off briefly instead of spinning.
        auto t = std::make_shared<asio::steady_timer>(main_ioc, std::chrono::milliseconds(50));
        t->async_wait([this, t, &acc, metrics_only](const error_code&) {
          Accept(acc, metrics_only);
        });
        return;
      }
      const uint64_t id = next_conn_id++;
      asio::post(w.ioc(), [&w, id, metrics_only, s = std::move(sock)]() mutable {
        if (w.draining()) {
          return;
        }
        std::make_shared<DownstreamSession>(std::move(s), w, id, metrics_only)->Start();
      });
      Accept(acc, metrics_only);
    });
  }

  void CheckDrained() {
    if (active.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      if (active.load() != 0) {
        CCR_LOG(kWarn, "drain_timeout", ccrelay::common::F("open_connections", active.load()));
      }
      for (auto& w : workers) {
        w->Stop();
      }
      main_ioc.stop();
      return;
    }
    drain_timer->expires_after(std::chrono::milliseconds(20));
    drain_timer->async_wait([this](const error_code& ec) {
      if (!ec) {
        CheckDrained();
      }
    });
  }
};

DataPlane::DataPlane(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DataPlane::~DataPlane() {
  for (auto& w : impl_->workers) {
    w->Stop();
  }
  // A pending accept holds a socket of a worker's io_context: close the acceptors and run the
  // aborted accepts now, while the workers still exist (main_ioc, a member declared before
  // them, would otherwise destroy those operations after the workers are gone).
  error_code ignored;
  impl_->acceptor.close(ignored);
  impl_->metrics_acceptor.close(ignored);
  impl_->main_ioc.restart();
  impl_->main_ioc.poll();
  // Streams still open (the drain deadline passed) are aborted while every member exists.
  for (auto& w : impl_->workers) {
    w->AbortSessions();
  }
}

int64_t DataPlane::active_sessions() const { return impl_->active.load(); }

stats::StatsCollector& DataPlane::stats() { return impl_->collector; }

void DataPlane::AddObserver(stats::RequestObserver* observer) { impl_->observers.Add(observer); }

stats::DataPlaneMetrics& DataPlane::metrics() { return impl_->metrics; }

team::UsageJournal& DataPlane::usage() { return impl_->usage; }

state::StateRegistry& DataPlane::states() { return impl_->states; }

absl::StatusOr<std::unique_ptr<DataPlane>> DataPlane::CreateWithTable(
    routing::RoutingTableConstSharedPtr table, std::unique_ptr<Impl> impl, uint64_t version,
    unsigned workers, const std::string& listen, const std::string& metrics_listen) {
  if (absl::Status s = Listen(impl->acceptor, listen.empty() ? "127.0.0.1:8787" : listen, "");
      !s.ok()) {
    return s;
  }
  if (!metrics_listen.empty()) {
    if (absl::Status s = Listen(impl->metrics_acceptor, metrics_listen, " (metrics.listen)");
        !s.ok()) {
      return s;
    }
  }
  unsigned n = workers;
  if (n == 0) {
    n = std::max(1u, std::thread::hardware_concurrency());
  }
  impl->observers.Add(&impl->collector);
  impl->observers.Add(&impl->metrics);
  impl->usage.set_on_drop([m = &impl->metrics] { m->OnUsageRecordDropped(); });
  for (unsigned i = 0; i < n; ++i) {
    impl->workers.push_back(std::make_unique<Worker>(impl->active));
    impl->workers.back()->SetTable(table);
    impl->workers.back()->context().observer = &impl->observers;
    impl->workers.back()->context().usage = &impl->usage;
    impl->workers.back()->set_metrics(&impl->metrics);
  }
  impl->drain = table->timeouts.drain;
  {
    absl::MutexLock lock(&impl->table_mu);
    impl->table = table;
  }
  auto dp = std::unique_ptr<DataPlane>(new DataPlane(std::move(impl)));
  dp->listen_address_ = FormatEndpoint(dp->impl_->acceptor.local_endpoint());
  if (dp->impl_->metrics_acceptor.is_open()) {
    dp->metrics_address_ = FormatEndpoint(dp->impl_->metrics_acceptor.local_endpoint());
  }
  dp->version_ = version;
  for (unsigned i = 0; i < n; ++i) {
    dp->impl_->workers[i]->StartThread(static_cast<int>(i));
  }
  return dp;
}

absl::StatusOr<std::unique_ptr<DataPlane>> DataPlane::Create(
    const ccrelay::v1::RoutingSnapshot& initial, const Options& options) {
  auto impl = std::make_unique<Impl>();
  auto table = routing::CompileRoutingTable(initial, impl->states);
  if (!table.ok()) {
    return table.status();
  }
  const std::string listen = options.listen.empty() ? (*table)->listen : options.listen;
  const unsigned workers = options.workers != 0 ? options.workers : initial.server().workers();
  const std::string metrics_listen =
      options.metrics_listen.empty() ? initial.metrics().listen() : options.metrics_listen;
  return CreateWithTable(*table, std::move(impl), initial.version(), workers, listen,
                         metrics_listen);
}

absl::StatusOr<std::unique_ptr<DataPlane>> DataPlane::Create(const Options& options) {
  return CreateWithTable(routing::BootstrapRoutingTable(), std::make_unique<Impl>(), 0,
                         options.workers, options.listen, options.metrics_listen);
}

absl::Status DataPlane::ApplySnapshot(const ccrelay::v1::RoutingSnapshot& snapshot) {
  auto table = routing::CompileRoutingTable(snapshot, impl_->states);
  if (!table.ok()) {
    CCR_LOG(kWarn, "snapshot_rejected", ccrelay::common::F("version", snapshot.version()),
            ccrelay::common::Q("error", table.status().message()));
    impl_->metrics.OnSnapshotUpdate(false);
    return table.status();
  }
  std::vector<std::future<void>> done;
  for (auto& w : impl_->workers) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::post(w->ioc(), [wp = w.get(), t = *table, p] {
      wp->SetTable(t);
      p->set_value();
    });
  }
  for (auto& f : done) {
    f.wait();
  }
  asio::post(impl_->main_ioc, [this, d = (*table)->timeouts.drain] { impl_->drain = d; });
  {
    absl::MutexLock lock(&impl_->table_mu);
    impl_->table = *table;
  }
  version_ = snapshot.version();
  impl_->metrics.OnSnapshotUpdate(true);
  CCR_LOG(kInfo, "snapshot_applied", ccrelay::common::F("version", snapshot.version()),
          ccrelay::common::F("providers", (*table)->providers.size()),
          ccrelay::common::F("strategy", (*table)->strategy->Name()));
  return absl::OkStatus();
}

void DataPlane::Run(bool handle_signals, std::function<void()> on_sighup) {
  // Always printed, whatever the level: scripts and tests wait for this line.
  ccrelay::common::LogLine(ccrelay::common::LogLevel::kInfo, "listening",
                           {ccrelay::common::F("address", listen_address_),
                            ccrelay::common::F("workers", impl_->workers.size()),
                            ccrelay::common::F("version", version_.load()),
                            ccrelay::common::F("metrics_address",
                                               metrics_address_.empty() ? std::string("-")
                                                                        : metrics_address_)});
  asio::signal_set signals(impl_->main_ioc);
  std::function<void()> wait_signal;
  if (handle_signals) {
    signals.add(SIGTERM);
    signals.add(SIGINT);
    signals.add(SIGHUP);
    wait_signal = [&] {
      signals.async_wait([&](const error_code& ec, int sig) {
        if (ec) {
          return;
        }
        if (sig == SIGHUP) {
          if (on_sighup) {
            on_sighup();
          }
          wait_signal();
          return;
        }
        CCR_LOG(kInfo, "shutdown_requested", ccrelay::common::F("signal", sig));
        Shutdown();
      });
    };
    wait_signal();
  }
  impl_->Accept(impl_->acceptor, false);
  if (impl_->metrics_acceptor.is_open()) {
    impl_->Accept(impl_->metrics_acceptor, true);
  }
  impl_->main_ioc.run();
  CCR_LOG(kInfo, "stopped");
}

void DataPlane::Shutdown() {
  // Returns once the listener is closed (when called off the main thread while the main loop
  // runs), so that no connection is accepted after Shutdown() returns.
  auto closed = std::make_shared<std::promise<void>>();
  auto closed_future = closed->get_future();
  const bool inline_call = impl_->main_ioc.get_executor().running_in_this_thread();
  asio::post(impl_->main_ioc, [this, closed] {
    if (impl_->shutting_down) {
      closed->set_value();
      return;
    }
    impl_->shutting_down = true;
    error_code ec;
    impl_->acceptor.close(ec);
    impl_->metrics_acceptor.close(ec);
    closed->set_value();
    for (auto& w : impl_->workers) {
      asio::post(w->ioc(), [wp = w.get()] {
        wp->DrainSessions();
        wp->context().pool.Clear();
      });
    }
    impl_->drain_deadline = std::chrono::steady_clock::now() + impl_->drain;
    impl_->drain_timer = std::make_unique<asio::steady_timer>(impl_->main_ioc);
    impl_->CheckDrained();
  });
  if (!inline_call && !impl_->main_ioc.stopped()) {
    closed_future.wait_for(std::chrono::seconds(2));
  }
}

std::shared_ptr<const routing::RoutingTable> DataPlane::table() const {
  absl::MutexLock lock(&impl_->table_mu);
  return impl_->table;
}

}  // namespace ccrelay::server
