// Scheduling-quality figures of one replay, computed from its JobOutcomes, and their text
// and JSON renderings. Pure: the same outcomes give the same bytes (fixed decimals, queues
// ordered by name, no wall-clock time anywhere).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/trace.h"

namespace weft::sim {

struct ReportOptions {
  std::string policy;
  std::string trace;
  int nodes = 0;
  int gpus_per_node = 0;
  // Fair-share weight per queue name; a queue not listed weighs 1.
  std::map<std::string, double> weights;
  // When set (> 0): each queue's share of the GPU-hours used in [k·I, (k+1)·I).
  std::optional<double> share_interval_s;
};

struct QueueSummary {
  std::string name;  // "" (no queue in the trace) is shown as "default"
  std::int64_t jobs = 0;
  double gpu_hours = 0;
  double share = 0;         // of all GPU-hours used
  double weight = 1;
  double weight_share = 0;  // weight / sum of the weights of the queues in the report
  double avg_jct_s = 0;
  double avg_queueing_s = 0;
};

struct ShareInterval {
  double start_s = 0;
  double gpu_hours = 0;               // used by all queues in the interval
  std::map<std::string, double> share;  // per queue; every queue of the report, 0 when idle
};

struct Report {
  ReportOptions options;
  std::int64_t jobs = 0;
  double avg_jct_s = 0, median_jct_s = 0, p99_jct_s = 0, max_jct_s = 0;
  double avg_queueing_s = 0, median_queueing_s = 0, p99_queueing_s = 0, max_queueing_s = 0;
  double makespan_s = 0;       // latest end; the trace starts at 0
  double gpu_utilization = 0;  // GPU-seconds run / (total GPUs × makespan)
  std::vector<QueueSummary> queues;  // by name
  std::vector<ShareInterval> share_over_time;  // empty unless options.share_interval_s
};

// Percentile as the Muri simulator computes it: sorted(values)[int(q * n)] (clamped to the
// last element). Median is the same rule with q = 0.5. 0 for an empty input.
double Percentile(std::vector<double> values, double q);

Report Summarize(const std::vector<JobOutcome>& outcomes, const ReportOptions& options);

// A readable table. Seconds with 3 decimals, shares and utilization with 4.
std::string FormatText(const Report& report);
// One JSON object, one line, stable field names (docs: src/sim/README.md). Seconds with 3
// decimals, GPU-hours with 3, shares and utilization with 6.
std::string FormatJson(const Report& report);

}  // namespace weft::sim
