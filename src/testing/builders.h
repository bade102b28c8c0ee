// Fluent builders for scheduler fixtures (after Kueue's test wrappers), shared by tests.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sched/snapshot.h"

namespace weft::testing {

class NodeBuilder {
 public:
  explicit NodeBuilder(std::string name) {
    node_.name = std::move(name);
    node_.capacity = node_.free = {8000, 32LL << 30, 0};
  }
  NodeBuilder& Cpus(int cpus) {
    node_.capacity.cpu_milli = node_.free.cpu_milli = cpus * 1000LL;
    return *this;
  }
  NodeBuilder& MemoryGiB(int gib) {
    node_.capacity.memory_bytes = node_.free.memory_bytes = static_cast<std::int64_t>(gib) << 30;
    return *this;
  }
  NodeBuilder& Gpus(int gpus, std::string model = "") {
    node_.capacity.gpus = node_.free.gpus = gpus;
    node_.gpu_free.assign(gpus, true);
    node_.gpu_model = std::move(model);
    return *this;
  }
  NodeBuilder& Pool(std::string pool) {
    node_.pool = std::move(pool);
    return *this;
  }
  // A label such as ("rack", "r1"); "switch", "rack" and "zone" describe the network.
  NodeBuilder& Label(std::string key, std::string value) {
    node_.labels[std::move(key)] = std::move(value);
    return *this;
  }
  NodeBuilder& Down() {
    node_.schedulable = false;
    return *this;
  }
  sched::NodeView Build() const { return node_; }

 private:
  sched::NodeView node_;
};

class JobBuilder {
 public:
  explicit JobBuilder(model::JobId id) { job_.id = id; job_.per_node = {1000, 0, 0}; }
  JobBuilder& Nodes(int n) {
    job_.num_nodes = n;
    return *this;
  }
  JobBuilder& Cpus(int cpus) {
    job_.per_node.cpu_milli = cpus * 1000LL;
    return *this;
  }
  JobBuilder& MemoryGiB(int gib) {
    job_.per_node.memory_bytes = static_cast<std::int64_t>(gib) << 30;
    return *this;
  }
  JobBuilder& Gpus(int gpus, std::string model = "") {
    job_.per_node.gpus = gpus;
    job_.gpu_model = std::move(model);
    return *this;
  }
  // The job's own priority: both what the queue order uses and what preemption compares.
  JobBuilder& Priority(int p) {
    job_.priority = p;
    job_.own_priority = p;
    return *this;
  }
  JobBuilder& Queue(std::string queue) {
    job_.queue = std::move(queue);
    return *this;
  }
  JobBuilder& SubmittedAt(TimePoint t) {
    job_.submit_time = t;
    return *this;
  }
  JobBuilder& Exclusive() {
    job_.exclusive = true;
    return *this;
  }
  JobBuilder& Pools(std::vector<std::string> pools) {
    job_.pools = std::move(pools);
    return *this;
  }
  JobBuilder& TimeLimit(Duration limit) {
    job_.time_limit = limit;
    return *this;
  }
  // "switch", "rack" or "zone": every rank must share that label's value.
  JobBuilder& Topology(std::string topology) {
    job_.topology = std::move(topology);
    return *this;
  }
  sched::PendingJob Build() const { return job_; }

 private:
  sched::PendingJob job_;
};

// Puts a running job on `cluster`: takes `per_node` (and the lowest free GPU slots) from each
// named node and records the allocation with its expected end (nullopt = no time limit).
// REQUIRES: the nodes exist in `cluster`.
inline void AddRunning(sched::ClusterSnapshot& cluster, model::JobId id,
                       const std::vector<std::string>& nodes, model::Resources per_node,
                       std::optional<TimePoint> expected_end) {
  sched::RunningAllocation running;
  running.job_id = id;
  running.expected_end = expected_end;
  for (const std::string& name : nodes) {
    for (sched::NodeView& node : cluster.nodes) {
      if (node.name != name) continue;
      model::NodeAllocation rank;
      rank.node = name;
      rank.resources = per_node;
      for (std::size_t g = 0; g < node.gpu_free.size() &&
                              static_cast<std::int64_t>(rank.gpu_ids.size()) < per_node.gpus;
           ++g) {
        if (node.gpu_free[g]) {
          node.gpu_free[g] = false;
          rank.gpu_ids.push_back(static_cast<int>(g));
        }
      }
      node.free -= per_node;
      node.idle = false;
      running.ranks.push_back(std::move(rank));
    }
  }
  cluster.running.push_back(std::move(running));
}

}  // namespace weft::testing
