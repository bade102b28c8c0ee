#include "api/cluster_history.h"

#include <gtest/gtest.h>

#include "common/simulated_event_loop.h"
#include "controller/persister.h"
#include "store/in_memory_kv_store.h"

namespace weft::api {
namespace {

using namespace std::chrono_literals;

AllocationSample At(TimePoint t, std::int64_t gpus) {
  AllocationSample s;
  s.time = t;
  s.allocated.gpus = gpus;
  return s;
}

TEST(ClusterHistoryTest, KeepsTheNewestSamplesOldestFirst) {
  ClusterHistory history(3);
  const TimePoint t0 = TimePoint{} + 1000s;
  for (int i = 0; i < 5; ++i) history.Record(At(t0 + i * 10s, i));
  const auto json = history.ToJson();
  ASSERT_EQ(json.at("samples").size(), 3u);
  EXPECT_EQ(json.at("samples")[0].at("allocated").at("gpus"), 2);
  EXPECT_EQ(json.at("samples")[2].at("allocated").at("gpus"), 4);
  EXPECT_DOUBLE_EQ(json.at("samples")[2].at("time").get<double>(), 1040.0);
  EXPECT_EQ(history.ToJson(t0 + 35s).at("samples").size(), 1u);
}

TEST(ClusterHistoryTest, SamplesTheControllerOnItsLoopUntilStopped) {
  SimulatedEventLoop loop(TimePoint{} + 100s);
  store::InMemoryKvStore store;
  controller::DirectPersister persister(store, loop);
  controller::ControllerOptions options;
  options.node_timeout = 5s;
  controller::Controller controller(loop, persister, options);
  model::NodeReport node;
  node.name = "n1";
  node.address = "127.0.0.1";
  node.capacity = {8000, 1LL << 30, 4};
  controller.ReportNode(node, [](Result<std::int64_t>) {});

  ClusterHistory history;
  loop.Post([&] { history.Start(loop, controller, 10s); });
  loop.RunUntil(loop.clock().Now() + 25s);
  ASSERT_EQ(history.samples().size(), 3u);  // at 0 s, 10 s, 20 s
  EXPECT_EQ(history.samples()[0].nodes_up, 1);
  EXPECT_EQ(history.samples()[0].capacity.gpus, 4);
  EXPECT_EQ(history.samples()[2].nodes_up, 0);  // silent past the node timeout
  EXPECT_EQ(history.samples()[2].nodes_down, 1);
  loop.Post([&] { history.Stop(loop); });
  loop.RunUntil(loop.clock().Now() + 60s);
  EXPECT_EQ(history.samples().size(), 3u);
}

}  // namespace
}  // namespace weft::api
