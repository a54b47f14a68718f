#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include <boost/beast/http/fields.hpp>

namespace ccrelay::http {

// Where a client connection's request header fields live: one block per connection that Beast's
// fields (an allocation per field, some twenty for Claude Code) bump-allocate from, so parsing a
// request head costs no malloc. The block is handed out again from its start once every field
// allocated from it is freed (the request is done), which happens before the next request on
// the connection is parsed. What does not fit goes to the heap. One thread only (the session's
// worker). The session owns it and calls Release() when it goes; a request that outlives its
// session (an exchange still unwinding) keeps the arena until its last field is freed.
class FieldArena {
 public:
  static constexpr size_t kBlockBytes = 4 * 1024;

  static FieldArena* New() { return new FieldArena(); }
  // The owner is done with it: freed now, or with the last field that still lives in it.
  void Release();

  void* Allocate(size_t bytes, size_t align);
  void Deallocate(void* p, size_t bytes, size_t align) noexcept;

  size_t live() const { return live_; }  // allocations not yet freed that are in the block
  size_t used() const { return used_; }

 private:
  FieldArena() = default;
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
