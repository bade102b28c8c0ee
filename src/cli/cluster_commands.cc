// `weft up` / `weft down`: a local cluster (one server, N agents) in the background.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "common/strings.h"
#include "model/json.h"

namespace weft::cli {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string SelfExe() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

// Starts `argv` in its own session with output appended to `log`; returns its pid.
Result<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid < 0) return Fail(ErrorCode::kInternal, fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDONLY);
    const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

// True while `pid` exists and is not a zombie.
bool Alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = ReadText(fmt::format("/proc/{}/stat", pid));
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

// The process is still the one we started: its command line names our state directory.
bool IsOurs(pid_t pid, const std::string& state_dir) {
  std::string cmdline = ReadText(fmt::format("/proc/{}/cmdline", pid));
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  return cmdline.find(state_dir) != std::string::npos;
}

void ReapChildren() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// SIGTERM, then SIGKILL after `grace`; returns once every pid is gone.
void Terminate(const std::vector<pid_t>& pids, const std::string& state_dir, std::chrono::seconds grace) {
  std::vector<pid_t> ours;
  for (pid_t pid : pids) {
    if (pid > 0 && Alive(pid) && IsOurs(pid, state_dir)) ours.push_back(pid);
  }
  for (pid_t pid : ours) ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  auto all_gone = [&] {
    ReapChildren();
    return std::none_of(ours.begin(), ours.end(), Alive);
  };
  while (!all_gone() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (pid_t pid : ours) {
    if (Alive(pid)) ::kill(pid, SIGKILL);
  }
  const auto kill_deadline = Clock::now() + std::chrono::seconds(5);
  while (!all_gone() && Clock::now() < kill_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

long long MemoryBytes() {
  return static_cast<long long>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
}

Result<json> ReadConfig() {
  const std::string text = ReadText(ConfigPath());
  if (text.empty()) return Fail(ErrorCode::kNotFound, "no local cluster is running");
  return model::ParseJson(text);
}

}  // namespace

int UpCommand(const UpOptions& options) {
  if (options.agents < 1) return ReportError({ErrorCode::kInvalidArgument, "--agents: must be at least 1"}, 2);
  if (options.gpus_per_agent < 0) return ReportError({ErrorCode::kInvalidArgument, "--gpus-per-agent: must be 0 or more"}, 2);
  if (auto existing = ReadConfig(); existing && existing->is_object()) {
    ClientConfig config{existing->value("server", ""), existing->value("token", "")};
    ApiClient client(config);
    if (client.Get("/v1/nodes", std::chrono::seconds(2))) {
      std::printf("Weft is already running at %s\n", config.server.c_str());
      return 0;
    }
  }
  const char* home = std::getenv("HOME");
  const std::string state_dir = std::filesystem::absolute(
      options.state_dir.empty() ? std::string(home ? home : "/tmp") + "/.weft/cluster" : options.state_dir).string();
  std::error_code ec;
  std::filesystem::create_directories(state_dir + "/agents", ec);
  if (ec) return ReportError({ErrorCode::kInvalidArgument, fmt::format("--state-dir: cannot create '{}': {}", state_dir, ec.message())});
  std::filesystem::remove(state_dir + "/address", ec);

  const std::string exe = SelfExe();
  std::vector<std::string> server_args = {exe, "server", "--listen", "127.0.0.1:0", "--state-dir", state_dir};
  if (!options.config.empty()) {
    server_args.push_back("--config");
    server_args.push_back(std::filesystem::absolute(options.config).string());
  }
  auto server = Spawn(server_args, state_dir + "/server.log");
  if (!server) return ReportError(server.error());
  std::string url;
  for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
    url = std::string(Trim(ReadText(state_dir + "/address")));
    if (!url.empty() || !Alive(*server)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (url.empty()) {
    Terminate({*server}, state_dir, std::chrono::seconds(2));
    std::string log = std::string(Trim(ReadText(state_dir + "/server.log")));
    if (auto nl = log.rfind('\n'); nl != std::string::npos) log = log.substr(nl + 1);
    return ReportError({ErrorCode::kUnavailable,
                        fmt::format("the server did not start: {} (see {}/server.log)", log, state_dir)});
  }
  const std::string token = std::string(Trim(ReadText(state_dir + "/token")));

  const int cpus = options.cpus_per_agent > 0 ? options.cpus_per_agent : static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  const std::string memory = options.memory_per_agent.empty()
                                 ? fmt::format("{}M", MemoryBytes() / options.agents >> 20)
                                 : options.memory_per_agent;
  std::vector<pid_t> agents;
  json agent_pids = json::array();
  for (int i = 1; i <= options.agents; ++i) {
    const std::string name = fmt::format("node{}", i);
    auto pid = Spawn({exe, "agent", "--server", url, "--join-token-file", state_dir + "/join_token", "--name", name, "--cpus",
                      std::to_string(cpus), "--memory", memory, "--gpus", std::to_string(options.gpus_per_agent),
                      "--work-dir", state_dir + "/agents/" + name, "--isolation", options.isolation},
                     state_dir + "/agent-" + name + ".log");
    if (!pid) return ReportError(pid.error());
    agents.push_back(*pid);
    agent_pids.push_back(*pid);
  }
  const json config = {{"server", url}, {"token", token}, {"state_dir", state_dir},
                       {"server_pid", *server}, {"agent_pids", agent_pids}};
  std::filesystem::create_directories(std::filesystem::path(ConfigPath()).parent_path(), ec);
  {
    const std::string path = ConfigPath();
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const std::string text = config.dump(2) + "\n";
    if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return ReportError({ErrorCode::kUnavailable, fmt::format("cannot write {}", path)});
    }
    ::close(fd);
  }
  // Ready when every agent has registered.
  ApiClient client(ClientConfig{url, token});
  for (auto deadline = Clock::now() + std::chrono::seconds(30);;) {
    auto nodes = client.Get("/v1/nodes");
    int up = 0;
    if (nodes) {
      for (const json& n : (*nodes)["nodes"]) up += n.value("state", "") == "UP";
    }
    if (up >= options.agents) break;
    if (Clock::now() > deadline) {
      return ReportError({ErrorCode::kUnavailable, fmt::format("only {} of {} agents registered; see {}/agent-*.log",
                                                               up, options.agents, state_dir)});
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("Weft is up: server %s, %d agents (%d cpus, %s memory, %d gpus each); state in %s\n", url.c_str(),
              options.agents, cpus, memory.c_str(), options.gpus_per_agent, state_dir.c_str());
  return 0;
}

int DownCommand() {
  auto config = ReadConfig();
  if (!config || !config->is_object()) {
    std::printf("Weft is not running\n");
    return 0;
  }
  const std::string state_dir = config->value("state_dir", "");
  ApiClient client(ClientConfig{config->value("server", ""), config->value("token", "")});
  // Cancel what still runs so agents kill their tasks, then wait until nothing is held.
  if (auto jobs = client.Get("/v1/jobs?state=PENDING,RUNNING", std::chrono::seconds(5))) {
    for (const json& job : (*jobs)["jobs"]) {
      (void)client.Post(fmt::format("/v1/jobs/{}/cancel", job.value("id", 0LL)), json::object());
    }
    for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
      auto nodes = client.Get("/v1/nodes", std::chrono::seconds(5));
      if (!nodes) break;
      bool busy = false;
      for (const json& n : (*nodes)["nodes"]) busy = busy || (!n["jobs"].empty() && n.value("state", "") == "UP");
      if (!busy) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::vector<pid_t> agents;
  for (const json& pid : config->value("agent_pids", json::array())) agents.push_back(pid.get<pid_t>());
  Terminate(agents, state_dir, std::chrono::seconds(10));
  Terminate({config->value("server_pid", 0)}, state_dir, std::chrono::seconds(10));
  std::error_code ec;
  std::filesystem::remove(ConfigPath(), ec);
  std::printf("Weft is down\n");
  return 0;
}

}  // namespace weft::cli
