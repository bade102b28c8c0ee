#include "cli/table.h"

#include <gtest/gtest.h>

namespace weft::cli {
namespace {

TEST(TableTest, ColumnsAlignToWidestCell) {
  EXPECT_EQ(RenderTable({"ID", "NAME"}, {{"1", "a"}, {"100", "bb"}}), "ID   NAME\n1    a\n100  bb\n");
}

TEST(TableTest, ElapsedLooksLikeSlurm) {
  EXPECT_EQ(FormatElapsed(5), "0:05");
  EXPECT_EQ(FormatElapsed(3725), "1:02:05");
  EXPECT_EQ(FormatElapsed(90061), "1-01:01:01");
}

}  // namespace
}  // namespace weft::cli
