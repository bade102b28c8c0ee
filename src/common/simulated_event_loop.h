// Discrete-event loop: time jumps to the next event. Deterministic: equal-time events run in
// posting order. Single-threaded: Post() must come from the thread that runs it.
#pragma once

#include <map>
#include <unordered_map>

#include "common/event_loop.h"

namespace weft {

class SimulatedEventLoop final : public EventLoop {
 public:
  explicit SimulatedEventLoop(TimePoint start) : clock_(start) {}
  const Clock& clock() const override { return clock_; }
  void Post(Task task) override { RunAt(clock_.Now(), std::move(task)); }
  TimerId RunAt(TimePoint when, Task task) override {
    const TimerId id = next_id_++;
    const TimePoint at = std::max(when, clock_.Now());
    queue_.emplace(Key{at, id}, std::move(task));
    when_.emplace(id, at);
    return id;
  }
  // O(log n): `weft simulate` cancels a long-poll timer at every assignment change.
  void Cancel(TimerId id) override {
    auto it = when_.find(id);
    if (it == when_.end()) return;
    queue_.erase(Key{it->second, id});
    when_.erase(it);
  }
  // Runs events in (time, posting order) until the queue drains or `until` passes.
  void RunUntil(TimePoint until) {
    while (!queue_.empty() && queue_.begin()->first.when <= until) {
      auto event = queue_.extract(queue_.begin());
      when_.erase(event.key().id);
      clock_.AdvanceTo(event.key().when);
      event.mapped()();
    }
    clock_.AdvanceTo(until);
  }
  bool empty() const { return queue_.empty(); }

 private:
  struct Key {
    TimePoint when;
    TimerId id;  // Tie-breaker: equal-time events run in posting order.
    auto operator<=>(const Key&) const = default;
  };
  SimulatedClock clock_;
  TimerId next_id_ = 1;
  std::map<Key, Task> queue_;
  std::unordered_map<TimerId, TimePoint> when_;  // pending timers' keys in queue_
};

}  // namespace weft
