#include "controller/hostlist.h"

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

TEST(HostlistTest, CompressesNumericRunsPerPrefix) {
  EXPECT_EQ(CompressHostlist({"node1", "node2", "node3"}), "node[1-3]");
  EXPECT_EQ(CompressHostlist({"n1", "n3", "n4", "gpu-a"}), "n[1,3-4],gpu-a");
  EXPECT_EQ(CompressHostlist({"n01", "n02"}), "n[01-02]");
  EXPECT_EQ(CompressHostlist({"solo7"}), "solo7");
  EXPECT_EQ(CompressHostlist({}), "");
}

}  // namespace
}  // namespace weft::controller
