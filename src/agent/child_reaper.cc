#include "agent/child_reaper.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "agent/process_tree.h"
#include "common/log.h"

namespace weft::agent {
namespace {
constexpr std::size_t kMaxUnclaimed = 512;
}  // namespace

ChildReaper& ChildReaper::Instance() {
  // Leaked on purpose: the thread runs until the process exits.
  static ChildReaper* const instance = new ChildReaper();
  return *instance;
}

ChildReaper::ChildReaper() {
  // With SIGCHLD ignored the kernel would reap children itself and their statuses be lost.
  ::signal(SIGCHLD, SIG_DFL);
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    Log(LogLevel::kWarn, "cannot become a child subreaper: {}; orphans of tasks escape the agent",
        std::strerror(errno));
  }
  std::thread([this] { Run(); }).detach();
}

void ChildReaper::Run() {
  for (;;) {
    std::uint64_t launches_seen;
    {
      std::lock_guard lock(mu_);
      launches_seen = launches_;
    }
    // Peek without reaping, so that the pid stays visible in /proc until it is dispatched
    // under the lock (Adopt relies on it).
    siginfo_t info{};
    if (::waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      std::unique_lock lock(mu_);
      // ECHILD: no children at all. Wait for the next launch (or look again in a while, for
      // children started by other code).
      has_children_.wait_for(lock, std::chrono::seconds(1),
                             [&] { return launches_ != launches_seen; });
      continue;
    }
    if (info.si_pid <= 0) continue;
    std::lock_guard lock(mu_);
    int status = 0;
    if (::waitpid(info.si_pid, &status, WNOHANG) != info.si_pid) continue;  // reaped elsewhere
    auto it = watched_.find(info.si_pid);
    if (it == watched_.end()) {
      RememberUnclaimed(info.si_pid, status);
      continue;
    }
    ExitCallback callback = std::move(it->second);
    watched_.erase(it);
    callback(info.si_pid, status);
  }
}

void ChildReaper::RememberUnclaimed(pid_t pid, int wait_status) {
  if (unclaimed_.insert_or_assign(pid, wait_status).second) unclaimed_order_.push_back(pid);
  while (unclaimed_order_.size() > kMaxUnclaimed) {
    unclaimed_.erase(unclaimed_order_.front());
    unclaimed_order_.pop_front();
  }
}

Result<pid_t> ChildReaper::LaunchWatched(const std::function<Result<pid_t>()>& launch,
                                         ExitCallback on_exit) {
  std::lock_guard lock(mu_);
  Result<pid_t> pid = launch();
  if (!pid) return pid;
  // A recycled pid: whatever was remembered under it belongs to an older process.
  if (unclaimed_.erase(*pid) != 0) std::erase(unclaimed_order_, *pid);
  watched_[*pid] = std::move(on_exit);
  ++launches_;
  has_children_.notify_one();
  return pid;
}

ChildReaper::AdoptResult ChildReaper::Adopt(pid_t pid, unsigned long long start_ticks,
                                            ExitCallback on_exit) {
  std::lock_guard lock(mu_);
  if (auto it = unclaimed_.find(pid); it != unclaimed_.end()) {
    const int status = it->second;
    unclaimed_.erase(it);
    std::erase(unclaimed_order_, pid);
    return Exited{status};
  }
  ProcessInfo info;
  if (!ReadProcessInfo(pid, info) || (start_ticks != 0 && info.start_ticks != start_ticks)) {
    return Gone{};
  }
  if (info.ppid != ::getpid()) {
    if (info.state == 'Z' || info.state == 'X') return Gone{};
    return NotOurChild{};
  }
  // Our child, maybe a zombie not yet reaped: the reaper dispatches it under mu_ later.
  watched_[pid] = std::move(on_exit);
  return Watching{};
}

void ChildReaper::Unwatch(pid_t pid) {
  std::lock_guard lock(mu_);
  watched_.erase(pid);
}

bool ChildReaper::IsWatched(pid_t pid) const {
  std::lock_guard lock(mu_);
  return watched_.count(pid) != 0;
}

}  // namespace weft::agent
