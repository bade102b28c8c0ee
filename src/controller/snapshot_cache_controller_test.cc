// The controller keeps its cluster snapshot across cycles and recomputes only the nodes and
// jobs that changed. With ControllerOptions::check_snapshot every cycle compares it with one
// built from scratch and aborts on the first difference; this drives a random mix of
// submits, starts, exits, cancels, preemptions, capacity changes and nodes going DOWN and
// coming back through that check.
#include <gtest/gtest.h>

#include <random>

#include "common/simulated_event_loop.h"
#include "controller/controller.h"
#include "spec/cluster_config.h"
#include "store/in_memory_kv_store.h"

namespace weft::controller {
namespace {

using namespace std::chrono_literals;
using model::JobState;

class SnapshotCacheTest : public ::testing::TestWithParam<unsigned> {
 protected:
  SnapshotCacheTest() : loop_(TimePoint{} + 1000s), persister_(store_, loop_) {
    auto parsed = spec::ParseClusterConfig("scheduler:\n  preemption_grace: 10s\n");
    EXPECT_TRUE(parsed.has_value());
    ControllerOptions options;
    options.config = *parsed;
    options.node_timeout = 60s;
    options.check_snapshot = true;
    controller_ = std::make_unique<Controller>(loop_, persister_, options);
  }
  void Drain() { loop_.RunUntil(loop_.clock().Now()); }

  void Report(const std::string& node, std::vector<model::TaskReport> tasks = {}) {
    model::NodeReport r;
    r.name = node;
    r.address = "10.0.0." + node.substr(1);
    r.capacity = {8000, 64LL << 30, gpus_[node]};
    if (node == "n1" || node == "n2") r.labels["pool"] = "a";
    r.tasks = std::move(tasks);
    controller_->ReportNode(r, [](Result<std::int64_t>) {});
    Drain();
  }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  DirectPersister persister_;
  std::unique_ptr<Controller> controller_;
  std::map<std::string, std::int64_t> gpus_;
};

TEST_P(SnapshotCacheTest, MaintainedSnapshotEqualsAFreshOneThroughRandomChanges) {
  std::mt19937 rng(GetParam());
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<std::string> nodes = {"n1", "n2", "n3", "n4", "n5"};
  for (const std::string& n : nodes) {
    gpus_[n] = 8;
    Report(n);
  }
  std::vector<model::JobId> submitted;
  for (int step = 0; step < 1500; ++step) {
    const int action = uniform(0, 99);
    if (action < 30) {
      model::JobSpec s;
      s.name = "t" + std::to_string(uniform(0, 3));
      s.num_nodes = uniform(1, 2);
      s.per_node = {1000 * uniform(1, 4), 0, uniform(0, 6)};
      s.priority = uniform(0, 3);
      s.preemptible = uniform(0, 1) == 1;
      s.max_retries = uniform(0, 1);
      if (uniform(0, 2) > 0) s.time_limit = std::chrono::seconds(uniform(10, 600));
      if (uniform(0, 9) == 0) s.pools = {"a"};
      s.script = "#!/bin/sh\ntrue\n";
      s.submit_dir = s.work_dir = "/tmp";
      controller_->Submit(std::move(s), [&](Result<model::Job> r) {
        if (r) submitted.push_back(r->id);
      });
      Drain();
    } else if (action < 70) {
      // An agent starts what it was given and ends some of it (stopped ranks end at once).
      const std::string& node = nodes[uniform(0, static_cast<int>(nodes.size()) - 1)];
      std::vector<model::TaskReport> tasks;
      for (const model::TaskAssignment& a : controller_->AssignmentsFor(node).tasks) {
        model::TaskReport t;
        t.key = a.key;
        t.start_time = loop_.clock().Now();
        if (a.stop || uniform(0, 2) == 0) {
          t.phase = model::TaskPhase::kExited;
          model::TaskExit exit;
          exit.exit_code = uniform(0, 4) == 0 ? 1 : 0;
          exit.preempted = a.stop.has_value();
          t.exit = exit;
        }
        tasks.push_back(std::move(t));
      }
      Report(node, std::move(tasks));
    } else if (action < 75 && !submitted.empty()) {
      controller_->Cancel(submitted[uniform(0, static_cast<int>(submitted.size()) - 1)],
                          [](Result<model::Job>) {});
      Drain();
    } else if (action < 80) {
      const std::string& node = nodes[uniform(0, static_cast<int>(nodes.size()) - 1)];
      gpus_[node] = gpus_[node] == 8 ? 4 : 8;  // capacity change: a node record change
      Report(node);
    } else if (action < 85) {
      // Silence: some nodes go DOWN, and come back at their next report.
      loop_.RunUntil(loop_.clock().Now() + std::chrono::seconds(uniform(20, 90)));
      for (const std::string& n : nodes) {
        if (uniform(0, 1) == 0) Report(n);
      }
    } else {
      loop_.RunUntil(loop_.clock().Now() + std::chrono::seconds(uniform(1, 10)));
      for (const std::string& n : nodes) Report(n);
    }
  }
  // The sequence covered what the cache must follow.
  std::map<JobState, int> states;
  controller_->ForEachJob({}, [&](const model::Job& job) { ++states[job.state]; });
  EXPECT_GT(states[JobState::kCompleted], 0);
  EXPECT_GT(states[JobState::kRunning], 0);
  EXPECT_GT(states[JobState::kCancelled], 0);
  int restarted = 0;
  controller_->ForEachJob({}, [&](const model::Job& job) { restarted += job.restart_count > 0; });
  EXPECT_GT(restarted + states[JobState::kPreempted], 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SnapshotCacheTest, ::testing::Values(1u, 2u, 3u, 4u));

}  // namespace
}  // namespace weft::controller
