// Internals of the research replay (research_replay.h): the per-job state both engines share
// and the two engines. Not part of the sim library's interface; only research_*.cc and the
// research tests include it.
//
// Every formula here follows ../shared/traces/philly-muri/README.md ("Exact semantics needed to
// reproduce") down to the order of floating-point operations, because the published numbers
// were produced by a Python simulator whose results depend on that order (ties in the
// shortest-first sort, exact-equality grouping of completions, Tiresias-L demotion thresholds).
// Do not "simplify" an expression here without rerunning the reproduction tests.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace weft::sim::research {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

// Restart overhead in seconds (README step 4) for a gang of `num_gpus` running `model`.
// Sizes the table does not list use the row of the next larger listed size (32 above 32);
// models it does not list cost 10 s, as in the original simulator.
double RestartOverheadS(int num_gpus, std::string_view model);

// One job as the engines see it. Engines fill the outcome fields.
struct Job {
  std::size_t trace_index = 0;  // position in Trace::jobs
  double submit_s = 0;
  int num_gpus = 1;
  double itt_s = 0;             // effective iteration time: iteration_time_ms * 1.015 / 1000
  double overhead_s = 0;        // charged at every event while running (README step 4)
  double remaining_iters = 0;   // starts at `iterations`, never reaches 0 before the end event

  // Outcome.
  double first_start_s = kNever;
  double end_s = kNever;
  int preemptions = 0;
  double run_s = 0;  // wall time spent running, over all attempts (overhead included)
};

// Both engines take the jobs in arrival order (stably sorted by submit_s), replay them to the
// end and fill the outcome fields. They fail only if the replay stops making progress, which
// the caller's validation (every job fits the empty cluster) rules out; the check guards the
// event loop against a float corner turning it into a livelock.

// SRTF (`by_gpu_time` false: key = remaining time) or SRSF (true: remaining time x GPUs),
// with "yarn" placement on `nodes` x `gpus_per_node`.
Result<void> RunShortestFirst(std::vector<Job>& jobs, int nodes, int gpus_per_node, bool by_gpu_time);

// Tiresias-L (discretized 2D-LAS on GPU-time, 3 queues), GPU counting on `total_gpus`.
Result<void> RunTiresiasL(std::vector<Job>& jobs, int total_gpus);

// Event times that repeat this many times in a row mean the loop no longer advances.
inline constexpr std::int64_t kMaxStalledEvents = 1'000'000;

}  // namespace weft::sim::research
