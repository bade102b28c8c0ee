// The contract between the controller and a node agent: what one rank of a job should run
// (TaskAssignment, controller → agent) and what became of it (TaskReport, agent → controller).
#pragma once

#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/job.h"
#include "model/node.h"

namespace weft::model {

struct TaskKey {
  JobId job_id = 0;
  int rank = 0;
  int attempt = 0;  // restart count of the job when this task was assigned
  auto operator<=>(const TaskKey&) const = default;
};
std::string ToString(const TaskKey& key);  // "12.0" or "12.0@1" for a restarted job

// The controller wants a running task stopped (preemption): send `signal` to its whole
// process tree, wait `grace`, then SIGKILL what is left. The exit reports `preempted`.
struct StopRequest {
  int signal = 15;  // SIGTERM unless the job asked for another (--signal)
  Duration grace{};
  bool operator==(const StopRequest&) const = default;
};

// A task's complete environment, read like a map. Copies share one immutable map: the
// controller copies a task's assignment into every answer to its node's watch, and the
// environment is most of an assignment's bytes. Built whole (from a map), never edited.
class TaskEnvironment {
 public:
  using Map = std::map<std::string, std::string>;
  TaskEnvironment() = default;
  TaskEnvironment(Map map) : map_(std::make_shared<const Map>(std::move(map))) {}  // NOLINT: implicit
  TaskEnvironment(std::initializer_list<Map::value_type> init) : TaskEnvironment(Map(init)) {}

  const Map& map() const { return map_ ? *map_ : Empty(); }
  const std::string& at(const std::string& name) const { return map().at(name); }
  std::size_t count(const std::string& name) const { return map().count(name); }
  std::size_t size() const { return map().size(); }
  bool empty() const { return map().empty(); }
  Map::const_iterator begin() const { return map().begin(); }
  Map::const_iterator end() const { return map().end(); }
  bool operator==(const TaskEnvironment& other) const { return map() == other.map(); }

 private:
  static const Map& Empty();
  std::shared_ptr<const Map> map_;
};

struct TaskAssignment {
  TaskKey key;
  std::string script;
  std::vector<std::string> args;
  TaskEnvironment env;  // complete environment of the task
  std::string work_dir;
  std::string output_path;
  std::string error_path;  // "" = merged into output
  std::optional<Duration> time_limit;
  Resources resources;
  std::vector<int> gpu_ids;
  // --signal: sent `warning->before` ahead of the time limit (to the batch shell alone when
  // `batch_only`, else the whole tree). Ignored without a time limit.
  std::optional<SignalSpec> warning;
  // Set while the job is being preempted. A task not started yet is not started: it is
  // reported exited at once (exit code 0, `preempted`).
  std::optional<StopRequest> stop;
  // The Unix user the task runs as (the job's owner) when the agent runs as root.
  std::string user;
};

struct TaskReport {
  TaskKey key;
  TaskPhase phase = TaskPhase::kRunning;
  std::optional<TimePoint> start_time;
  std::optional<TimePoint> end_time;
  std::optional<TaskExit> exit;
  std::optional<TaskUsage> usage;  // so far while running; final once exited
};

// An agent's periodic, level-triggered report: who it is, what it has, every task it knows.
struct NodeReport {
  std::string name;
  std::string address;
  Resources capacity;
  std::string gpu_model;
  std::map<std::string, std::string> labels;
  std::vector<GpuInfo> gpus;
  NodeIsolation isolation;
  std::vector<TaskReport> tasks;
};

// The controller's answer to a watch: the complete set of tasks the node should run.
struct NodeAssignments {
  std::int64_t version = 0;
  std::vector<TaskAssignment> tasks;
};

}  // namespace weft::model
