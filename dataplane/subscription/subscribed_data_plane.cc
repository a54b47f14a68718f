#include "dataplane/subscription/subscribed_data_plane.h"

#include <future>

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <pthread.h>

#include "proto/admin.pb.h"

#include "dataplane/admin/route_explain.h"
#include "dataplane/common/log.h"
#include "dataplane/common/status_macros.h"
#include "dataplane/routing/routing_table.h"

namespace ccrelay::subscription {

namespace asio = boost::asio;

// The control thread runs drains and SIGHUP callbacks: anything that may block (stopping the
// subscription, reloading a config) runs here, never on a gRPC, worker or signal thread.
// Signals are taken by sigwait on a thread of their own (BlockSignals() has blocked them in
// every thread): deterministic, unlike asio::signal_set shared by several io_contexts.
struct SubscribedDataPlane::Control {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      ioc.get_executor()};
  std::thread thread;
  bool drain_started = false;  // control thread only
  std::function<void()> on_sighup;
  std::thread signal_thread;
  std::atomic<bool> signals_done{false};
  // A drain with keep_running (a preStop hook) leaves the process up, drained, until SIGTERM.
  std::atomic<bool> keep_running{false};
  std::mutex terminate_mu;
  std::condition_variable terminate_cv;
  bool terminate_requested = false;  // guarded by terminate_mu
};

namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void SubscribedDataPlane::BlockSignals() {
  const sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

absl::StatusOr<std::unique_ptr<SubscribedDataPlane>> SubscribedDataPlane::Create(
    SubscribedDataPlaneOptions options) {
  auto self = std::unique_ptr<SubscribedDataPlane>(new SubscribedDataPlane());
  self->options_ = std::move(options);
  SubscribedDataPlaneOptions& opts = self->options_;
  auto dp = server::DataPlane::Create(opts.data_plane);
  if (!dp.ok()) {
    return dp.status();
  }
  self->data_plane_ = *std::move(dp);
  self->applier_ =
      std::make_unique<DataPlaneApplier>(*self->data_plane_, opts.follow_snapshot_logging);
  self->control_ = std::make_unique<Control>();
  self->control_->thread = std::thread([c = self->control_.get()] {
    pthread_setname_np(pthread_self(), "ccr-control");
    c->ioc.run();
  });
  if (!opts.admin_listen.empty()) {
    admin::AdminServer::Options admin_options;
    admin_options.listen = opts.admin_listen;
    admin_options.token = opts.subscription.token;
    auto admin = admin::AdminServer::Start(admin_options, *self);
    if (!admin.ok()) {
      return admin.status();
    }
    self->admin_ = *std::move(admin);
  }
  opts.subscription.listen_address = self->data_plane_->listen_address();
  opts.subscription.admin_address = self->admin_address();
  self->subscription_ = std::make_unique<SnapshotSubscription>(
      opts.subscription, opts.channel_factory, *self->applier_);
  self->subscription_->Start();
  return self;
}

SubscribedDataPlane::~SubscribedDataPlane() {
  if (subscription_ != nullptr) {
    subscription_->Stop();
  }
  if (admin_ != nullptr) {
    admin_->Shutdown();
  }
  if (control_ != nullptr) {
    asio::post(control_->ioc, [c = control_.get()] { c->guard.reset(); });
    if (control_->thread.joinable()) {
      control_->thread.join();
    }
  }
}

std::string SubscribedDataPlane::admin_address() const {
  return admin_ != nullptr ? admin_->address() : std::string();
}

void SubscribedDataPlane::Run(std::function<void()> on_sighup) {
  Control* c = control_.get();
  asio::post(c->ioc, [c, on_sighup = std::move(on_sighup)]() mutable {
    c->on_sighup = std::move(on_sighup);
  });
  BlockSignals();  // this thread too, whatever the caller did
  c->signal_thread = std::thread([this, c] {
    pthread_setname_np(pthread_self(), "ccr-signals");
    const sigset_t set = TerminationSignals();
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) {
        continue;
      }
      if (c->signals_done.load()) {
        return;
      }
      if (sig == SIGHUP) {
        asio::post(c->ioc, [c] {
          if (c->on_sighup) {
            c->on_sighup();
          } else {
            CCR_LOG(kInfo, "sighup_ignored", common::Q("reason", "no config to reload"));
          }
        });
      } else {
        RequestDrain().wait_for(std::chrono::seconds(3));  // the listener is closed
        CCR_LOG(kInfo, "shutdown_requested", common::F("signal", sig));
        {
          const std::lock_guard<std::mutex> lock(c->terminate_mu);
          c->terminate_requested = true;
        }
        c->terminate_cv.notify_all();
      }
    }
  });
  data_plane_->Run(false);
  if (c->keep_running.load()) {
    std::unique_lock<std::mutex> lock(c->terminate_mu);
    if (!c->terminate_requested) {
      CCR_LOG(kInfo, "drained", common::Q("waiting_for", "SIGTERM"));
      c->terminate_cv.wait(lock, [c] { return c->terminate_requested; });
    }
  }
  c->signals_done = true;
  pthread_kill(c->signal_thread.native_handle(), SIGHUP);  // wakes its sigwait
  c->signal_thread.join();
  subscription_->Stop();
  if (admin_ != nullptr) {
    admin_->Shutdown();
  }
}

std::shared_future<void> SubscribedDataPlane::RequestDrain() {
  auto closed = std::make_shared<std::promise<void>>();
  std::shared_future<void> done = closed->get_future().share();
  asio::post(control_->ioc, [this, c = control_.get(), closed] {
    if (c->drain_started) {
      closed->set_value();
      return;
    }
    c->drain_started = true;
    draining_ = true;
    // No snapshot may be applied once workers can stop; then stop accepting at once, and only
    // then end the stream (which can take a moment).
    applier_->Close();
    data_plane_->Shutdown();  // returns once the listener is closed
    closed->set_value();
    subscription_->Stop();
  });
  return done;
}

int64_t SubscribedDataPlane::StartDrain(bool keep_running) {
  const int64_t open = data_plane_->active_sessions();
  if (keep_running) {
    control_->keep_running = true;  // before the drain can end Run()
  }
  RequestDrain();
  return open;
}

absl::Status SubscribedDataPlane::ExplainRoute(const ccrelay::v1::ExplainRouteRequest& request,
                                              ccrelay::v1::RouteExplanation* out) {
  // The table in force (each request holds its worker's copy of the same table); its key and
  // provider state is shared with the request path and only read here.
  const std::shared_ptr<const routing::RoutingTable> table = data_plane_->table();
  if (table == nullptr || table->version == 0) {
    return absl::FailedPreconditionError("no snapshot applied yet");
  }
  RETURN_IF_ERROR(admin::ExplainRoute(*table, request, common::RealClock::Get(), out));
  out->set_data_plane_id(options_.subscription.id);
  return absl::OkStatus();
}

void SubscribedDataPlane::FillState(ccrelay::v1::DataPlaneState* state) {
  const SubscriptionStatus s = subscription_->status();
  state->set_id(options_.subscription.id);
  state->set_build_version(CCR_VERSION);
  state->set_listen_address(data_plane_->listen_address());
  state->set_snapshot_version(data_plane_->version());
  state->set_control_plane(options_.subscription.control_plane);
  state->set_control_plane_connected(s.connected);
  state->set_last_contact_unix_ms(s.last_contact_unix_ms);
  state->set_active_streams(data_plane_->stats().active_streams());
  state->set_open_connections(data_plane_->active_sessions());
  state->set_draining(draining_.load());
  for (std::string& p : applier_->providers()) {
    state->add_providers(std::move(p));
  }
  state->set_last_nack_error(s.last_nack_error);
}

}  // namespace ccrelay::subscription
