// SRTF and SRSF with "yarn" placement, replayed with the Muri simulator's event semantics
// (../shared/traces/philly-muri/README.md). At every event:
//   1. jobs whose predicted end equals the event time finish and leave;
//   2. jobs arriving at this time join the tail of the runnable list;
//   3. every job that ran since the previous event progresses by
//      max(t - t_prev - overhead, 0) / itt iterations (the overhead is charged even without a
//      preemption: the "overhead quirk");
//   4. the runnable list is stably sorted by remaining time (SRSF: remaining time x GPUs), the
//      order persisting from event to event so that ties keep their previous relative order;
//   5. the cluster is emptied and jobs are placed in list order, skipping those that do not fit;
//      a running job that is not placed again is preempted (for free, apart from step 3);
//   6. the next completion is the minimum of t + remaining_iters x itt over running jobs; jobs
//      whose prediction equals it exactly finish together.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "sim/research_engine.h"

namespace weft::sim::research {
namespace {

// "yarn" placement on one switch of `free.size()` nodes: a gang of at most one node's GPUs
// takes the first node (index order) with enough free GPUs; a larger gang takes the first
// g / gpus_per_node completely free nodes plus, for a remainder, the first other node with
// enough free GPUs. CPU and memory never bind at the philly-muri sizes (92 CPUs and 520 GB per
// node against at most 6 CPUs and 14.2 GB per GPU), so they are not modelled.
class YarnPlacer {
 public:
  YarnPlacer(int nodes, int gpus_per_node)
      : gpus_per_node_(gpus_per_node), free_(static_cast<std::size_t>(nodes)), full_(free_.size()) {}

  void Empty() {
    std::fill(free_.begin(), free_.end(), gpus_per_node_);
    total_free_ = gpus_per_node_ * static_cast<int>(free_.size());
  }
  int total_free() const { return total_free_; }

  // Places a gang of `g` GPUs if it fits; returns whether it did.
  bool Place(int g) {
    if (g <= gpus_per_node_) {
      for (int& f : free_) {
        if (f >= g) {
          f -= g;
          total_free_ -= g;
          return true;
        }
      }
      return false;
    }
    const std::size_t full_needed = static_cast<std::size_t>(g / gpus_per_node_);
    const int remainder = g % gpus_per_node_;
    std::size_t found = 0;
    std::fill(full_.begin(), full_.end(), char{0});
    for (std::size_t i = 0; i < free_.size() && found < full_needed; ++i) {
      if (free_[i] == gpus_per_node_) {
        full_[i] = 1;
        ++found;
      }
    }
    if (found < full_needed) return false;
    std::size_t last = free_.size();
    if (remainder != 0) {
      for (std::size_t i = 0; i < free_.size(); ++i) {
        if (!full_[i] && free_[i] >= remainder) {
          last = i;
          break;
        }
      }
      if (last == free_.size()) return false;
      free_[last] -= remainder;
    }
    for (std::size_t i = 0; i < free_.size(); ++i) {
      if (full_[i]) free_[i] = 0;
    }
    total_free_ -= g;
    return true;
  }

 private:
  int gpus_per_node_;
  std::vector<int> free_;
  std::vector<char> full_;  // scratch: nodes taken whole by the gang being placed
  int total_free_ = 0;
};

}  // namespace

Result<void> RunShortestFirst(std::vector<Job>& jobs, int nodes, int gpus_per_node, bool by_gpu_time) {
  const std::size_t n = jobs.size();
  // Sort key, recomputed only when a job's remaining iterations change (README: rem_time =
  // rem_iters x itt; SRSF multiplies that product by the GPU count).
  std::vector<double> key(n, 0);
  auto key_of = [&](const Job& j) {
    const double rem_time = j.remaining_iters * j.itt_s;
    return by_gpu_time ? rem_time * j.num_gpus : rem_time;
  };

  std::vector<std::size_t> order;    // runnable jobs: sorted by (key, previous position)
  std::vector<std::size_t> running;  // jobs that run until the next event
  std::vector<char> is_running(n, 0), finished(n, 0), placed(n, 0);
  std::vector<std::size_t> pos_of(n, 0), unchanged, changed, merged, now_running;
  std::vector<std::size_t> end_group;
  double end_time = kNever;
  double t_prev = 0;
  std::int64_t stalled = 0;
  std::size_t next = 0;  // next arrival
  YarnPlacer placer(nodes, gpus_per_node);

  while (next < n || !order.empty()) {
    const double start_time = next < n ? jobs[next].submit_s : kNever;
    if (start_time == kNever && end_time == kNever) {
      return Fail(ErrorCode::kInternal, "research replay: runnable jobs left but nothing runs or arrives");
    }
    // README steps 2-3: the earlier of the next arrival and the next completion; both when equal.
    const bool do_end = end_time <= start_time;
    const bool do_start = start_time <= end_time;
    const double t = do_end ? end_time : start_time;
    stalled = (t == t_prev) ? stalled + 1 : 0;
    if (stalled > kMaxStalledEvents) {
      return Fail(ErrorCode::kInternal, "research replay stopped advancing at t=" + std::to_string(t));
    }

    // 1. Completions leave first.
    if (do_end) {
      for (std::size_t j : end_group) {
        jobs[j].end_s = t;
        jobs[j].run_s += t - t_prev;
        finished[j] = 1;
        is_running[j] = 0;
      }
      std::erase_if(order, [&](std::size_t j) { return finished[j] != 0; });
      std::erase_if(running, [&](std::size_t j) { return finished[j] != 0; });
    }

    // 2. Arrivals join the tail.
    const std::size_t first_new = order.size();
    if (do_start) {
      for (; next < n && jobs[next].submit_s == start_time; ++next) {
        key[next] = key_of(jobs[next]);
        order.push_back(next);
      }
    }

    // 3. Progress of every job that ran in (t_prev, t], overhead charged each time.
    for (std::size_t j : running) {
      Job& job = jobs[j];
      const double worked = std::max((t - t_prev) - job.overhead_s, 0.0);
      job.remaining_iters -= worked / job.itt_s;
      job.run_s += t - t_prev;
      key[j] = key_of(job);
    }

    // 4. Stable sort of `order` by key. Jobs that were pending and are not new kept their keys,
    // so they are still sorted; sort only the others and merge, breaking ties by the previous
    // position exactly as a stable sort of the whole list would. O(n) per event instead of
    // O(n log n), which matters for the _pr traces where every job is runnable from t = 0.
    unchanged.clear();
    changed.clear();
    for (std::size_t p = 0; p < order.size(); ++p) {
      const std::size_t j = order[p];
      pos_of[j] = p;
      (is_running[j] || p >= first_new ? changed : unchanged).push_back(j);
    }
    auto before = [&](std::size_t a, std::size_t b) {
      if (key[a] < key[b]) return true;
      if (key[b] < key[a]) return false;
      return pos_of[a] < pos_of[b];
    };
    std::sort(changed.begin(), changed.end(), before);
    merged.resize(order.size());
    std::merge(unchanged.begin(), unchanged.end(), changed.begin(), changed.end(), merged.begin(), before);
    order.swap(merged);

    // 5. Allocate from an empty cluster in list order, skipping jobs that do not fit.
    placer.Empty();
    now_running.clear();
    for (std::size_t j : order) {
      if (placer.total_free() == 0) break;  // nothing else can fit
      if (placer.Place(jobs[j].num_gpus)) {
        placed[j] = 1;
        now_running.push_back(j);
      }
    }
    for (std::size_t j : running) {
      if (!placed[j]) {
        ++jobs[j].preemptions;
        is_running[j] = 0;
      }
    }
    for (std::size_t j : now_running) {
      placed[j] = 0;
      is_running[j] = 1;
      if (jobs[j].first_start_s == kNever) jobs[j].first_start_s = t;
    }
    running.swap(now_running);

    // 6. Next completion: exact-equality group of the earliest predicted end.
    end_time = kNever;
    end_group.clear();
    for (std::size_t j : running) {
      const double e = t + jobs[j].remaining_iters * jobs[j].itt_s;
      if (e < end_time) {
        end_time = e;
        end_group.assign(1, j);
      } else if (e == end_time) {
        end_group.push_back(j);
      }
    }
    t_prev = t;
  }
  return {};
}

}  // namespace weft::sim::research
