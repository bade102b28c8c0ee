// The scheduler's inputs: a read-only picture of the cluster and the jobs waiting for it.
// Plain values built by the controller (or the simulator) once per cycle.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "model/job.h"
#include "model/queue.h"
#include "model/resources.h"

namespace weft::sched {

struct NodeView {
  std::string name;
  std::string pool = "default";
  model::Resources capacity;
  model::Resources free;           // capacity minus every allocation on the node
  std::vector<bool> gpu_free;      // per GPU slot; size == capacity.gpus
  std::string gpu_model;
  std::map<std::string, std::string> labels;
  bool schedulable = true;         // false while DOWN or draining
  bool idle = true;                // no allocation at all (what --exclusive needs)
  bool isolated = false;           // enforces what --require-isolation needs
  std::vector<int> host_ports;     // fixed ports held by jobs running here (JobSpec::host_port)
};

// One running job's hold on the cluster, for planning ahead (backfill). Its resources are
// already subtracted from the nodes' `free`; this says when they come back.
struct RunningAllocation {
  model::JobId job_id = 0;
  std::vector<model::NodeAllocation> ranks;  // the ranks still holding resources, by node name
  // start + time limit; nullopt = no time limit: the job holds its resources forever as far
  // as planning goes, so no reservation can use them (Slurm gives such jobs the partition's
  // maximum time instead). An end already past counts as "now" (the job is being killed).
  // A job being preempted ends by its stop deadline (preemption start + grace).
  std::optional<TimePoint> expected_end;
  // For preemption (sched/preemption.h).
  bool preemptible = false;  // only preemptible jobs are ever chosen as victims
  int priority = 0;          // the job's own --priority (minus --nice), not the multifactor one
  TimePoint start_time{};    // of the current attempt: the work a preemption would lose
  std::string queue = "default";
  // Already being preempted: never chosen again; what it holds is freed by expected_end
  // and promised to the job it was preempted for.
  bool stopping = false;
};

// Ordered by node name: iteration order feeds decisions, and decisions must be deterministic.
struct ClusterSnapshot {
  std::vector<NodeView> nodes;
  // Ordered by job id. Held resources not explained here (a node built with less `free`)
  // are taken to be held forever.
  std::vector<RunningAllocation> running;
  // Queue quotas and what each queue's running jobs hold now (none configured: no quota).
  std::vector<model::QueueConfig> queues;
  std::map<std::string, model::Resources> queue_usage;
};

// What the scheduler needs to know about one pending job.
struct PendingJob {
  model::JobId id = 0;
  int num_nodes = 1;
  model::Resources per_node;
  std::string gpu_model;  // "" = any
  bool exclusive = false;
  std::vector<std::string> pools;  // empty = any
  int priority = 0;      // what the queue order uses (the controller: multifactor priority)
  int own_priority = 0;  // the job's own --priority (minus --nice): what preemption compares
  TimePoint submit_time{};
  std::optional<Duration> time_limit;  // nullopt = none: it would run (and hold) forever
  std::string queue = "default";
  // "" = anywhere; "switch", "rack" or "zone": every rank on nodes with the same value of
  // that label (see GangPlacer, kTopologyLevels).
  std::string topology;
  bool require_isolation = false;  // only nodes with `isolated`
  int host_port = 0;               // only nodes where no running job holds it (0 = none)
  // Preemption holds (sched/preemption.h): this job preempted running jobs to make room for
  // itself. Until it starts it goes before every other job (so nobody else takes what its
  // victims free), and its quota ignores what stopping jobs still hold. While
  // `victims_stopping`, it plans no further preemption.
  bool preemption_hold = false;
  bool victims_stopping = false;
};

}  // namespace weft::sched
