// Discrete-event loop: time jumps to the next event. Deterministic: equal-time events run in
// posting order. Single-threaded: Post() must come from the thread that runs it.
#pragma once

#include <map>

#include "common/event_loop.h"

namespace weft {

class SimulatedEventLoop final : public EventLoop {
 public:
  explicit SimulatedEventLoop(TimePoint start) : clock_(start) {}
  const Clock& clock() const override { return clock_; }
  void Post(Task task) override { RunAt(clock_.Now(), std::move(task)); }
  TimerId RunAt(TimePoint when, Task task) override {
    const TimerId id = next_id_++;
    queue_.emplace(Key{std::max(when, clock_.Now()), id}, std::move(task));
    return id;
  }
  void Cancel(TimerId id) override {
    std::erase_if(queue_, [id](const auto& entry) { return entry.first.id == id; });
  }
  // Runs events in (time, posting order) until the queue drains or `until` passes.
  void RunUntil(TimePoint until) {
    while (!queue_.empty() && queue_.begin()->first.when <= until) {
      auto event = queue_.extract(queue_.begin());
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
};

}  // namespace weft
