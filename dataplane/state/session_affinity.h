#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "dataplane/common/clock.h"

namespace ccrelay::state {

// Which upstream target (a key id, or a passthrough provider's name) served each Claude Code
// session last, so the next request of the session goes there again and the prompt cache keeps
// working. Bounded: at most `max_sessions` entries, the least recently used evicted first;
// entries unused for longer than the TTL given to Find are treated as gone. Sharded, with a small
// mutex per shard. Lives outside the routing table, so a reload keeps it.
class SessionAffinity {
 public:
  static constexpr size_t kDefaultMaxSessions = 100000;
  static constexpr size_t kShards = 16;
  // Longer session ids are not tracked (Claude Code's are UUIDs).
  static constexpr size_t kMaxSessionIdBytes = 256;

  explicit SessionAffinity(size_t max_sessions = kDefaultMaxSessions);

  // The target of `session` if it was used within `ttl` (refreshing it), else false.
  bool Find(std::string_view session, std::chrono::nanoseconds ttl, common::MonoTime now,
            std::string* target);
  // Records that `target` served `session` now.
  void Set(std::string_view session, std::string_view target, common::MonoTime now);
  size_t size() const;

 private:
  struct Entry {
    std::string session;
    std::string target;
    common::MonoTime last_used;
  };
  struct Shard {
    mutable absl::Mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);  // most recently used first
    // Keys are views of Entry::session (list nodes never move).
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(std::string_view session);

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace ccrelay::state
