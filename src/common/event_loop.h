// The single thread that owns a component's state. Post() may be called from any thread;
// tasks and timers run on the loop thread, one at a time, in posting order for equal times.
#pragma once

#include <cstdint>
#include <functional>

#include "common/clock.h"

namespace weft {

using Task = std::function<void()>;
using TimerId = std::uint64_t;

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  virtual const Clock& clock() const = 0;
  // Thread-safe.
  virtual void Post(Task task) = 0;
  // Thread-safe. A timer in the past runs as soon as possible.
  virtual TimerId RunAt(TimePoint when, Task task) = 0;
  // Loop thread only. Cancelling a timer that already ran is a no-op.
  virtual void Cancel(TimerId id) = 0;
  TimerId RunAfter(Duration delay, Task task) {
    return RunAt(clock().Now() + delay, std::move(task));
  }
};

}  // namespace weft
