#include "dataplane/common/timestamps.h"

#include "gtest/gtest.h"

namespace ccrelay::common {
namespace {

TEST(FormatRfc3339, WritesUtcToTheSecond) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1'800'000'000'999), "2027-01-15T08:00:00Z");
  EXPECT_EQ(FormatRfc3339(951'782'400'000), "2000-02-29T00:00:00Z");  // a leap day
}

TEST(FormatRfc3339, ParsesBack) {
  for (const int64_t ms : {int64_t{0}, int64_t{1'234'567'890'000}, int64_t{4'102'444'799'000}}) {
    EXPECT_EQ(ParseRfc3339Ms(FormatRfc3339(ms)), ms);
  }
}

}  // namespace
}  // namespace ccrelay::common
