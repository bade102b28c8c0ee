// Test harness: a real Weft cluster (one `weft server`, N `weft agent` processes) in a temp
// directory on 127.0.0.1 with an OS-chosen port, plus helpers to run the real CLI against it.
// Everything it starts is stopped by its destructor, tasks included.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace weft::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

struct AgentSpec {
  int cpus = 4;
  std::string memory = "4G";
  int gpus = 2;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes; returns the last value.
bool PollUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);
// Runs a program with `env` added to the environment, in `cwd`; captures its output.
CommandResult RunProgram(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                         const std::string& cwd, const std::string& stdin_text = "");
bool ProcessAlive(pid_t pid);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);

// Where the cluster's processes sit on the network. Default: all on 127.0.0.1. A test that
// runs agents as separate hosts (netns.h) sets the server's listen host and, per agent index,
// an argv prefix (nsenter into its namespace) and the address the agent advertises.
struct ClusterNetwork {
  std::string listen_host = "127.0.0.1";
  std::function<std::vector<std::string>(int index)> agent_prefix;  // unset: none
  std::function<std::string(int index)> agent_address;              // unset: 127.0.0.<index+1>
};

class LocalCluster {
 public:
  // `server_config`: YAML for `weft server --config` ("" = none); `agent_args`: more
  // `weft agent` flags for every agent (--pids-limit, --isolation).
  explicit LocalCluster(int agents, AgentSpec spec = {}, std::string server_config = "",
                        std::vector<std::string> agent_args = {}, std::vector<std::string> server_args = {},
                        ClusterNetwork network = {});
  ~LocalCluster();

  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  const std::string& dir() const { return dir_; }       // temp root
  const std::string& work_dir() const { return work_; }  // where CLI commands run

  // `weft <args...>` with WEFT_SERVER/WEFT_TOKEN pointing at this cluster.
  CommandResult Weft(const std::vector<std::string>& args, const std::string& stdin_text = "") const;
  // The same with another user's token, run in `cwd` (where a submitted job's work dir is).
  CommandResult WeftAs(const std::string& token, const std::string& cwd, const std::vector<std::string>& args) const;
  // Starts one more agent; returns its node name once it is UP.
  std::string AddAgent(const AgentSpec& spec, const std::vector<std::string>& agent_args = {});
  // Sends `signal` to agent `index` (0-based) and reaps it: the node falls silent.
  void KillAgent(int index, int signal);
  // Starts agent `index` again on its work dir, as it was started first.
  void RestartAgent(int index);
  // GET/POST against the REST API; aborts the test on transport errors.
  nlohmann::json Get(const std::string& target) const;
  nlohmann::json Job(long long id) const { return Get("/v1/jobs/" + std::to_string(id)); }
  // Submits a script file written into work_dir; returns the job id (test fails on error).
  long long SubmitScript(const std::string& name, const std::string& script,
                         const std::vector<std::string>& options = {}) const;
  // Waits until the job reaches a final state (and released its nodes); returns its record.
  nlohmann::json WaitFinal(long long id, std::chrono::seconds timeout = std::chrono::seconds(60)) const;

  void KillServer(int signal);
  void StartServer();
  pid_t server_pid() const { return server_pid_; }
  std::vector<std::string> agent_names() const;

 private:
  void StartAgent(int index, const AgentSpec& spec, const std::vector<std::string>& agent_args);
  std::string dir_, state_dir_, work_, url_, token_;
  std::vector<std::string> server_args_;
  ClusterNetwork network_;
  std::vector<std::pair<AgentSpec, std::vector<std::string>>> agent_specs_;  // by index
  std::string prefix_;  // unique node-name prefix, marks this cluster's tasks
  std::string config_path_;  // server --config file, "" = none
  pid_t server_pid_ = -1;
  std::vector<pid_t> agent_pids_;
};

}  // namespace weft::testing
