#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include <boost/beast/http/fields.hpp>

namespace ccrelay::http {

// Where a client request's header fields live: a block that Beast's fields (an allocation per
// field, some twenty for Claude Code) bump-allocate from, so parsing a request head costs no
// malloc. The block is handed out again from its start once every field allocated from it is
// freed. What does not fit goes to the heap. One thread at a time (the session's worker).
// The session takes one to read a request and releases it when it hands the request to its
// exchange; the arena lives on until the request's last field is freed (the exchange frees the
// request once the answer's head is written), then goes back to the thread's recycled blocks
// (common::RecyclingAllocator): a held stream keeps none, and a request mallocs none.
class FieldArena {
 public:
  static constexpr size_t kBlockBytes = 4 * 1024;

  static FieldArena* New();
  // The owner is done with it: recycled now, or with the last field that still lives in it.
  void Release();

  void* Allocate(size_t bytes, size_t align);
  void Deallocate(void* p, size_t bytes, size_t align) noexcept;

  size_t live() const { return live_; }  // allocations not yet freed that are in the block
  size_t used() const { return used_; }

 private:
  FieldArena() = default;
  ~FieldArena() = default;
  void Recycle();
  bool InBlock(const void* p) const {
    const char* c = static_cast<const char*>(p);
    return c >= block_ && c < block_ + kBlockBytes;
  }

  alignas(std::max_align_t) char block_[kBlockBytes];
  size_t used_ = 0;
  size_t live_ = 0;
  bool released_ = false;
};

// An allocator over a FieldArena (null: the heap, like std::allocator). It moves with the
// fields it belongs to, so a request's fields freed after a move still go back to their arena.
template <class T>
class ArenaAllocator {
 public:
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  ArenaAllocator() noexcept = default;
  explicit ArenaAllocator(FieldArena* arena) noexcept : arena_(arena) {}
  template <class U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept  // NOLINT: rebinding
      : arena_(other.arena()) {}

  T* allocate(size_t n) {
    if (arena_ == nullptr) {
      return std::allocator<T>().allocate(n);
    }
    return static_cast<T*>(arena_->Allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (arena_ == nullptr) {
      std::allocator<T>().deallocate(p, n);
      return;
    }
    arena_->Deallocate(p, n * sizeof(T), alignof(T));
  }

  FieldArena* arena() const noexcept { return arena_; }
  template <class U>
  bool operator==(const ArenaAllocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  FieldArena* arena_ = nullptr;
};

// A client request's header fields (and method and target).
using RequestFields = boost::beast::http::basic_fields<ArenaAllocator<char>>;

}  // namespace ccrelay::http
