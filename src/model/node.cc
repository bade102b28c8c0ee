#include "model/node.h"

namespace weft::model {

std::string_view ToString(NodeState state) {
  return state == NodeState::kUp ? "UP" : "DOWN";
}

std::string ToString(const NodeIsolation& isolation) {
  std::vector<std::string> parts;
  if (isolation.memory) parts.push_back("memory");
  if (isolation.cpu) parts.push_back("cpu");
  if (isolation.pids) parts.push_back("pids");
  if (isolation.cpuset) parts.push_back("cpuset");
  if (isolation.devices) parts.push_back("devices");
  if (isolation.user) parts.push_back("user");
  if (parts.empty()) return "none";
  std::string out = isolation.cgroup.empty() ? "" : isolation.cgroup + ": ";
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "," : "") + parts[i];
  return out;
}

}  // namespace weft::model
