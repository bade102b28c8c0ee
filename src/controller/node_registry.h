// The nodes agents have registered, their liveness, and the long polls waiting for each
// node's next assignment set. Owned by the controller's loop thread; not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/event_loop.h"
#include "model/node.h"
#include "model/task.h"

namespace weft::controller {

class NodeRegistry {
 public:
  using Waiter = std::function<void()>;

  NodeRegistry(EventLoop& loop, Duration node_timeout) : loop_(loop), node_timeout_(node_timeout) {}

  // Records a report's identity and capacity. Returns true when the durable node record
  // changed (new node, new capacity, address or labels).
  bool Update(const model::NodeReport& report);
  // Adds a node loaded from the store; it counts as just heard from.
  void Restore(model::Node node);
  // Marks the node draining (or not). Reports never change it. REQUIRES: the node exists.
  void SetDrain(const std::string& name, bool drain, std::string reason);

  const model::Node* Find(const std::string& name) const;
  // UP when heard from within the node timeout.
  model::NodeState StateOf(const model::Node& node) const;
  const std::map<std::string, model::Node>& nodes() const { return nodes_; }

  // The node's assignment version: bumped whenever its assignment set changes.
  std::int64_t Version(const std::string& name) const;
  // Bumps the version and wakes every waiter of the node.
  void Bump(const std::string& name);
  // Calls `wake` at the next Bump of `name` or after `wait`, whichever comes first, once.
  void Wait(const std::string& name, Duration wait, Waiter wake);

 private:
  struct PendingWait {
    std::uint64_t id;
    TimerId timer;
    Waiter wake;
  };
  void WakeAll(const std::string& name);

  EventLoop& loop_;
  Duration node_timeout_;
  std::map<std::string, model::Node> nodes_;
  std::map<std::string, std::int64_t> versions_;
  std::map<std::string, std::vector<PendingWait>> waiters_;
  std::uint64_t next_wait_id_ = 1;
};

}  // namespace weft::controller
