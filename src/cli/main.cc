// Dispatches the `weft` client commands. `submit` and `run` take sbatch/srun-style options,
// parsed by src/spec; the rest use CLI11.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace weft::cli {

int Main(int argc, char** argv) {
  if (argc >= 2) {
    const std::string command = argv[1];
    const std::vector<std::string> rest(argv + 2, argv + argc);
    if (command == "submit") return SubmitCommand(rest);
    if (command == "run") return RunCommand(rest);
    if (command == "simulate") return SimulateCommand(rest);
    if (command == "serve") return ServeCommand(rest);
  }
  CLI::App app{"weft: one workload manager for training and serving"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all");
  std::string output;
  auto json_flag = [&](CLI::App* sub) {
    sub->add_option("-o,--output", output, "json for machine-readable output")->check(CLI::IsMember({"json", "table"}));
  };

  auto* queue = app.add_subcommand("queue", "pending and running jobs (squeue)");
  bool all = false;
  queue->add_flag("-a,--all", all, "include finished jobs");
  json_flag(queue);
  auto* history = app.add_subcommand("history", "every attempt of every job, with accounting (sacct)");
  HistoryOptions history_options;
  history->add_option("-n,--limit", history_options.limit, "how many rows, newest first (0: all)");
  history->add_option("-u,--user", history_options.user, "only this user's jobs");
  history->add_option("-q,--queue", history_options.queue, "only this queue's jobs");
  history->add_option("-S,--since", history_options.since, "ended since: 2026-12-01[T10:30] or a span (2h, 7d)");
  json_flag(history);
  auto* show = app.add_subcommand("show", "one job in detail (scontrol show job)");
  long long show_id = 0;
  show->add_option("id", show_id)->required();
  json_flag(show);
  auto* nodes = app.add_subcommand("nodes", "nodes and their allocation (sinfo)");
  json_flag(nodes);
  auto* queues = app.add_subcommand("queues", "queues: quota, usage, borrowing, pending demand (sshare)");
  json_flag(queues);
  auto* cancel = app.add_subcommand("cancel", "cancel jobs (scancel)");
  std::vector<long long> cancel_ids;
  cancel->add_option("ids", cancel_ids)->required();
  auto* wait = app.add_subcommand("wait", "wait for jobs to end; exit 0 only if all COMPLETED");
  std::vector<long long> wait_ids;
  double wait_timeout = 0;
  wait->add_option("ids", wait_ids)->required();
  wait->add_option("--timeout", wait_timeout, "seconds (0: no limit)");
  auto* logs = app.add_subcommand("logs", "a job's output, read through the API");
  long long logs_id = 0;
  int rank = 0;
  bool follow = false, error_stream = false;
  logs->add_option("id", logs_id)->required();
  logs->add_option("--rank", rank, "which rank (node) of the job");
  logs->add_flag("-f,--follow", follow, "keep printing as the job writes");
  logs->add_flag("--error", error_stream, "the -e/--error file instead of the output");
  auto* user = app.add_subcommand("user", "API users and their tokens (admin)");
  user->require_subcommand(1);
  auto* user_add = user->add_subcommand("add", "create a user; prints its token once");
  std::string user_name;
  bool user_admin = false;
  user_add->add_option("name", user_name, "the Unix user its jobs run as")->required();
  user_add->add_flag("--admin", user_admin, "may see and control every job and manage users");
  auto* user_list = user->add_subcommand("list", "every user");
  json_flag(user_list);
  auto* user_revoke = user->add_subcommand("revoke", "revoke a user's token");
  user_revoke->add_option("name", user_name)->required();
  auto* node = app.add_subcommand("node", "node administration (admin)");
  node->require_subcommand(1);
  auto* node_drain = node->add_subcommand("drain", "take no new work there; running jobs finish (scontrol update state=drain)");
  std::string node_name, drain_reason;
  node_drain->add_option("name", node_name)->required();
  node_drain->add_option("--reason", drain_reason, "why, shown in weft nodes");
  auto* node_resume = node->add_subcommand("resume", "undo a drain");
  node_resume->add_option("name", node_name)->required();
  auto* up = app.add_subcommand("up", "start a local cluster in the background");
  UpOptions up_options;
  up->add_option("--agents", up_options.agents, "number of node agents");
  up->add_option("--gpus-per-agent", up_options.gpus_per_agent, "GPU slots per agent");
  up->add_option("--cpus-per-agent", up_options.cpus_per_agent, "CPUs per agent (default: all)");
  up->add_option("--memory-per-agent", up_options.memory_per_agent, "memory per agent (default: split)");
  up->add_option("--state-dir", up_options.state_dir, "where the cluster keeps its state");
  up->add_option("--config", up_options.config, "cluster configuration for the server (queues, scheduler)");
  up->add_option("--isolation", up_options.isolation, "on: each task in its own cgroup with limits; off: none")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_subcommand("down", "stop the local cluster and everything it runs");
  app.add_subcommand("submit", "queue a batch script or job.yaml (sbatch)");
  app.add_subcommand("run", "run a command as a job and stream its output (srun)");
  app.add_subcommand("simulate", "replay a workload trace through the scheduler, in-process");
  app.add_subcommand("serve", "inference services: up, ls, status, update, down");
  app.add_subcommand("server", "run the controller");
  app.add_subcommand("agent", "run a node agent");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const bool as_json = output == "json";
  if (*queue) return QueueCommand(as_json, all);
  history_options.json = as_json;
  if (*history) return HistoryCommand(history_options);
  if (*user_add) return UserAddCommand(user_name, user_admin);
  if (*user_list) return UserListCommand(as_json);
  if (*user_revoke) return UserRevokeCommand(user_name);
  if (*node_drain) return NodeDrainCommand(node_name, true, drain_reason);
  if (*node_resume) return NodeDrainCommand(node_name, false, "");
  if (*show) return ShowCommand(show_id, as_json);
  if (*nodes) return NodesCommand(as_json);
  if (*queues) return QueuesCommand(as_json);
  if (*cancel) return CancelCommand(cancel_ids);
  if (*wait) return WaitCommand(wait_ids, wait_timeout);
  if (*logs) return LogsCommand(logs_id, rank, follow, error_stream);
  if (*up) return UpCommand(up_options);
  if (app.got_subcommand("down")) return DownCommand();
  std::fprintf(stderr, "weft: unknown command\n");
  return 2;
}

}  // namespace weft::cli
