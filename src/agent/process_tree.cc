#include "agent/process_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <string_view>

#include "agent/cgroup_driver.h"

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
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
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

namespace {

// What the child reports through the close-on-exec pipe when a step before exec fails.
enum class ChildStage : int { kCgroup = 1, kSetsid, kStdio, kCredentials, kChdir, kExec };
struct ChildReport {
  ChildStage stage;
  int err;
  int index;  // the procs file, for kCgroup
};

// Everything the child needs, prepared in the parent: after a fork of a multithreaded process
// the child may only make async-signal-safe calls (no allocation, no locks).
struct ChildPlan {
  const char* program = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  const char* cwd = nullptr;
  int null_fd = -1, out_fd = -1, err_fd = -1, report_fd = -1;
  const char* const* procs_files = nullptr;  // the child writes its pid into each
  std::size_t procs_count = 0;
  bool set_credentials = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const gid_t* groups = nullptr;
  std::size_t groups_count = 0;
};

[[noreturn]] void ChildFail(const ChildPlan& plan, ChildStage stage, int err, int index = 0) {
  const ChildReport report{stage, err, index};
  ssize_t n;
  do {
    n = ::write(plan.report_fd, &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  ::_exit(127);
}

// Runs in the child: only system calls from here to exec.
[[noreturn]] void RunChild(const ChildPlan& plan) {
  // 1. Join the cgroup first, before anything of the task can run or fork.
  if (plan.procs_count > 0) {
    char digits[24];
    char* cursor = digits + sizeof digits;
    unsigned long value = static_cast<unsigned long>(::syscall(SYS_getpid));
    do {
      *--cursor = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    const std::size_t length = static_cast<std::size_t>(digits + sizeof digits - cursor);
    for (std::size_t i = 0; i < plan.procs_count; ++i) {
      const int fd = ::open(plan.procs_files[i], O_WRONLY | O_CLOEXEC);
      if (fd < 0) ChildFail(plan, ChildStage::kCgroup, errno, static_cast<int>(i));
      const ssize_t n = ::write(fd, cursor, length);
      const int err = errno;
      ::close(fd);
      if (n != static_cast<ssize_t>(length)) {
        ChildFail(plan, ChildStage::kCgroup, n < 0 ? err : EIO, static_cast<int>(i));
      }
    }
  }
  // 2. Default dispositions (the parent blocked every signal around the clone, so no handler
  // of the agent runs here); the mask is emptied right before exec.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &default_action, nullptr);  // fails harmlessly for libc-reserved signals
  }
  // 3. A session of its own.
  if (::setsid() < 0) ChildFail(plan, ChildStage::kSetsid, errno);
  // 4. stdio (every source fd is >= 3, so no dup2 clobbers another source).
  if (::dup2(plan.null_fd, 0) < 0 || ::dup2(plan.out_fd, 1) < 0 || ::dup2(plan.err_fd, 2) < 0) {
    ChildFail(plan, ChildStage::kStdio, errno);
  }
  // 5. Close every fd >= 3 but the report pipe (close-on-exec itself).
  bool closed = true;
  if (plan.report_fd > 3 && ::syscall(SYS_close_range, 3u, plan.report_fd - 1u, 0u) != 0) {
    closed = false;
  }
  if (::syscall(SYS_close_range, plan.report_fd + 1u, ~0u, 0u) != 0) closed = false;
  if (!closed) {
    for (int fd = 3; fd < 65536; ++fd) {
      if (fd != plan.report_fd) ::close(fd);
    }
  }
  // 6. Credentials, by raw system calls: libc's wrappers would signal the parent's other
  // threads (which do not exist here) to change theirs too.
  if (plan.set_credentials) {
    if (::syscall(SYS_setgroups, plan.groups_count, plan.groups) != 0 ||
        ::syscall(SYS_setgid, plan.gid) != 0 || ::syscall(SYS_setuid, plan.uid) != 0) {
      ChildFail(plan, ChildStage::kCredentials, errno);
    }
  }
  // 7. The working directory, as the task's user.
  if (::chdir(plan.cwd) != 0) ChildFail(plan, ChildStage::kChdir, errno);
  // 8. Empty mask, exec.
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
  ::execve(plan.program, plan.argv, plan.envp);
  ChildFail(plan, ChildStage::kExec, errno);
}

// clone3's argument block (linux/sched.h, CLONE_ARGS_SIZE_VER2), spelled out so that the build
// does not depend on the installed kernel headers.
struct CloneArgs {
  std::uint64_t flags = 0, pidfd = 0, child_tid = 0, parent_tid = 0, exit_signal = 0, stack = 0,
                stack_size = 0, tls = 0, set_tid = 0, set_tid_size = 0, cgroup = 0;
};
constexpr std::uint64_t kCloneIntoCgroup = 0x200000000ULL;
#ifdef SYS_clone3
constexpr long kSysClone3 = SYS_clone3;
#else
constexpr long kSysClone3 = 435;
#endif

int ChildEntry(void* plan) { RunChild(*static_cast<const ChildPlan*>(plan)); }

// Starts the child. With a v2 cgroup fd: clone3(CLONE_INTO_CGROUP), fork-style (clone3 has no
// libc wrapper that runs a function on a stack of its own). Otherwise,
// or when the kernel refuses it: a vfork-style clone (shared memory, the parent suspended
// until exec or exit, as posix_spawn does), the child writing its procs files itself.
pid_t CloneChild(int cgroup_fd, ChildPlan& plan) {
  if (cgroup_fd >= 0) {
    CloneArgs args;
    args.flags = kCloneIntoCgroup;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
    const long pid = ::syscall(kSysClone3, &args, sizeof args);
    if (pid == 0) {
      plan.procs_count = 0;  // this child's own copy: already in its cgroup
      RunChild(plan);
    }
    if (pid > 0) return static_cast<pid_t>(pid);
    // Older kernels (no clone3, no CLONE_INTO_CGROUP): the child writes its procs files.
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL && errno != EOPNOTSUPP) return -1;
  }
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  // The sanitizers cannot follow a CLONE_VM child on a stack of its own: it runs on the parent
  // thread's TSan state (false race reports) or outside ASan's known stack (false
  // stack-buffer-overflow, google/sanitizers#189). fork(), which they intercept, has the same
  // protocol: the child writes its procs files and reports failures through the pipe.
  const pid_t forked = ::fork();
  if (forked == 0) RunChild(plan);
  return forked;
#endif
  constexpr std::size_t kStackSize = 256 * 1024;
  void* stack = ::mmap(nullptr, kStackSize, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  const pid_t pid = ::clone(ChildEntry, static_cast<char*>(stack) + kStackSize,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  const int clone_errno = errno;
  ::munmap(stack, kStackSize);  // the child has exec'd or exited by now (CLONE_VFORK)
  errno = clone_errno;
  return pid;
}

// Keeps `fd` off 0-2, so that the child's dup2 onto 0-2 never overwrites another source.
bool LiftAboveStdio(UniqueFd& fd) {
  if (fd.get() < 0 || fd.get() > 2) return true;
  const int lifted = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (lifted < 0) return false;
  fd = UniqueFd(lifted);
  return true;
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
  UniqueFd null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int pipe_fds[2];
  if (null_in.get() < 0 || ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return Fail(ErrorCode::kInternal, fmt::format("cannot start {}: {}", spec.program,
                                                  ErrnoText(errno)));
  }
  UniqueFd report_read(pipe_fds[0]);
  UniqueFd report_write(pipe_fds[1]);
  if (!LiftAboveStdio(out) || !LiftAboveStdio(err) || !LiftAboveStdio(null_in) ||
      !LiftAboveStdio(report_write)) {
    return Fail(ErrorCode::kInternal, fmt::format("cannot start {}: {}", spec.program,
                                                  ErrnoText(errno)));
  }

  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(spec.env.size() + 1);
  for (const std::string& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  std::vector<const char*> procs_files;
  if (spec.cgroup != nullptr) {
    for (const std::string& f : spec.cgroup->procs_files) procs_files.push_back(f.c_str());
  }

  ChildPlan plan;
  plan.program = spec.program.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.cwd = spec.cwd.c_str();
  plan.null_fd = null_in.get();
  plan.out_fd = out.get();
  plan.err_fd = err.get() >= 0 ? err.get() : out.get();
  plan.report_fd = report_write.get();
  if (spec.credentials) {
    plan.set_credentials = true;
    plan.uid = spec.credentials->uid;
    plan.gid = spec.credentials->gid;
    plan.groups = spec.credentials->groups.data();
    plan.groups_count = spec.credentials->groups.size();
  }
  const int cgroup_fd = spec.cgroup != nullptr ? spec.cgroup->v2_dir_fd : -1;

  // Every signal blocked across the clone: the child must not run the agent's handlers.
  sigset_t all_signals;
  sigset_t old_mask;
  sigfillset(&all_signals);
  ::pthread_sigmask(SIG_SETMASK, &all_signals, &old_mask);
  plan.procs_files = procs_files.data();
  plan.procs_count = procs_files.size();
  const pid_t pid = CloneChild(cgroup_fd, plan);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) {
    return Fail(ErrorCode::kResourceExhausted,
                fmt::format("cannot start {}: {}", spec.program, ErrnoText(clone_errno)));
  }
  report_write = UniqueFd();  // the child holds the only write end now

  ChildReport report{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return pid;  // exec closed the pipe: it runs
  // A step before exec failed (or the pipe broke): the child exits; reap it here.
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof report)) {
    return Fail(ErrorCode::kInternal, fmt::format("cannot start {}: lost track of the child",
                                                  spec.program));
  }
  const int rc = report.err;
  switch (report.stage) {
    case ChildStage::kCgroup: {
      const std::string file =
          report.index >= 0 && static_cast<std::size_t>(report.index) < procs_files.size()
              ? procs_files[static_cast<std::size_t>(report.index)]
              : "?";
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("cannot start {} in its cgroup ({}): {}", spec.program, file,
                              ErrnoText(rc)));
    }
    case ChildStage::kCredentials:
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("cannot switch to uid {} gid {}: {}", plan.uid, plan.gid,
                              ErrnoText(rc)));
    case ChildStage::kChdir:
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("working directory {}: {}", spec.cwd, ErrnoText(rc)));
    case ChildStage::kExec: {
      // ENOENT for a file that exists: its "#!" interpreter is missing.
      const bool no_interpreter = rc == ENOENT && ::access(spec.program.c_str(), F_OK) == 0;
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("cannot execute {}: {}{}", spec.program, ErrnoText(rc),
                              no_interpreter ? " (is its #! interpreter installed?)" : ""));
    }
    case ChildStage::kSetsid:
    case ChildStage::kStdio:
    default:
      return Fail(ErrorCode::kInternal,
                  fmt::format("cannot start {}: {}", spec.program, ErrnoText(rc)));
  }
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
