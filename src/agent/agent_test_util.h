// Helpers for the agent's tests: temporary directories, polling with a deadline, and a view
// of the processes carrying a task marker.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/process_tree.h"

namespace weft::agent::testing {

// A fresh directory under /tmp, removed with its content on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "weft-agent-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Polls `pred` until it holds or `timeout` passes; returns its last value.
inline bool WaitUntil(const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Live processes whose WEFT_TASK_MARKER starts with `prefix`.
inline std::vector<pid_t> MarkedProcesses(const std::string& prefix) {
  std::vector<pid_t> pids;
  for (const ProcessInfo& p : ListProcesses()) {
    if (p.pid == ::getpid()) continue;
    const std::string marker = ReadTaskMarker(p.pid);
    if (!marker.empty() && marker.starts_with(prefix)) pids.push_back(p.pid);
  }
  return pids;
}

// SIGKILLs every process marked with `prefix` until none is left (test cleanup).
inline bool KillMarkedProcesses(const std::string& prefix) {
  return WaitUntil([&] {
    const std::vector<pid_t> pids = MarkedProcesses(prefix);
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    return pids.empty();
  });
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace weft::agent::testing
