#include "net/asio_event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <vector>

namespace weft::net {
namespace {

using namespace std::chrono_literals;

constexpr auto kWait = 10s;  // Generous bound for anything that should happen promptly.

TEST(AsioEventLoopTest, PostedTasksRunInOrderOnTheLoopThread) {
  AsioEventLoop loop;
  EXPECT_FALSE(loop.InLoopThread());
  std::vector<int> order;  // Touched only on the loop thread until `done`.
  std::promise<bool> done;
  for (int i = 0; i < 100; ++i) loop.Post([&order, i] { order.push_back(i); });
  loop.Start();
  loop.Post([&] { done.set_value(loop.InLoopThread()); });
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_TRUE(future.get());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[static_cast<size_t>(i)], i);
}

TEST(AsioEventLoopTest, TimersFireInTimeOrderAndTiesInPostingOrder) {
  AsioEventLoop loop;
  loop.Start();
  std::mutex mu;
  std::string order;
  std::promise<void> done;
  const auto append = [&](const char* s) {
    return [&, s] {
      std::lock_guard lock(mu);
      order += s;
    };
  };
  const TimePoint now = loop.clock().Now();
  loop.RunAt(now + 60ms, append("c"));
  loop.RunAt(now + 20ms, append("a"));
  loop.RunAt(now + 40ms, append("b1"));
  loop.RunAt(now + 40ms, append("b2"));
  loop.RunAt(now - 1s, append("p"));  // In the past: runs as soon as possible.
  loop.RunAt(now + 80ms, [&] { done.set_value(); });
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_GE(loop.clock().Now(), now + 80ms);
  std::lock_guard lock(mu);
  EXPECT_EQ(order, "pab1b2c");
}

TEST(AsioEventLoopTest, CancelledTimersDoNotFire) {
  AsioEventLoop loop;
  loop.Start();
  std::atomic<bool> fired_cancelled{false};
  std::promise<void> done;
  // Armed from another thread, cancelled on the loop thread before it is due.
  const TimerId remote = loop.RunAfter(100ms, [&] { fired_cancelled = true; });
  loop.Post([&] {
    loop.Cancel(remote);
    // Armed and cancelled on the loop thread.
    const TimerId local = loop.RunAfter(10ms, [&] { fired_cancelled = true; });
    loop.Cancel(local);
    loop.Cancel(local);       // Twice: no-op.
    loop.Cancel(123456789);   // Unknown: no-op.
    loop.RunAfter(200ms, [&] { done.set_value(); });
  });
  ASSERT_EQ(done.get_future().wait_for(kWait), std::future_status::ready);
  EXPECT_FALSE(fired_cancelled);
}

TEST(AsioEventLoopTest, StopJoinsAfterTheRunningTaskAndIsIdempotent) {
  AsioEventLoop loop;
  loop.Start();
  std::promise<void> started;
  std::promise<void> go;
  std::shared_future<void> go_future = go.get_future().share();
  std::atomic<bool> finished{false};
  loop.Post([&] {
    started.set_value();
    go_future.wait();
    finished = true;
  });
  ASSERT_EQ(started.get_future().wait_for(kWait), std::future_status::ready);
  go.set_value();
  loop.Stop();
  EXPECT_TRUE(finished);  // Stop() joined the loop thread, so the running task completed.
  loop.Stop();
  loop.Post([] {});  // After Stop: dropped, harmless.
  EXPECT_FALSE(loop.InLoopThread());
}

TEST(AsioEventLoopTest, StopFromTheLoopThreadDropsLaterTasks) {
  std::atomic<bool> later_ran{false};
  std::promise<void> stopped;
  {
    AsioEventLoop loop;
    loop.Post([&] {
      loop.Stop();  // Cannot join itself: returns, and the loop ends after this task.
      stopped.set_value();
    });
    loop.Post([&] { later_ran = true; });
    loop.Start();
    ASSERT_EQ(stopped.get_future().wait_for(kWait), std::future_status::ready);
  }  // The destructor joins the thread.
  EXPECT_FALSE(later_ran);
}

}  // namespace
}  // namespace weft::net
