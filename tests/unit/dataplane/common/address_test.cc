#include "dataplane/common/address.h"

#include "gtest/gtest.h"

namespace ccrelay::common {
namespace {

TEST(AddressTest, HostOfEveryForm) {
  EXPECT_EQ(HostOf("127.0.0.1:8788"), "127.0.0.1");
  EXPECT_EQ(HostOf("[::1]:8788"), "::1");
  EXPECT_EQ(HostOf("dns:///cp.example:443"), "cp.example");
  EXPECT_EQ(HostOf("ipv4:10.0.0.1:8788"), "10.0.0.1");
  EXPECT_EQ(HostOf("localhost"), "localhost");
  EXPECT_EQ(HostOf("::1"), "::1");
}

TEST(AddressTest, LoopbackOnlyForAddressesThatStayOnTheMachine) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:8788"));
  EXPECT_TRUE(IsLoopbackAddress("127.9.8.7:1"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:8788"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:8788"));
  EXPECT_TRUE(IsLoopbackAddress("unix:/run/cc-relay.sock"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:8788"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:8788"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.1:8788"));
  EXPECT_FALSE(IsLoopbackAddress("cp.example:8788"));
  EXPECT_FALSE(IsLoopbackAddress("dns:///cp.example:8788"));
  EXPECT_FALSE(IsLoopbackAddress(":8788"));
}

}  // namespace
}  // namespace ccrelay::common
