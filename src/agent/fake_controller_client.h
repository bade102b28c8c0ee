// An in-memory controller for agent tests: holds a node's assignment set and records the
// reports it receives. FakeController is thread-safe; each agent thread gets its own
// FakeControllerClient from NewClient().
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "agent/controller_client.h"

namespace weft::agent {

class FakeController : public std::enable_shared_from_this<FakeController> {
 public:
  // Replaces the assignment set and bumps the version, waking watchers.
  void SetAssignments(std::vector<model::TaskAssignment> tasks) {
    std::lock_guard lock(mu_);
    assignments_.tasks = std::move(tasks);
    ++assignments_.version;
    changed_.notify_all();
  }
  // Bumps the version without changing the set.
  void BumpVersion() { SetAssignments(Assignments().tasks); }
  model::NodeAssignments Assignments() const {
    std::lock_guard lock(mu_);
    return assignments_;
  }
  // While unreachable, every call fails at once with kUnavailable.
  void SetReachable(bool reachable) {
    std::lock_guard lock(mu_);
    reachable_ = reachable;
    changed_.notify_all();
  }

  // While false, reports fail with kUnavailable (watches still work).
  void SetAcceptReports(bool accept) {
    std::lock_guard lock(mu_);
    accept_reports_ = accept;
  }

  // Reports received so far, oldest first.
  std::vector<model::NodeReport> Reports() const {
    std::lock_guard lock(mu_);
    return reports_;
  }
  // Exits recorded from reports (as the controller would record them durably).
  std::map<model::TaskKey, model::TaskReport> Exits() const {
    std::lock_guard lock(mu_);
    return exits_;
  }
  // Waits until `pred(reports)` holds, up to `timeout`; returns whether it held.
  bool WaitFor(const std::function<bool(const std::vector<model::NodeReport>&)>& pred,
               std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, [&] { return pred(reports_); });
  }
  // Waits for some report to show `key` with the given phase; returns the latest such.
  std::optional<model::TaskReport> WaitForTask(
      const model::TaskKey& key, model::TaskPhase phase,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    std::optional<model::TaskReport> found;
    WaitFor(
        [&](const std::vector<model::NodeReport>& reports) {
          for (auto report = reports.rbegin(); report != reports.rend(); ++report) {
            for (const model::TaskReport& t : report->tasks) {
              if (t.key == key && t.phase == phase) {
                found = t;
                return true;
              }
            }
          }
          return false;
        },
        timeout);
    return found;
  }

  std::unique_ptr<ControllerClient> NewClient();

 private:
  friend class FakeControllerClient;

  Result<std::int64_t> Report(const model::NodeReport& report) {
    std::lock_guard lock(mu_);
    if (!reachable_ || !accept_reports_) {
      return Fail(ErrorCode::kUnavailable, "fake controller unreachable");
    }
    for (const model::TaskReport& t : report.tasks) {
      if (t.exit) exits_[t.key] = t;
    }
    reports_.push_back(report);
    changed_.notify_all();
    return assignments_.version;
  }

  Result<model::NodeAssignments> Watch(std::int64_t version, Duration wait,
                                       const bool& interrupted) {
    std::unique_lock lock(mu_);
    if (!reachable_) return Fail(ErrorCode::kUnavailable, "fake controller unreachable");
    changed_.wait_for(
        lock, wait, [&] { return interrupted || !reachable_ || assignments_.version != version; });
    if (interrupted) return Fail(ErrorCode::kAborted, "interrupted");
    if (!reachable_) return Fail(ErrorCode::kUnavailable, "fake controller unreachable");
    return assignments_;
  }

  void Interrupt(bool& interrupted) {
    std::lock_guard lock(mu_);
    interrupted = true;
    changed_.notify_all();
  }

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  model::NodeAssignments assignments_;
  bool reachable_ = true;
  bool accept_reports_ = true;
  std::vector<model::NodeReport> reports_;
  std::map<model::TaskKey, model::TaskReport> exits_;
};

class FakeControllerClient final : public ControllerClient {
 public:
  explicit FakeControllerClient(std::shared_ptr<FakeController> controller)
      : controller_(std::move(controller)) {}
  Result<std::int64_t> Report(const model::NodeReport& report) override {
    return controller_->Report(report);
  }
  Result<model::NodeAssignments> Watch(std::int64_t version, Duration wait) override {
    return controller_->Watch(version, wait, interrupted_);
  }
  void Interrupt() override { controller_->Interrupt(interrupted_); }

 private:
  std::shared_ptr<FakeController> controller_;
  bool interrupted_ = false;  // guarded by controller_->mu_
};

inline std::unique_ptr<ControllerClient> FakeController::NewClient() {
  return std::make_unique<FakeControllerClient>(shared_from_this());
}

}  // namespace weft::agent
