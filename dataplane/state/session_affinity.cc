#include "dataplane/state/session_affinity.h"

#include <algorithm>
#include <functional>

namespace ccrelay::state {

SessionAffinity::SessionAffinity(size_t max_sessions)
    : per_shard_(std::max<size_t>(1, (max_sessions + kShards - 1) / kShards)) {}

SessionAffinity::Shard& SessionAffinity::ShardFor(std::string_view session) {
  return shards_[std::hash<std::string_view>()(session) % kShards];
}

bool SessionAffinity::Find(std::string_view session, std::chrono::nanoseconds ttl,
                           common::MonoTime now, std::string* target) {
  if (session.empty() || session.size() > kMaxSessionIdBytes) {
    return false;
  }
  Shard& shard = ShardFor(session);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(session);
  if (it == shard.index.end()) {
    return false;
  }
  auto entry = it->second;
  if (now - entry->last_used > ttl) {
    shard.index.erase(it);
    shard.lru.erase(entry);
    return false;
  }
  entry->last_used = now;
  shard.lru.splice(shard.lru.begin(), shard.lru, entry);
  *target = entry->target;
  return true;
}

void SessionAffinity::Set(std::string_view session, std::string_view target, common::MonoTime now) {
  if (session.empty() || session.size() > kMaxSessionIdBytes) {
    return;
  }
  Shard& shard = ShardFor(session);
  absl::MutexLock lock(&shard.mu);
  if (auto it = shard.index.find(session); it != shard.index.end()) {
    auto entry = it->second;
    if (entry->target != target) {
      entry->target = std::string(target);
    }
    entry->last_used = now;
    shard.lru.splice(shard.lru.begin(), shard.lru, entry);
    return;
  }
  shard.lru.push_front(Entry{std::string(session), std::string(target), now});
  shard.index.emplace(shard.lru.front().session, shard.lru.begin());
  while (shard.lru.size() > per_shard_) {
    shard.index.erase(shard.lru.back().session);
    shard.lru.pop_back();
  }
}

size_t SessionAffinity::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.lru.size();
  }
  return n;
}

}  // namespace ccrelay::state
