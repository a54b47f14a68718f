// The per-worker pools that keep large buffers warm between requests (no mmap, page faults and
// munmap per 200 KB body).
#include "dataplane/http/body_buffer.h"

#include <string>

#include "gtest/gtest.h"

namespace ccrelay::http {
namespace {

TEST(StringPoolTest, KeepsAWarmStringEmptyWithItsCapacity) {
  StringPool pool;
  EXPECT_EQ(pool.Acquire().capacity(), std::string().capacity());  // empty pool: a new one
  std::string s(200 * 1024, 'x');
  const char* const data = s.data();
  pool.Give(std::move(s));
  ASSERT_EQ(pool.kept(), 1u);
  std::string again = pool.Acquire();
  EXPECT_TRUE(again.empty());
  EXPECT_GE(again.capacity(), 200u * 1024);
  EXPECT_EQ(again.data(), data);  // the same allocation
  EXPECT_EQ(pool.kept(), 0u);
}

TEST(StringPoolTest, KeepsNeitherSmallNorHugeStringsNorTooMany) {
  StringPool pool;
  pool.Give(std::string(100, 'x'));
  pool.Give(std::string(StringPool::kMaxKeptCapacity + 1, 'x'));
  EXPECT_EQ(pool.kept(), 0u);
  for (size_t i = 0; i < StringPool::kMaxKept + 5; ++i) {
    pool.Give(std::string(8192, 'x'));
  }
  EXPECT_EQ(pool.kept(), StringPool::kMaxKept);
}

TEST(StringPoolTest, KeepsStringsBetweenItsMinimumAndMaximumCapacity) {
  StringPool heads(512, 64 * 1024);  // the worker's pool of request heads and header lines
  heads.Give(std::string(64 * 1024 + 1, 'x'));
  EXPECT_EQ(heads.kept(), 0u);
  std::string small;
  small.reserve(100);
  heads.Give(std::move(small));
  EXPECT_EQ(heads.kept(), 0u);
  std::string head;
  head.reserve(2048);
  heads.Give(std::move(head));
  EXPECT_EQ(heads.kept(), 1u);
  EXPECT_GE(heads.Acquire().capacity(), 2048u);
}

}  // namespace
}  // namespace ccrelay::http
