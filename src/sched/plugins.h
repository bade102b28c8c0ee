// Extension points of the scheduling cycle (a small subset of the Kubernetes framework):
// queue order, per-node filters and per-node scores. Plugins are const and stateless per
// call so the same instance serves the daemon and the simulator.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sched/node_index.h"
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
  // Filter(job, node).ok(), for the placer's hot loop. CONTRACT: an override returns exactly
  // that, only without building a Verdict (whose reason string may allocate).
  virtual bool Accepts(const PendingJob& job, const NodeView& node) const {
    return Filter(job, node).ok();
  }
  // Narrows `query` (see NodeIndex) by conditions under which this Filter rejects a node,
  // so that the placer need not visit those nodes. CONTRACT: only conditions Filter rejects
  // on, never more: a node this filter accepts must still satisfy the narrowed query. The
  // default narrows nothing, so a plugin that does not override it costs a visit per node.
  virtual void Narrow(const PendingJob& /*job*/, NodeQuery& /*query*/) const {}
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
  bool Accepts(const PendingJob& job, const NodeView& node) const override;
  // Pools and schedulable nodes only.
  void Narrow(const PendingJob& job, NodeQuery& query) const override;
};

// CPUs, memory, GPU count and GPU model fit (whole idle node for exclusive jobs).
class ResourceFitFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "resource_fit"; }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override;
  bool Accepts(const PendingJob& job, const NodeView& node) const override;
  // Free resources at least the request, the GPU model when it matters, idle when exclusive.
  void Narrow(const PendingJob& job, NodeQuery& query) const override;
};

// --require-isolation: the node's agent enforces memory, CPU and process limits (and fences
// GPUs where it has real ones). Other jobs pass anywhere.
class IsolationFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "isolation"; }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override;
  bool Accepts(const PendingJob& job, const NodeView& node) const override {
    return !job.require_isolation || node.isolated;
  }
};

// A fixed port (a service's `port:`): not on a node where a running job holds the same one,
// so two replicas never race for it. Other jobs pass anywhere.
class HostPortFilter final : public FilterPlugin {
 public:
  std::string_view name() const override { return "host_port"; }
  Verdict Filter(const PendingJob& job, const NodeView& node) const override;
  bool Accepts(const PendingJob& job, const NodeView& node) const override {
    return job.host_port == 0 ||
           std::find(node.host_ports.begin(), node.host_ports.end(), job.host_port) == node.host_ports.end();
  }
};

// Best fit: prefer the node the job fills most, keeping big holes for big jobs.
class BestFitScore final : public ScorePlugin {
 public:
  std::string_view name() const override { return "best_fit"; }
  std::int64_t Score(const PendingJob& job, const NodeView& node) const override;
};

}  // namespace weft::sched
