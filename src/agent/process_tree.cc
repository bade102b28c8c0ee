#include "agent/process_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string_view>

namespace weft::agent {
namespace {

// Closes a file descriptor when it goes out of scope.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string ErrnoText(int err) { return std::strerror(err); }

// Reads a whole (small or large) file; false when it cannot be opened.
bool ReadWholeFile(const char* path, std::string& out, std::size_t limit) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  out.clear();
  char buffer[4096];
  while (out.size() < limit) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

bool ParsePid(const char* name, pid_t& pid) {
  if (*name < '1' || *name > '9') return false;
  char* end = nullptr;
  const long value = std::strtol(name, &end, 10);
  if (*end != '\0' || value <= 0) return false;
  pid = static_cast<pid_t>(value);
  return true;
}

// Children of each pid among `procs`.
std::map<pid_t, std::vector<pid_t>> ChildrenMap(const std::vector<ProcessInfo>& procs) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const ProcessInfo& p : procs) children[p.ppid].push_back(p.pid);
  return children;
}

// Adds every descendant of the pids in `found` (and the seeds themselves) to `found`.
void AddDescendants(const std::map<pid_t, std::vector<pid_t>>& children, std::set<pid_t>& found) {
  std::deque<pid_t> frontier(found.begin(), found.end());
  while (!frontier.empty()) {
    const pid_t pid = frontier.front();
    frontier.pop_front();
    auto it = children.find(pid);
    if (it == children.end()) continue;
    for (pid_t child : it->second) {
      if (found.insert(child).second) frontier.push_back(child);
    }
  }
}

}  // namespace

Result<pid_t> LaunchProcess(const LaunchSpec& spec) {
  struct stat st {};
  if (::stat(spec.cwd.c_str(), &st) != 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("working directory {}: {}", spec.cwd, ErrnoText(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("working directory {} is not a directory", spec.cwd));
  }
  const std::string out_path = spec.stdout_path.empty() ? "/dev/null" : spec.stdout_path;
  UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (out.get() < 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("cannot open output file {}: {}", out_path, ErrnoText(errno)));
  }
  UniqueFd err(spec.stderr_path.empty() ? -1
                                        : ::open(spec.stderr_path.c_str(),
                                                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!spec.stderr_path.empty()) {
    if (err.get() < 0) {
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("cannot open error file {}: {}", spec.stderr_path, ErrnoText(errno)));
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err.get() >= 0 ? err.get() : out.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  // New session; no blocked signals and default dispositions whatever the agent's threads use.
  sigset_t empty_mask;
  sigset_t all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(spec.env.size() + 1);
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = 0;
  const int rc =
      ::posix_spawn(&pid, spec.program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    // ENOENT for a file that exists: its "#!" interpreter is missing.
    const bool no_interpreter = rc == ENOENT && ::access(spec.program.c_str(), F_OK) == 0;
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("cannot execute {}: {}{}", spec.program, ErrnoText(rc),
                            no_interpreter ? " (is its #! interpreter installed?)" : ""));
  }
  return pid;
}

bool ReadProcessInfo(pid_t pid, ProcessInfo& out) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  char buffer[1024];
  ssize_t n;
  do {
    n = ::read(fd.get(), buffer, sizeof buffer - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  buffer[n] = '\0';
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice threads itrealvalue starttime ...": comm may hold ')'.
  const char* close_paren = std::strrchr(buffer, ')');
  if (close_paren == nullptr || close_paren[1] != ' ' || close_paren[2] == '\0') return false;
  out.pid = pid;
  out.state = close_paren[2];
  const char* cursor = close_paren + 3;
  unsigned long long fields[20] = {};
  for (int i = 1; i < 20; ++i) {  // fields[1] = ppid ... fields[19] = starttime
    char* end = nullptr;
    fields[i] = std::strtoull(cursor, &end, 10);
    if (end == cursor) return false;
    cursor = end;
  }
  out.ppid = static_cast<pid_t>(fields[1]);
  out.pgid = static_cast<pid_t>(fields[2]);
  out.start_ticks = fields[19];
  return true;
}

bool ProcessAlive(pid_t pid, unsigned long long start_ticks) {
  ProcessInfo info;
  if (pid <= 0 || !ReadProcessInfo(pid, info)) return false;
  if (info.state == 'Z' || info.state == 'X') return false;
  return start_ticks == 0 || info.start_ticks == start_ticks;
}

std::vector<ProcessInfo> ListProcesses() {
  std::vector<ProcessInfo> procs;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return procs;
  while (const dirent* entry = ::readdir(dir)) {
    pid_t pid = 0;
    if (!ParsePid(entry->d_name, pid)) continue;
    ProcessInfo info;
    if (!ReadProcessInfo(pid, info) || info.state == 'Z' || info.state == 'X') continue;
    procs.push_back(info);
  }
  ::closedir(dir);
  return procs;
}

std::string ReadTaskMarker(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/environ", static_cast<int>(pid));
  std::string environ;
  if (!ReadWholeFile(path, environ, std::size_t{16} << 20)) return "";
  constexpr std::string_view kPrefix = "WEFT_TASK_MARKER=";
  std::size_t begin = 0;
  while (begin < environ.size()) {
    std::size_t end = environ.find('\0', begin);
    if (end == std::string::npos) end = environ.size();
    const std::string_view entry(environ.data() + begin, end - begin);
    if (entry.starts_with(kPrefix)) return std::string(entry.substr(kPrefix.size()));
    begin = end + 1;
  }
  return "";
}

std::vector<pid_t> FindTaskTree(const TreeQuery& query) {
  const pid_t self = ::getpid();
  const std::vector<ProcessInfo> procs = ListProcesses();
  const auto children = ChildrenMap(procs);
  std::set<pid_t> found;
  for (const ProcessInfo& p : procs) {
    if (p.pid == self) continue;
    if ((query.root > 0 && p.pid == query.root) || (query.pgid > 0 && p.pgid == query.pgid)) {
      found.insert(p.pid);
    }
  }
  if (!query.marker.empty()) {
    auto consider = [&](pid_t pid) {
      if (pid == self || found.count(pid) != 0) return;
      if (query.other_roots != nullptr && query.other_roots->count(pid) != 0) return;
      if (ReadTaskMarker(pid) == query.marker) found.insert(pid);
    };
    if (query.marker_everywhere) {
      for (const ProcessInfo& p : procs) consider(p.pid);
    } else if (auto it = children.find(self); it != children.end()) {
      for (pid_t child : it->second) consider(child);
    }
  }
  AddDescendants(children, found);
  found.erase(self);
  return {found.begin(), found.end()};
}

int SignalTaskTree(const TreeQuery& query, int signal) {
  if (query.pgid > 1) ::kill(-query.pgid, signal);
  const std::vector<pid_t> pids = FindTaskTree(query);
  for (pid_t pid : pids) ::kill(pid, signal);
  return static_cast<int>(pids.size());
}

std::vector<MarkedProcess> FindMarkedChildren(const std::string& prefix,
                                              const std::set<pid_t>& skip) {
  std::vector<MarkedProcess> marked;
  const pid_t self = ::getpid();
  for (const ProcessInfo& p : ListProcesses()) {
    if (p.ppid != self || skip.count(p.pid) != 0) continue;
    std::string marker = ReadTaskMarker(p.pid);
    if (!marker.empty() && marker.starts_with(prefix)) {
      marked.push_back(MarkedProcess{p.pid, std::move(marker)});
    }
  }
  return marked;
}

std::vector<pid_t> ListChildren() {
  std::vector<pid_t> children;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return children;
  std::string text;
  while (const dirent* entry = ::readdir(dir)) {
    pid_t tid = 0;
    if (!ParsePid(entry->d_name, tid)) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(tid));
    if (!ReadWholeFile(path, text, std::size_t{1} << 20)) continue;
    const char* cursor = text.c_str();
    for (;;) {
      char* end = nullptr;
      const long pid = std::strtol(cursor, &end, 10);
      if (end == cursor) break;
      children.push_back(static_cast<pid_t>(pid));
      cursor = end;
    }
  }
  ::closedir(dir);
  return children;
}

void SignalSubtree(pid_t pid, int signal) {
  if (pid <= 1 || pid == ::getpid()) return;
  const std::vector<ProcessInfo> procs = ListProcesses();
  std::set<pid_t> found{pid};
  AddDescendants(ChildrenMap(procs), found);
  found.erase(::getpid());
  for (pid_t p : found) ::kill(p, signal);
}

}  // namespace weft::agent
