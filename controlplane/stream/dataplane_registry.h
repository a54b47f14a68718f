#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"

#include "proto/management.pb.h"
#include "proto/stream.pb.h"

namespace ccrelay::controlplane {

// What the control plane knows of each data plane that ever said hello: its hello, the versions
// it ACKed and NACKed, its last contact and latest gauges. A data plane may hold more than one
// stream for a moment (a reconnect racing the old stream's end): it is connected while any is
// open. Disconnected data planes are forgotten after kForgetAfterMs. Thread-safe.
class DataPlaneRegistry {
 public:
  static constexpr int64_t kForgetAfterMs = 3600 * 1000;

  void Connected(const ccrelay::v1::DataPlaneHello& hello, int64_t now_ms);
  // Returns true when that was the data plane's last stream.
  bool Disconnected(const std::string& id, int64_t now_ms);
  void Acked(const std::string& id, uint64_t version, int64_t now_ms);
  void Nacked(const std::string& id, const ccrelay::v1::Nack& nack, int64_t now_ms);
  void Stats(const std::string& id, const ccrelay::v1::StatsReport& report, int64_t now_ms);
  void Touch(const std::string& id, int64_t now_ms);

  // Sorted by id.
  std::vector<ccrelay::v1::DataPlaneInfo> List(int64_t now_ms) const;
  // True when every connected data plane has ACKed `version` or later (true with none).
  bool AllConnectedAcked(uint64_t version) const;
  size_t connected_count() const;

 private:
  struct Record {
    ccrelay::v1::DataPlaneInfo info;
    int streams = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Record> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ccrelay::controlplane
