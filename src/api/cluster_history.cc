#include "api/cluster_history.h"

#include "model/json.h"

namespace weft::api {

using nlohmann::json;

AllocationSample SampleAllocation(const controller::Controller& controller, TimePoint now) {
  AllocationSample s;
  s.time = now;
  for (const controller::NodeStatus& node : controller.ListNodes()) {
    if (node.state != model::NodeState::kUp) {
      ++s.nodes_down;
      continue;
    }
    ++s.nodes_up;
    s.capacity += node.node.capacity;
    s.allocated += node.allocated;
  }
  controller::JobFilter live;
  live.states = {model::JobState::kPending, model::JobState::kRunning};
  controller.ForEachJob(live, [&](const model::Job& job) {
    (job.state == model::JobState::kRunning ? s.running_jobs : s.pending_jobs) += 1;
  });
  return s;
}

void ClusterHistory::Record(const AllocationSample& sample) {
  if (capacity_ == 0) return;
  samples_.push_back(sample);
  while (samples_.size() > capacity_) samples_.pop_front();
}

json ClusterHistory::ToJson(std::optional<TimePoint> since) const {
  json rows = json::array();
  for (const AllocationSample& s : samples_) {
    if (since && s.time < *since) continue;
    rows.push_back(json{{"time", static_cast<double>(ToUnixMicros(s.time)) / 1e6},
                        {"nodes_up", s.nodes_up},
                        {"nodes_down", s.nodes_down},
                        {"capacity", s.capacity},
                        {"allocated", s.allocated},
                        {"running_jobs", s.running_jobs},
                        {"pending_jobs", s.pending_jobs}});
  }
  return json{{"samples", std::move(rows)}};
}

void ClusterHistory::Start(EventLoop& loop, const controller::Controller& controller, Duration interval) {
  running_ = true;
  Tick(loop, controller, interval);
}

void ClusterHistory::Stop(EventLoop& loop) {
  running_ = false;
  loop.Cancel(timer_);
}

void ClusterHistory::Tick(EventLoop& loop, const controller::Controller& controller, Duration interval) {
  if (!running_) return;
  Record(SampleAllocation(controller, loop.clock().Now()));
  timer_ = loop.RunAfter(interval, [this, &loop, &controller, interval] { Tick(loop, controller, interval); });
}

}  // namespace weft::api
