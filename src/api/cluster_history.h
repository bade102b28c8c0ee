// Allocation over time for the dashboard's cluster chart: a fixed-size ring of samples of the
// UP nodes' capacity and what jobs hold of it, taken on the controller's loop thread every
// `interval` and served as GET /v1/cluster/history. Memory only: a restarted server starts
// a fresh history.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/event_loop.h"
#include "controller/controller.h"

namespace weft::api {

struct AllocationSample {
  TimePoint time;
  int nodes_up = 0;
  int nodes_down = 0;
  model::Resources capacity;   // UP nodes only
  model::Resources allocated;  // held by jobs on UP nodes
  int running_jobs = 0;
  int pending_jobs = 0;
};

// The sample of `controller` now. Loop thread only.
AllocationSample SampleAllocation(const controller::Controller& controller, TimePoint now);

class ClusterHistory {
 public:
  // Keeps the newest `capacity` samples (default: 6 hours at one per 10 s).
  explicit ClusterHistory(std::size_t capacity = 2160) : capacity_(capacity) {}

  void Record(const AllocationSample& sample);
  const std::deque<AllocationSample>& samples() const { return samples_; }
  // {"samples": [{"time": unix_s, "nodes_up", "nodes_down", "capacity": Resources,
  //   "allocated": Resources, "running_jobs", "pending_jobs"}, ...]}, oldest first; only
  // samples at or after `since` when given.
  nlohmann::json ToJson(std::optional<TimePoint> since = std::nullopt) const;

  // Samples `controller` now and then every `interval` on `loop` until Stop. Loop thread only.
  void Start(EventLoop& loop, const controller::Controller& controller, Duration interval);
  void Stop(EventLoop& loop);

 private:
  void Tick(EventLoop& loop, const controller::Controller& controller, Duration interval);

  std::size_t capacity_;
  std::deque<AllocationSample> samples_;
  TimerId timer_ = 0;
  bool running_ = false;
};

}  // namespace weft::api
