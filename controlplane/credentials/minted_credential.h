#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

#include "proto/snapshot.pb.h"

namespace ccrelay::controlplane::credentials {

// One credential the control plane minted or resolved for a provider without keys, in the form
// a snapshot carries it (SPEC.md, Minted credentials).
struct MintedCredential {
  // The credential as the snapshot's key carries it: `secret` (+ `oauth_token` = true) for an
  // OAuth access token, or `aws` for AWS credentials. The source sets `fingerprint` (the token's,
  // or the AWS access key id's); MintedKeys::Overlay() sets id, enabled and weight, and
  // `expires_unix_ms` from the field below.
  ccrelay::v1::Key key;
  int64_t expires_unix_ms = 0;  // 0: does not expire
  // How the refresher renews it. A credential with an expiry is always renewed ahead of it.
  enum class Renewal {
    kAtExpiry,  // temporary: ahead of its expiry (without one: every `reread_interval`)
    kReread,    // long-term, from files: re-read every `reread_interval`
    kNever,     // long-term, from the environment: never re-read
  };
  Renewal renewal = Renewal::kAtExpiry;
  // Where it came from, for logs and `cc-relayctl providers get`; never a secret: "web
  // identity", "profile default", "service account a@b", "managed identity", ...
  std::string source;
};

// One provider's way of getting its credential (the AWS chain, a Google service account, an
// Entra ID client secret, ...). Resolve() blocks (file reads, HTTP under the source's timeouts)
// and is called from the refresher's thread and, the first time, from MintedKeys::Sync().
// Errors name the source, the file or endpoint and the step, never a secret. Thread-safe.
class CredentialSource {
 public:
  virtual ~CredentialSource() = default;
  virtual absl::StatusOr<MintedCredential> Resolve() = 0;
};

}  // namespace ccrelay::controlplane::credentials
