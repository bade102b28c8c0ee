// Fluent builders for scheduler fixtures (after Kueue's test wrappers), shared by tests.
#pragma once

#include <string>
#include <utility>

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
  JobBuilder& Priority(int p) {
    job_.priority = p;
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
  sched::PendingJob Build() const { return job_; }

 private:
  sched::PendingJob job_;
};

}  // namespace weft::testing
