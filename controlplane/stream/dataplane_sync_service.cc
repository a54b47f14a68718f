#include "controlplane/stream/dataplane_sync_service.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "proto/stream.grpc.pb.h"

#include "controlplane/budget/usage_writer.h"
#include "controlplane/snapshot/snapshot_cache.h"
#include "controlplane/stats/latency_estimates.h"
#include "controlplane/stats/stats_aggregator.h"
#include "controlplane/stream/call_auth.h"
#include "controlplane/stream/dataplane_registry.h"
#include "dataplane/common/clock.h"
#include "dataplane/common/log.h"
#include "grpcpp/grpcpp.h"

namespace ccrelay::controlplane {

using ccrelay::v1::ControlPlaneMessage;
using ccrelay::v1::DataPlaneMessage;
using common::F;
using common::Q;

class SyncReactor;

class DataPlaneSyncService::Impl final : public ccrelay::v1::DataPlaneSync::CallbackService {
 public:
  explicit Impl(const Deps& deps) : deps_(deps) {
    if (deps_.store != nullptr) {
      usage_ = std::make_unique<UsageWriter>(*deps_.store, *deps_.clock);
      deps_.cache->Watch(usage_.get());  // the users' budgets
    }
  }
  ~Impl() override { StopUsage(); }

  // The usage writer (null without a store).
  UsageWriter* usage() { return usage_.get(); }
  const UsageWriter* usage() const { return usage_.get(); }

  // ccrelay::v1::DataPlaneSync::CallbackService
  using ccrelay::v1::DataPlaneSync::CallbackService::Sync;
  grpc::ServerBidiReactor<DataPlaneMessage, ControlPlaneMessage>* Sync(
      grpc::CallbackServerContext* context) override;

  bool Register(SyncReactor* r) {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      return false;
    }
    reactors_.insert(r);
    return true;
  }
  void Unregister(SyncReactor* r) {
    absl::MutexLock lock(&mu_);
    reactors_.erase(r);
  }
  void Shutdown();

  const Deps deps_;

 private:
  void StopUsage() {
    if (usage_ != nullptr) {
      deps_.cache->Cancel(usage_.get());
      usage_->Stop();  // commits what is queued
    }
  }

  std::unique_ptr<UsageWriter> usage_;
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<SyncReactor*> reactors_ ABSL_GUARDED_BY(mu_);
};

// One data plane's stream. Lifetime: created by Impl::Sync, deletes itself in OnDone.
class SyncReactor final : public grpc::ServerBidiReactor<DataPlaneMessage, ControlPlaneMessage>,
                          public SnapshotWatcher,
                          public UsageStream {
 public:
  SyncReactor(DataPlaneSyncService::Impl* service, grpc::CallbackServerContext* context)
      : service_(service), deps_(service->deps_), peer_(context->peer()) {
    if (absl::Status st = deps_.auth->Check(*context); !st.ok()) {
      CCR_LOG(kWarn, "sync_refused", Q("peer", peer_), Q("reason", st.message()));
      EndStream(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(st.message())));
      return;
    }
    if (!service_->Register(this)) {
      EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "control plane shutting down"));
      return;
    }
    registered_ = true;
    StartRead(&in_);
  }

  // grpc::ServerBidiReactor
  void OnReadDone(bool ok) override {
    if (!ok) {
      // The data plane closed its side, or the stream broke.
      EndStream(grpc::Status::OK);
      return;
    }
    if (Handle()) {
      absl::MutexLock lock(&mu_);
      if (!ending_) {
        StartRead(&in_);
      }
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (finish_status_.has_value()) {
      Finish(*finish_status_);
      return;
    }
    if (!ok) {
      // The stream is broken; the pending read fails too and ends it.
      pending_.reset();
      pending_ack_.reset();
      pending_budgets_.reset();
      pending_estimates_.reset();
      return;
    }
    StartWriteLocked();
  }

  void OnDone() override {
    if (usage_opened_) {
      service_->usage()->Close(this);  // no call from the usage writer after this
    }
    if (watching_) {
      deps_.cache->Cancel(this);
    }
    if (!node_id_.empty()) {
      const int64_t now = deps_.clock->UnixMillis();
      if (deps_.registry->Disconnected(node_id_, now)) {
        deps_.stats->ForgetDataPlane(node_id_);
        if (deps_.on_membership_change) {
          deps_.on_membership_change();
        }
      }
      CCR_LOG(kInfo, "data_plane_disconnected", F("id", node_id_), Q("peer", peer_));
    }
    if (registered_) {
      service_->Unregister(this);
    }
    delete this;
  }

  // SnapshotWatcher: called with the cache's lock held; never blocks.
  void OnSnapshot(const SnapshotConstSharedPtr& snapshot) override {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      return;
    }
    pending_ = snapshot;  // a newer one replaces an unsent one (state of the world)
    if (!write_in_flight_) {
      StartWriteLocked();
    }
  }

  // UsageStream: called by the usage writer's thread; never blocks.
  void SendUsageAck(uint64_t committed_seq) override {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      return;
    }
    pending_ack_ = std::max(pending_ack_.value_or(0), committed_seq);
    if (!write_in_flight_) {
      StartWriteLocked();
    }
  }
  void SendBudgets(std::shared_ptr<const ccrelay::v1::BudgetGrants> grants) override {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      return;
    }
    pending_budgets_ = std::move(grants);  // state of the world: a newer set replaces an unsent one
    if (!write_in_flight_) {
      StartWriteLocked();
    }
  }
  void AbortForUsage(std::string_view reason) override {
    EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(reason)));
  }

  // Finishes the stream once (after the write in flight, if any).
  void EndStream(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (ending_) {
      return;
    }
    ending_ = true;
    pending_.reset();
    pending_ack_.reset();
    pending_budgets_.reset();
    pending_estimates_.reset();
    if (write_in_flight_) {
      finish_status_ = status;
    } else {
      Finish(status);
    }
  }

 private:
  // Starts the next write, if anything waits: a snapshot first (grants name its users; a data
  // plane ranks with its providers), then the usage ack, then grants, then estimates.
  void StartWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (pending_ == nullptr) {
      out_.Clear();
      if (pending_ack_.has_value()) {
        out_.mutable_usage_ack()->set_committed_seq(*pending_ack_);
        pending_ack_.reset();
      } else if (pending_budgets_ != nullptr) {
        *out_.mutable_budgets() = *pending_budgets_;
        pending_budgets_.reset();
      } else if (pending_estimates_ != nullptr) {
        *out_.mutable_estimates() = *pending_estimates_;
        pending_estimates_.reset();
      } else {
        return;
      }
      write_in_flight_ = true;
      StartWrite(&out_);
      return;
    }
    SnapshotConstSharedPtr snapshot = std::move(pending_);
    pending_.reset();
    out_.Clear();
    ccrelay::v1::SnapshotUpdate* update = out_.mutable_snapshot();
    *update->mutable_snapshot() = deps_.cache->ForNode(node_id_, *snapshot);
    update->set_nonce(common::StrCat(snapshot->version(), "-", ++nonce_counter_));
    write_in_flight_ = true;
    CCR_LOG(kDebug, "snapshot_sent", F("data_plane", node_id_), F("version", snapshot->version()),
            F("nonce", update->nonce()));
    StartWrite(&out_);
  }

  // Queues the latency estimates, when there are any, once kEstimatesInterval has passed since
  // this stream last sent them (`force`: on connect).
  void MaybeSendEstimates(bool force) {
    if (deps_.latency == nullptr) {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - estimates_sent_ < DataPlaneSyncService::kEstimatesInterval) {
      return;
    }
    std::shared_ptr<const ccrelay::v1::RoutingEstimates> estimates = deps_.latency->Current();
    if (estimates->latency_size() == 0) {
      return;
    }
    estimates_sent_ = now;
    absl::MutexLock lock(&mu_);
    if (ending_) {
      return;
    }
    pending_estimates_ = std::move(estimates);
    if (!write_in_flight_) {
      StartWriteLocked();
    }
  }

  // Returns false when the stream is being ended.
  bool Handle() {
    const int64_t now = deps_.clock->UnixMillis();
    if (node_id_.empty()) {
      if (!in_.has_hello() || in_.hello().id().empty()) {
        EndStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "the first message must be a hello with an id"));
        return false;
      }
      const ccrelay::v1::DataPlaneHello& hello = in_.hello();
      node_id_ = hello.id();
      const size_t connected_before = deps_.registry->connected_count();
      deps_.registry->Connected(hello, now);
      CCR_LOG(kInfo, "data_plane_connected", F("id", node_id_), Q("peer", peer_),
              F("listen", hello.listen_address()), F("build", hello.build_version()),
              F("last_applied_version", hello.last_applied_version()));
      // Versions never go backwards for a data plane that outlived a control-plane restart.
      deps_.cache->EnsureVersionAbove(hello.last_applied_version());
      // The others first (their share shrinks); this one gets the same version from Watch.
      if (deps_.on_membership_change && deps_.registry->connected_count() != connected_before) {
        deps_.on_membership_change();
      }
      watching_ = true;
      deps_.cache->Watch(this);  // sends the current snapshot at once
      MaybeSendEstimates(/*force=*/true);
      if (service_->usage() != nullptr) {
        usage_opened_ = true;
        service_->usage()->Open(this, node_id_);  // its grants follow the snapshot
      }
      return true;
    }
    switch (in_.msg_case()) {
      case DataPlaneMessage::kHello:
        deps_.registry->Touch(node_id_, now);
        break;
      case DataPlaneMessage::kAck:
        deps_.registry->Acked(node_id_, in_.ack().version(), now);
        CCR_LOG(kDebug, "snapshot_acked", F("data_plane", node_id_),
                F("version", in_.ack().version()), F("nonce", in_.ack().nonce()));
        break;
      case DataPlaneMessage::kNack:
        deps_.registry->Nacked(node_id_, in_.nack(), now);
        CCR_LOG(kWarn, "snapshot_nacked", F("data_plane", node_id_),
                F("version", in_.nack().rejected_version()),
                F("serving_version", in_.nack().last_good_version()),
                Q("error", in_.nack().error_detail()));
        break;
      case DataPlaneMessage::kStats:
        deps_.registry->Stats(node_id_, in_.stats(), now);
        deps_.stats->AddReport(node_id_, in_.stats());
        if (deps_.latency != nullptr) {
          deps_.latency->AddReport(in_.stats());
          MaybeSendEstimates(/*force=*/false);
        }
        break;
      case DataPlaneMessage::kHealth:
        deps_.registry->Touch(node_id_, now);
        deps_.stats->AddHealth(node_id_, in_.health());
        if (deps_.on_health) {
          deps_.on_health(in_.health());
        }
        break;
      case DataPlaneMessage::kUsage:
        deps_.registry->Touch(node_id_, now);
        if (service_->usage() != nullptr) {
          service_->usage()->Submit(this, in_.mutable_usage());  // committed, then acked
        }
        break;
      case DataPlaneMessage::MSG_NOT_SET:
        deps_.registry->Touch(node_id_, now);
        break;
    }
    return true;
  }

  DataPlaneSyncService::Impl* const service_;
  const DataPlaneSyncService::Deps& deps_;
  const std::string peer_;
  bool registered_ = false;
  // Touched only by reactions, which gRPC serialises for one reactor (reads), and by OnDone.
  DataPlaneMessage in_;
  std::string node_id_;
  bool watching_ = false;
  bool usage_opened_ = false;
  std::chrono::steady_clock::time_point estimates_sent_{};

  absl::Mutex mu_;
  ControlPlaneMessage out_ ABSL_GUARDED_BY(mu_);  // lives until OnWriteDone
  SnapshotConstSharedPtr pending_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> pending_ack_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ccrelay::v1::BudgetGrants> pending_budgets_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const ccrelay::v1::RoutingEstimates> pending_estimates_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_status_ ABSL_GUARDED_BY(mu_);
  uint64_t nonce_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

grpc::ServerBidiReactor<DataPlaneMessage, ControlPlaneMessage>* DataPlaneSyncService::Impl::Sync(
    grpc::CallbackServerContext* context) {
  return new SyncReactor(this, context);
}

void DataPlaneSyncService::Impl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (SyncReactor* r : reactors_) {
      r->EndStream(grpc::Status(grpc::StatusCode::UNAVAILABLE, "control plane shutting down"));
    }
    // OnDone of each reactor unregisters it; bounded wait (the server's Shutdown follows).
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](std::set<SyncReactor*>* s) { return s->empty(); }, &reactors_),
                         absl::Seconds(5));
  }
  StopUsage();  // what the streams sent is committed (no ack can go out any more)
}

DataPlaneSyncService::DataPlaneSyncService(const Deps& deps)
    : impl_(std::make_unique<Impl>(deps)) {}
DataPlaneSyncService::~DataPlaneSyncService() = default;

grpc::Service* DataPlaneSyncService::service() { return impl_.get(); }

UsageWriterCounters DataPlaneSyncService::usage_counters() const {
  const UsageWriter* w = impl_->usage();
  return w != nullptr ? w->counters() : UsageWriterCounters{};
}

void DataPlaneSyncService::Shutdown() { impl_->Shutdown(); }

}  // namespace ccrelay::controlplane
