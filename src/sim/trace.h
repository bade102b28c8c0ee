// A workload trace as the simulator replays it: one TraceJob per row of a trace file, in
// arrival order. Readers for the formats in ../shared/traces live in trace_reader.{h,cc}.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft::sim {

struct TraceJob {
  std::int64_t id = 0;       // the trace's job id, or the row index where it has none
  double submit_s = 0;       // arrival, seconds since the trace's start (first job = 0)
  double duration_s = 0;     // exclusive run time, seconds
  int num_gpus = 1;          // gang size in GPUs, all-or-nothing
  std::string queue;         // tenant (Philly virtual cluster); "" = none in the trace
  // Muri columns (philly-muri only; zero/empty elsewhere): the research policies track
  // remaining work in iterations and charge a per-model restart overhead.
  std::string model;
  std::int64_t iterations = 0;
  double iteration_time_ms = 0;
};

struct Trace {
  std::string name;            // file stem, e.g. "trace1"
  std::vector<TraceJob> jobs;  // sorted by submit_s, ties by file order
};

// What became of one job in a replay: the input of every report.
struct JobOutcome {
  std::int64_t id = 0;
  std::string queue;
  int num_gpus = 1;
  double submit_s = 0;
  double first_start_s = 0;  // first time it ran (queueing delay = first_start_s - submit_s)
  double end_s = 0;          // JCT = end_s - submit_s
  int preemptions = 0;
  // Seconds the job held its GPUs, over all attempts. < 0: unknown (a replay that never
  // preempts leaves it), and reports use end_s - first_start_s instead.
  double run_s = -1;
};

}  // namespace weft::sim
