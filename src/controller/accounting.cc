#include "controller/accounting.h"

#include <algorithm>

namespace weft::controller {

std::optional<model::TaskUsage> JobUsage(const model::Job& job) {
  model::TaskUsage total;
  bool any = false;
  int gpu_ranks = 0;
  int gpu_sum = 0;
  for (const model::TaskRecord& task : job.tasks) {
    if (!task.usage) continue;
    any = true;
    const model::TaskUsage& u = *task.usage;
    total.cpu_usec += u.cpu_usec;
    total.memory_peak_bytes = std::max(total.memory_peak_bytes, u.memory_peak_bytes);
    total.memory_current_bytes += u.memory_current_bytes;
    total.memory_limit_bytes = std::max(total.memory_limit_bytes, u.memory_limit_bytes);
    if (u.gpu_utilization >= 0) {
      ++gpu_ranks;
      gpu_sum += u.gpu_utilization;
    }
  }
  if (!any) return std::nullopt;
  if (gpu_ranks > 0) total.gpu_utilization = gpu_sum / gpu_ranks;
  return total;
}

model::AttemptRecord EndAttempt(const model::Job& job, TimePoint now, model::JobState requeued_as) {
  model::AttemptRecord a;
  a.attempt = job.restart_count;
  const bool final = model::IsFinal(job.state);
  a.state = final ? job.state : requeued_as;
  a.reason = final ? job.reason : job.preemption_reason;
  a.start_time = job.start_time.value_or(now);
  a.end_time = a.start_time;
  bool any_end = false;
  for (const model::TaskRecord& task : job.tasks) {
    if (task.end_time) {
      a.end_time = std::max(a.end_time, *task.end_time);
      any_end = true;
    }
  }
  if (!any_end) a.end_time = std::max(a.start_time, now);
  a.exit_code = job.exit_code;
  a.exit_signal = job.exit_signal;
  if (a.exit_code == 0 && a.exit_signal == 0) {
    // A requeued attempt keeps how its first unsuccessful rank ended.
    for (const model::TaskRecord& task : job.tasks) {
      if (task.exit && (task.exit->exit_code != 0 || task.exit->signal != 0)) {
        a.exit_code = task.exit->exit_code;
        a.exit_signal = task.exit->signal;
        break;
      }
    }
  }
  std::int64_t gpus = 0;
  for (const model::NodeAllocation& rank : job.allocation.ranks) {
    a.nodes.push_back(rank.node);
    gpus += rank.resources.gpus;
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(a.end_time - a.start_time);
  a.gpu_usec = gpus * elapsed.count();
  if (auto usage = JobUsage(job)) {
    a.cpu_usec = usage->cpu_usec;
    a.memory_peak_bytes = usage->memory_peak_bytes;
    a.memory_limit_bytes = usage->memory_limit_bytes;
    a.gpu_utilization = usage->gpu_utilization;
  }
  return a;
}

}  // namespace weft::controller
