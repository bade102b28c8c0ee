#include "backend/slurm_client.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "common/strings.h"

namespace weft::backend {
namespace {

constexpr std::string_view kSqueueFormat = "JobID:|,State:|,Reason:|,exit_code:|,NodeList:|";
constexpr std::string_view kSacctFormat = "JobID,State,ExitCode,NodeList";
constexpr std::string_view kSinfoFormat = "%N|%c|%m|%G|%T|%C|%E";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Contains(std::string_view haystack_lower, std::string_view needle_lower) {
  return haystack_lower.find(needle_lower) != std::string_view::npos;
}

// The last non-empty line of a command's complaint, without "sbatch: error: ".
std::string LastLine(const CommandOutcome& o) {
  const std::string& text = Trim(o.err).empty() ? o.out : o.err;
  std::string last;
  for (const std::string& line : Split(text, '\n')) {
    if (!Trim(line).empty()) last = std::string(Trim(line));
  }
  for (std::string_view prefix : {"error: ", "fatal: "}) {
    if (const auto at = last.find(prefix); at != std::string::npos) last = last.substr(at + prefix.size());
  }
  while (!last.empty() && (last.back() == '.' || last.back() == ' ')) last.pop_back();
  return last;
}

// The first line that mentions `needle` (lowercase), trimmed.
std::string LineWith(const CommandOutcome& o, std::string_view needle) {
  for (const std::string& line : Split(o.err + "\n" + o.out, '\n')) {
    if (Contains(Lower(line), needle)) {
      std::string out(Trim(line));
      for (std::string_view prefix : {"error: ", "fatal: "}) {
        if (const auto at = out.find(prefix); at != std::string::npos) out = out.substr(at + prefix.size());
      }
      return out;
    }
  }
  return {};
}

std::vector<std::string> Fields(std::string_view line) { return Split(line, '|'); }

std::string NodeListOrEmpty(std::string_view s) {
  s = Trim(s);
  if (s == "None assigned" || s == "(null)" || s == "None") return {};
  return std::string(s);
}

class CommandSlurmClient final : public SlurmClient {
 public:
  explicit CommandSlurmClient(SlurmPoolConfig config) : config_(std::move(config)) {
    if (config_.bin_dir.empty()) config_.bin_dir = "/usr/bin";
  }

  Result<std::string> Submit(const SbatchRequest& request) override {
    std::map<std::string, std::string> env = request.env;
    AddSlurmEnv(env);
    const CommandOutcome o = Run("sbatch", request.args, env, request.script);
    if (!o.ok()) return tl::unexpected(SlurmCommandError("sbatch", config_, o));
    auto id = ParseSbatchId(o.out);
    if (!id) {
      return Fail(ErrorCode::kInternal,
                  fmt::format("sbatch printed no job id: '{}'", std::string(Trim(o.out))));
    }
    return *id;
  }

  Result<std::map<std::string, SlurmJobStatus>> Query(const std::vector<std::string>& ids) override {
    std::map<std::string, SlurmJobStatus> found;
    if (ids.empty()) return found;
    const std::string list = Join(ids, ",");
    const CommandOutcome q =
        Run("squeue", {"-h", "-t", "all", "-j", list, "-O", std::string(kSqueueFormat)}, BaseEnv());
    if (q.ok()) {
      found = ParseSqueue(q.out);
    } else if (!Contains(Lower(q.err), "invalid job id")) {  // all of them forgotten: not an error
      return tl::unexpected(SlurmCommandError("squeue", config_, q));
    }
    std::vector<std::string> missing;
    for (const std::string& id : ids) {
      if (!found.contains(id)) missing.push_back(id);
    }
    if (missing.empty()) return found;
    // Jobs squeue no longer shows (older than MinJobAge): the accounting records, where the
    // cluster keeps them. Without accounting ("accounting storage is disabled") they stay absent.
    const CommandOutcome s = Run(
        "sacct", {"-n", "-P", "-X", "-j", Join(missing, ","), "-o", std::string(kSacctFormat)}, BaseEnv());
    if (s.ok()) {
      for (auto& [id, status] : ParseSacct(s.out)) {
        if (std::find(missing.begin(), missing.end(), id) != missing.end()) found[id] = status;
      }
    }
    return found;
  }

  Result<void> Cancel(const std::string& id, bool only_pending) override {
    std::vector<std::string> args;
    if (only_pending) args.push_back("--state=PENDING");
    args.push_back(id);
    const CommandOutcome o = Run("scancel", args, BaseEnv());
    if (o.ok()) return {};
    const std::string text = Lower(o.err + o.out);
    if (o.exec_errno == 0 && !o.timed_out &&
        (Contains(text, "invalid job id") || Contains(text, "already completing or completed"))) {
      return {};
    }
    return tl::unexpected(SlurmCommandError("scancel", config_, o));
  }

  Result<std::vector<SlurmNode>> Nodes() override {
    std::vector<std::string> args{"-N", "-h", "-o", std::string(kSinfoFormat)};
    if (!config_.partition.empty()) {
      args.push_back("-p");
      args.push_back(config_.partition);
    }
    const CommandOutcome o = Run("sinfo", args, BaseEnv());
    if (!o.ok()) return tl::unexpected(SlurmCommandError("sinfo", config_, o));
    std::vector<SlurmNode> nodes = ParseSinfo(o.out);
    if (nodes.empty() && !config_.partition.empty()) return tl::unexpected(NoPartition());
    return nodes;
  }

  Result<std::string> FindByComment(const std::string& comment) override {
    const CommandOutcome o = Run("squeue", {"-h", "-t", "all", "-o", "%i|%k"}, BaseEnv());
    if (!o.ok()) return tl::unexpected(SlurmCommandError("squeue", config_, o));
    for (const std::string& line : Split(o.out, '\n')) {
      const auto bar = line.find('|');
      if (bar != std::string::npos && Trim(std::string_view(line).substr(bar + 1)) == comment) {
        return std::string(Trim(std::string_view(line).substr(0, bar)));
      }
    }
    return std::string();
  }

  Result<void> Check() override {
    const CommandOutcome o = Run("sinfo", {"-h", "-o", "%R"}, BaseEnv());
    if (!o.ok()) return tl::unexpected(SlurmCommandError("sinfo", config_, o));
    if (config_.partition.empty()) return {};
    for (const std::string& line : Split(o.out, '\n')) {
      if (Trim(line) == config_.partition) return {};
    }
    return tl::unexpected(NoPartition());
  }

 private:
  Error NoPartition() const {
    return Error{
        ErrorCode::kFailedPrecondition,
        fmt::format("Slurm has no partition '{}' (sinfo does not list it): check slurm.partition of pool {}",
                    config_.partition, config_.pool.empty() ? "?" : config_.pool)};
  }

  void AddSlurmEnv(std::map<std::string, std::string>& env) const {
    if (!config_.conf.empty()) env["SLURM_CONF"] = config_.conf;
    if (!env.contains("PATH")) env["PATH"] = config_.bin_dir + ":/usr/bin:/bin";
  }
  std::map<std::string, std::string> BaseEnv() const {
    std::map<std::string, std::string> env{{"LC_ALL", "C"}};
    AddSlurmEnv(env);
    return env;
  }

  CommandOutcome Run(const std::string& command, const std::vector<std::string>& args,
                     std::map<std::string, std::string> env, const std::string& stdin_text = "") const {
    CommandSpec spec;
    spec.argv.push_back(config_.bin_dir + "/" + command);
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = std::move(env);
    spec.stdin_text = stdin_text;
    spec.timeout = config_.command_timeout;
    spec.user = config_.user;
    return RunCommand(spec);
  }

  SlurmPoolConfig config_;
};

SlurmJobStatus MakeStatus(std::string id, std::string_view state_text, model::JobState state) {
  SlurmJobStatus s;
  s.slurm_id = std::move(id);
  s.slurm_state = CanonicalSlurmState(state_text);
  s.state = state;
  return s;
}

}  // namespace

bool SlurmNode::available() const {
  std::string base = Lower(state);
  const bool not_responding = base.find('*') != std::string::npos;
  while (!base.empty() && !std::isalpha(static_cast<unsigned char>(base.back()))) base.pop_back();
  static const std::vector<std::string> kUsable = {"idle",  "mixed",      "mix",  "allocated",
                                                   "alloc", "completing", "comp", "planned",
                                                   "plnd",  "reserved",   "resv"};
  return !not_responding && std::find(kUsable.begin(), kUsable.end(), base) != kUsable.end();
}

model::Resources IdleResources(const SlurmNode& node) {
  model::Resources idle;
  if (!node.available() || Contains(Lower(node.state), "drain") || node.cpus <= 0) return idle;
  const int free_cpus = std::clamp(node.cpus - node.cpus_allocated, 0, node.cpus);
  idle.cpu_milli = static_cast<std::int64_t>(free_cpus) * 1000;
  if (node.cpus_allocated <= 0) {
    idle.memory_bytes = node.memory_bytes;
    idle.gpus = node.gpus;
  } else {
    idle.memory_bytes = node.memory_bytes / node.cpus * free_cpus;
  }
  return idle;
}

model::Node ToModelNode(const SlurmNode& node, const std::string& pool) {
  model::Node n;
  n.name = node.name;
  n.address = node.name;
  n.pool = pool;
  n.capacity.cpu_milli = static_cast<std::int64_t>(node.cpus) * 1000;
  n.capacity.memory_bytes = node.memory_bytes;
  n.capacity.gpus = node.gpus;
  n.gpu_model = node.gpu_model;
  const std::string state = Lower(node.state);
  n.drain = Contains(state, "drain");
  if (n.drain) n.drain_reason = node.reason.empty() ? "drained in Slurm" : node.reason;
  n.state = node.available() || n.drain ? model::NodeState::kUp : model::NodeState::kDown;
  if (n.drain && Contains(state, "*")) n.state = model::NodeState::kDown;
  return n;
}

std::map<std::string, SlurmJobStatus> ParseSqueue(std::string_view output) {
  std::map<std::string, SlurmJobStatus> out;
  for (const std::string& line : Split(output, '\n')) {
    const std::vector<std::string> f = Fields(line);
    if (f.size() < 5) continue;
    const std::string id(Trim(f[0]));
    const auto state = MapSlurmState(f[1]);
    if (id.empty() || !state) continue;
    SlurmJobStatus s = MakeStatus(id, f[1], *state);
    const std::string_view reason = Trim(f[2]);
    if (reason != "None" && reason != "(null)") s.reason = std::string(reason);
    if (const auto raw = ParseInt(Trim(f[3]))) s.exit = FromWaitStatus(*raw);
    s.nodelist = NodeListOrEmpty(f[4]);
    out[id] = std::move(s);
  }
  return out;
}

std::map<std::string, SlurmJobStatus> ParseSacct(std::string_view output) {
  std::map<std::string, SlurmJobStatus> out;
  for (const std::string& line : Split(output, '\n')) {
    const std::vector<std::string> f = Fields(line);
    if (f.size() < 4) continue;
    const std::string id(Trim(f[0]));
    const auto state = MapSlurmState(f[1]);
    if (id.empty() || !state || id.find('.') != std::string::npos) continue;  // no step lines
    SlurmJobStatus s = MakeStatus(id, f[1], *state);
    if (const auto exit = ParseSacctExitCode(f[2])) s.exit = *exit;
    s.nodelist = NodeListOrEmpty(f[3]);
    // "CANCELLED by 1000": keep who did it as the reason.
    if (const auto by = Trim(f[1]).find(" by "); by != std::string_view::npos) {
      s.reason = "cancelled by uid " + std::string(Trim(Trim(f[1]).substr(by + 4)));
    }
    out[id] = std::move(s);
  }
  return out;
}

std::pair<int, std::string> ParseGpuGres(std::string_view gres) {
  int count = 0;
  std::string model;
  for (const std::string& item : Split(gres, ',')) {
    std::string_view e = Trim(item);
    if (const auto paren = e.find('('); paren != std::string_view::npos) e = e.substr(0, paren);
    const std::vector<std::string> parts = Split(e, ':');
    if (parts.empty() || parts[0] != "gpu") continue;
    if (parts.size() == 2) {
      if (auto n = ParseInt(parts[1])) count += static_cast<int>(*n);
    } else if (parts.size() >= 3) {
      if (auto n = ParseInt(parts[2])) {
        count += static_cast<int>(*n);
        if (model.empty()) model = parts[1];
      }
    }
  }
  return {count, model};
}

std::vector<SlurmNode> ParseSinfo(std::string_view output) {
  std::vector<SlurmNode> nodes;
  for (const std::string& line : Split(output, '\n')) {
    const std::vector<std::string> f = Fields(line);
    if (f.size() < 7 || Trim(f[0]).empty()) continue;
    SlurmNode n;
    n.name = std::string(Trim(f[0]));
    if (std::any_of(nodes.begin(), nodes.end(), [&](const SlurmNode& x) { return x.name == n.name; }))
      continue;
    if (auto c = ParseInt(Trim(f[1]))) n.cpus = static_cast<int>(*c);
    std::string mem(Trim(f[2]));
    while (!mem.empty() && !std::isdigit(static_cast<unsigned char>(mem.back()))) mem.pop_back();
    if (auto m = ParseInt(mem)) n.memory_bytes = *m * 1024 * 1024;
    std::tie(n.gpus, n.gpu_model) = ParseGpuGres(f[3]);
    n.state = std::string(Trim(f[4]));
    const std::vector<std::string> cpus = Split(Trim(f[5]), '/');
    if (!cpus.empty()) {
      if (auto a = ParseInt(cpus[0])) n.cpus_allocated = static_cast<int>(*a);
    }
    // The reason may itself contain '|': everything after the sixth separator.
    std::vector<std::string> rest(f.begin() + 6, f.end());
    const std::string reason(Trim(Join(rest, "|")));
    if (reason != "none" && reason != "(null)") n.reason = reason;
    nodes.push_back(std::move(n));
  }
  return nodes;
}

std::optional<std::string> ParseSbatchId(std::string_view output) {
  for (const std::string& line : Split(output, '\n')) {
    std::string_view id = Trim(line);
    if (const auto semi = id.find(';'); semi != std::string_view::npos) id = id.substr(0, semi);
    if (!id.empty() && std::all_of(id.begin(), id.end(),
                                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      return std::string(id);
    }
  }
  return std::nullopt;
}

Error SlurmCommandError(std::string_view command, const SlurmPoolConfig& config, const CommandOutcome& o) {
  const std::string pool = config.pool.empty() ? "?" : config.pool;
  if (o.exec_errno == ENOENT) {
    return {ErrorCode::kUnavailable,
            fmt::format("{} not found in {}: is slurm-client installed?", command, config.bin_dir)};
  }
  if (o.exec_errno != 0) {
    return {ErrorCode::kUnavailable,
            fmt::format("cannot run {}/{}: {}", config.bin_dir, command, std::strerror(o.exec_errno))};
  }
  if (o.timed_out) {
    return {ErrorCode::kUnavailable,
            fmt::format("Slurm controller unreachable: {} did not answer within {} s", command,
                        std::chrono::duration_cast<std::chrono::seconds>(config.command_timeout).count())};
  }
  const std::string text = Lower(o.err + "\n" + o.out);
  if (Contains(text, "invalid partition")) {
    return {ErrorCode::kFailedPrecondition,
            fmt::format("Slurm rejected partition '{}' of pool {}: invalid partition specified",
                        config.partition, pool)};
  }
  if (Contains(text, "invalid account")) {
    return {ErrorCode::kFailedPrecondition,
            fmt::format(
                "Slurm rejected account '{}' of pool {}: invalid account or account/partition combination",
                config.account, pool)};
  }
  if (Contains(text, "munge") || Contains(text, "authentication error")) {
    std::string detail = LineWith(o, "munge encode failed");
    if (detail.empty()) detail = LastLine(o);
    return {ErrorCode::kUnavailable,
            fmt::format("Slurm controller unreachable: munge authentication failed ({}); is munged running?",
                        detail)};
  }
  if (Contains(text, "unable to contact slurm controller") || Contains(text, "connection refused") ||
      Contains(text, "connect failure") || Contains(text, "communication connection failure")) {
    return {ErrorCode::kUnavailable, fmt::format("Slurm controller unreachable: {}", LastLine(o))};
  }
  if (Contains(text, "requested node configuration is not available")) {
    return {ErrorCode::kInvalidArgument,
            fmt::format("Slurm cannot run this job in pool {}: requested node configuration is not available "
                        "(more nodes, CPUs, memory or GPUs than its nodes have)",
                        pool)};
  }
  const std::string detail = LastLine(o);
  const std::string how =
      o.signal != 0 ? fmt::format("killed by signal {}", o.signal) : fmt::format("exit {}", o.exit_code);
  return {ErrorCode::kUnavailable,
          fmt::format("{} failed ({}): {}", command, how, detail.empty() ? "no message" : detail)};
}

std::unique_ptr<SlurmClient> MakeCommandSlurmClient(SlurmPoolConfig config) {
  return std::make_unique<CommandSlurmClient>(std::move(config));
}

}  // namespace weft::backend
