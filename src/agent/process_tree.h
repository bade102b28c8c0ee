// Launching a task's main process and finding or signalling every process of its tree.
// Plain functions over POSIX and /proc, no state: callable from any thread.
//
// LaunchProcess spawns with clone3 (CLONE_INTO_CGROUP when given a v2 cgroup fd) or a plain
// fork-style clone, the child doing only async-signal-safe system calls before exec; a
// close-on-exec pipe carries the failing stage and errno back, so every failure (cgroup join,
// credentials, chdir, exec) is reported by LaunchProcess and nothing runs then.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"

namespace weft::agent {

// The environment variable that tags every process of a task, inherited by its descendants.
inline constexpr char kTaskMarkerVariable[] = "WEFT_TASK_MARKER";

struct CgroupPlacement;  // cgroup_driver.h

// Who the task runs as: the child calls setgroups(groups), setgid(gid), setuid(uid) in that order.
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (empty = none)
};

struct LaunchSpec {
  std::string program;            // absolute path given to exec
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // complete environment, "NAME=value" entries
  std::string cwd;
  std::string stdout_path;  // opened O_CREAT|O_WRONLY|O_APPEND, 0644; "" = /dev/null
  std::string stderr_path;  // same; "" = merged into stdout
  // The cgroup the process starts in (from CgroupDriver::Placement), or null: not moved. The
  // process is in it from its first instruction on: clone3(CLONE_INTO_CGROUP) with a v2 fd
  // where the kernel takes it, else the child writes its pid into every procs file before
  // exec; when joining fails the launch fails.
  const CgroupPlacement* cgroup = nullptr;
  std::optional<Credentials> credentials;  // unset = the agent's own
};

// Starts `spec` in a new session (its process group is its own, pgid == pid) with stdin from
// /dev/null. The new process is a child of the caller: whoever reaps children must learn its
// pid (see ChildReaper). Fails, with a message fit for the task's output file, when the cwd
// is not a directory, an output file cannot be opened, joining the cgroup or switching
// credentials fails, or exec fails; nothing runs then. The child starts with an empty signal
// mask, default dispositions and only fds 0-2 open.
Result<pid_t> LaunchProcess(const LaunchSpec& spec);

// One line of /proc/PID/stat.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgid = 0;
  char state = '?';                    // 'Z' = zombie
  unsigned long long start_ticks = 0;  // start time since boot, in clock ticks
};

// Reads /proc/PID/stat; false when the process does not exist (or cannot be parsed).
bool ReadProcessInfo(pid_t pid, ProcessInfo& out);

// True when `pid` runs (not a zombie) and, when `start_ticks` != 0, started at that tick:
// guards against a recycled pid.
bool ProcessAlive(pid_t pid, unsigned long long start_ticks);

// Every live process on the system (zombies excluded).
std::vector<ProcessInfo> ListProcesses();

// Value of kTaskMarkerVariable in /proc/PID/environ, or "" (no marker, gone, unreadable).
std::string ReadTaskMarker(pid_t pid);

// Which processes make up one task's tree.
struct TreeQuery {
  pid_t root = 0;      // main process, 0 = none alive
  pid_t pgid = 0;      // its process group, 0 = skip
  std::string marker;  // value of WEFT_TASK_MARKER, "" = skip
  // Where the marker is looked for. By default only in the caller's direct children and
  // their trees: an escaped descendant (one that left the process group) is either below a
  // process of the tree or, once its parent died, a child of the caller, the agent being its
  // subreaper. `marker_everywhere` reads every process's environ instead: for tasks adopted
  // from an earlier agent process, whose orphans went elsewhere.
  bool marker_everywhere = false;
  // Main pids of the caller's other live tasks: their environ is not read. May be null.
  const std::set<pid_t>* other_roots = nullptr;
};

// Live processes of the tree: the root, members of the process group, processes carrying the
// marker, and every descendant of those (by ppid links). Never includes the caller.
std::vector<pid_t> FindTaskTree(const TreeQuery& query);

// Sends `signal` once to the whole tree (kill(-pgid) plus each process FindTaskTree finds);
// returns how many processes were found.
int SignalTaskTree(const TreeQuery& query, int signal);

// Direct children of the calling process that carry a marker starting with `prefix`, with
// the marker: how the agent finds leftovers of tasks it no longer runs (every leftover in its
// subtree hangs below such a child). `skip` pids are not read. Reads /proc/PID/environ of each
// child.
struct MarkedProcess {
  pid_t pid = 0;
  std::string marker;
};
std::vector<MarkedProcess> FindMarkedChildren(const std::string& prefix,
                                              const std::set<pid_t>& skip);

// Direct children of the calling process (from /proc/self/task/*/children; the kernel may miss
// a child that comes or goes during the read). Cheap next to ListProcesses().
std::vector<pid_t> ListChildren();

// Sends `signal` to `pid` and all its descendants (by ppid links).
void SignalSubtree(pid_t pid, int signal);

}  // namespace weft::agent
