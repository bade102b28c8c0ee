#include "backend/slurm_translate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "common/strings.h"
#include "spec/job_spec_parser.h"

namespace weft::backend {
namespace {

constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// #SBATCH options Weft has already resolved (passed as options of their own, and some, like
// --mem-per-cpu next to --mem, would make sbatch refuse the job) or whose meaning is Weft's
// (-p pool, -A queue, Weft job ids): dropped from the copied directives.
bool DroppedLong(std::string_view name, bool& takes_value) {
  static const std::set<std::string, std::less<>> kWithValue = {
      "array",         "dependency",    "partition",   "account",     "output", "error",
      "export",        "export-file",   "chdir",       "nodes",       "ntasks", "ntasks-per-node",
      "cpus-per-task", "mem",           "mem-per-cpu", "mem-per-gpu", "gres",   "gpus",
      "gpus-per-node", "gpus-per-task", "time",        "job-name",    "signal", "comment"};
  static const std::set<std::string, std::less<>> kFlags = {"wait", "parsable", "requeue", "no-requeue",
                                                            "exclusive"};
  takes_value = kWithValue.contains(name);
  return takes_value || kFlags.contains(name);
}
bool DroppedShort(char letter, bool& takes_value) {
  takes_value = std::string_view("adpAoeDNnctJG").find(letter) != std::string_view::npos;
  return takes_value || letter == 'W';
}

// Whitespace-separated words, quotes kept as written; stops at an unquoted word starting '#'.
std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  char quote = 0;
  bool in_word = false;
  for (char c : s) {
    if (quote) {
      cur += c;
      if (c == quote) quote = 0;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    if (!in_word && c == '#') break;  // a trailing comment
    in_word = true;
    cur += c;
    if (c == '\'' || c == '"') quote = c;
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

std::string FilterDirective(std::string_view options) {
  const std::vector<std::string> words = Words(options);
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    bool takes_value = false;
    if (StartsWith(w, "--")) {
      const auto eq = w.find('=');
      const std::string_view name = std::string_view(w).substr(2, eq == std::string::npos ? w.npos : eq - 2);
      if (DroppedLong(name, takes_value)) {
        if (takes_value && eq == std::string::npos) ++i;  // "--partition gpu"
        continue;
      }
    } else if (w.size() >= 2 && w[0] == '-') {
      if (DroppedShort(w[1], takes_value)) {
        if (takes_value && w.size() == 2) ++i;  // "-p gpu"
        continue;
      }
    }
    kept.push_back(w);
  }
  return Join(kept, " ");
}

std::string Export(std::string_view name, std::string_view value) {
  return fmt::format("export {}={}\n", name, ShellQuote(value));
}

}  // namespace

std::string FormatSlurmTime(Duration limit) {
  using std::chrono::minutes;
  auto mins = std::chrono::ceil<minutes>(limit).count();
  mins = std::max<decltype(mins)>(mins, 1);
  return fmt::format("{}-{:02}:{:02}:00", mins / (24 * 60), (mins / 60) % 24, mins % 60);
}

std::vector<std::string> PreservedDirectives(std::string_view script) {
  std::vector<std::string> out;
  const std::vector<std::string> lines = Split(script, '\n');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = Trim(lines[i]);
    if (i == 0 && StartsWith(line, "#!")) continue;
    if (line.empty()) continue;
    if (line[0] != '#') break;  // sbatch stops at the first command
    if (!StartsWith(line, "#SBATCH")) continue;
    const std::string_view rest = line.substr(7);
    if (!rest.empty() && !std::isspace(static_cast<unsigned char>(rest[0]))) continue;  // "#SBATCHX"
    const std::string kept = FilterDirective(rest);
    if (!kept.empty()) out.push_back("#SBATCH " + kept);
  }
  return out;
}

std::string TranslateFilePattern(std::string_view pattern, const model::Job& job) {
  spec::FilenameContext context;
  context.job_id = job.id;
  context.job_name = job.spec.name;
  context.user = job.spec.user;
  context.array_job_id = job.array_job_id;
  context.array_task_id = job.array_task_id;
  context.restart_count = job.restart_count;
  return spec::ExpandFilenamePattern(pattern, context, spec::PatternScope::kJobFields);
}

std::vector<std::string> Interpreter(std::string_view script) {
  if (!StartsWith(script, "#!")) return {"/bin/bash"};
  std::string_view line =
      script.substr(2, script.find('\n') == script.npos ? script.npos : script.find('\n') - 2);
  line = Trim(line);
  if (line.empty()) return {"/bin/bash"};
  std::size_t end = 0;
  while (end < line.size() && !std::isspace(static_cast<unsigned char>(line[end]))) ++end;
  std::vector<std::string> out{std::string(line.substr(0, end))};
  const std::string_view arg = Trim(line.substr(end));
  if (!arg.empty()) out.emplace_back(arg);  // the kernel passes the rest as one argument
  return out;
}

Result<SbatchRequest> TranslateToSbatch(const model::Job& job, const SlurmPoolConfig& pool) {
  const model::JobSpec& s = job.spec;
  if (s.script.empty()) return Fail(ErrorCode::kInvalidArgument, "script: a Slurm pool needs a batch script");
  if (s.num_nodes < 1) return Fail(ErrorCode::kInvalidArgument, "num_nodes: must be at least 1");
  const int tasks = std::max(1, s.tasks_per_node);
  const std::int64_t cpus_per_node = (s.per_node.cpu_milli + 999) / 1000;
  const std::int64_t cpus_per_task =
      std::max<std::int64_t>({1, s.cpus_per_task, (cpus_per_node + tasks - 1) / tasks});
  const std::string id = std::to_string(job.id);

  SbatchRequest r;
  auto& a = r.args;
  a.push_back("--parsable");
  a.push_back("--job-name=" + (s.name.empty() ? "weft-" + id : s.name));
  a.push_back(fmt::format("--comment=weft-job={},attempt={}", job.id, job.restart_count));
  a.push_back(fmt::format("--nodes={}", s.num_nodes));
  a.push_back(fmt::format("--ntasks-per-node={}", tasks));
  a.push_back(fmt::format("--cpus-per-task={}", cpus_per_task));
  if (s.per_node.memory_bytes > 0) {
    constexpr std::int64_t kMiB = 1024 * 1024;
    a.push_back(fmt::format("--mem={}M", (s.per_node.memory_bytes + kMiB - 1) / kMiB));
  }
  if (s.per_node.gpus > 0) {
    if (pool.gpu_flag == SlurmGpuFlag::kGpusPerNode) {
      a.push_back(s.gpu_model.empty() ? fmt::format("--gpus-per-node={}", s.per_node.gpus)
                                      : fmt::format("--gpus-per-node={}:{}", s.gpu_model, s.per_node.gpus));
    } else {
      a.push_back(s.gpu_model.empty() ? fmt::format("--gres=gpu:{}", s.per_node.gpus)
                                      : fmt::format("--gres=gpu:{}:{}", s.gpu_model, s.per_node.gpus));
    }
  }
  if (s.time_limit) a.push_back("--time=" + FormatSlurmTime(*s.time_limit));
  if (s.exclusive) a.push_back("--exclusive");
  if (!pool.partition.empty()) a.push_back("--partition=" + pool.partition);
  if (!pool.account.empty()) a.push_back("--account=" + pool.account);
  const std::string& work_dir = s.work_dir.empty() ? s.submit_dir : s.work_dir;
  if (!work_dir.empty()) a.push_back("--chdir=" + work_dir);
  const bool is_array = job.array_task_id >= 0;
  const std::string output =
      s.output_pattern.empty() ? (is_array ? "weft-%A_%a.out" : "weft-%j.out") : s.output_pattern;
  a.push_back("--output=" + TranslateFilePattern(output, job));
  if (!s.error_pattern.empty()) a.push_back("--error=" + TranslateFilePattern(s.error_pattern, job));
  if (job.restart_count > 0) a.push_back("--open-mode=append");  // keep earlier attempts' output
  if (s.signal) {
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(s.signal->before).count();
    a.push_back(fmt::format("--signal={}{}@{}", s.signal->batch_only ? "B:" : "", s.signal->signal, secs));
  }
  a.push_back("--no-requeue");  // Weft decides about retries, on whichever pool
  a.push_back("--export=ALL");  // the environment below, and nothing of the server's

  // sbatch's environment: what the user submitted with.
  for (const auto& [name, value] : s.env) {
    if (StartsWith(name, "SLURM_") || StartsWith(name, "SBATCH_")) continue;
    r.env[name] = value;
  }
  if (!r.env.contains("PATH")) r.env["PATH"] = std::string(kDefaultPath);

  // The batch script.
  std::string& b = r.script;
  b = "#!/bin/bash\n";
  for (const std::string& line : PreservedDirectives(s.script)) b += line + "\n";
  b += fmt::format(
      "# Weft job {} (attempt {}) in pool {}: the WEFT_* variables, then the job's "
      "own script, unchanged.\n",
      job.id, job.restart_count, pool.pool.empty() ? "?" : pool.pool);
  const std::string scontrol = (pool.bin_dir.empty() ? std::string("/usr/bin") : pool.bin_dir) + "/scontrol";
  b += Export("WEFT_JOB_ID", id);
  b += Export("WEFT_JOB_NAME", s.name);
  b += Export("WEFT_NUM_NODES", std::to_string(s.num_nodes));
  b += Export("WORLD_SIZE", std::to_string(s.num_nodes));
  b += Export("WEFT_GPUS_PER_NODE", std::to_string(s.per_node.gpus));
  b += Export("WEFT_RESTART_COUNT", std::to_string(job.restart_count));
  if (!s.submit_dir.empty()) b += Export("WEFT_SUBMIT_DIR", s.submit_dir);
  if (job.master_port > 0) {
    b += Export("MASTER_PORT", std::to_string(job.master_port));
  } else {
    b += "export MASTER_PORT=$((20000 + ${SLURM_JOB_ID:-0} % 20000))\n";
  }
  if (is_array) {
    const std::vector<int> indices = s.array.Indices();
    b += Export("WEFT_ARRAY_TASK_ID", std::to_string(job.array_task_id));
    b += Export("SLURM_ARRAY_JOB_ID", std::to_string(job.array_job_id));
    b += Export("SLURM_ARRAY_TASK_ID", std::to_string(job.array_task_id));
    if (!indices.empty()) {
      b += Export("SLURM_ARRAY_TASK_COUNT", std::to_string(indices.size()));
      b += Export("SLURM_ARRAY_TASK_MIN", std::to_string(indices.front()));
      b += Export("SLURM_ARRAY_TASK_MAX", std::to_string(indices.back()));
      b += Export("SLURM_ARRAY_TASK_STEP",
                  std::to_string(s.array.ranges.size() == 1 ? s.array.ranges[0].step : 1));
    }
  }
  b += "export WEFT_NODE_RANK=\"${SLURM_NODEID:-0}\" NODE_RANK=\"${SLURM_NODEID:-0}\"\n";
  b += fmt::format(
      "WEFT_NODE_IPS=$({} show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null) || WEFT_NODE_IPS=\n",
      ShellQuote(scontrol));
  b += "[ -n \"$WEFT_NODE_IPS\" ] || WEFT_NODE_IPS=${SLURMD_NODENAME:-$(hostname -s)}\n";
  b += "export WEFT_NODE_IPS MASTER_ADDR=\"${WEFT_NODE_IPS%%$'\\n'*}\"\n";
  if (s.num_nodes > 1) {
    // Every srun task gets its own node rank from this task prolog (run by slurmstepd).
    const std::string prolog = fmt::format(".weft/slurm-task-prolog-{}.sh", job.id);
    b += fmt::format(
        "if mkdir -p .weft && printf '%s\\n' '#!/bin/sh' 'echo \"export WEFT_NODE_RANK=$SLURM_NODEID\"' "
        "'echo \"export NODE_RANK=$SLURM_NODEID\"' >{0} && chmod 755 {0}; then\n"
        "  export SLURM_TASK_PROLOG=\"$PWD/{0}\"\n"
        "fi\n",
        prolog);
  }
  // The user's script, verbatim, on fd 9; a delimiter no line of it equals.
  std::string delimiter = "WEFT_JOB_SCRIPT_END";
  const std::vector<std::string> lines = Split(s.script, '\n');
  for (int n = 1; std::find(lines.begin(), lines.end(), delimiter) != lines.end(); ++n) {
    delimiter = fmt::format("WEFT_JOB_SCRIPT_END_{}", n);
  }
  b += "exec 9<<'" + delimiter + "'\n";
  b += s.script;
  if (s.script.back() != '\n') b += '\n';
  b += delimiter + "\n";
  std::vector<std::string> command;
  for (const std::string& w : Interpreter(s.script)) command.push_back(ShellQuote(w));
  command.push_back("/dev/fd/9");
  for (const std::string& arg : s.args) command.push_back(ShellQuote(arg));
  b += "exec " + Join(command, " ") + "\n";
  return r;
}

}  // namespace weft::backend
