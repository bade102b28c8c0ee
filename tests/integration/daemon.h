// A background process for tests that need a daemon outside LocalCluster's own (an agent with
// the wrong token or CA): started in its own session with output in a log file, stopped with
// SIGTERM (SIGKILL after 10 s) and reaped by its pid. Header-only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "local_cluster.h"

extern char** environ;

namespace weft::testing {

class Daemon {
 public:
  // Runs `argv` in `cwd` with `env` set over the test's environment ("" values are removed).
  Daemon(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, const std::string& cwd,
         std::string log_path)
      : log_path_(std::move(log_path)) {
    // Everything execve needs is built before fork: the child of a threaded test may not allocate.
    std::vector<std::string> args = argv;
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      const std::string entry(*e);
      if (!env.count(entry.substr(0, entry.find('=')))) env_strings.push_back(entry);
    }
    for (const auto& [key, value] : env) {
      if (!value.empty()) env_strings.push_back(key + "=" + value);
    }
    std::vector<char*> raw_args, raw_env;
    for (auto& a : args) raw_args.push_back(a.data());
    raw_args.push_back(nullptr);
    for (auto& e : env_strings) raw_env.push_back(e.data());
    raw_env.push_back(nullptr);
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setsid();
      if (::chdir(cwd.c_str()) != 0) _exit(126);
      ::dup2(null_fd, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execve(raw_args[0], raw_args.data(), raw_env.data());
      _exit(127);
    }
    ::close(null_fd);
    ::close(log);
  }
  ~Daemon() { Stop(); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_path_); }
  // True once the log contains `text` (polled until `timeout`).
  bool WaitForLog(const std::string& text, std::chrono::milliseconds timeout) const {
    return PollUntil([&] { return Log().find(text) != std::string::npos; }, timeout);
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!PollUntil([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, std::chrono::seconds(10))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace weft::testing
