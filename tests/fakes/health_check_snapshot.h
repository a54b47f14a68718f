#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "proto/snapshot.pb.h"

#include "dataplane/common/secret.h"

namespace ccrelay::testing {

// A snapshot for the HealthChecker's tests: checks every `interval_ms` (0: off), thresholds 1,
// timeout 2 s; one anthropic provider "a" at `base_url` (checked one probe per key) with `keys`.
inline std::shared_ptr<ccrelay::v1::RoutingSnapshot> HealthCheckSnapshot(
    uint32_t interval_ms, const std::string& base_url, std::initializer_list<std::string> keys) {
  auto s = std::make_shared<ccrelay::v1::RoutingSnapshot>();
  ccrelay::v1::HealthChecks* checks = s->mutable_health()->mutable_checks();
  checks->set_interval_ms(interval_ms);
  checks->set_timeout_ms(2000);
  checks->set_unhealthy_threshold(1);
  checks->set_healthy_threshold(1);
  ccrelay::v1::Provider* p = s->add_providers();
  p->set_name("a");
  p->set_type("anthropic");
  p->set_enabled(true);
  p->set_base_url(base_url);
  for (const std::string& k : keys) {
    ccrelay::v1::Key* key = p->add_keys();
    key->set_secret(k);
    key->set_fingerprint(common::FingerprintOf(k));
    key->set_enabled(true);
  }
  return s;
}

}  // namespace ccrelay::testing
