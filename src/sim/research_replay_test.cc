#include "sim/research_replay.h"

#include <gtest/gtest.h>

namespace weft::sim {
namespace {

TEST(ResearchReplay, ParsesPolicyNames) {
  EXPECT_EQ(ParseResearchPolicy("srtf"), ResearchPolicy::kSrtf);
  EXPECT_FALSE(ParseResearchPolicy("fifo").has_value());
}

}  // namespace
}  // namespace weft::sim
