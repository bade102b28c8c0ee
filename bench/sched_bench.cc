// One scheduling cycle with P pending jobs on N nodes (Google Benchmark).
#include <benchmark/benchmark.h>

#include "sched/scheduler.h"
#include "testing/builders.h"

namespace {

using weft::testing::JobBuilder;
using weft::testing::NodeBuilder;

void BM_RunCycle(benchmark::State& state) {
  const int nodes = static_cast<int>(state.range(0));
  const int jobs = static_cast<int>(state.range(1));
  weft::sched::ClusterSnapshot cluster;
  for (int i = 0; i < nodes; ++i) {
    cluster.nodes.push_back(NodeBuilder("n" + std::to_string(i)).Cpus(64).MemoryGiB(512).Gpus(8).Build());
  }
  std::vector<weft::sched::PendingJob> pending;
  for (int id = 1; id <= jobs; ++id) {
    pending.push_back(JobBuilder(id).Nodes(1 + id % 4).Cpus(1 + id % 16).Gpus(1 + id % 8).Priority(id % 5).Build());
  }
  const weft::sched::Scheduler scheduler(weft::sched::DefaultProfile());
  for (auto _ : state) {
    benchmark::DoNotOptimize(scheduler.RunCycle(cluster, pending, weft::TimePoint{}));
  }
  state.SetItemsProcessed(state.iterations() * jobs);
}
BENCHMARK(BM_RunCycle)->Args({1000, 1000})->Args({1000, 10000})->Args({1000, 100000})->Unit(benchmark::kMillisecond);

}  // namespace
