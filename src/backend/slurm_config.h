// A pool backed by a Slurm cluster: how Weft reaches it (the Slurm client commands in
// `bin_dir`, optionally another slurm.conf) and where its jobs go (partition, account).
// The `slurm:` block of a pool in the server config:
//   pools: [{name: hpc, backend: slurm, slurm: {partition: gpu, account: ml, bin_dir: /usr/bin}}]
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/error.h"

namespace weft::backend {

// How GPUs are asked for: `--gres=gpu[:model]:N` (every Slurm) or `--gpus-per-node=[model:]N`
// (select/cons_tres).
enum class SlurmGpuFlag { kGres, kGpusPerNode };

struct SlurmPoolConfig {
  std::string pool;                  // Weft's pool name, for messages
  std::string partition;             // "" = the cluster's default partition
  std::string account;               // "" = the submitting user's default account
  std::string bin_dir = "/usr/bin";  // sbatch, squeue, sacct, scancel, sinfo, scontrol
  std::string conf;                  // SLURM_CONF for every command; "" = Slurm's default
  std::string user;                  // run the commands as this local user (needs root); "" = as Weft
  SlurmGpuFlag gpu_flag = SlurmGpuFlag::kGres;
  std::chrono::milliseconds command_timeout{60000};  // per command; then it is killed
};

// The `slurm:` block of pool `pool` from the server config, as scalar key → value text:
// partition, account, bin_dir (absolute), conf (absolute), user, gpu_flag (gres |
// gpus-per-node), command_timeout (seconds). An unknown key or bad value is an error naming
// the field ("pools[hpc].slurm.bin_dir: must be an absolute path").
Result<SlurmPoolConfig> MakeSlurmPoolConfig(const std::string& pool,
                                            const std::map<std::string, std::string>& slurm);

}  // namespace weft::backend
