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
                                TimePoint now, const PriorityWeights& weights) {
  PriorityFactors f;
  const double waited = std::max(0.0, ToSeconds(now - submit_time));
  f.age = std::min(1.0, waited / ToSeconds(weights.max_age));
  f.fair_share = fair_share;
  f.job = job_priority;
  f.total = std::llround(weights.fair_share * f.fair_share + weights.age * f.age) + job_priority;
  return f;
}

}  // namespace weft::sched
