// `weft simulate`: replays a trace in-process (no server) and prints the report. Flags and
// JSON fields are documented in src/sim/README.md. Only the report goes to stdout, and it
// contains no wall-clock time, so the same input prints the same bytes.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "sim/policy.h"
#include "sim/report.h"
#include "sim/research_replay.h"
#include "sim/simulator.h"
#include "sim/trace_reader.h"
#include "spec/cluster_config.h"

namespace weft::cli {
namespace {

Result<std::string> ReadText(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("{}: cannot read '{}'", flag, path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

int SimulateCommand(const std::vector<std::string>& argv) {
  CLI::App app{"replay a workload trace through the scheduler on a simulated clock", "weft simulate"};
  std::string trace_path, policy_name, config_path, weights_path, output, decisions_path;
  std::string time_limits_name = "hour";
  int nodes = 0, gpus_per_node = 0;
  bool queues_from_trace = false;
  double share_interval = 0;
  app.add_option("--trace", trace_path, "trace file (philly-muri, philly-pollux, itp-elasticflow)")->required();
  app.add_option("--nodes", nodes, "simulated nodes")->required();
  app.add_option("--gpus-per-node", gpus_per_node, "GPUs per simulated node")->required();
  app.add_option("--policy", policy_name, "easy (default) | conservative | fifo | srtf | srsf | tiresias-l");
  app.add_option("--config", config_path, "cluster configuration, as for weft server --config");
  app.add_flag("--queues-from-trace", queues_from_trace, "one queue per trace queue (virtual cluster)");
  app.add_option("--queue-weights", weights_path, "CSV 'queue,weight' with a header line");
  app.add_option("--time-limits", time_limits_name, "none | exact | hour (default) | hour-x2");
  app.add_option("--share-interval", share_interval, "seconds: per-queue GPU-hour shares over time");
  app.add_option("--decisions", decisions_path, "write the decision log to this file");
  app.add_option("-o,--output", output, "json for machine-readable output");
  std::vector<std::string> args(argv.rbegin(), argv.rend());  // CLI11 takes them reversed
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    return ReportError({ErrorCode::kInvalidArgument, fmt::format("simulate: {}", e.what())}, 2);
  }
  if (!output.empty() && output != "json" && output != "table") {
    return ReportError({ErrorCode::kInvalidArgument,
                        fmt::format("-o: '{}' is not an output format (json or table)", output)}, 2);
  }
  if (nodes < 1) return ReportError({ErrorCode::kInvalidArgument, "--nodes: must be at least 1"}, 2);
  if (gpus_per_node < 1) {
    return ReportError({ErrorCode::kInvalidArgument, "--gpus-per-node: must be at least 1"}, 2);
  }
  if (share_interval < 0) {
    return ReportError({ErrorCode::kInvalidArgument, "--share-interval: must be a positive number of seconds"}, 2);
  }
  sim::TimeLimitModel time_limits{};
  if (!sim::ParseTimeLimitModel(time_limits_name, time_limits)) {
    return ReportError({ErrorCode::kInvalidArgument,
                        fmt::format("--time-limits: '{}' is not one of none, exact, hour, hour-x2",
                                    time_limits_name)}, 2);
  }
  std::optional<sim::PolicyChoice> policy;
  if (!policy_name.empty()) {
    policy = sim::ParsePolicy(policy_name);
    if (!policy) {
      return ReportError({ErrorCode::kInvalidArgument,
                          fmt::format("--policy: '{}' is not a policy (easy, conservative, fifo, srtf, "
                                      "srsf, tiresias-l)", policy_name)}, 2);
    }
  }

  Result<sim::Trace> trace = sim::ReadTraceFile(trace_path);
  if (!trace) return ReportError(trace.error());

  model::ClusterConfig config;
  if (!config_path.empty()) {
    Result<std::string> text = ReadText("--config", config_path);
    if (!text) return ReportError(text.error());
    Result<model::ClusterConfig> parsed = spec::ParseClusterConfig(*text);
    if (!parsed) return ReportError({parsed.error().code, fmt::format("{}: {}", config_path, parsed.error().message)});
    config = std::move(*parsed);
  }
  std::map<std::string, double> weights;
  if (!weights_path.empty()) {
    Result<std::string> text = ReadText("--queue-weights", weights_path);
    if (!text) return ReportError(text.error());
    Result<std::map<std::string, double>> parsed = sim::ParseQueueWeights(*text, weights_path);
    if (!parsed) return ReportError(parsed.error());
    weights = std::move(*parsed);
  }
  if (queues_from_trace) sim::AddTraceQueues(*trace, weights, config);
  // --policy overrides the configuration's backfill; without either it is the server's default.
  if (policy && policy->backfill) config.scheduler.backfill = *policy->backfill;
  if (policy && policy->short_job_weight) config.scheduler.priority.short_job = *policy->short_job_weight;

  sim::ReportOptions report_options;
  report_options.trace = trace->name;
  report_options.nodes = nodes;
  report_options.gpus_per_node = gpus_per_node;
  for (const model::QueueConfig& q : config.queues) report_options.weights[q.name] = q.weight;
  for (const auto& [name, weight] : weights) report_options.weights.emplace(name, weight);
  if (share_interval > 0) report_options.share_interval_s = share_interval;

  std::vector<sim::JobOutcome> outcomes;
  std::vector<std::string> decisions;
  if (policy && policy->research) {
    report_options.policy = policy->name;
    Result<std::vector<sim::JobOutcome>> replayed =
        sim::RunResearchReplay(*trace, sim::ResearchCluster{nodes, gpus_per_node}, *policy->research);
    if (!replayed) return ReportError(replayed.error());
    outcomes = std::move(*replayed);
  } else {
    report_options.policy = std::string(sim::PolicyName(config.scheduler.backfill));
    sim::SimulationOptions options;
    options.nodes = nodes;
    options.gpus_per_node = gpus_per_node;
    options.config = config;
    options.time_limits = time_limits;
    Result<sim::SimulationResult> result = sim::RunSimulation(*trace, options);
    if (!result) return ReportError(result.error());
    outcomes = std::move(result->outcomes);
    decisions = std::move(result->decisions);
  }
  if (!decisions_path.empty()) {
    std::ofstream out(decisions_path, std::ios::binary | std::ios::trunc);
    for (const std::string& line : decisions) out << line << '\n';
    out.flush();
    if (!out) {
      return ReportError({ErrorCode::kInvalidArgument,
                          fmt::format("--decisions: cannot write '{}'", decisions_path)});
    }
  }
  // A share table is one row per interval: refuse one nobody could read (or store).
  constexpr double kMaxIntervals = 100000;
  double makespan = 0;
  for (const sim::JobOutcome& o : outcomes) makespan = std::max(makespan, o.end_s);
  if (share_interval > 0 && makespan / share_interval > kMaxIntervals) {
    return ReportError({ErrorCode::kInvalidArgument,
                        fmt::format("--share-interval: {} s cuts the {:.0f} s makespan into more than "
                                    "{:.0f} intervals; use a longer interval",
                                    share_interval, makespan, kMaxIntervals)}, 2);
  }
  const sim::Report report = sim::Summarize(outcomes, report_options);
  const std::string text = output == "json" ? sim::FormatJson(report) : sim::FormatText(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace weft::cli
