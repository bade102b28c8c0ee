// What one rank of a running job is told to run: its script, files and complete environment
// (the WEFT_* contract of DESIGN.md, torchrun's rendezvous variables and Slurm's batch-level
// variables, never the per-task srun ones that make frameworks think they run under srun).
#pragma once

#include <string>
#include <vector>

#include "model/job.h"
#include "model/node.h"
#include "model/task.h"

namespace weft::controller {

// Output and error file paths of each rank, resolved from the job's patterns (sbatch's
// defaults: weft-%j.out, or weft-%j.%n.out per rank for multi-node jobs) against its
// working directory. Called once when the job starts.
void ResolveOutputPaths(model::Job& job);

// REQUIRES: job.allocation has `rank`; `rank_nodes[i]` is the node of rank i.
model::TaskAssignment BuildAssignment(const model::Job& job, int rank,
                                      const std::vector<const model::Node*>& rank_nodes,
                                      const std::string& cluster_name);

}  // namespace weft::controller
