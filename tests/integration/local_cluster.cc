#include "local_cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "net/http.h"

extern char** environ;

namespace weft::testing {

using Clock = std::chrono::steady_clock;

bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

bool ProcessAlive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'Z';
}

namespace {

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                   const std::string& cwd, int in_fd, int out_fd, int err_fd, bool new_session) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (!env.count(key)) env_strings.push_back(entry);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (new_session) ::setsid();
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(126);
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::string Slurp(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  return out;
}

void StopProcess(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (!PollUntil([&] { return ::waitpid(pid, nullptr, WNOHANG) == pid || !ProcessAlive(pid); },
                 std::chrono::seconds(10))) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

// Kills every process whose environment carries a task marker of this cluster's agents.
void KillMarkedTasks(const std::string& prefix) {
  const std::string needle = "WEFT_TASK_MARKER=" + prefix;
  for (int round = 0; round < 50; ++round) {
    bool found = false;
    DIR* proc = ::opendir("/proc");
    while (dirent* entry = ::readdir(proc)) {
      const pid_t pid = std::atoi(entry->d_name);
      if (pid <= 0 || pid == ::getpid()) continue;
      const std::string environ_text = ReadFile("/proc/" + std::to_string(pid) + "/environ");
      if (environ_text.find(needle) != std::string::npos && ProcessAlive(pid)) {
        ::kill(pid, SIGKILL);
        found = true;
      }
    }
    ::closedir(proc);
    if (!found) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Removes the cgroups this cluster's agents left (an agent stopped while tasks ran keeps
// their cgroups for the next agent to adopt; tests never start one): every directory under
// /sys/fs/cgroup whose name starts with "weft-<prefix>", deepest first. Best effort.
void RemoveAgentCgroups(const std::string& prefix) {
  namespace fs = std::filesystem;
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it.depth() > 6 || !it->is_directory(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename().string().starts_with("weft-" + prefix)) {
      found.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  for (const fs::path& base : found) {
    std::vector<fs::path> dirs{base};
    for (fs::recursive_directory_iterator it(base, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.begin(), dirs.end(), [](const fs::path& a, const fs::path& b) {
      return a.string().size() > b.string().size();  // children before parents
    });
    // A task SIGKILLed with its agent may still be exiting: what is left in the cgroup is this
    // cluster's own task, killed again until the directory goes (bounded).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (const fs::path& dir : dirs) {
      while (::rmdir(dir.c_str()) != 0 && errno == EBUSY && std::chrono::steady_clock::now() < deadline) {
        std::ifstream procs(dir / "cgroup.procs");
        for (pid_t pid; procs >> pid;) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
}

}  // namespace

CommandResult RunProgram(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         const std::string& cwd, const std::string& stdin_text) {
  char in_path[] = "/tmp/weft-in-XXXXXX";
  const int in_fd = ::mkstemp(in_path);
  ::unlink(in_path);
  if (!stdin_text.empty()) {
    [[maybe_unused]] auto n = ::write(in_fd, stdin_text.data(), stdin_text.size());
  }
  ::lseek(in_fd, 0, SEEK_SET);
  char out_path[] = "/tmp/weft-out-XXXXXX";
  char err_path[] = "/tmp/weft-err-XXXXXX";
  const int out_fd = ::mkstemp(out_path);
  const int err_fd = ::mkstemp(err_path);
  ::unlink(out_path);
  ::unlink(err_path);
  const pid_t pid = SpawnProcess(argv, env, cwd, in_fd, out_fd, err_fd, false);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::lseek(out_fd, 0, SEEK_SET);
  ::lseek(err_fd, 0, SEEK_SET);
  r.out = Slurp(out_fd);
  r.err = Slurp(err_fd);
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  return r;
}

LocalCluster::LocalCluster(int agents, AgentSpec spec, std::string server_config,
                           std::vector<std::string> agent_args, std::vector<std::string> server_args,
                           ClusterNetwork network)
    : server_args_(std::move(server_args)), network_(std::move(network)) {
  char tmpl[] = "/tmp/weft-it-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  state_dir_ = dir_ + "/state";
  work_ = dir_ + "/work";
  std::filesystem::create_directories(work_);
  prefix_ = "it" + std::to_string(::getpid()) + "x" + dir_.substr(dir_.size() - 6) + "n";
  if (!server_config.empty()) {
    config_path_ = dir_ + "/weft.yaml";
    WriteFile(config_path_, server_config);
  }
  StartServer();
  for (int i = 0; i < agents; ++i) StartAgent(i, spec, agent_args);
  const bool registered = PollUntil(
      [&] {
        nlohmann::json nodes = Get("/v1/nodes");
        int up = 0;
        // This cluster's agents only (a slurm pool's nodes are listed too).
        for (const auto& n : nodes["nodes"]) {
          up += n["state"] == "UP" && n.value("name", "").rfind(prefix_, 0) == 0;
        }
        return up == agents;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(registered) << "agents did not register";
}

LocalCluster::~LocalCluster() {
  for (pid_t pid : agent_pids_) StopProcess(pid);
  StopProcess(server_pid_);
  KillMarkedTasks(prefix_);
  RemoveAgentCgroups(prefix_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void LocalCluster::StartServer() {
  std::filesystem::create_directories(state_dir_);
  std::filesystem::remove(state_dir_ + "/address");
  const int log = ::open((dir_ + "/server.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  // A restarted server takes the same port back, so running agents find it again.
  const std::string listen = url_.empty() ? network_.listen_host + ":0" : url_.substr(url_.find("://") + 3);  // http or https
  std::vector<std::string> argv = {WEFT_BINARY, "server", "--listen", listen, "--state-dir", state_dir_};
  if (!config_path_.empty()) {
    argv.push_back("--config");
    argv.push_back(config_path_);
  }
  argv.insert(argv.end(), server_args_.begin(), server_args_.end());
  server_pid_ = SpawnProcess(argv, {}, dir_, null_fd, log, log, true);
  ::close(log);
  ::close(null_fd);
  const bool up = PollUntil([&] { return !ReadFile(state_dir_ + "/address").empty(); }, std::chrono::seconds(20));
  ASSERT_TRUE(up) << "server did not start: " << ReadFile(dir_ + "/server.log");
  url_ = ReadFile(state_dir_ + "/address");
  url_.erase(url_.find_last_not_of("\n") + 1);
  token_ = ReadFile(state_dir_ + "/token");
  token_.erase(token_.find_last_not_of("\n") + 1);
}

void LocalCluster::KillServer(int signal) {
  ::kill(server_pid_, signal);
  ::waitpid(server_pid_, nullptr, 0);
  server_pid_ = -1;
}

void LocalCluster::StartAgent(int index, const AgentSpec& spec, const std::vector<std::string>& agent_args) {
  const std::string name = prefix_ + std::to_string(index + 1);
  const int log = ::open((dir_ + "/agent-" + name + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  std::vector<std::string> argv = {WEFT_BINARY, "agent", "--server", url_, "--join-token-file", state_dir_ + "/join_token",
                                   "--name", name, "--cpus", std::to_string(spec.cpus), "--memory", spec.memory,
                                   "--work-dir", dir_ + "/agents/" + name,
                                   "--address",
                                   network_.agent_address ? network_.agent_address(index)
                                                          : "127.0.0." + std::to_string(index + 1),
                                   "--kill-wait", "2",
                                   "--heartbeat", "0.5"};
  argv.insert(argv.end(), agent_args.begin(), agent_args.end());
  if (std::find(agent_args.begin(), agent_args.end(), "--gpus") == agent_args.end()) {
    argv.insert(argv.end(), {"--gpus", std::to_string(spec.gpus)});  // unless the args say (auto)
  }
  if (network_.agent_prefix) {
    const std::vector<std::string> prefix = network_.agent_prefix(index);
    argv.insert(argv.begin(), prefix.begin(), prefix.end());
  }
  const pid_t pid = SpawnProcess(argv, {}, dir_, null_fd, log, log, true);
  if (index < static_cast<int>(agent_pids_.size())) {
    agent_pids_[index] = pid;
  } else {
    agent_pids_.push_back(pid);
    agent_specs_.emplace_back(spec, agent_args);
  }
  ::close(log);
  ::close(null_fd);
}

std::vector<std::string> LocalCluster::agent_names() const {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < agent_pids_.size(); ++i) names.push_back(prefix_ + std::to_string(i + 1));
  return names;
}

CommandResult LocalCluster::WeftAs(const std::string& token, const std::string& cwd,
                                   const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {WEFT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, {{"WEFT_SERVER", url_}, {"WEFT_TOKEN", token}, {"WEFT_CONFIG", dir_ + "/no-config.json"}},
                    cwd);
}

void LocalCluster::KillAgent(int index, int signal) {
  const pid_t pid = agent_pids_.at(index);
  ::kill(pid, signal);
  ::waitpid(pid, nullptr, 0);
  agent_pids_[index] = -1;
}

void LocalCluster::RestartAgent(int index) {
  const auto [spec, args] = agent_specs_.at(index);
  StartAgent(index, spec, args);
}

std::string LocalCluster::AddAgent(const AgentSpec& spec, const std::vector<std::string>& agent_args) {
  const int index = static_cast<int>(agent_pids_.size());
  StartAgent(index, spec, agent_args);
  const std::string name = prefix_ + std::to_string(index + 1);
  const bool up = PollUntil(
      [&] {
        const nlohmann::json nodes = Get("/v1/nodes");
        for (const auto& n : nodes["nodes"]) {
          if (n["name"] == name && n["state"] == "UP") return true;
        }
        return false;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(up) << "agent " << name << " did not register";
  return name;
}

CommandResult LocalCluster::Weft(const std::vector<std::string>& args, const std::string& stdin_text) const {
  std::vector<std::string> argv = {WEFT_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, {{"WEFT_SERVER", url_}, {"WEFT_TOKEN", token_}, {"WEFT_CONFIG", dir_ + "/no-config.json"}},
                    work_, stdin_text);
}

nlohmann::json LocalCluster::Get(const std::string& target) const {
  net::HttpClient client(url_, token_);
  auto response = client.Get(target);
  if (!response) {
    ADD_FAILURE() << "GET " << target << ": " << response.error().message;
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(response->body, nullptr, false);
}

long long LocalCluster::SubmitScript(const std::string& name, const std::string& script,
                                     const std::vector<std::string>& options) const {
  WriteFile(work_ + "/" + name, script);
  std::vector<std::string> args = {"submit", "--parsable"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back(name);
  CommandResult r = Weft(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return std::atoll(r.out.c_str());
}

nlohmann::json LocalCluster::WaitFinal(long long id, std::chrono::seconds timeout) const {
  nlohmann::json job;
  const bool ended = PollUntil(
      [&] {
        job = Get("/v1/jobs/" + std::to_string(id) + "?wait_ms=1000");
        const std::string state = job.value("state", "");
        return state != "PENDING" && state != "RUNNING" && !state.empty();
      },
      timeout);
  EXPECT_TRUE(ended) << "job " << id << " still " << job.value("state", "?");
  return job;
}

}  // namespace weft::testing
