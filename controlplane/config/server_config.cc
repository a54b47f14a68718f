#include "controlplane/config/server_config.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"

#include "controlplane/config/value_checks.h"

namespace ccrelay::controlplane {

namespace {

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxWorkers = 1024;

// A positive uint32 (timeouts, sizes); `*out` keeps its default when absent or invalid.
void ReadPositiveU32(ConfigReader& reader, const Field& field, uint32_t* out) {
  std::optional<uint64_t> v = reader.Uint(field, kMaxU32);
  if (!v.has_value()) {
    return;
  }
  if (*v == 0) {
    reader.Error(field, "must be greater than 0");
    return;
  }
  *out = static_cast<uint32_t>(*v);
}

// A secret string (api_key, bearer_secret); "" when absent.
std::string ReadSecret(ConfigReader& reader, const Field& field) {
  std::optional<std::string> v = reader.String(field);
  if (!v.has_value()) {
    return "";
  }
  if (absl::Status s = CheckSecretText(*v); !s.ok()) {
    reader.Error(field, std::string(s.message()));
    return "";
  }
  return *std::move(v);
}

void ReadTimeouts(ConfigReader& reader, const Field& field, ccrelay::v1::Timeouts* t) {
  std::optional<Mapping> map =
      reader.Map(field, {"connect_ms", "first_byte_ms", "first_byte_non_stream_ms", "idle_ms",
                         "total_ms", "request_header_ms", "request_body_ms", "keepalive_ms",
                         "drain_ms", "upstream_idle_pool_ms"});
  if (!map.has_value()) {
    return;
  }
  struct Slot {
    std::string_view key;
    void (ccrelay::v1::Timeouts::*set)(uint32_t);
    uint32_t (ccrelay::v1::Timeouts::*get)() const;
  };
  using T = ccrelay::v1::Timeouts;
  const std::array<Slot, 10> slots = {{
      {"connect_ms", &T::set_connect_ms, &T::connect_ms},
      {"first_byte_ms", &T::set_first_byte_ms, &T::first_byte_ms},
      {"first_byte_non_stream_ms", &T::set_first_byte_non_stream_ms, &T::first_byte_non_stream_ms},
      {"idle_ms", &T::set_idle_ms, &T::idle_ms},
      {"total_ms", &T::set_total_ms, &T::total_ms},
      {"request_header_ms", &T::set_request_header_ms, &T::request_header_ms},
      {"request_body_ms", &T::set_request_body_ms, &T::request_body_ms},
      {"keepalive_ms", &T::set_keepalive_ms, &T::keepalive_ms},
      {"drain_ms", &T::set_drain_ms, &T::drain_ms},
      {"upstream_idle_pool_ms", &T::set_upstream_idle_pool_ms, &T::upstream_idle_pool_ms},
  }};
  for (const Slot& slot : slots) {
    uint32_t value = (t->*slot.get)();
    ReadPositiveU32(reader, map->Get(slot.key), &value);
    (t->*slot.set)(value);
  }
}

void ReadAuth(ConfigReader& reader, const Field& field, ccrelay::v1::Auth* auth) {
  std::optional<Mapping> map =
      reader.Map(field, {"api_key", "allow_subscription", "allow_bearer", "bearer_secret"});
  if (!map.has_value()) {
    return;
  }
  auth->set_api_key(ReadSecret(reader, map->GetSecret("api_key")));
  auth->set_bearer_secret(ReadSecret(reader, map->GetSecret("bearer_secret")));
  auth->set_allow_subscription(
      reader.Bool(map->Get("allow_subscription")).value_or(auth->allow_subscription()));
  auth->set_allow_bearer(reader.Bool(map->Get("allow_bearer")).value_or(auth->allow_bearer()));
}

}  // namespace

ccrelay::v1::Server DefaultServer() {
  ccrelay::v1::Server s;
  s.set_listen("127.0.0.1:8787");
  s.set_workers(0);
  s.set_max_body_bytes(32ULL * 1024 * 1024);
  s.set_max_header_bytes(64 * 1024);
  ccrelay::v1::Timeouts* t = s.mutable_timeouts();
  t->set_connect_ms(5000);
  t->set_first_byte_ms(60000);
  t->set_first_byte_non_stream_ms(600000);
  t->set_idle_ms(300000);
  t->set_total_ms(90000);
  t->set_request_header_ms(10000);
  t->set_request_body_ms(60000);
  t->set_keepalive_ms(120000);
  t->set_drain_ms(30000);
  t->set_upstream_idle_pool_ms(60000);
  ccrelay::v1::Auth* a = s.mutable_auth();
  a->set_api_key("");
  a->set_allow_subscription(false);
  a->set_allow_bearer(false);
  a->set_bearer_secret("");
  return s;
}

ccrelay::v1::Logging DefaultLogging() {
  ccrelay::v1::Logging l;
  l.set_level("info");
  l.set_format("text");
  return l;
}

ccrelay::v1::Server ReadServer(ConfigReader& reader, const Field& field) {
  ccrelay::v1::Server server = DefaultServer();
  std::optional<Mapping> map = reader.Map(
      field, {"listen", "workers", "max_body_bytes", "max_header_bytes", "timeouts", "auth"});
  if (!map.has_value()) {
    return server;
  }
  const Field listen = map->Get("listen");
  if (std::optional<std::string> v = reader.String(listen); v.has_value()) {
    if (absl::Status s = CheckListen(*v); !s.ok()) {
      reader.Error(listen, absl::StrCat(s.message(), ", got ", ConfigReader::Quote(listen, *v)));
    } else {
      server.set_listen(*v);
    }
  }
  if (std::optional<uint64_t> v = reader.Uint(map->Get("workers"), kMaxWorkers); v.has_value()) {
    server.set_workers(static_cast<uint32_t>(*v));
  }
  const Field body = map->Get("max_body_bytes");
  if (std::optional<uint64_t> v = reader.Uint(body, std::numeric_limits<uint64_t>::max());
      v.has_value()) {
    if (*v == 0) {
      reader.Error(body, "must be greater than 0");
    } else {
      server.set_max_body_bytes(*v);
    }
  }
  uint32_t header_bytes = server.max_header_bytes();
  ReadPositiveU32(reader, map->Get("max_header_bytes"), &header_bytes);
  server.set_max_header_bytes(header_bytes);
  ReadTimeouts(reader, map->Get("timeouts"), server.mutable_timeouts());
  // Secret: `auth: sk-...` (a key written where the mapping belongs) must not be echoed.
  ReadAuth(reader, map->GetSecret("auth"), server.mutable_auth());
  return server;
}

ccrelay::v1::Logging ReadLogging(ConfigReader& reader, const Field& field) {
  ccrelay::v1::Logging logging = DefaultLogging();
  std::optional<Mapping> map = reader.Map(field, {"level", "format"});
  if (!map.has_value()) {
    return logging;
  }
  if (auto v = reader.Enum(map->Get("level"), {"debug", "info", "warn", "error"}); v) {
    logging.set_level(*v);
  }
  if (auto v = reader.Enum(map->Get("format"), {"text", "json"}); v) {
    logging.set_format(*v);
  }
  return logging;
}

}  // namespace ccrelay::controlplane
