// Runs one program without a shell: fork + execve of an absolute path with an explicit argv
// and environment, stdin fed from a string, stdout/stderr captured, a deadline after which
// the program's process group is killed. Safe to call from any thread; the child does only
// async-signal-safe work before execve.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace weft::backend {

struct CommandSpec {
  std::vector<std::string> argv;           // argv[0]: the absolute path executed
  std::map<std::string, std::string> env;  // the whole environment
  std::string stdin_text;
  std::chrono::milliseconds timeout{60000};
  std::string user;  // "" = as the caller; else setuid to it (root only)
};

struct CommandOutcome {
  int exec_errno = 0;      // execve (or setting up the child) failed with this errno
  bool timed_out = false;  // killed at the deadline
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal ended it
  std::string out;
  std::string err;
  bool ok() const { return exec_errno == 0 && !timed_out && signal == 0 && exit_code == 0; }
};

CommandOutcome RunCommand(const CommandSpec& spec);

}  // namespace weft::backend
