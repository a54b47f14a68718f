#pragma once

// A fake DataPlaneSync control plane on 127.0.0.1:0 (Envoy's ADS tests): records every stream
// and every message a data plane sends, lets the test write, and optionally sends a snapshot on
// each new stream. Header-only: the unit and the integration tests both link gRPC and the protos
// (the fakes library does not).

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "proto/stream.grpc.pb.h"
#include "proto/stream.pb.h"

namespace ccrelay::testing {

class FakeSyncControlPlane final : public v1::DataPlaneSync::Service {
 public:
  using ControlPlaneMessage = v1::ControlPlaneMessage;
  using DataPlaneMessage = v1::DataPlaneMessage;
  using milliseconds = std::chrono::milliseconds;

  struct Stream {
    grpc::ServerContext* ctx = nullptr;
    grpc::ServerReaderWriter<ControlPlaneMessage, DataPlaneMessage>* rw = nullptr;
    std::string authorization;
    std::vector<DataPlaneMessage> received;
    bool ended = false;
  };

  // With `snapshot`, each new stream gets it first (nonce "n<stream index>").
  explicit FakeSyncControlPlane(std::optional<v1::RoutingSnapshot> snapshot = std::nullopt)
      : snapshot_(std::move(snapshot)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeSyncControlPlane() override {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::Status Sync(grpc::ServerContext* ctx,
                    grpc::ServerReaderWriter<ControlPlaneMessage, DataPlaneMessage>* rw) override {
    size_t index;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto s = std::make_shared<Stream>();
      s->ctx = ctx;
      s->rw = rw;
      auto it = ctx->client_metadata().find("authorization");
      if (it != ctx->client_metadata().end()) {
        s->authorization = std::string(it->second.data(), it->second.size());
      }
      streams_.push_back(s);
      index = streams_.size() - 1;
    }
    if (snapshot_.has_value()) {
      ControlPlaneMessage update;
      *update.mutable_snapshot()->mutable_snapshot() = *snapshot_;
      update.mutable_snapshot()->set_nonce("n" + std::to_string(index));
      Write(index, update);
    }
    cv_.notify_all();
    DataPlaneMessage msg;
    while (rw->Read(&msg)) {
      std::lock_guard<std::mutex> lock(mu_);
      streams_[index]->received.push_back(msg);
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      streams_[index]->ended = true;
      streams_[index]->rw = nullptr;
    }
    cv_.notify_all();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake control plane ended the stream");
  }

  // Waits for stream `i` to exist and have received at least `n` messages; returns message n-1.
  std::optional<DataPlaneMessage> WaitForMessage(size_t i, size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout,
                      [&] { return streams_.size() > i && streams_[i]->received.size() >= n; })) {
      return std::nullopt;
    }
    return streams_[i]->received[n - 1];
  }
  // Next message of stream `i` after the first `seen` that is not a stats report.
  std::optional<DataPlaneMessage> WaitForNonStats(size_t i, size_t* seen, milliseconds timeout) {
    while (true) {
      auto m = WaitForMessage(i, *seen + 1, timeout);
      if (!m.has_value()) {
        return m;
      }
      ++*seen;
      if (!m->has_stats()) {
        return m;
      }
    }
  }
  bool WaitForStreams(size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return streams_.size() >= n; });
  }
  bool WaitForStreamEnded(size_t i, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return streams_.size() > i && streams_[i]->ended; });
  }
  // The usage records stream `i` received, in arrival order, once there are at least `n` (or
  // what there is at the timeout).
  std::vector<v1::UsageRecord> WaitForUsage(size_t i, size_t n, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<v1::UsageRecord> out;
    cv_.wait_for(lock, timeout, [&] {
      out.clear();
      if (i < streams_.size()) {
        for (const DataPlaneMessage& m : streams_[i]->received) {
          out.insert(out.end(), m.usage().records().begin(), m.usage().records().end());
        }
      }
      return out.size() >= n;
    });
    return out;
  }
  // The usage records stream `i` received, once their requests add up to at least `requests`
  // (a record sums the requests of one key and minute; how many records that takes depends on
  // the data plane's ticks), or what there is at the timeout.
  std::vector<v1::UsageRecord> WaitForUsageRequests(size_t i, uint64_t requests,
                                                    milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    std::vector<v1::UsageRecord> out;
    cv_.wait_for(lock, timeout, [&] {
      out.clear();
      uint64_t sum = 0;
      if (i < streams_.size()) {
        for (const DataPlaneMessage& m : streams_[i]->received) {
          for (const v1::UsageRecord& r : m.usage().records()) {
            out.push_back(r);
            sum += r.requests();
          }
        }
      }
      return sum >= requests;
    });
    return out;
  }
  bool Send(size_t i, uint64_t version, const std::string& nonce) {
    ControlPlaneMessage msg;
    msg.mutable_snapshot()->mutable_snapshot()->set_version(version);
    msg.mutable_snapshot()->set_nonce(nonce);
    return Write(i, msg);
  }
  bool Write(size_t i, const ControlPlaneMessage& msg) {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    grpc::ServerReaderWriter<ControlPlaneMessage, DataPlaneMessage>* rw;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (streams_.size() <= i || streams_[i]->rw == nullptr) {
        return false;
      }
      rw = streams_[i]->rw;
    }
    return rw->Write(msg);
  }
  void Cancel(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    streams_[i]->ctx->TryCancel();
  }
  std::string Authorization(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return streams_[i]->authorization;
  }

 private:
  const std::optional<v1::RoutingSnapshot> snapshot_;
  std::mutex mu_;
  std::mutex write_mu_;  // one writer at a time (the stream's first snapshot, the test)
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Stream>> streams_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;  // last: its handlers use the members above
};

}  // namespace ccrelay::testing
