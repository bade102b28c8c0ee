#include "controller/node_registry.h"

#include <algorithm>

namespace weft::controller {

bool NodeRegistry::Update(const model::NodeReport& report) {
  auto [it, inserted] = nodes_.try_emplace(report.name);
  model::Node& node = it->second;
  const bool changed = inserted || node.address != report.address ||
                       node.capacity != report.capacity || node.gpu_model != report.gpu_model ||
                       node.labels != report.labels || node.gpus != report.gpus ||
                       node.isolation != report.isolation;
  node.name = report.name;
  node.address = report.address;
  node.capacity = report.capacity;
  node.gpu_model = report.gpu_model;
  node.labels = report.labels;
  node.gpus = report.gpus;
  node.isolation = report.isolation;
  if (auto pool = report.labels.find("pool"); pool != report.labels.end()) node.pool = pool->second;
  node.last_heartbeat = loop_.clock().Now();
  node.state = model::NodeState::kUp;
  return changed;
}

void NodeRegistry::SetDrain(const std::string& name, bool drain, std::string reason) {
  model::Node& node = nodes_.at(name);
  node.drain = drain;
  node.drain_reason = std::move(reason);
}

void NodeRegistry::Restore(model::Node node) {
  node.last_heartbeat = loop_.clock().Now();
  const std::string name = node.name;
  nodes_[name] = std::move(node);
}

const model::Node* NodeRegistry::Find(const std::string& name) const {
  auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

model::NodeState NodeRegistry::StateOf(const model::Node& node) const {
  return loop_.clock().Now() - node.last_heartbeat <= node_timeout_ ? model::NodeState::kUp
                                                                     : model::NodeState::kDown;
}

std::int64_t NodeRegistry::Version(const std::string& name) const {
  auto it = versions_.find(name);
  return it == versions_.end() ? 1 : it->second;
}

void NodeRegistry::Bump(const std::string& name) {
  versions_[name] = Version(name) + 1;
  WakeAll(name);
}

void NodeRegistry::Wait(const std::string& name, Duration wait, Waiter wake) {
  const std::uint64_t id = next_wait_id_++;
  const TimerId timer = loop_.RunAfter(wait, [this, name, id] {
    auto it = waiters_.find(name);
    if (it == waiters_.end()) return;
    auto& list = it->second;
    auto w = std::find_if(list.begin(), list.end(), [id](const PendingWait& p) { return p.id == id; });
    if (w == list.end()) return;
    Waiter wake_now = std::move(w->wake);
    list.erase(w);
    wake_now();
  });
  waiters_[name].push_back({id, timer, std::move(wake)});
}

void NodeRegistry::WakeAll(const std::string& name) {
  auto it = waiters_.find(name);
  if (it == waiters_.end()) return;
  std::vector<PendingWait> list = std::move(it->second);
  waiters_.erase(it);
  for (PendingWait& w : list) {
    loop_.Cancel(w.timer);
    w.wake();
  }
}

}  // namespace weft::controller
