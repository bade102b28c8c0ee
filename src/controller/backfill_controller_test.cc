// Backfill through the Controller on a simulated clock: reservations become expected start
// times, a short job backfills, a long one waits.
#include <gtest/gtest.h>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;
using model::JobState;

class BackfillControllerTest : public ::testing::Test {
 protected:
  BackfillControllerTest()
      : loop_(TimePoint{} + 1000s),
        persister_(store_, loop_),
        controller_(loop_, persister_, ControllerOptions{}) {}

  void Drain() { loop_.RunUntil(loop_.clock().Now()); }

  void Report(const std::string& node, std::vector<model::TaskReport> tasks = {}) {
    model::NodeReport r;
    r.name = node;
    r.address = "10.0.0." + node.substr(1);
    r.capacity = {4000, 8LL << 30, 0};
    r.tasks = std::move(tasks);
    controller_.ReportNode(r, [](Result<std::int64_t>) {});
    Drain();
  }

  model::JobId Submit(int nodes, std::optional<Duration> limit) {
    model::JobSpec s;
    s.name = "t";
    s.num_nodes = nodes;
    s.per_node = {4000, 0, 0};  // whole node
    s.time_limit = limit;
    s.script = "#!/bin/sh\ntrue\n";
    s.submit_dir = s.work_dir = "/tmp";
    std::optional<Result<model::Job>> out;
    controller_.Submit(std::move(s), [&](Result<model::Job> r) { out = std::move(r); });
    Drain();
    EXPECT_TRUE(out && out->has_value());
    return (*out)->id;
  }

  // Reports every rank of `id` as exited 0 from its node.
  void Finish(model::JobId id) {
    const model::Job& job = *controller_.FindJob(id);
    for (const auto& rank : job.allocation.ranks) {
      std::vector<model::TaskReport> exits;
      for (const auto& a : controller_.AssignmentsFor(rank.node).tasks) {
        if (a.key.job_id != id) continue;
        model::TaskReport t;
        t.key = a.key;
        t.phase = model::TaskPhase::kExited;
        t.exit = model::TaskExit{};
        exits.push_back(t);
      }
      Report(rank.node, std::move(exits));
    }
  }

  const model::Job& Job(model::JobId id) { return *controller_.FindJob(id); }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  DirectPersister persister_;
  Controller controller_;
};

TEST_F(BackfillControllerTest, BlockedGangGetsExpectedStartAndShortJobBackfills) {
  Report("n1");
  Report("n2");
  const model::JobId running = Submit(1, 30s);
  ASSERT_EQ(Job(running).state, JobState::kRunning);
  const TimePoint expected = *Job(running).start_time + 30s;
  loop_.RunUntil(loop_.clock().Now() + 10s);

  const model::JobId gang = Submit(2, 60s);
  const model::JobId short_job = Submit(1, 5s);
  const model::JobId long_job = Submit(1, 300s);

  EXPECT_EQ(Job(gang).state, JobState::kPending);
  EXPECT_EQ(Job(gang).reason, "Resources");
  ASSERT_TRUE(Job(gang).expected_start.has_value());
  EXPECT_EQ(*Job(gang).expected_start, expected);
  EXPECT_EQ(Job(short_job).state, JobState::kRunning);
  EXPECT_EQ(Job(long_job).state, JobState::kPending);
  EXPECT_EQ(Job(long_job).reason, "Resources");  // both nodes busy
  EXPECT_FALSE(Job(long_job).expected_start.has_value());

  // The backfilled job ends: the long one still may not take the free node.
  Finish(short_job);
  EXPECT_EQ(Job(long_job).state, JobState::kPending);
  EXPECT_EQ(Job(long_job).reason, "Priority");  // n2 is free but held for the gang
  EXPECT_EQ(*Job(gang).expected_start, expected);

  // The running job ends: the gang starts and loses its expected start.
  Finish(running);
  EXPECT_EQ(Job(gang).state, JobState::kRunning);
  EXPECT_FALSE(Job(gang).expected_start.has_value());
  EXPECT_EQ(Job(long_job).state, JobState::kPending);
}

}  // namespace
}  // namespace weft::controller
