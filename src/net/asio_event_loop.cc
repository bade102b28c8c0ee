#include "net/asio_event_loop.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/check.h"

namespace weft::net {

namespace asio = boost::asio;

// Timers live in one queue ordered by (system time, id), so equal times run in RunAt order, and
// a single asio steady_timer sleeps until the earliest one. A timer is due when the system
// clock reaches its time. The queue is guarded by `mu` because RunAt() may come from any
// thread; the asio timer is touched on the loop thread only.
class AsioEventLoop::State {
 public:
  SystemClock clock;
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  asio::steady_timer wakeup{ioc};
  std::thread thread;
  std::mutex stop_mu;
  bool started = false;  // Guarded by stop_mu.
  bool stopped = false;  // Guarded by stop_mu.

  std::mutex mu;
  TimerId next_id = 1;                                   // Guarded by mu.
  std::map<std::pair<TimePoint, TimerId>, Task> timers;  // Guarded by mu.
  std::unordered_map<TimerId, TimePoint> deadlines;      // Guarded by mu.

  // Loop thread. Points the asio timer at the earliest deadline (a no-op when none).
  void Arm() {
    TimePoint earliest;
    {
      std::lock_guard lock(mu);
      if (timers.empty()) return;
      earliest = timers.begin()->first.first;
    }
    // Re-arming cancels the previous wait, whose handler then sees operation_aborted.
    wakeup.expires_after(std::max(earliest - clock.Now(), Duration::zero()));
    wakeup.async_wait([this](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      RunDueTimers();
    });
  }

  // Loop thread. Runs every timer that is due, one at a time, in (deadline, id) order.
  void RunDueTimers() {
    while (!ioc.stopped()) {
      Task task;
      {
        std::lock_guard lock(mu);
        if (timers.empty() || timers.begin()->first.first > clock.Now()) {
          break;
        }
        auto node = timers.extract(timers.begin());
        deadlines.erase(node.key().second);
        task = std::move(node.mapped());
      }
      task();
    }
    Arm();
  }
};

AsioEventLoop::AsioEventLoop() : state_(std::make_unique<State>()) {}

AsioEventLoop::~AsioEventLoop() {
  Stop();
  if (state_->thread.joinable()) {
    // Only when Stop() ran on the loop thread and the loop is destroyed there too.
    if (state_->thread.get_id() == std::this_thread::get_id()) {
      state_->thread.detach();
    } else {
      state_->thread.join();
    }
  }
}

const Clock& AsioEventLoop::clock() const { return state_->clock; }

void AsioEventLoop::Post(Task task) { asio::post(state_->ioc, std::move(task)); }

TimerId AsioEventLoop::RunAt(TimePoint when, Task task) {
  TimerId id;
  bool earliest;
  {
    std::lock_guard lock(state_->mu);
    id = state_->next_id++;
    auto it = state_->timers.emplace(std::make_pair(when, id), std::move(task)).first;
    state_->deadlines.emplace(id, when);
    earliest = it == state_->timers.begin();
  }
  if (earliest) {
    if (InLoopThread()) {
      state_->Arm();
    } else {
      asio::post(state_->ioc, [state = state_.get()] { state->Arm(); });
    }
  }
  return id;
}

void AsioEventLoop::Cancel(TimerId id) {
  // The asio timer may still wake up for this deadline; it then finds nothing due.
  std::lock_guard lock(state_->mu);
  const auto it = state_->deadlines.find(id);
  if (it == state_->deadlines.end()) return;
  state_->timers.erase(std::make_pair(it->second, id));
  state_->deadlines.erase(it);
}

void AsioEventLoop::Start() {
  std::lock_guard lock(state_->stop_mu);
  WEFT_CHECK(!state_->started);
  state_->started = true;
  if (state_->stopped) return;
  state_->thread = std::thread([state = state_.get()] { state->ioc.run(); });
}

void AsioEventLoop::Stop() {
  std::lock_guard lock(state_->stop_mu);
  if (state_->stopped) return;
  state_->stopped = true;
  state_->work.reset();
  state_->ioc.stop();
  // From the loop thread itself the thread cannot be joined here; the destructor does it.
  if (state_->thread.joinable() && !InLoopThread()) state_->thread.join();
}

bool AsioEventLoop::InLoopThread() const {
  return state_->ioc.get_executor().running_in_this_thread();
}

}  // namespace weft::net
