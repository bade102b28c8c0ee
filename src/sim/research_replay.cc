// Research replay entry point: validates the trace, prepares per-job state with the Muri
// units and slowdown factor, runs one of the engines (research_shortest.cc,
// research_tiresias.cc) and returns outcomes in trace order.
#include "sim/research_replay.h"

#include <algorithm>
#include <array>
#include <numeric>
#include <string>

#include "sim/research_engine.h"

namespace weft::sim {
namespace research {

double RestartOverheadS(int num_gpus, std::string_view model) {
  // README step 4, oh[num_gpu][model]. Columns in this order in every row.
  static constexpr std::array<std::string_view, 8> kModels = {
      "vgg16", "vgg19", "resnet18", "shufflenet_v2_x1_0", "bert", "gpt2", "a2c", "dqn"};
  static constexpr std::array<int, 6> kSizes = {1, 2, 4, 8, 16, 32};
  static constexpr int kTable[6][8] = {
      {7, 7, 4, 4, 10, 10, 38, 5},  {7, 7, 5, 4, 10, 10, 39, 5},  {8, 8, 5, 5, 10, 10, 39, 6},
      {9, 9, 7, 5, 10, 10, 46, 6},  {9, 10, 7, 7, 10, 10, 46, 8}, {10, 10, 7, 8, 10, 10, 46, 8},
  };
  const auto model_it = std::find(kModels.begin(), kModels.end(), model);
  if (model_it == kModels.end()) return 10;
  std::size_t row = kSizes.size() - 1;
  for (std::size_t i = 0; i < kSizes.size(); ++i) {
    if (kSizes[i] >= num_gpus) {
      row = i;
      break;
    }
  }
  return kTable[row][model_it - kModels.begin()];
}

}  // namespace research

std::optional<ResearchPolicy> ParseResearchPolicy(std::string_view name) {
  if (name == "srtf") return ResearchPolicy::kSrtf;
  if (name == "srsf") return ResearchPolicy::kSrsf;
  if (name == "tiresias-l") return ResearchPolicy::kTiresiasL;
  return std::nullopt;
}

namespace {

// Whether a gang of `g` GPUs can ever run on the empty cluster under the policy's placement.
bool FitsEmptyCluster(int g, const ResearchCluster& cluster, ResearchPolicy policy) {
  if (policy == ResearchPolicy::kTiresiasL) return g <= cluster.nodes * cluster.gpus_per_node;
  if (g <= cluster.gpus_per_node) return true;
  const int nodes_needed = g / cluster.gpus_per_node + (g % cluster.gpus_per_node != 0 ? 1 : 0);
  return nodes_needed <= cluster.nodes;
}

}  // namespace

Result<std::vector<JobOutcome>> RunResearchReplay(const Trace& trace, const ResearchCluster& cluster,
                                                  ResearchPolicy policy) {
  if (cluster.nodes < 1 || cluster.gpus_per_node < 1) {
    return Fail(ErrorCode::kInvalidArgument, "the research replay needs at least one node with one GPU");
  }
  // Arrival order: stable by submit time, so equal submit times keep trace order (the
  // original simulator's job list is stably sorted the same way).
  std::vector<std::size_t> arrival(trace.jobs.size());
  std::iota(arrival.begin(), arrival.end(), std::size_t{0});
  std::stable_sort(arrival.begin(), arrival.end(), [&](std::size_t a, std::size_t b) {
    return trace.jobs[a].submit_s < trace.jobs[b].submit_s;
  });

  std::vector<research::Job> jobs;
  jobs.reserve(trace.jobs.size());
  for (std::size_t idx : arrival) {
    const TraceJob& tj = trace.jobs[idx];
    auto which = [&] { return "job " + std::to_string(tj.id); };
    if (tj.iterations <= 0 || !(tj.iteration_time_ms > 0)) {
      return Fail(ErrorCode::kInvalidArgument,
                  which() + " has no iterations or iteration_time; the research policies need a philly-muri trace");
    }
    if (tj.num_gpus < 1) return Fail(ErrorCode::kInvalidArgument, which() + " asks for fewer than one GPU");
    if (!FitsEmptyCluster(tj.num_gpus, cluster, policy)) {
      return Fail(ErrorCode::kInvalidArgument, which() + " needs " + std::to_string(tj.num_gpus) +
                                                   " GPUs and can never fit this cluster");
    }
    research::Job job;
    job.trace_index = idx;
    job.submit_s = tj.submit_s;
    job.num_gpus = tj.num_gpus;
    // README step 1: (ms * 1.015) / 1000, in this order.
    job.itt_s = tj.iteration_time_ms * 1.015 / 1000;
    job.overhead_s = research::RestartOverheadS(tj.num_gpus, tj.model);
    job.remaining_iters = static_cast<double>(tj.iterations);
    jobs.push_back(job);
  }

  Result<void> ran = policy == ResearchPolicy::kTiresiasL
                         ? research::RunTiresiasL(jobs, cluster.nodes * cluster.gpus_per_node)
                         : research::RunShortestFirst(jobs, cluster.nodes, cluster.gpus_per_node,
                                                      policy == ResearchPolicy::kSrsf);
  if (!ran) return tl::unexpected(ran.error());

  std::vector<JobOutcome> out(trace.jobs.size());
  for (const research::Job& job : jobs) {
    const TraceJob& tj = trace.jobs[job.trace_index];
    JobOutcome& o = out[job.trace_index];
    o.id = tj.id;
    o.queue = tj.queue;
    o.num_gpus = tj.num_gpus;
    o.submit_s = tj.submit_s;
    o.first_start_s = job.first_start_s;
    o.end_s = job.end_s;
    o.preemptions = job.preemptions;
    o.run_s = job.run_s;
  }
  return out;
}

}  // namespace weft::sim
