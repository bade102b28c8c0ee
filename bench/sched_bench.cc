// One scheduling cycle with P pending jobs on N nodes (Google Benchmark).
#include <benchmark/benchmark.h>

#include <chrono>

#include "sched/scheduler.h"
#include "testing/builders.h"

namespace {

using weft::testing::JobBuilder;
using weft::testing::NodeBuilder;

// Node i of a cluster: 64 CPUs, 512 GiB, 8 GPUs; 32 nodes per switch, 4 switches per rack,
// so gang placement packs by topology as on a real cluster.
weft::sched::NodeView BenchNode(int i) {
  return NodeBuilder("n" + std::to_string(i))
      .Cpus(64)
      .MemoryGiB(512)
      .Gpus(8)
      .Label("switch", "s" + std::to_string(i / 32))
      .Label("rack", "r" + std::to_string(i / 128))
      .Build();
}

void BM_RunCycle(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  weft::sched::ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) {
    cluster.nodes.push_back(BenchNode(i));
  }
  std::vector<weft::sched::PendingJob> pending;
  for (int id = 1; id <= jobs; ++id) {
    pending.push_back(JobBuilder(id).Nodes(1 + id % 4).Cpus(1 + id % 16).Gpus(1 + id % 8).Priority(id % 5).Build());
  }
  const weft::sched::Scheduler scheduler(weft::sched::DefaultProfile());
  std::size_t starts = 0;
  for (auto _ : state) {
    auto result = scheduler.RunCycle(cluster, pending, weft::TimePoint{});
    starts = result.starts.size();
    benchmark::DoNotOptimize(result);
  }
  // The cluster fills after ~700 starts whatever the queue length, so the rest of the growth
  // from 1k to 100k pending is the per-job cost (ordering, quota, the failed-shape cache).
  state.counters["starts"] = static_cast<double>(starts);
  state.SetItemsProcessed(state.iterations() * jobs);
}
BENCHMARK(BM_RunCycle)->Args({1000, 1000})->Args({1000, 10000})->Args({1000, 100000})->Unit(benchmark::kMillisecond);

// As BM_RunCycle, with every third job constrained to one switch or one rack (--topology).
void BM_RunCycleTopology(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  weft::sched::ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) cluster.nodes.push_back(BenchNode(i));
  std::vector<weft::sched::PendingJob> pending;
  for (int id = 1; id <= jobs; ++id) {
    JobBuilder job(id);
    job.Nodes(1 + id % 4).Cpus(1 + id % 16).Gpus(1 + id % 8).Priority(id % 5);
    if (id % 3 == 0) job.Topology(id % 2 == 0 ? "switch" : "rack");
    pending.push_back(job.Build());
  }
  const weft::sched::Scheduler scheduler(weft::sched::DefaultProfile());
  for (auto _ : state) {
    benchmark::DoNotOptimize(scheduler.RunCycle(cluster, pending, weft::TimePoint{}));
  }
  state.SetItemsProcessed(state.iterations() * jobs);
}
BENCHMARK(BM_RunCycleTopology)->Args({1000, 10000})->Unit(benchmark::kMillisecond);

// Backfill under load: every node half busy with running jobs ending over the next hour,
// every pending job with a time limit, so blocked jobs get reservations and later jobs are
// checked against them. Args: nodes, pending jobs, reservation depth.
void BM_RunCycleBackfill(benchmark::State& state) {
  using namespace std::chrono_literals;
  const int nodes = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  const weft::TimePoint now = weft::TimePoint{} + 1000s;
  weft::sched::ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) {
    cluster.nodes.push_back(BenchNode(i));
  }
  for (int i = 0; i < nodes; ++i) {
    weft::testing::AddRunning(cluster, 1000000 + i, {cluster.nodes[i].name}, {32000, 0, 4},
                              now + std::chrono::seconds(60 + (i * 37) % 3600));
  }
  std::vector<weft::sched::PendingJob> pending;
  for (int id = 1; id <= jobs; ++id) {
    pending.push_back(JobBuilder(id)
                          .Nodes(1 + id % 4)
                          .Cpus(1 + id % 16)
                          .Gpus(1 + id % 8)
                          .Priority(id % 5)
                          .TimeLimit(std::chrono::seconds(60 * (1 + id % 240)))
                          .Build());
  }
  weft::sched::Profile profile = weft::sched::DefaultProfile();
  profile.reservation_depth = static_cast<int>(state.range(2));
  const weft::sched::Scheduler scheduler(std::move(profile));
  std::size_t reservations = 0;
  for (auto _ : state) {
    auto result = scheduler.RunCycle(cluster, pending, now);
    reservations = result.reservations.size();
    benchmark::DoNotOptimize(result);
  }
  state.counters["reservations"] = static_cast<double>(reservations);
  state.SetItemsProcessed(state.iterations() * jobs);
}
BENCHMARK(BM_RunCycleBackfill)
    ->Args({1000, 10000, 1})
    ->Args({1000, 10000, 100})
    ->Args({1000, 1000, 1000})
    ->Unit(benchmark::kMillisecond);

// A small cycle, the common case of a trace replay (`weft simulate`): 352 nodes of 8 GPUs,
// ~2,000 running allocations with time limits (every node holds 5-6 of them, 1 GPU and
// 4 CPUs each), and 1-5 pending one-GPU jobs that all fit now. What it measures is the fixed
// per-cycle cost (working state, index, plan), not placement. Arg: pending jobs.
void BM_RunCycleSmall(benchmark::State& state) {
  using namespace std::chrono_literals;
  const int jobs = static_cast<int>(state.range(0));
  const int nodes = 352;
  const weft::TimePoint now = weft::TimePoint{} + 1000s;
  weft::sched::ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) cluster.nodes.push_back(BenchNode(i));
  for (int r = 0; r < 2000; ++r) {
    const int node = r % nodes;
    weft::testing::AddRunning(cluster, 1000000 + r, {cluster.nodes[node].name}, {4000, 0, 1},
                              now + std::chrono::seconds(60 + (r * 37) % 36000));
  }
  std::vector<weft::sched::PendingJob> pending;
  for (int id = 1; id <= jobs; ++id) {
    pending.push_back(JobBuilder(id)
                          .Cpus(1 + id % 4)
                          .Gpus(1)
                          .Priority(id % 5)
                          .TimeLimit(std::chrono::seconds(3600))
                          .Build());
  }
  const weft::sched::Scheduler scheduler(weft::sched::DefaultProfile());
  std::size_t starts = 0;
  for (auto _ : state) {
    auto result = scheduler.RunCycle(cluster, pending, now);
    starts = result.starts.size();
    benchmark::DoNotOptimize(result);
  }
  state.counters["starts"] = static_cast<double>(starts);
}
BENCHMARK(BM_RunCycleSmall)->Arg(1)->Arg(5)->Unit(benchmark::kMicrosecond);

}  // namespace
