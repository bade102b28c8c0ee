// The replay through the real controller: exact starts and ends on a hand-checked trace, a
// golden decision log, determinism, and the allocation invariants on a random trace.
#include "sim/simulator.h"

#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sim/policy.h"
#include "sim/trace_reader.h"

namespace weft::sim {
namespace {

std::string ReadTestData(const std::string& name) {
  std::ifstream in(std::string(WEFT_SIM_TESTDATA) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Trace Load(const std::string& name) {
  Result<Trace> trace = ReadTraceFile(std::string(WEFT_SIM_TESTDATA) + "/" + name);
  EXPECT_TRUE(trace) << trace.error().message;
  return trace ? *trace : Trace{};
}

SimulationOptions Cluster(int nodes, int gpus, model::BackfillMode backfill, TimeLimitModel limits) {
  SimulationOptions options;
  options.nodes = nodes;
  options.gpus_per_node = gpus;
  options.config.scheduler.backfill = backfill;
  options.time_limits = limits;
  return options;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

// fifo_vs_easy.csv on 2 nodes x 4 GPUs, limits = durations: a (4 GPUs, 100 s) and b (4, 50 s)
// start at 0 on one node each; c (8 GPUs = both nodes) waits for a; d (1 GPU, 10 s, t=20)
// comes after c in submit order (fifo: no backfill, no short-time-limit priority).
TEST(SimulatorTest, StrictOrderHoldsTheSmallJobBehindTheGang) {
  SimulationOptions fifo = Cluster(2, 4, model::BackfillMode::kNone, TimeLimitModel::kExact);
  fifo.config.scheduler.priority.short_job = 0;
  Result<SimulationResult> r = RunSimulation(Load("fifo_vs_easy.csv"), fifo);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Joined(r->decisions),
            "0.000 start 0 sim-0001\n"
            "0.000 start 1 sim-0002\n"
            "50.000 end 1 sim-0002 COMPLETED\n"
            "100.000 end 0 sim-0001 COMPLETED\n"
            "100.000 start 2 sim-0001,sim-0002\n"
            "200.000 end 2 sim-0001,sim-0002 COMPLETED\n"
            "200.000 start 3 sim-0001\n"
            "210.000 end 3 sim-0001 COMPLETED\n");
  ASSERT_EQ(r->outcomes.size(), 4u);
  EXPECT_DOUBLE_EQ(r->outcomes[3].submit_s, 20);
  EXPECT_DOUBLE_EQ(r->outcomes[3].first_start_s, 200);
  EXPECT_DOUBLE_EQ(r->outcomes[3].end_s, 210);
  EXPECT_DOUBLE_EQ(r->outcomes[3].run_s, 10);
}

// The server's default: EASY backfill, and shorter limits first among equals (b before a).
TEST(SimulatorTest, EasyBackfillStartsTheSmallJobWithoutDelayingTheGang) {
  Result<SimulationResult> r =
      RunSimulation(Load("fifo_vs_easy.csv"), Cluster(2, 4, model::BackfillMode::kEasy, TimeLimitModel::kExact));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Joined(r->decisions),
            "0.000 start 1 sim-0001\n"
            "0.000 start 0 sim-0002\n"
            "50.000 end 1 sim-0001 COMPLETED\n"
            "50.000 start 3 sim-0001\n"
            "60.000 end 3 sim-0001 COMPLETED\n"
            "100.000 end 0 sim-0002 COMPLETED\n"
            "100.000 start 2 sim-0001,sim-0002\n"
            "200.000 end 2 sim-0001,sim-0002 COMPLETED\n");
  EXPECT_DOUBLE_EQ(r->outcomes[2].first_start_s, 100);
  EXPECT_DOUBLE_EQ(r->outcomes[3].first_start_s, 50);
}

TEST(SimulatorTest, TimeLimitShorterThanTheDurationEndsTheJobTimedOut) {
  model::ClusterConfig config;
  model::QueueConfig q = model::DefaultQueue();
  q.default_time = std::chrono::seconds(30);
  config.queues = {q};
  SimulationOptions options = Cluster(2, 4, model::BackfillMode::kEasy, TimeLimitModel::kNone);
  options.config.queues = config.queues;
  Result<SimulationResult> r = RunSimulation(Load("fifo_vs_easy.csv"), options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->decisions[2], "30.000 end 0 sim-0001 TIMEOUT");
  EXPECT_DOUBLE_EQ(r->outcomes[0].end_s, 30);
}

// The golden log: small_pollux.csv (unsorted rows, two virtual clusters as queues) on 3 nodes
// x 4 GPUs with the server's default policy and hour-rounded limits. Any change to scheduling
// decisions shows up here; regenerate with
//   weft simulate --trace src/sim/testdata/small_pollux.csv --nodes 3 --gpus-per-node 4
//     --queues-from-trace --decisions src/sim/testdata/small_pollux.easy.decisions
// and review the difference.
TEST(SimulatorTest, GoldenDecisionLog) {
  const Trace trace = Load("small_pollux.csv");
  SimulationOptions options = Cluster(3, 4, model::BackfillMode::kEasy, TimeLimitModel::kHour);
  AddTraceQueues(trace, {}, options.config);
  Result<SimulationResult> r = RunSimulation(trace, options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(Joined(r->decisions), ReadTestData("small_pollux.easy.decisions"));
}

TEST(SimulatorTest, JobsThatCanNeverFitAreRefusedWithOneSentence) {
  Result<SimulationResult> r =
      RunSimulation(Load("fifo_vs_easy.csv"), Cluster(1, 4, model::BackfillMode::kEasy, TimeLimitModel::kHour));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "trace job 2 needs 8 GPUs (2 nodes of 4), more than the 1 nodes of the simulated cluster");
}

TEST(SimulatorTest, GangShapes) {
  EXPECT_EQ(ShapeFor(1, 8).num_nodes, 1);
  EXPECT_EQ(ShapeFor(8, 8).gpus_per_node, 8);
  EXPECT_EQ(ShapeFor(16, 8).num_nodes, 2);
  EXPECT_EQ(ShapeFor(12, 8).num_nodes, 2);  // rounded up: 2 nodes x 8
  EXPECT_EQ(ShapeFor(12, 8).gpus_per_node, 8);
}

// A random trace (fixed seed) with gangs, several queues and bursts of equal arrival times.
Trace RandomTrace(unsigned seed, int jobs) {
  std::mt19937 rng(seed);
  const int sizes[] = {1, 1, 1, 2, 4, 4, 8, 16};
  Trace trace;
  trace.name = "random";
  double t = 0;
  for (int i = 0; i < jobs; ++i) {
    TraceJob job;
    job.id = i;
    if (rng() % 3 != 0) t += static_cast<double>(rng() % 600);
    job.submit_s = t;
    job.duration_s = 1 + static_cast<double>(rng() % 7200);
    job.num_gpus = sizes[rng() % 8];
    job.queue = fmt::format("q{}", rng() % 3);
    trace.jobs.push_back(job);
  }
  return trace;
}

struct Span {
  double start = 0, end = 0;
  std::vector<std::string> nodes;
};

// Parses "<t> start|end <id> <nodes> [state]" lines into per-job spans.
std::map<std::int64_t, Span> Spans(const std::vector<std::string>& decisions) {
  std::map<std::int64_t, Span> spans;
  for (const std::string& line : decisions) {
    std::istringstream in(line);
    double t = 0;
    std::string event, nodes;
    std::int64_t id = 0;
    in >> t >> event >> id >> nodes;
    Span& span = spans[id];
    if (event == "start") {
      span.start = t;
      std::istringstream list(nodes);
      for (std::string node; std::getline(list, node, ',');) span.nodes.push_back(node);
    } else if (event == "end") {
      span.end = t;
    }
  }
  return spans;
}

TEST(SimulatorTest, SameInputSameDecisionsAndNoNodeIsEverOverAllocated) {
  const Trace trace = RandomTrace(42, 300);
  for (model::BackfillMode mode :
       {model::BackfillMode::kNone, model::BackfillMode::kEasy, model::BackfillMode::kConservative}) {
    SimulationOptions options = Cluster(4, 8, mode, TimeLimitModel::kHour);
    AddTraceQueues(trace, {{"q0", 2}}, options.config);
    Result<SimulationResult> first = RunSimulation(trace, options);
    Result<SimulationResult> second = RunSimulation(trace, options);
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE(second) << second.error().message;
    EXPECT_EQ(first->decisions, second->decisions);

    const std::map<std::int64_t, Span> spans = Spans(first->decisions);
    ASSERT_EQ(spans.size(), trace.jobs.size());
    // Gangs all-or-nothing: every job started once on exactly its shape's distinct nodes.
    std::map<double, std::map<std::string, int>> delta;  // time → node → GPU change
    for (const TraceJob& job : trace.jobs) {
      const Span& span = spans.at(job.id);
      const GangShape shape = ShapeFor(job.num_gpus, 8);
      ASSERT_EQ(static_cast<int>(span.nodes.size()), shape.num_nodes) << job.id;
      EXPECT_EQ(std::set<std::string>(span.nodes.begin(), span.nodes.end()).size(), span.nodes.size());
      EXPECT_GE(span.start, job.submit_s);
      EXPECT_DOUBLE_EQ(span.end - span.start, job.duration_s);  // hour limits never cut a job short
      for (const std::string& node : span.nodes) {
        delta[span.start][node] += shape.gpus_per_node;
        delta[span.end][node] -= shape.gpus_per_node;
      }
    }
    // Ends free GPUs before starts at the same instant take them: sum per instant first.
    std::map<std::string, int> used;
    for (const auto& [t, changes] : delta) {
      for (const auto& [node, change] : changes) {
        used[node] += change;
        EXPECT_LE(used[node], 8) << node << " at " << t;
        EXPECT_GE(used[node], 0) << node << " at " << t;
      }
    }
  }
}

}  // namespace
}  // namespace weft::sim
