// Extension points of the scheduling cycle (a small subset of the Kubernetes framework):
// queue order, per-node filters and per-node scores. Plugins are const and stateless per
// call so the same instance serves the daemon and the simulator.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sched/snapshot.h"
#include "sched/verdict.h"

namespace weft::sched {

class QueueOrderPolicy {
 public:
  virtual ~QueueOrderPolicy() = default;
  virtual std::string_view name() const = 0;
  // Returns the jobs in the order the cycle should consider them.
  virtual std::vector<const PendingJob*> Order(std::span<const PendingJob> pending,
                                               TimePoint now) const = 0;
};

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual std::string_view name() const = 0;
  // Must read `node` (the cycle's working copy), never anything cached elsewhere.
  virtual Verdict Filter(const PendingJob& job, const NodeView& node) const = 0;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual std::string_view name() const = 0;
  // Higher is better, 0..100.
  virtual std::int64_t Score(const PendingJob& job, const NodeView& node) const = 0;
};

// Priority, then submit time, then id: Slurm's order without multifactor terms.
class PriorityOrder final : public QueueOrderPolicy {
 public:
  std::string_view name() const override { return "priority"; }
  std::vector<const PendingJob*> Order(std::span<const PendingJob> pending,
                                       TimePoint now) const override;
};

// The node is up and in one of the job's pools.
class NodeAvailableFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "node_available"; }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override;
};

// CPUs, memory, GPU count and GPU model fit (whole idle node for exclusive jobs).
class ResourceFitFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "resource_fit"; }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override;
};

// Best fit: prefer the node the job fills most, keeping big holes for big jobs.
class BestFitScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "best_fit"; }
  std::int64_t Score(const PendingJob& job, const NodeView& node) const override;
};

}  // namespace weft::sched
