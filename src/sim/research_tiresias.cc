// Tiresias-L ("dlas-gpu": discretized two-dimensional least-attained-service on GPU time),
// replayed with the Muri simulator's event semantics (../shared/traces/philly-muri/README.md).
// Three FIFO queues; a job is demoted one queue when executed_time x GPUs reaches 3250 (Q0)
// or 7200 (Q1), executed_time being the full wall time it ran (no overhead deducted). At every
// event, in this order:
//   0. if a demotion "jump" is due before the next arrival/completion, the event is the jump
//      (nothing arrives or finishes at it);
//   1. completions leave; 2. arrivals join the tail of Q0;
//   3. running jobs, in arrival order, progress as in SRTF (overhead quirk), accumulate
//      executed = (executed + t) - t_prev (this float order matters: with
//      executed += t - t_prev the thresholds land a hair short and jump events shrink towards
//      zero length) and are demoted to the tail of the next queue when over its threshold;
//   4. GPUs are counted (no placement): Q0, Q1, Q2 are scanned in order and each job runs if
//      enough GPUs are free, else it is skipped; running jobs not chosen are preempted;
//   5. within each queue running jobs move to the front, pending ones behind, order kept;
//   6. the next completion as in SRTF, and the next jump:
//      min over running jobs below Q2 of (ceil(limit / GPUs) - executed) + t.
// There is no starvation guard.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/research_engine.h"

namespace weft::sim::research {

Result<void> RunTiresiasL(std::vector<Job>& jobs, int total_gpus) {
  constexpr int kQueues = 3;
  constexpr std::array<double, kQueues - 1> kLimit = {3250, 7200};  // GPU-seconds
  const std::size_t n = jobs.size();

  std::array<std::vector<std::size_t>, kQueues> queues;
  std::vector<int> qid(n, 0);
  std::vector<double> executed(n, 0);
  std::vector<char> finished(n, 0), chosen(n, 0);
  std::vector<std::size_t> running;  // sorted by arrival index: the order demotions happen in
  std::vector<std::size_t> end_group, demoted, now_running, pending_tail;
  double end_time = kNever;
  double next_jump = kNever;
  double t_prev = 0;
  std::int64_t stalled = 0;
  std::size_t next = 0;
  std::size_t runnable = 0;

  while (next < n || runnable > 0) {
    const double start_time = next < n ? jobs[next].submit_s : kNever;
    if (start_time == kNever && end_time == kNever) {
      return Fail(ErrorCode::kInternal, "research replay: runnable jobs left but nothing runs or arrives");
    }
    bool do_end = end_time <= start_time;
    bool do_start = start_time <= end_time;
    double t = do_end ? end_time : start_time;
    // 0. A jump due strictly before the event replaces it.
    if (t > next_jump) {
      t = next_jump;
      do_end = do_start = false;
    }
    stalled = (t == t_prev) ? stalled + 1 : 0;
    if (stalled > kMaxStalledEvents) {
      return Fail(ErrorCode::kInternal, "research replay stopped advancing at t=" + std::to_string(t));
    }

    // 1. Completions.
    if (do_end) {
      for (std::size_t j : end_group) {
        jobs[j].end_s = t;
        jobs[j].run_s += t - t_prev;
        finished[j] = 1;
        --runnable;
      }
      for (auto& q : queues) std::erase_if(q, [&](std::size_t j) { return finished[j] != 0; });
      std::erase_if(running, [&](std::size_t j) { return finished[j] != 0; });
    }

    // 2. Arrivals join the tail of Q0.
    if (do_start) {
      for (; next < n && jobs[next].submit_s == start_time; ++next) {
        queues[0].push_back(next);
        ++runnable;
      }
    }

    // 3. Progress, attained service and demotion, in arrival order.
    demoted.clear();
    for (std::size_t j : running) {
      Job& job = jobs[j];
      const double worked = std::max((t - t_prev) - job.overhead_s, 0.0);
      job.remaining_iters -= worked / job.itt_s;
      job.run_s += t - t_prev;
      executed[j] = (executed[j] + t) - t_prev;
      if (qid[j] < kQueues - 1 && executed[j] * job.num_gpus >= kLimit[static_cast<std::size_t>(qid[j])]) {
        demoted.push_back(j);
      }
    }
    if (!demoted.empty()) {
      for (std::size_t j : demoted) ++qid[j];
      for (int q = 0; q < kQueues; ++q) {
        std::erase_if(queues[static_cast<std::size_t>(q)], [&](std::size_t j) { return qid[j] != q; });
      }
      for (std::size_t j : demoted) queues[static_cast<std::size_t>(qid[j])].push_back(j);
    }

    // 4. Allocation by GPU count, queue by queue, skipping what does not fit.
    int free_gpus = total_gpus;
    for (const auto& q : queues) {
      for (std::size_t j : q) {
        if (free_gpus == 0) break;
        if (free_gpus >= jobs[j].num_gpus) {
          chosen[j] = 1;
          free_gpus -= jobs[j].num_gpus;
        }
      }
    }
    now_running.clear();
    for (std::size_t j : running) {
      if (!chosen[j]) ++jobs[j].preemptions;
    }
    // 5. Running jobs first within each queue; collects the new running set on the way.
    for (auto& q : queues) {
      pending_tail.clear();
      std::size_t w = 0;
      for (std::size_t j : q) {
        if (chosen[j]) {
          q[w++] = j;
          now_running.push_back(j);
        } else {
          pending_tail.push_back(j);
        }
      }
      std::copy(pending_tail.begin(), pending_tail.end(), q.begin() + static_cast<std::ptrdiff_t>(w));
    }
    std::sort(now_running.begin(), now_running.end());
    for (std::size_t j : now_running) {
      chosen[j] = 0;
      if (jobs[j].first_start_s == kNever) jobs[j].first_start_s = t;
    }
    running.swap(now_running);

    // 6. Next completion and next demotion jump.
    end_time = kNever;
    end_group.clear();
    next_jump = kNever;
    for (std::size_t j : running) {
      const Job& job = jobs[j];
      const double e = t + job.remaining_iters * job.itt_s;
      if (e < end_time) {
        end_time = e;
        end_group.assign(1, j);
      } else if (e == end_time) {
        end_group.push_back(j);
      }
      if (qid[j] < kQueues - 1) {
        const double threshold_s = std::ceil(kLimit[static_cast<std::size_t>(qid[j])] / job.num_gpus);
        next_jump = std::min(next_jump, (threshold_s - executed[j]) + t);
      }
    }
    t_prev = t;
  }
  return {};
}

}  // namespace weft::sim::research
