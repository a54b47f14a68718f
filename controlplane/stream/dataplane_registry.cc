#include "controlplane/stream/dataplane_registry.h"

namespace ccrelay::controlplane {

void DataPlaneRegistry::Connected(const ccrelay::v1::DataPlaneHello& hello, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  for (auto it = records_.begin(); it != records_.end();) {
    const bool stale =
        it->second.streams == 0 && now_ms - it->second.info.last_contact_unix_ms() > kForgetAfterMs;
    it = stale ? records_.erase(it) : std::next(it);
  }
  Record& r = records_[hello.id()];
  ccrelay::v1::DataPlaneInfo& i = r.info;
  i.set_id(hello.id());
  i.set_build_version(hello.build_version());
  i.set_listen_address(hello.listen_address());
  i.set_admin_address(hello.admin_address());
  *i.mutable_labels() = hello.labels();
  i.set_connected(true);
  i.set_last_contact_unix_ms(now_ms);
  if (hello.last_applied_version() > i.acked_version()) {
    i.set_acked_version(hello.last_applied_version());
  }
  ++r.streams;
}

bool DataPlaneRegistry::Disconnected(const std::string& id, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) {
    return false;
  }
  Record& r = it->second;
  r.info.set_last_contact_unix_ms(now_ms);
  if (--r.streams > 0) {
    return false;
  }
  r.streams = 0;
  r.info.set_connected(false);
  r.info.set_active_streams(0);
  r.info.set_open_connections(0);
  return true;
}

void DataPlaneRegistry::Acked(const std::string& id, uint64_t version, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) {
    return;
  }
  ccrelay::v1::DataPlaneInfo& i = it->second.info;
  i.set_acked_version(version);
  if (i.nacked_version() != 0 && i.nacked_version() <= version) {
    // A newer version was applied: the old NACK is history.
    i.set_nacked_version(0);
    i.clear_nack_error();
  }
  i.set_last_contact_unix_ms(now_ms);
}

void DataPlaneRegistry::Nacked(const std::string& id, const ccrelay::v1::Nack& nack,
                               int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) {
    return;
  }
  ccrelay::v1::DataPlaneInfo& i = it->second.info;
  i.set_nacked_version(nack.rejected_version());
  i.set_nack_error(nack.error_detail());
  i.set_acked_version(nack.last_good_version());
  i.set_last_contact_unix_ms(now_ms);
}

void DataPlaneRegistry::Stats(const std::string& id, const ccrelay::v1::StatsReport& report,
                              int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(id);
  if (it == records_.end()) {
    return;
  }
  ccrelay::v1::DataPlaneInfo& i = it->second.info;
  i.set_active_streams(report.active_streams());
  i.set_open_connections(report.open_connections());
  i.set_last_contact_unix_ms(now_ms);
}

void DataPlaneRegistry::Touch(const std::string& id, int64_t now_ms) {
  absl::MutexLock lock(&mu_);
  if (auto it = records_.find(id); it != records_.end()) {
    it->second.info.set_last_contact_unix_ms(now_ms);
  }
}

std::vector<ccrelay::v1::DataPlaneInfo> DataPlaneRegistry::List(int64_t now_ms) const {
  absl::MutexLock lock(&mu_);
  std::vector<ccrelay::v1::DataPlaneInfo> out;
  for (const auto& [id, r] : records_) {
    if (r.streams == 0 && now_ms - r.info.last_contact_unix_ms() > kForgetAfterMs) {
      continue;
    }
    out.push_back(r.info);
  }
  return out;
}

bool DataPlaneRegistry::AllConnectedAcked(uint64_t version) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, r] : records_) {
    if (r.streams > 0 && r.info.acked_version() < version) {
      return false;
    }
  }
  return true;
}

size_t DataPlaneRegistry::connected_count() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, r] : records_) {
    n += r.streams > 0 ? 1 : 0;
  }
  return n;
}

}  // namespace ccrelay::controlplane
