#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ccrelay::stats {

// Label values -> one series object, with a lookup that takes no lock once a series exists (the
// hot path: every request updates a few series), and a small mutex only to create one.
//
// An open-addressing table of atomic node pointers, kept at most half full. Nodes are never
// removed or moved, so a pointer found once stays valid for the life of the map. Growing copies
// the pointers into a table twice the size and publishes it with a release store; readers still
// probing an old table find every node that existed when they loaded it (a node added since is
// found on the slow path, under the mutex). Old tables are kept until the map dies: their total
// size is less than the current one's.
template <typename T>
class SeriesMap {
 public:
  struct Node {
    template <typename... Args>
    Node(std::span<const std::string_view> values, size_t h, Args&&... args)
        : labels(values.begin(), values.end()), hash(h), value(std::forward<Args>(args)...) {}
    const std::vector<std::string> labels;
    const size_t hash;
    T value;
  };

  SeriesMap() {
    absl::MutexLock lock(&mu_);
    tables_.push_back(std::make_unique<Table>(kInitialCapacity));
    table_.store(tables_.back().get(), std::memory_order_release);
  }
  SeriesMap(const SeriesMap&) = delete;
  SeriesMap& operator=(const SeriesMap&) = delete;

  // The series for `values`, or nullptr. Lock-free.
  T* Find(std::span<const std::string_view> values) const {
    Node* n = Probe(*table_.load(std::memory_order_acquire), values, Hash(values));
    return n == nullptr ? nullptr : &n->value;
  }

  // The series for `values`, created with T(args...) if absent. nullptr when absent and the
  // map already holds `max_size` series. Lock-free when the series exists.
  template <typename... Args>
  T* FindOrCreate(std::span<const std::string_view> values, size_t max_size, Args&&... args) {
    const size_t h = Hash(values);
    if (Node* n = Probe(*table_.load(std::memory_order_acquire), values, h); n != nullptr) {
      return &n->value;
    }
    absl::MutexLock lock(&mu_);
    Table* table = table_.load(std::memory_order_relaxed);
    if (Node* n = Probe(*table, values, h); n != nullptr) {
      return &n->value;
    }
    if (nodes_.size() >= max_size) {
      return nullptr;
    }
    nodes_.push_back(std::make_unique<Node>(values, h, std::forward<Args>(args)...));
    Node* node = nodes_.back().get();
    if (nodes_.size() * 2 > table->capacity) {
      tables_.push_back(std::make_unique<Table>(table->capacity * 2));
      table = tables_.back().get();
      for (const auto& existing : nodes_) {
        Insert(*table, existing.get());
      }
      table_.store(table, std::memory_order_release);
    } else {
      Insert(*table, node);
    }
    return &node->value;
  }

  // Calls f(const Node&) for every series, in creation order. Holds the mutex (creation waits;
  // lookups and updates of existing series do not).
  template <typename F>
  void ForEach(F&& f) const {
    absl::MutexLock lock(&mu_);
    for (const auto& n : nodes_) {
      f(*n);
    }
  }

  size_t size() const {
    absl::MutexLock lock(&mu_);
    return nodes_.size();
  }

  static size_t Hash(std::span<const std::string_view> values) {
    size_t h = 0x9e3779b97f4a7c15ULL;
    for (std::string_view v : values) {
      // boost::hash_combine of each value's std::hash.
      h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
  }

 private:
  static constexpr size_t kInitialCapacity = 16;  // a power of two

  struct Table {
    explicit Table(size_t cap) : capacity(cap), slots(std::make_unique<std::atomic<Node*>[]>(cap)) {
      for (size_t i = 0; i < cap; ++i) {
        slots[i].store(nullptr, std::memory_order_relaxed);
      }
    }
    const size_t capacity;
    std::unique_ptr<std::atomic<Node*>[]> slots;
  };

  static bool Matches(const Node& n, std::span<const std::string_view> values, size_t h) {
    if (n.hash != h || n.labels.size() != values.size()) {
      return false;
    }
    for (size_t i = 0; i < values.size(); ++i) {
      if (n.labels[i] != values[i]) {
        return false;
      }
    }
    return true;
  }

  static Node* Probe(const Table& t, std::span<const std::string_view> values, size_t h) {
    const size_t mask = t.capacity - 1;
    for (size_t i = h & mask, probes = 0; probes < t.capacity; i = (i + 1) & mask, ++probes) {
      Node* n = t.slots[i].load(std::memory_order_acquire);
      if (n == nullptr) {
        return nullptr;
      }
      if (Matches(*n, values, h)) {
        return n;
      }
    }
    return nullptr;
  }

  // Under mu_; the table is at most half full, so a free slot exists.
  static void Insert(Table& t, Node* node) {
    const size_t mask = t.capacity - 1;
    size_t i = node->hash & mask;
    while (t.slots[i].load(std::memory_order_relaxed) != nullptr) {
      i = (i + 1) & mask;
    }
    t.slots[i].store(node, std::memory_order_release);
  }

  std::atomic<Table*> table_{nullptr};
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Node>> nodes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Table>> tables_ ABSL_GUARDED_BY(mu_);  // current one last
};

}  // namespace ccrelay::stats
