#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ccrelay::providers {

// One header to add to an upstream request.
struct HeaderField {
  std::string name;
  std::string value;
};

// A provider adapter transforms data and does no I/O: it knows a provider type's default base
// URL, how a key authenticates, and what the type supports. One file per type; the registry in
// provider_registry.cc maps type names to adapters.
class Provider {
 public:
  virtual ~Provider() = default;

  virtual std::string_view Type() const = 0;
  // Owner shown in GET /v1/models ("anthropic", "zhipu", "ollama").
  virtual std::string_view OwnedBy() const = 0;
  virtual std::string_view DefaultBaseUrl() const = 0;
  // Headers that authenticate `key` (non-empty) with this provider.
  virtual void AuthHeaders(std::string_view key, std::vector<HeaderField>* out) const = 0;
  // Whether POST /v1/messages/count_tokens is served.
  virtual bool SupportsCountTokens() const = 0;
  // Whether a provider of this type without keys forwards the client's own credentials.
  virtual bool SupportsPassthrough() const = 0;

  // The control plane's active health check: a cheap GET (path and query, appended to the base
  // URL's path prefix) that costs no tokens. Anthropic-shaped types ask for one model
  // (GET /v1/models?limit=1), which needs a valid key.
  virtual std::string_view HealthCheckTarget() const { return "/v1/models?limit=1"; }
  // Whether that GET verifies the key (so each key is checked on its own); false: one check per
  // provider.
  virtual bool HealthCheckVerifiesKeys() const { return true; }
  // Whether the relay may send a request of its own with `key` (false for credentials only
  // their owner's client may use, such as subscription OAuth tokens).
  virtual bool MayProbeWithKey(std::string_view key) const {
    (void)key;
    return true;
  }
};

// The adapter for a type name, or nullptr for an unknown type.
const Provider* FindProvider(std::string_view type);

}  // namespace ccrelay::providers
