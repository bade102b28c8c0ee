#include "controller/task_environment.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "controller/hostlist.h"
#include "spec/job_spec_parser.h"

namespace weft::controller {
namespace {

std::string Resolve(const std::string& pattern, const model::Job& job, int rank) {
  spec::FilenameContext ctx;
  ctx.job_id = job.id;
  ctx.job_name = job.spec.name;
  ctx.node_name = job.allocation.ranks[rank].node;
  ctx.node_index = rank;
  ctx.user = job.spec.user;
  ctx.restart_count = job.restart_count;
  if (job.array_job_id != 0) {
    ctx.array_job_id = job.array_job_id;
    ctx.array_task_id = job.array_task_id;
  }
  std::string path = spec::ExpandFilenamePattern(pattern, ctx);
  if (!path.empty() && path[0] != '/') path = job.spec.work_dir + "/" + path;
  return path;
}

std::string JoinInts(const std::vector<int>& values) {
  std::vector<std::string> parts;
  for (int v : values) parts.push_back(std::to_string(v));
  return Join(parts, ",");
}

}  // namespace

void ResolveOutputPaths(model::Job& job) {
  const int ranks = static_cast<int>(job.allocation.ranks.size());
  std::string out = job.spec.output_pattern;
  if (out.empty()) {
    // sbatch's slurm-%j.out and, for array tasks, slurm-%A_%a.out.
    const std::string id = job.array_job_id != 0 ? "%A_%a" : "%j";
    out = ranks > 1 ? "weft-" + id + ".%n.out" : "weft-" + id + ".out";
  }
  job.tasks.assign(ranks, model::TaskRecord{});
  for (int r = 0; r < ranks; ++r) {
    job.tasks[r].output_path = Resolve(out, job, r);
    if (!job.spec.error_pattern.empty()) job.tasks[r].error_path = Resolve(job.spec.error_pattern, job, r);
  }
}

model::TaskAssignment BuildAssignment(const model::Job& job, int rank,
                                      const std::vector<const model::Node*>& rank_nodes,
                                      const std::string& cluster_name) {
  const model::JobSpec& spec = job.spec;
  const model::NodeAllocation& mine = job.allocation.ranks.at(rank);
  model::TaskAssignment a;
  a.key = {job.id, rank, job.restart_count};
  a.user = spec.user;
  a.script = spec.script;
  a.args = spec.args;
  a.work_dir = spec.work_dir;
  a.output_path = job.tasks.at(rank).output_path;
  a.error_path = job.tasks.at(rank).error_path;
  a.time_limit = spec.time_limit;
  a.resources = mine.resources;
  a.gpu_ids = mine.gpu_ids;
  if (spec.time_limit) a.warning = spec.signal;  // --signal's warning needs a time limit

  std::vector<std::string> names, addresses;
  for (std::size_t r = 0; r < job.allocation.ranks.size(); ++r) {
    names.push_back(job.allocation.ranks[r].node);
    const model::Node* node = rank_nodes[r];
    addresses.push_back(node && !node->address.empty() ? node->address : job.allocation.ranks[r].node);
  }
  const std::string num_nodes = std::to_string(job.allocation.ranks.size());
  const std::string gpus = std::to_string(mine.resources.gpus);
  const std::string id = std::to_string(job.id);
  const std::string cpus_on_node = std::to_string(mine.resources.cpu_milli / 1000);
  const std::string nodelist = CompressHostlist(names);

  model::TaskEnvironment::Map env = spec.env;
  // Weft's contract.
  env["WEFT_JOB_ID"] = id;
  env["WEFT_JOB_NAME"] = spec.name;
  env["WEFT_NODE_RANK"] = std::to_string(rank);
  env["WEFT_NUM_NODES"] = num_nodes;
  env["WEFT_NODE_IPS"] = Join(addresses, "\n");
  env["WEFT_GPUS_PER_NODE"] = gpus;
  env["WEFT_RESTART_COUNT"] = std::to_string(job.restart_count);
  env["WEFT_SUBMIT_DIR"] = spec.submit_dir;
  // torchrun / torch.distributed rendezvous, one process per node.
  env["MASTER_ADDR"] = addresses.at(0);
  env["MASTER_PORT"] = std::to_string(job.master_port);
  env["NODE_RANK"] = std::to_string(rank);
  env["WORLD_SIZE"] = num_nodes;
  // Service replicas (src/serve): the port to listen on is the job's own port unless the
  // service fixed one (then the spec's env already holds it).
  if (!spec.service.empty()) {
    env["WEFT_SERVICE"] = spec.service;
    if (!spec.env.count("WEFT_PORT")) env["WEFT_PORT"] = std::to_string(job.master_port);
  }
  // Only the allocated slots are visible; an empty list hides every GPU.
  env["CUDA_VISIBLE_DEVICES"] = JoinInts(mine.gpu_ids);
  // Slurm's batch-level variables (sbatch sets these; per-task srun ones are left out).
  env["SLURM_JOB_ID"] = id;
  env["SLURM_JOBID"] = id;
  env["SLURM_JOB_NAME"] = spec.name;
  env["SLURM_NNODES"] = num_nodes;
  env["SLURM_JOB_NUM_NODES"] = num_nodes;
  env["SLURM_NODEID"] = std::to_string(rank);
  env["SLURM_JOB_NODELIST"] = nodelist;
  env["SLURM_NODELIST"] = nodelist;
  env["SLURMD_NODENAME"] = mine.node;
  env["SLURM_SUBMIT_DIR"] = spec.submit_dir;
  if (auto host = spec.env.find("HOSTNAME"); host != spec.env.end()) env["SLURM_SUBMIT_HOST"] = host->second;
  env["SLURM_CLUSTER_NAME"] = cluster_name;
  env["SLURM_CPUS_PER_TASK"] = std::to_string(spec.cpus_per_task);
  env["SLURM_CPUS_ON_NODE"] = cpus_on_node;
  env["SLURM_JOB_CPUS_PER_NODE"] =
      job.allocation.ranks.size() > 1 ? fmt::format("{}(x{})", cpus_on_node, num_nodes) : cpus_on_node;
  env["SLURM_GPUS_ON_NODE"] = gpus;
  if (mine.resources.gpus > 0) {
    env["SLURM_GPUS_PER_NODE"] = gpus;
    env["SLURM_JOB_GPUS"] = JoinInts(mine.gpu_ids);
  }
  if (mine.resources.memory_bytes > 0) {
    env["SLURM_MEM_PER_NODE"] = std::to_string(mine.resources.memory_bytes >> 20);
  }
  if (!spec.pools.empty()) env["SLURM_JOB_PARTITION"] = spec.pools.front();
  if (!spec.queue.empty()) env["SLURM_JOB_ACCOUNT"] = spec.queue;
  env["SLURM_RESTART_COUNT"] = std::to_string(job.restart_count);
  if (job.start_time) {
    env["SLURM_JOB_START_TIME"] = std::to_string(ToUnixMicros(*job.start_time) / 1000000);
    if (spec.time_limit) {
      env["SLURM_JOB_END_TIME"] =
          std::to_string(ToUnixMicros(*job.start_time + *spec.time_limit) / 1000000);
    }
  }
  if (!spec.dependency.empty()) env["SLURM_JOB_DEPENDENCY"] = model::ToString(spec.dependency);
  // Array tasks (sbatch --array). STEP is the spacing when the indices are evenly spaced, else 1.
  for (const char* name : {"SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                           "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP",
                           "WEFT_ARRAY_JOB_ID", "WEFT_ARRAY_TASK_ID"}) {
    env.erase(name);  // never inherited from a submitter that is itself an array task
  }
  if (job.array_job_id != 0) {
    const std::vector<int> indices = spec.array.Indices();
    int step = 1;
    if (indices.size() > 1) {
      step = indices[1] - indices[0];
      for (std::size_t i = 2; i < indices.size(); ++i) {
        if (indices[i] - indices[i - 1] != step) {
          step = 1;
          break;
        }
      }
    }
    env["SLURM_ARRAY_JOB_ID"] = std::to_string(job.array_job_id);
    env["SLURM_ARRAY_TASK_ID"] = std::to_string(job.array_task_id);
    env["SLURM_ARRAY_TASK_COUNT"] = std::to_string(indices.size());
    env["SLURM_ARRAY_TASK_MIN"] = indices.empty() ? "0" : std::to_string(indices.front());
    env["SLURM_ARRAY_TASK_MAX"] = indices.empty() ? "0" : std::to_string(indices.back());
    env["SLURM_ARRAY_TASK_STEP"] = std::to_string(step);
    env["WEFT_ARRAY_JOB_ID"] = std::to_string(job.array_job_id);
    env["WEFT_ARRAY_TASK_ID"] = std::to_string(job.array_task_id);
  }
  // Variables a submitter's own srun step may have left behind would mislead frameworks.
  for (const char* per_task : {"SLURM_PROCID", "SLURM_LOCALID", "SLURM_NTASKS", "SLURM_NPROCS",
                               "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_TASK_PID"}) {
    env.erase(per_task);
  }
  a.env = std::move(env);
  return a;
}

}  // namespace weft::controller
