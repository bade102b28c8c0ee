#include "sched/fair_share.h"

#include <algorithm>
#include <cmath>

namespace weft::sched {

double BillingRate(const model::Resources& held) {
  return static_cast<double>(held.cpu_milli) / 1000.0 + 100.0 * static_cast<double>(held.gpus);
}

void UsageLedger::Advance(TimePoint now, const std::map<std::string, model::Resources>& held) {
  if (!as_of_) {
    as_of_ = now;
    return;
  }
  if (now <= *as_of_) return;
  const double dt = ToSeconds(now - *as_of_);
  const double h = ToSeconds(half_life_);
  const double decay = std::exp2(-dt / h);
  // ∫0^dt rate·2^(-(dt-s)/h) ds = rate·h/ln2·(1 − 2^(−dt/h)).
  const double accrual_per_rate = h / std::log(2.0) * (1.0 - decay);
  for (auto& [queue, used] : usage_) used *= decay;
  for (const auto& [queue, resources] : held) usage_[queue] += BillingRate(resources) * accrual_per_rate;
  as_of_ = now;
}

void UsageLedger::AddPast(const std::string& queue, const model::Resources& held, TimePoint start,
                          TimePoint end) {
  if (!as_of_) return;
  end = std::min(end, *as_of_);
  if (end <= start) return;
  const double h = ToSeconds(half_life_);
  // ∫start^end rate·2^(-(as_of-t)/h) dt = rate·h/ln2·(2^(-(as_of-end)/h) − 2^(-(as_of-start)/h)).
  const double newer = std::exp2(-ToSeconds(*as_of_ - end) / h);
  const double older = std::exp2(-ToSeconds(*as_of_ - start) / h);
  usage_[queue] += BillingRate(held) * h / std::log(2.0) * (newer - older);
}

double UsageLedger::Usage(const std::string& queue) const {
  auto it = usage_.find(queue);
  return it == usage_.end() ? 0.0 : it->second;
}

double FairShareFactor(const std::string& queue, const std::vector<model::QueueConfig>& queues,
                       const UsageLedger& ledger) {
  double total_usage = 0;
  for (const auto& [name, used] : ledger.usage()) total_usage += used;
  if (total_usage <= 0) return 1.0;
  double total_weight = 0, weight = 1.0;
  bool configured = false;
  for (const model::QueueConfig& q : queues) {
    total_weight += q.weight;
    if (q.name == queue) {
      weight = q.weight;
      configured = true;
    }
  }
  if (!configured) total_weight += weight;
  const double usage_share = ledger.Usage(queue) / total_usage;
  const double weight_share = weight / total_weight;
  return std::exp2(-usage_share / weight_share);
}

PriorityFactors ComputePriority(TimePoint submit_time, int job_priority, double fair_share,
                                std::optional<Duration> time_limit, TimePoint now,
                                const PriorityWeights& weights) {
  PriorityFactors f;
  const double waited = std::max(0.0, ToSeconds(now - submit_time));
  f.age = std::min(1.0, waited / ToSeconds(weights.max_age));
  f.fair_share = fair_share;
  if (time_limit) f.short_job = std::max(0.0, 1.0 - ToSeconds(*time_limit) / ToSeconds(weights.short_horizon));
  f.job = job_priority;
  f.total = std::llround(weights.fair_share * f.fair_share + weights.age * f.age +
                         weights.short_job * f.short_job) +
            job_priority;
  return f;
}

}  // namespace weft::sched
