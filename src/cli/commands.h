// The `weft` client commands. Each returns the process exit code; errors are printed to
// stderr as one sentence ("weft: ...") with a non-zero code.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"

namespace weft::cli {

// Prints "weft: <message>" to stderr and returns `code`.
int ReportError(const Error& error, int code = 1);

// sbatch / sky jobs launch: `weft submit [options] script.sh|job.yaml [args]`.
int SubmitCommand(const std::vector<std::string>& argv);
// srun: `weft run [options] -- command...`; streams output, exits with the job's code.
int RunCommand(const std::vector<std::string>& argv);
// Slurm simulator: `weft simulate --trace FILE --nodes N --gpus-per-node G [...]`, in-process
// (no server); prints a scheduling-quality report (src/sim/README.md).
int SimulateCommand(const std::vector<std::string>& argv);
// sky serve: `weft serve up FILE [--wait]`, `ls`, `status NAME`, `update NAME FILE`, `down NAME`.
int ServeCommand(const std::vector<std::string>& argv);
// Blocks until every job ends; 0 only if all COMPLETED.
int WaitCommand(const std::vector<long long>& ids, double timeout_seconds);
int CancelCommand(const std::vector<long long>& ids);
int LogsCommand(long long id, int rank, bool follow, bool error_stream);

int QueueCommand(bool json, bool all);
struct HistoryOptions {
  bool json = false;
  int limit = 100;    // newest first; 0 = all
  std::string user;   // "" = everyone's the token may see
  std::string queue;
  std::string since;  // "2026-12-01[T10:30[:00]]" or a span back ("2h", "7d"); "" = all
};
// sacct: one row per attempt (a requeued job has several), with accounting.
int HistoryCommand(const HistoryOptions& options);
int ShowCommand(long long id, bool json);
int NodesCommand(bool json);
// sshare-like: quota, usage, borrowing and pending demand per queue.
int QueuesCommand(bool json);
// `weft user add NAME [--admin]` (prints the token, once), `weft user list`, `weft user revoke NAME`.
int UserAddCommand(const std::string& name, bool admin);
int UserListCommand(bool json);
int UserRevokeCommand(const std::string& name);
// `weft node drain NAME [--reason R]` (no new work; running jobs finish) / `weft node resume NAME`.
int NodeDrainCommand(const std::string& name, bool drain, const std::string& reason);

struct UpOptions {
  int agents = 2;
  int gpus_per_agent = 0;
  int cpus_per_agent = 0;        // 0: this machine's CPU count
  std::string memory_per_agent;  // "": this machine's memory split between the agents
  std::string state_dir;         // "": $HOME/.weft/cluster
  std::string config;            // "": no cluster configuration (one default queue)
  std::string isolation = "on";  // the agents' --isolation (off: no cgroups; benchmarks)
};
int UpCommand(const UpOptions& options);
int DownCommand();

// The whole `weft` command line (client commands, `server`, `agent`).
int Main(int argc, char** argv);

}  // namespace weft::cli
