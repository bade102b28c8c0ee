// Tenants and scheduler settings from the cluster configuration (`weft server --config`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/resources.h"

namespace weft::model {

// Per-resource limits; an absent value is unlimited.
struct ResourceLimits {
  std::optional<std::int64_t> cpu_milli;
  std::optional<std::int64_t> memory_bytes;
  std::optional<std::int64_t> gpus;

  bool Unlimited() const { return !cpu_milli && !memory_bytes && !gpus; }
  // True when `usage` stays within every set limit.
  bool Allows(const Resources& usage) const {
    return (!cpu_milli || usage.cpu_milli <= *cpu_milli) &&
           (!memory_bytes || usage.memory_bytes <= *memory_bytes) && (!gpus || usage.gpus <= *gpus);
  }
};

// One resource as its Resources field and its ResourceLimits field, for code that treats CPUs,
// memory and GPUs alike (quota admission, preemption's over-quota test).
struct LimitedResource {
  std::int64_t Resources::*used;
  std::optional<std::int64_t> ResourceLimits::*limit;
};
inline constexpr LimitedResource kLimitedResources[] = {
    {&Resources::cpu_milli, &ResourceLimits::cpu_milli},
    {&Resources::memory_bytes, &ResourceLimits::memory_bytes},
    {&Resources::gpus, &ResourceLimits::gpus},
};

struct QueueConfig {
  std::string name;
  ResourceLimits quota;         // nominal quota
  double weight = 1.0;          // fair-share weight
  std::string cohort;           // "" = borrows from nobody, lends to nobody
  ResourceLimits borrow_limit;  // most it may borrow from idle cohort quota (unset: unlimited)
  std::optional<Duration> default_time;  // time limit for jobs that give none
};

enum class BackfillMode { kNone, kEasy, kConservative };

// Multifactor priority weights (Slurm's PriorityWeight*): a pending job's priority is
//   fair_share × 2^(-U/S) + age × min(1, waited / max_age) + short_job × (1 − limit / short_horizon)
//   + its own --priority.
// short_job favours short time limits (the only duration a production scheduler knows); with
// age ≥ short_job every job that has waited max_age outranks every newer job of its queue,
// so none waits unboundedly behind a stream of short ones (it then gets the reservation).
struct PriorityWeights {
  double fair_share = 10000;
  double age = 1000;
  double short_job = 1000;
  Duration max_age = std::chrono::hours(24 * 7);        // the age factor reaches 1 here
  // Limits this long (or none) score 0. Two days: tuned with `weft simulate` on the Philly
  // traces (docs/scheduling-quality.md); most jobs there have limits of hours to days.
  Duration short_horizon = std::chrono::hours(48);
};

struct SchedulerConfig {
  BackfillMode backfill = BackfillMode::kEasy;
  PriorityWeights priority;
  Duration fair_share_half_life = std::chrono::hours(24 * 7);
  Duration preemption_grace = std::chrono::seconds(30);
};

// A pool of the `pools:` list: a named set of nodes behind one backend. Agents' nodes belong
// to the pool their agent names (label `pool`, else "default"); a pool with backend "slurm"
// is an existing Slurm cluster driven through its client commands (src/backend).
struct PoolConfig {
  std::string name;
  std::string backend = "agents";  // "agents" or "slurm"
  // agents pools: work that would queue here goes to a slurm pool with room (issue 7).
  bool burst = false;
  // backend slurm: the `slurm:` block as scalar key → text, checked by
  // backend::MakeSlurmPoolConfig when the server starts (spec does not depend on backend).
  std::map<std::string, std::string> slurm;
};

struct ClusterConfig {
  std::vector<QueueConfig> queues;  // never empty once parsed: "default" when none is given
  SchedulerConfig scheduler;
  std::vector<PoolConfig> pools;  // empty: the agents' pools only

  const PoolConfig* FindPool(const std::string& name) const {
    for (const PoolConfig& p : pools) {
      if (p.name == name) return &p;
    }
    return nullptr;
  }

  const QueueConfig* FindQueue(const std::string& name) const {
    for (const QueueConfig& q : queues) {
      if (q.name == name) return &q;
    }
    return nullptr;
  }
};

inline constexpr const char* kDefaultQueue = "default";

// The queue a cluster without configuration has: no quota, weight 1.
inline QueueConfig DefaultQueue() {
  QueueConfig q;
  q.name = kDefaultQueue;
  return q;
}

}  // namespace weft::model
