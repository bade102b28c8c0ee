// Test harness: a real Slurm cluster on 127.0.0.1 in a temp directory, as
// /work/shared/bench/slurm/start.sh builds one: its own munged (key and socket in the temp
// dir), one slurmctld and `nodes` slurmd in "multiple slurmd" mode (n1..nN, distinct ports
// chosen free at run time), fake GPUs (GRES files that are symlinks to /dev/null), no
// accounting. The destructor cancels every job, stops the daemons it started by their pids
// and removes the directory (kept when WEFT_KEEP_SLURM_DIR is set).
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "backend/command_runner.h"

namespace weft::testing {

class SlurmCluster {
 public:
  struct Options {
    int nodes = 3;
    int cpus_per_node = 2;
    int memory_mb_per_node = 1024;
    int gpus_per_node = 2;
  };

  // "" when slurm-wlm and munge are installed; else why the tests must skip.
  static std::string MissingReason();

  explicit SlurmCluster(Options options);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  // "" when every node came up idle; else what went wrong (the daemons are stopped already).
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_; }
  const std::string& conf() const { return conf_; }          // SLURM_CONF for clients
  const std::string& work_dir() const { return work_dir_; }  // for jobs' files
  const std::string& munge_socket() const { return munge_socket_; }
  std::vector<std::string> node_names() const;
  // Runs a Slurm client command (/usr/bin/<argv[0]>) against this cluster.
  backend::CommandOutcome Command(std::vector<std::string> argv) const;

 private:
  void Start();
  void Stop();
  pid_t Spawn(const std::string& name, const std::vector<std::string>& argv);

  Options options_;
  std::string error_, dir_, conf_, work_dir_, munge_socket_;
  std::vector<std::pair<std::string, pid_t>> daemons_;  // start order
};

}  // namespace weft::testing
