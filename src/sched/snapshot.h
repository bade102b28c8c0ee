// The scheduler's inputs: a read-only picture of the cluster and the jobs waiting for it.
// Plain values built by the controller (or the simulator) once per cycle.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/job.h"
#include "model/resources.h"

namespace weft::sched {

struct NodeView {
  std::string name;
  std::string pool = "default";
  model::Resources capacity;
  model::Resources free;           // capacity minus every allocation on the node
  std::vector<bool> gpu_free;      // per GPU slot; size == capacity.gpus
  std::string gpu_model;
  std::map<std::string, std::string> labels;
  bool schedulable = true;         // false while DOWN or draining
  bool idle = true;                // no allocation at all (what --exclusive needs)
};

// Ordered by node name: iteration order feeds decisions, and decisions must be deterministic.
struct ClusterSnapshot {
  std::vector<NodeView> nodes;
};

// What the scheduler needs to know about one pending job.
struct PendingJob {
  model::JobId id = 0;
  int num_nodes = 1;
  model::Resources per_node;
  std::string gpu_model;  // "" = any
  bool exclusive = false;
  std::vector<std::string> pools;  // empty = any
  int priority = 0;
  TimePoint submit_time{};
};

}  // namespace weft::sched
