#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <vector>

namespace ccrelay::common {

// An allocator for the objects a worker makes and frees once per request (an exchange, its
// upstream request, their read buffers): a freed block goes to a list of its own type kept by
// the freeing thread (at most kMaxKept blocks), and the next allocation of that type on that
// thread takes it back. Once warm, such an object costs no malloc and no free, and a block of a
// few KiB does not go through glibc's large bins (Asio's handler allocator does the same for
// handlers). A thread keeps at most 1 MiB of one type's blocks (4 to 256 of them), enough for a
// burst of requests to end and the next to start warm. Blocks are single objects (n == 1); arrays
// go to std::allocator. A block freed on another thread goes to that thread's list, which is as
// correct; a thread's kept blocks are freed when it exits.
template <class T>
class RecyclingAllocator {
 public:
  using value_type = T;
  static constexpr size_t kMaxKept = std::clamp<size_t>((size_t{1} << 20) / sizeof(T), 4, 256);

  RecyclingAllocator() noexcept = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    if (n == 1) {
      std::vector<T*>& kept = Kept().blocks;
      if (!kept.empty()) {
        T* p = kept.back();
        kept.pop_back();
        return p;
      }
    }
    return std::allocator<T>().allocate(n);
  }

  void deallocate(T* p, size_t n) noexcept {
    if (n == 1) {
      std::vector<T*>& kept = Kept().blocks;
      if (kept.size() < kMaxKept) {
        kept.push_back(p);  // no reallocation: reserved to kMaxKept
        return;
      }
    }
    std::allocator<T>().deallocate(p, n);
  }

  // Blocks kept by the calling thread (tests).
  static size_t kept() { return Kept().blocks.size(); }

  template <class U>
  bool operator==(const RecyclingAllocator<U>& /*other*/) const noexcept {
    return true;
  }

 private:
  struct KeptBlocks {
    KeptBlocks() { blocks.reserve(kMaxKept); }
    ~KeptBlocks() {
      for (T* p : blocks) {
        std::allocator<T>().deallocate(p, 1);
      }
    }
    KeptBlocks(const KeptBlocks&) = delete;
    KeptBlocks& operator=(const KeptBlocks&) = delete;
    std::vector<T*> blocks;
  };

  static KeptBlocks& Kept() {
    thread_local KeptBlocks kept;
    return kept;
  }
};

// std::make_shared through a RecyclingAllocator (the control block and the object are one block).
template <class T, class... Args>
std::shared_ptr<T> MakeRecycledShared(Args&&... args) {
  return std::allocate_shared<T>(RecyclingAllocator<T>(), std::forward<Args>(args)...);
}

}  // namespace ccrelay::common
