#include "dataplane/http/body_buffer.h"

#include <algorithm>

namespace ccrelay::http {

void BodyBuffer::Reserve(size_t n) {
  if (n <= capacity_ && bytes_ != nullptr) {
    return;
  }
  auto bytes = std::make_unique_for_overwrite<char[]>(n + kScanPadding);
  if (size_ > 0) {
    std::memcpy(bytes.get(), bytes_.get(), size_);
  }
  bytes_ = std::move(bytes);
  capacity_ = n;
}

void BodyBuffer::ResizeUninitialized(size_t n) {
  if (n > capacity_) {
    // Chunked bodies grow piece by piece: geometrically, so the copies stay linear.
    Reserve(std::max(n, capacity_ + capacity_ / 2));
  }
  size_ = n;
  // The scan's padding is zero (simdjson reads it; zero keeps its result independent of it).
  std::memset(bytes_.get() + size_, 0, kScanPadding);
}

void BodyBuffer::Append(const char* p, size_t n) {
  const size_t at = size_;
  ResizeUninitialized(at + n);
  std::memcpy(bytes_.get() + at, p, n);
}

BodyBuffer BodyBufferPool::Acquire() {
  if (kept_.empty()) {
    return BodyBuffer();
  }
  BodyBuffer b = std::move(kept_.back());
  kept_.pop_back();
  return b;
}

void BodyBufferPool::Give(BodyBuffer&& buffer) {
  if (buffer.capacity() == 0 || buffer.capacity() > kMaxKeptCapacity ||
      kept_.size() >= kMaxKept) {
    return;  // freed when `buffer` goes
  }
  buffer.Clear();
  kept_.push_back(std::move(buffer));
}

std::string StringPool::Acquire() {
  if (kept_.empty()) {
    return std::string();
  }
  std::string s = std::move(kept_.back());
  kept_.pop_back();
  return s;
}

void StringPool::Give(std::string&& s) {
  if (s.capacity() < min_kept_capacity_ || s.capacity() > max_kept_capacity_ ||
      kept_.size() >= kMaxKept) {
    return;  // freed when `s` goes
  }
  s.clear();
  kept_.push_back(std::move(s));
}

}  // namespace ccrelay::http
