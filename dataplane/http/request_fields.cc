#include "dataplane/http/request_fields.h"

#include <new>

namespace ccrelay::http {

void FieldArena::Release() {
  released_ = true;
  if (live_ == 0) {
    delete this;
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
      delete this;
    }
  }
}

}  // namespace ccrelay::http
