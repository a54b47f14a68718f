#include "controlplane/snapshot/limit_share.h"

#include <algorithm>

#include "proto/snapshot.pb.h"

namespace ccrelay::controlplane {

uint32_t LimitShare(uint32_t limit, size_t live) {
  if (limit == 0 || live <= 1) {
    return limit;
  }
  return static_cast<uint32_t>(std::max<uint64_t>(1, limit / live));
}

void DivideKeyLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot) {
  if (live <= 1) {
    return;
  }
  for (ccrelay::v1::Provider& p : *snapshot->mutable_providers()) {
    for (ccrelay::v1::Key& k : *p.mutable_keys()) {
      k.set_rpm_limit(LimitShare(k.rpm_limit(), live));
      k.set_tpm_limit(LimitShare(k.tpm_limit(), live));
      k.set_itpm_limit(LimitShare(k.itpm_limit(), live));
      k.set_otpm_limit(LimitShare(k.otpm_limit(), live));
    }
  }
}

bool HasKeyLimits(const ccrelay::v1::RoutingSnapshot& snapshot) {
  for (const ccrelay::v1::Provider& p : snapshot.providers()) {
    for (const ccrelay::v1::Key& k : p.keys()) {
      if (k.rpm_limit() != 0 || k.tpm_limit() != 0 || k.itpm_limit() != 0 || k.otpm_limit() != 0) {
        return true;
      }
    }
  }
  return false;
}

void DivideUserLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot) {
  if (live <= 1 || !snapshot->has_users()) {
    return;
  }
  for (ccrelay::v1::RelayUser& u : *snapshot->mutable_users()->mutable_users()) {
    ccrelay::v1::UserPolicy* p = u.mutable_policy();
    p->set_rpm_limit(LimitShare(p->rpm_limit(), live));
    p->set_tpm_limit(LimitShare(p->tpm_limit(), live));
  }
}

bool HasUserLimits(const ccrelay::v1::RoutingSnapshot& snapshot) {
  for (const ccrelay::v1::RelayUser& u : snapshot.users().users()) {
    if (u.policy().rpm_limit() != 0 || u.policy().tpm_limit() != 0) {
      return true;
    }
  }
  return false;
}

void DivideLimits(size_t live, ccrelay::v1::RoutingSnapshot* snapshot) {
  DivideKeyLimits(live, snapshot);
  DivideUserLimits(live, snapshot);
}

bool HasLimits(const ccrelay::v1::RoutingSnapshot& snapshot) {
  return HasKeyLimits(snapshot) || HasUserLimits(snapshot);
}

}  // namespace ccrelay::controlplane
