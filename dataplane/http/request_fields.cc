#include "dataplane/http/request_fields.h"

#include <new>

#include "dataplane/common/recycling_allocator.h"

namespace ccrelay::http {

FieldArena* FieldArena::New() {
  return new (common::RecyclingAllocator<FieldArena>().allocate(1)) FieldArena();
}

void FieldArena::Recycle() {
  this->~FieldArena();
  common::RecyclingAllocator<FieldArena>().deallocate(this, 1);
}

void FieldArena::Release() {
  released_ = true;
  if (live_ == 0) {
    Recycle();
  }
}

void* FieldArena::Allocate(size_t bytes, size_t align) {
  const size_t at = (used_ + align - 1) & ~(align - 1);
  if (align <= alignof(std::max_align_t) && at + bytes <= kBlockBytes) {
    used_ = at + bytes;
    ++live_;
    return block_ + at;
  }
  return ::operator new(bytes, std::align_val_t(align));
}

void FieldArena::Deallocate(void* p, size_t bytes, size_t align) noexcept {
  if (!InBlock(p)) {
    ::operator delete(p, bytes, std::align_val_t(align));  // it came from the heap
    return;
  }
  if (--live_ == 0) {
    used_ = 0;  // nothing lives in the block: hand it out from the start again
    if (released_) {
      Recycle();
    }
  }
}

}  // namespace ccrelay::http
