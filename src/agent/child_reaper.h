// The process-wide reaper of child processes. The agent launches tasks as its children and
// makes itself a child subreaper, so that a task's orphaned descendants are re-parented to it
// too; one thread waits for any child and hands each exit to whoever watches that pid.
//
// Contract for the rest of the process: once the reaper runs, it reaps EVERY child of the
// process, so code that runs a helper and waits for it with waitpid() (system(), popen())
// must do so before the agent starts, or through the reaper.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <variant>

#include "common/error.h"

namespace weft::agent {

class ChildReaper {
 public:
  // Called on the reaper thread with the pid and its waitpid() status, while the reaper's
  // lock is held: it must be quick and must not call into the ChildReaper.
  using ExitCallback = std::function<void(pid_t pid, int wait_status)>;

  // The single instance. The first call makes the process a child subreaper and starts the
  // reaper thread, which runs until the process exits.
  static ChildReaper& Instance();

  ChildReaper(const ChildReaper&) = delete;
  ChildReaper& operator=(const ChildReaper&) = delete;

  // Runs `launch` and watches the pid it returns. Launch and registration are atomic with
  // respect to reaping, so the exit cannot be missed however quickly the child ends.
  // Thread-safe.
  Result<pid_t> LaunchWatched(const std::function<Result<pid_t>()>& launch, ExitCallback on_exit);

  // What Adopt found.
  struct Watching {};  // a live child of ours, now watched
  struct Exited {      // it already ended and was reaped here, unclaimed
    int wait_status = 0;
  };
  struct NotOurChild {};  // alive, but another process's child: poll it
  struct Gone {};         // no such process: its exit status is lost
  using AdoptResult = std::variant<Watching, Exited, NotOurChild, Gone>;

  // Takes over a task process launched by an earlier agent (in this process or another one).
  // `start_ticks` (from ProcessInfo) guards against a recycled pid. Thread-safe.
  AdoptResult Adopt(pid_t pid, unsigned long long start_ticks, ExitCallback on_exit);

  // Stops watching `pid`. After it returns the pid's callback never runs; a later exit is kept
  // for Adopt (the last few hundred). Thread-safe.
  void Unwatch(pid_t pid);

  // True while `pid` is a watched, unreaped child. Thread-safe.
  bool IsWatched(pid_t pid) const;

 private:
  ChildReaper();
  void Run();
  void RememberUnclaimed(pid_t pid, int wait_status);  // REQUIRES: mu_ held

  mutable std::mutex mu_;
  std::condition_variable has_children_;
  std::uint64_t launches_ = 0;  // bumped at each launch, wakes the reaper after ECHILD
  std::map<pid_t, ExitCallback> watched_;
  std::map<pid_t, int> unclaimed_;
  std::deque<pid_t> unclaimed_order_;
};

}  // namespace weft::agent
