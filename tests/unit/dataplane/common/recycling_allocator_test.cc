// Per-thread recycling of the blocks a worker makes and frees per request.
#include "dataplane/common/recycling_allocator.h"

#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace ccrelay::common {
namespace {

struct PerRequest : std::enable_shared_from_this<PerRequest> {
  explicit PerRequest(int v) : value(v) {}
  int value;
  char payload[3000];
};

TEST(RecyclingAllocatorTest, AFreedObjectsBlockIsTheNextOnesOnTheSameThread) {
  const void* first = nullptr;
  {
    auto a = MakeRecycledShared<PerRequest>(1);
    EXPECT_EQ(a->value, 1);
    EXPECT_EQ(a->shared_from_this(), a);
    first = a.get();
  }
  auto b = MakeRecycledShared<PerRequest>(2);
  EXPECT_EQ(b.get(), first);  // no malloc: the same block again
  EXPECT_EQ(b->value, 2);
}

TEST(RecyclingAllocatorTest, KeepsAtMostItsLimitAndArraysAreNotKept) {
  using Alloc = RecyclingAllocator<PerRequest>;
  static_assert(Alloc::kMaxKept >= 4 && Alloc::kMaxKept * sizeof(PerRequest) <= (1u << 20));
  std::thread t([] {  // a thread of its own: starts with nothing kept
    Alloc alloc;
    EXPECT_EQ(Alloc::kept(), 0u);
    std::vector<PerRequest*> blocks;
    for (size_t i = 0; i < Alloc::kMaxKept + 3; ++i) {
      blocks.push_back(alloc.allocate(1));
    }
    for (PerRequest* p : blocks) {
      alloc.deallocate(p, 1);
    }
    EXPECT_EQ(Alloc::kept(), Alloc::kMaxKept);  // the rest went back to the heap
    PerRequest* array = alloc.allocate(2);
    alloc.deallocate(array, 2);
    EXPECT_EQ(Alloc::kept(), Alloc::kMaxKept);
  });  // the thread's kept blocks are freed when it exits (ASan: no leak)
  t.join();
}

TEST(RecyclingAllocatorTest, ABlockFreedOnAnotherThreadIsKeptThere) {
  using Alloc = RecyclingAllocator<PerRequest>;
  PerRequest* block = Alloc().allocate(1);
  const size_t here = Alloc::kept();
  std::thread t([block] {
    EXPECT_EQ(Alloc::kept(), 0u);
    Alloc().deallocate(block, 1);
    EXPECT_EQ(Alloc::kept(), 1u);         // kept by the freeing thread
    PerRequest* again = Alloc().allocate(1);
    EXPECT_EQ(again, block);  // and handed out again there
    Alloc().deallocate(again, 1);  // freed with the thread's list when it exits
  });
  t.join();
  EXPECT_EQ(Alloc::kept(), here);  // this thread's list is untouched
}

}  // namespace
}  // namespace ccrelay::common
