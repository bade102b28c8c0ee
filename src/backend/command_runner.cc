#include "backend/command_runner.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace weft::backend {
namespace {

using Clock = std::chrono::steady_clock;

struct Pipe {
  int fd[2] = {-1, -1};
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void Close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    Close(0);
    Close(1);
  }
};

[[noreturn]] void ChildFail(int report_fd, int err) {
  (void)!::write(report_fd, &err, sizeof(err));
  ::_exit(127);
}

}  // namespace

CommandOutcome RunCommand(const CommandSpec& spec) {
  CommandOutcome outcome;
  if (spec.argv.empty()) {
    outcome.exec_errno = EINVAL;
    return outcome;
  }
  // Everything the child needs is prepared before fork.
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (const std::string& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  if (!spec.user.empty()) {
    struct passwd pw_storage {
    }, *pw = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(spec.user.c_str(), &pw_storage, buf.data(), buf.size(), &pw) != 0 || !pw) {
      outcome.exec_errno = ESRCH;
      outcome.err = "no such user: " + spec.user;
      return outcome;
    }
    switch_user = true;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    int n = 64;
    groups.resize(n);
    if (::getgrouplist(spec.user.c_str(), gid, groups.data(), &n) < 0) {
      groups.resize(n);
      ::getgrouplist(spec.user.c_str(), gid, groups.data(), &n);
    }
    groups.resize(n);
  }

  Pipe in, out, err, report;
  if (!in.Open() || !out.Open() || !err.Open() || !report.Open()) {
    outcome.exec_errno = errno;
    return outcome;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    outcome.exec_errno = errno;
    return outcome;
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group: the deadline kills everything it started
    if (::dup2(in.fd[0], 0) < 0 || ::dup2(out.fd[1], 1) < 0 || ::dup2(err.fd[1], 2) < 0) {
      ChildFail(report.fd[1], errno);
    }
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);  // nothing else of Weft's leaks into it
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (switch_user) {
      if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) {
        ChildFail(report.fd[1], errno);
      }
    }
    ::execve(argv[0], argv.data(), envp.data());
    ChildFail(report.fd[1], errno);
  }
  in.Close(0);
  out.Close(1);
  err.Close(1);
  report.Close(1);

  // Feed stdin and drain stdout/stderr until both close or the deadline passes. SIGPIPE is
  // blocked for this thread while writing (a child that exits without reading is not fatal).
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  ::fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
  std::size_t written = 0;
  if (spec.stdin_text.empty()) in.Close(1);
  const auto deadline = Clock::now() + spec.timeout;
  char buf[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      outcome.timed_out = true;
      break;
    }
    pollfd fds[3] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}, {in.fd[1], POLLOUT, 0}};
    const int ready = ::poll(fds, 3, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? outcome.out : outcome.err).append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out : err).Close(0);
      }
    }
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = ::write(in.fd[1], spec.stdin_text.data() + written, spec.stdin_text.size() - written);
      if (n > 0) written += n;
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == spec.stdin_text.size()) in.Close(1);
    }
  }
  in.Close(1);
  {
    const timespec zero{0, 0};
    while (::sigtimedwait(&pipe_set, nullptr, &zero) > 0) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  // Output closed: the program has exited or is about to; one that lingers past the deadline
  // (it closed its output and kept running) is killed with everything it started.
  int status = 0;
  while (true) {
    if (outcome.timed_out || Clock::now() >= deadline) {
      outcome.timed_out = true;
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) break;
    ::poll(nullptr, 0, 5);  // 5 ms between checks while it finishes exiting
  }
  int child_errno = 0;
  if (::read(report.fd[0], &child_errno, sizeof(child_errno)) == sizeof(child_errno)) {
    outcome.exec_errno = child_errno;
  }
  if (WIFEXITED(status)) outcome.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) outcome.signal = WTERMSIG(status);
  return outcome;
}

}  // namespace weft::backend
