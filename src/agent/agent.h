// The node agent behind `weft agent`: level-triggered like a kubelet. It reports the node
// and every task it knows to the controller, watches the node's assignment set, starts what
// is missing and kills what is no longer wanted.
//
// Threads: one loop thread owns all task state (TaskSupervisor); a reporter thread and a
// watch thread each talk to the controller with their own ControllerClient and post results
// to the loop; the process-wide ChildReaper thread reaps exits.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/controller_client.h"
#include "agent/task_isolation.h"
#include "common/clock.h"
#include "common/error.h"
#include "model/node.h"
#include "model/resources.h"

namespace weft::agent {

struct AgentConfig {
  std::string server_url;  // "http://127.0.0.1:PORT" or "https://..."
  std::string token;       // the server's join token
  std::string ca_file;     // https: CA file to verify the server with ("" = $WEFT_CA_FILE, else the system's)
  std::string name;                   // node name
  std::string address = "127.0.0.1";  // how other ranks reach this node
  model::Resources capacity;
  std::string gpu_model;  // "" when slots are fake
  std::map<std::string, std::string> labels;
  std::string work_dir;  // agent state: scripts, exit files
  Duration heartbeat_interval = std::chrono::seconds(2);
  Duration kill_wait = std::chrono::seconds(5);  // SIGTERM → SIGKILL grace
  // Self-fencing: after this long without a report reaching the controller (its host not
  // refusing the connection either: a controller that is merely restarting is no reason),
  // every running task is killed and reported node_failed, so that a partitioned node stops
  // its jobs before the controller (node timeout, default 30 s) runs them elsewhere. Keep it
  // below the server's --node-timeout; 0 never fences.
  Duration fence_after = std::chrono::seconds(20);
  // Cgroups, owners, GPU fencing (src/agent/task_isolation.h). Its base cgroup is named after
  // the node and work_dir, so an agent restarted on the same work_dir finds its tasks' cgroups.
  IsolationConfig isolation;
  std::vector<model::GpuInfo> gpus;  // real GPUs discovered (--gpus auto), reported as is
};

// The agent's container cgroup: "weft-<node>-<hash of work_dir>".
std::string CgroupBaseName(const std::string& node, const std::string& work_dir);

// Makes one client per call; each agent thread that talks to the controller gets its own.
using ControllerClientFactory = std::function<std::unique_ptr<ControllerClient>()>;

class Agent {
 public:
  // Talks HTTP to config.server_url.
  explicit Agent(AgentConfig config);
  // Talks through clients from `clients` (tests pass fakes).
  Agent(AgentConfig config, ControllerClientFactory clients);
  ~Agent();  // Stop()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Creates work_dir, takes over what an earlier agent left there (unacknowledged exits,
  // running tasks), starts the threads and returns at once. Call at most once.
  Result<> Start();
  // Stops the threads; running tasks keep running (a later Agent on the same work_dir adopts
  // them). Returns promptly: a thread still blocked in a controller call is left to finish
  // it and exit on its own. Idempotent; not from an agent thread.
  void Stop();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::agent
