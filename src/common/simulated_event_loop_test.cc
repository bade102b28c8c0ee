#include "common/simulated_event_loop.h"

#include <gtest/gtest.h>

#include <string>

namespace weft {
namespace {

using namespace std::chrono_literals;

TEST(SimulatedEventLoopTest, TimersFireInTimeOrderAndTiesInPostingOrder) {
  SimulatedEventLoop loop(TimePoint{});
  std::string order;
  loop.RunAfter(2s, [&] { order += "b"; });
  loop.RunAfter(1s, [&] { order += "a"; });
  loop.RunAfter(2s, [&] { order += "c"; });
  const TimerId cancelled = loop.RunAfter(3s, [&] { order += "x"; });
  loop.Cancel(cancelled);

  loop.RunUntil(TimePoint{} + 1h);

  EXPECT_EQ(order, "abc");
  EXPECT_EQ(loop.clock().Now(), TimePoint{} + 1h);
}

}  // namespace
}  // namespace weft
