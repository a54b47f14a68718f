#include "dataplane/subscription/snapshot_subscription.h"

#include <deque>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include "proto/stream.grpc.pb.h"
#include "proto/stream.pb.h"

#include "dataplane/common/backoff.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"

namespace ccrelay::subscription {

namespace asio = boost::asio;
using common::F;
using common::Q;

namespace {

int64_t NowUnixMs() { return common::RealClock::Get().UnixMillis(); }

// UsageBatch messages (of at most 1000 records each) queued per stats tick.
constexpr int kMaxUsageBatchesPerTick = 10;

}  // namespace

class SyncCall;

// Everything but the reactions runs on `ioc`'s one thread, so the stream state below needs no
// lock; reactions only post to it. The status block is read by other threads (admin API) under
// `mu`.
struct SnapshotSubscription::Impl {
  Impl(SubscriptionOptions opts, ChannelFactory factory, SnapshotApplier& a)
      : options(std::move(opts)),
        channel_factory(std::move(factory)),
        applier(a),
        backoff(options.backoff_initial, options.backoff_max,
                [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }) {}

  template <typename Fn>
  void Post(Fn&& fn) {
    asio::post(ioc, std::forward<Fn>(fn));
  }

  void Connect();
  void OnMessage(uint64_t gen, const std::shared_ptr<v1::ControlPlaneMessage>& msg);
  void OnStreamEnded(uint64_t gen);
  void OnWriteDone(uint64_t gen, bool ok);
  void OnCallDone(uint64_t gen, const grpc::Status& status);
  void ApplyPending();
  void Send(uint64_t gen, v1::DataPlaneMessage msg);
  void MaybeWrite();
  void ArmStatsTimer();
  void OnStatsTick();
  void ScheduleReconnect(bool had_message);
  void BeginStop();
  v1::DataPlaneMessage Hello() const;

  const SubscriptionOptions options;
  const ChannelFactory channel_factory;
  SnapshotApplier& applier;

  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  asio::steady_timer stats_timer{ioc};
  asio::steady_timer reconnect_timer{ioc};
  std::thread thread;
  std::mt19937_64 rng{std::random_device{}()};
  common::JitteredBackoff backoff;

  // ioc thread only.
  std::shared_ptr<grpc::Channel> channel_in_use;  // of the current stream
  std::unique_ptr<v1::DataPlaneSync::Stub> stub;
  SyncCall* call = nullptr;  // usable while non-null: our hold keeps it alive
  uint64_t call_gen = 0;
  bool call_active = false;  // StartCall done, OnDone not yet seen
  bool stream_up = false;    // a message arrived on this stream
  bool writing = false;
  bool stats_queued = false;
  bool health_full = true;  // the next health report is a full one (a new stream)
  std::deque<v1::DataPlaneMessage> queue;
  std::optional<v1::SnapshotUpdate> pending;
  uint64_t pending_gen = 0;
  bool apply_posted = false;
  bool stopping = false;
  uint32_t failures = 0;  // stream attempts in a row that ended without a message

  absl::Mutex stop_mu;  // serialises Start() and Stop()
  mutable absl::Mutex mu;
  SubscriptionStatus status ABSL_GUARDED_BY(mu);
  std::optional<absl::Status> first_result ABSL_GUARDED_BY(mu);
};

// One DataPlaneSync::Sync stream. Owned by gRPC: it deletes itself in OnDone. The subscription
// holds a hold on it (AddHold) from StartCall until it decides the stream is over, and touches it
// only while that hold is in place, only from its own thread.
class SyncCall final
    : public grpc::ClientBidiReactor<v1::DataPlaneMessage, v1::ControlPlaneMessage> {
 public:
  SyncCall(SnapshotSubscription::Impl* owner, uint64_t gen, v1::DataPlaneSync::Stub& stub,
           const std::string& token)
      : owner_(owner), gen_(gen) {
    if (!token.empty()) {
      context.AddMetadata("authorization", common::StrCat("Bearer ", token));
    }
    stub.async()->Sync(&context, this);
  }

  // Sends `out` (the hello), starts reading, and starts the call.
  void Begin() {
    StartWrite(&out);
    StartRead(&in_);
    AddHold();
    StartCall();
  }

  // grpc::ClientBidiReactor
  void OnReadDone(bool ok) override {
    if (!ok) {
      owner_->Post([o = owner_, g = gen_] { o->OnStreamEnded(g); });
      return;
    }
    auto msg = std::make_shared<v1::ControlPlaneMessage>();
    msg->Swap(&in_);
    owner_->Post([o = owner_, g = gen_, msg = std::move(msg)]() mutable { o->OnMessage(g, msg); });
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override {
    owner_->Post([o = owner_, g = gen_, ok] { o->OnWriteDone(g, ok); });
  }
  // Not deleted here but on the subscription's thread, which also drops the channel: the last
  // reference to a channel must not go away on a gRPC callback thread (grpc/grpc#32584: the
  // callback CQ's thread pool would be torn down from one of its own threads).
  void OnDone(const grpc::Status& s) override {
    owner_->Post([o = owner_, g = gen_, s, self = this] {
      delete self;
      o->OnCallDone(g, s);
    });
  }

  grpc::ClientContext context;
  v1::DataPlaneMessage out;  // the message being written (lives until OnWriteDone)

 private:
  SnapshotSubscription::Impl* const owner_;
  const uint64_t gen_;
  v1::ControlPlaneMessage in_;
};

v1::DataPlaneMessage SnapshotSubscription::Impl::Hello() const {
  v1::DataPlaneMessage msg;
  v1::DataPlaneHello* h = msg.mutable_hello();
  h->set_id(options.id);
  h->set_build_version(CCR_VERSION);
  for (const auto& [k, v] : options.labels) {
    (*h->mutable_labels())[k] = v;
  }
  h->set_listen_address(options.listen_address);
  h->set_admin_address(options.admin_address);
  h->set_last_applied_version(applier.version());
  return msg;
}

void SnapshotSubscription::Impl::Connect() {
  if (stopping || call_active) {
    return;
  }
  std::shared_ptr<grpc::Channel> channel = channel_factory ? channel_factory() : nullptr;
  if (channel == nullptr) {
    CCR_LOG(kWarn, "control_plane_unavailable", Q("address", options.control_plane),
            Q("error", "no channel"));
    ScheduleReconnect(false);
    return;
  }
  channel_in_use = std::move(channel);
  stub = v1::DataPlaneSync::NewStub(channel_in_use);
  auto* c = new SyncCall(this, ++call_gen, *stub, options.token);
  call = c;
  call_active = true;
  stream_up = false;
  stats_queued = false;
  health_full = true;
  queue.clear();
  applier.RewindUsage();  // what the last stream sent and got no ack for goes again
  c->out = Hello();
  writing = true;
  {
    absl::MutexLock lock(&mu);
    ++status.streams_started;
  }
  CCR_LOG(kDebug, "control_plane_stream_start", Q("address", options.control_plane),
          F("attempt", failures + 1), F("last_applied_version", applier.version()));
  c->Begin();
}

void SnapshotSubscription::Impl::OnMessage(uint64_t gen,
                                           const std::shared_ptr<v1::ControlPlaneMessage>& msg) {
  if (gen != call_gen || call == nullptr) {
    return;
  }
  const int64_t now = NowUnixMs();
  if (!stream_up) {
    stream_up = true;
    failures = 0;
    backoff.Reset();
    CCR_LOG(kInfo, "control_plane_connected", Q("address", options.control_plane),
            F("version", applier.version()));
  }
  {
    absl::MutexLock lock(&mu);
    status.connected = true;
    status.last_contact_unix_ms = now;
  }
  if (msg->has_estimates()) {
    // Not versioned, not answered: applied here, on the subscription's thread.
    applier.ApplyEstimates(msg->estimates());
    CCR_LOG(kDebug, "routing_estimates_applied", F("latency", msg->estimates().latency_size()));
  }
  if (msg->has_usage_ack()) {
    applier.AckUsage(msg->usage_ack().committed_seq());
    CCR_LOG(kDebug, "usage_acked", F("committed_seq", msg->usage_ack().committed_seq()));
  }
  if (msg->has_budgets()) {
    applier.ApplyBudgets(msg->budgets());
    CCR_LOG(kDebug, "budget_grants_applied", F("grants", msg->budgets().grants_size()));
  }
  if (msg->has_snapshot()) {
    pending = std::move(*msg->mutable_snapshot());
    pending_gen = gen;
    if (!apply_posted) {
      apply_posted = true;
      Post([this] { ApplyPending(); });
    }
  }
}

void SnapshotSubscription::Impl::ApplyPending() {
  apply_posted = false;
  if (!pending.has_value() || stopping) {
    return;
  }
  v1::SnapshotUpdate update = *std::move(pending);
  pending.reset();
  const uint64_t gen = pending_gen;
  const uint64_t version = update.snapshot().version();
  const absl::Status st = applier.Apply(update.snapshot());
  v1::DataPlaneMessage reply;
  if (st.ok()) {
    v1::Ack* ack = reply.mutable_ack();
    ack->set_version(version);
    ack->set_nonce(update.nonce());
    CCR_LOG(kDebug, "snapshot_acked", F("version", version), Q("nonce", update.nonce()));
  } else {
    v1::Nack* nack = reply.mutable_nack();
    nack->set_rejected_version(version);
    nack->set_last_good_version(applier.version());
    nack->set_nonce(update.nonce());
    nack->set_error_detail(std::string(st.message()));
    CCR_LOG(kWarn, "snapshot_nacked", F("version", version),
            F("last_good_version", applier.version()), Q("error", st.message()));
  }
  {
    absl::MutexLock lock(&mu);
    if (!st.ok()) {
      status.last_rejected_version = version;
      status.last_nack_error = std::string(st.message());
    }
    if (!first_result.has_value()) {
      first_result = st;
    }
  }
  Send(gen, std::move(reply));
}

void SnapshotSubscription::Impl::Send(uint64_t gen, v1::DataPlaneMessage msg) {
  if (gen != call_gen || call == nullptr) {
    return;  // that stream is gone; the next hello carries last_applied_version
  }
  queue.push_back(std::move(msg));
  MaybeWrite();
}

void SnapshotSubscription::Impl::MaybeWrite() {
  if (call == nullptr || writing || queue.empty()) {
    return;
  }
  call->out = std::move(queue.front());
  queue.pop_front();
  if (call->out.has_stats()) {
    stats_queued = false;
  }
  writing = true;
  call->StartWrite(&call->out);
}

void SnapshotSubscription::Impl::OnWriteDone(uint64_t gen, bool ok) {
  if (gen != call_gen || call == nullptr) {
    return;
  }
  writing = false;
  if (ok) {
    MaybeWrite();
  }
  // On failure the pending read fails too, which ends the stream.
}

void SnapshotSubscription::Impl::OnStreamEnded(uint64_t gen) {
  if (gen != call_gen || call == nullptr) {
    return;
  }
  SyncCall* c = call;
  call = nullptr;
  queue.clear();
  writing = false;
  c->RemoveHold();  // OnDone may run (and free `c`) right here
}

void SnapshotSubscription::Impl::OnCallDone(uint64_t gen, const grpc::Status& s) {
  if (gen != call_gen) {
    return;
  }
  call_active = false;
  stub.reset();
  channel_in_use.reset();  // here, on our thread (see SyncCall::OnDone)
  const bool was_up = stream_up;
  stream_up = false;
  {
    absl::MutexLock lock(&mu);
    status.connected = false;
  }
  if (stopping) {
    stats_timer.cancel();
    reconnect_timer.cancel();
    guard.reset();
    return;
  }
  if (was_up) {
    CCR_LOG(kWarn, "control_plane_disconnected", Q("address", options.control_plane),
            F("code", static_cast<int>(s.error_code())), Q("error", s.error_message()),
            F("serving_version", applier.version()));
  } else {
    const bool denied = s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
                        s.error_code() == grpc::StatusCode::PERMISSION_DENIED;
    // First failure of a series at warn (error when refused), then quietly at debug.
    if (failures == 0 || denied) {
      CCR_LOG(kWarn, "control_plane_unavailable", Q("address", options.control_plane),
              F("code", static_cast<int>(s.error_code())), Q("error", s.error_message()),
              F("serving_version", applier.version()));
    } else {
      CCR_LOG(kDebug, "control_plane_unavailable", Q("address", options.control_plane),
              F("code", static_cast<int>(s.error_code())), Q("error", s.error_message()));
    }
  }
  ScheduleReconnect(was_up);
}

void SnapshotSubscription::Impl::ScheduleReconnect(bool had_message) {
  if (stopping) {
    return;
  }
  if (had_message) {
    backoff.Reset();
    failures = 0;
  } else {
    ++failures;
  }
  const std::chrono::milliseconds delay = backoff.Next();
  CCR_LOG(kDebug, "control_plane_reconnect", F("delay_ms", delay.count()));
  reconnect_timer.expires_after(delay);
  reconnect_timer.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopping) {
      Connect();
    }
  });
}

void SnapshotSubscription::Impl::ArmStatsTimer() {
  stats_timer.expires_after(options.stats_interval);
  stats_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) {
      return;
    }
    OnStatsTick();
    ArmStatsTimer();
  });
}

void SnapshotSubscription::Impl::OnStatsTick() {
  // Not connected: nothing is taken, so the deltas keep accumulating for the next stream.
  if (call == nullptr || !stream_up || stats_queued) {
    return;
  }
  v1::DataPlaneMessage msg;
  applier.TakeStats(msg.mutable_stats());
  queue.push_back(std::move(msg));
  stats_queued = true;
  // What it saw of upstream health, when that changed (passive health for the control plane).
  v1::DataPlaneMessage health;
  if (applier.TakeHealth(health.mutable_health(), health_full)) {
    queue.push_back(std::move(health));
  }
  health_full = false;
  // Usage records not sent yet on this stream; a few batches a tick at most (the queue stays
  // small; a backlog after a long disconnection drains over a few ticks).
  for (int i = 0; i < kMaxUsageBatchesPerTick; ++i) {
    v1::DataPlaneMessage usage;
    if (!applier.TakeUsage(usage.mutable_usage())) {
      break;
    }
    queue.push_back(std::move(usage));
  }
  MaybeWrite();
}

void SnapshotSubscription::Impl::BeginStop() {
  stopping = true;
  stats_timer.cancel();
  reconnect_timer.cancel();
  if (call != nullptr) {
    call->context.TryCancel();  // the read fails, the hold goes, OnDone ends the loop
  } else if (!call_active) {
    guard.reset();
  }
  // else: the hold is already gone and OnCallDone releases the guard.
}

SnapshotSubscription::SnapshotSubscription(SubscriptionOptions options,
                                           ChannelFactory channel_factory, SnapshotApplier& applier)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(channel_factory), applier)) {}

SnapshotSubscription::~SnapshotSubscription() { Stop(); }

void SnapshotSubscription::Start() {
  absl::MutexLock lock(&impl_->stop_mu);
  if (impl_->thread.joinable()) {
    return;
  }
  impl_->guard.emplace(impl_->ioc.get_executor());
  impl_->Post([impl = impl_.get()] {
    impl->ArmStatsTimer();
    impl->Connect();
  });
  impl_->thread = std::thread([impl = impl_.get()] {
    pthread_setname_np(pthread_self(), "ccr-subscribe");
    impl->ioc.run();
  });
}

void SnapshotSubscription::Stop() {
  // Several threads may stop it at once (a drain, and the process ending); one joins.
  absl::MutexLock lock(&impl_->stop_mu);
  if (!impl_->thread.joinable()) {
    return;
  }
  impl_->Post([impl = impl_.get()] { impl->BeginStop(); });
  impl_->thread.join();
}

absl::Status SnapshotSubscription::WaitForFirstSnapshot(std::chrono::milliseconds timeout) {
  absl::MutexLock lock(&impl_->mu);
  const bool done = impl_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](std::optional<absl::Status>* r) { return r->has_value(); }, &impl_->first_result),
      absl::Milliseconds(timeout.count()));
  if (!done) {
    return absl::DeadlineExceededError(common::StrCat("no snapshot from the control plane (",
                                                      impl_->options.control_plane, ") within ",
                                                      timeout.count(), " ms"));
  }
  return *impl_->first_result;
}

SubscriptionStatus SnapshotSubscription::status() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->status;
}

}  // namespace ccrelay::subscription
