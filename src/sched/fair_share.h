// Multifactor priority, Slurm style: age, fair share (queue usage decayed with a half-life,
// against the queue's weight) and the job's own priority. Pure: `now` is always an input.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/queue.h"
#include "model/resources.h"

namespace weft::sched {

// What a unit of running costs: one CPU-second, and one GPU-second is worth 100 of them
// (a GPU node's GPUs, not its CPUs, are what teams compete for).
double BillingRate(const model::Resources& held);

// Decayed usage per queue. Usage accrues while jobs run and halves every `half_life`.
class UsageLedger {
 public:
  explicit UsageLedger(Duration half_life) : half_life_(half_life) {}
  // Accrues, per queue, what `held` held since the previous call (integrated exactly under
  // the decay) and decays older usage to `now`. The first call only sets the clock.
  void Advance(TimePoint now, const std::map<std::string, model::Resources>& held);
  // Adds what `held` used in the past interval [start, end], decayed to the ledger's clock
  // (the last Advance, which must come first; an interval reaching past it is cut there).
  // Rebuilds the history a restarted controller has only as job records.
  void AddPast(const std::string& queue, const model::Resources& held, TimePoint start, TimePoint end);
  // Decayed billing-seconds of `queue` as of the last Advance.
  double Usage(const std::string& queue) const;
  const std::map<std::string, double>& usage() const { return usage_; }

 private:
  Duration half_life_;
  std::optional<TimePoint> as_of_;
  std::map<std::string, double> usage_;
};

using model::PriorityWeights;

struct PriorityFactors {
  double age = 0;         // 0..1
  double fair_share = 0;  // 0..1: 1 = the queue used nothing, 0.5 = used exactly its share
  double short_job = 0;   // 0..1: 1 = a time limit near zero, 0 = none or ≥ short_horizon
  int job = 0;            // the job's own --priority (minus --nice)
  std::int64_t total = 0;
};

// Slurm's classic fair-share factor 2^(-U/S): U the queue's share of all decayed usage, S its
// share of all weights. 1 when nobody used anything yet.
double FairShareFactor(const std::string& queue, const std::vector<model::QueueConfig>& queues,
                       const UsageLedger& ledger);

// total = weights.fair_share × fair_share + weights.age × age + weights.short_job × short_job
// + job priority, rounded.
PriorityFactors ComputePriority(TimePoint submit_time, int job_priority, double fair_share,
                                std::optional<Duration> time_limit, TimePoint now,
                                const PriorityWeights& weights);

}  // namespace weft::sched
