// Nodes as the controller knows them: capacity declared by the agent, labels, liveness.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "model/resources.h"

namespace weft::model {

enum class NodeState { kUp, kDown };
std::string_view ToString(NodeState state);

// A physical GPU as the agent discovered it (NVML). Nodes with fake slots (--gpus N) have none.
struct GpuInfo {
  int index = 0;
  std::string uuid;
  std::string model;
  std::int64_t memory_bytes = 0;
  bool operator==(const GpuInfo&) const = default;
};

// What a node's agent enforces on every task (its cgroup driver); all false: nothing.
struct NodeIsolation {
  std::string cgroup;  // "v2", "v1", or "" when tasks run without cgroups
  bool memory = false;
  bool cpu = false;
  bool pids = false;
  bool cpuset = false;
  bool devices = false;  // other GPUs' device files are denied to a task
  bool user = false;     // tasks run as their owner (the agent runs as root)
  bool operator==(const NodeIsolation&) const = default;
  // Memory, CPU and process limits, and GPU fencing where the node has real GPUs: what a
  // job with --require-isolation needs.
  bool Enforced(bool real_gpus) const { return memory && cpu && pids && (!real_gpus || devices); }
};
std::string ToString(const NodeIsolation& isolation);  // "v1: memory,cpu,pids" or "none"

struct Node {
  std::string name;
  std::string address;  // host or IP the ranks use to reach each other (MASTER_ADDR)
  std::string pool = "default";
  Resources capacity;
  std::string gpu_model;
  std::map<std::string, std::string> labels;
  std::vector<GpuInfo> gpus;  // real GPUs, by index; empty for fake slots
  NodeIsolation isolation;
  bool drain = false;        // weft node drain: no new work here
  std::string drain_reason;  // "" unless draining
  NodeState state = NodeState::kUp;
  TimePoint last_heartbeat{};
};

}  // namespace weft::model
