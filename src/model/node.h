// Nodes as the controller knows them: capacity declared by the agent, labels, liveness.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "model/resources.h"

namespace weft::model {

enum class NodeState { kUp, kDown };
std::string_view ToString(NodeState state);

struct Node {
  std::string name;
  std::string address;  // host or IP the ranks use to reach each other (MASTER_ADDR)
  std::string pool = "default";
  Resources capacity;
  std::string gpu_model;
  std::map<std::string, std::string> labels;
  NodeState state = NodeState::kUp;
  TimePoint last_heartbeat{};
};

}  // namespace weft::model
