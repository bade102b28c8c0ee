// The production EventLoop: one thread running an asio io_context, timers on the system
// clock. All state owned by the loop is touched only from tasks posted to it.
#pragma once

#include <memory>

#include "common/event_loop.h"

namespace weft::net {

class AsioEventLoop final : public EventLoop {
 public:
  AsioEventLoop();
  ~AsioEventLoop() override;  // Stops and joins the thread.

  const Clock& clock() const override;
  void Post(Task task) override;
  TimerId RunAt(TimePoint when, Task task) override;
  void Cancel(TimerId id) override;

  // Starts the loop thread. REQUIRES: not started.
  void Start();
  // Stops the loop after the task running now; later tasks are dropped. Idempotent.
  void Stop();
  // True when called from the loop thread.
  bool InLoopThread() const;

 private:
  class State;
  std::unique_ptr<State> state_;
};

}  // namespace weft::net
