#include "spec/submit_options.h"

#include <fmt/format.h>

#include <cctype>

#include "common/check.h"
#include "common/strings.h"
#include "spec/job_spec_parser.h"
#include "spec/quantities.h"
#include "spec/service_spec.h"

namespace weft::spec {
namespace {

using Value = std::optional<std::string_view>;

constexpr unsigned kSbatchOnly = 1u << static_cast<unsigned>(Dialect::kSbatch);
constexpr unsigned kWeftOnly = 1u << static_cast<unsigned>(Dialect::kWeft);
constexpr unsigned kBoth = kSbatchOnly | kWeftOnly;

Result<> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// Re-labels an error from a quantity parser that does not know the option's name.
Result<> Labelled(std::string_view label, const Error& error) {
  return Invalid(fmt::format("{}: {}", label, error.message));
}

// --- Handlers. Required values arrive non-empty (Apply checks), flags get nullopt. ---

template <auto Field>
Result<> SetText(const OptionUse&, Value value, SubmitOptions& out) {
  out.*Field = std::string(*value);
  return {};
}

template <auto Field>
Result<> SetCount(const OptionUse& use, Value value, SubmitOptions& out) {
  auto n = ParseCount(use.label, *value);
  if (!n) return tl::unexpected(n.error());
  out.*Field = *n;
  return {};
}

template <auto Field, bool kValue>
Result<> SetFlag(const OptionUse&, Value, SubmitOptions& out) {
  out.*Field = kValue;
  return {};
}

// "N", or sbatch's "min-max": Weft has no elastic node counts, so the minimum is taken.
Result<> SetNodes(const OptionUse& use, Value value, SubmitOptions& out) {
  const std::string_view text = Trim(*value);
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return SetCount<&SubmitOptions::num_nodes>(use, value, out);
  const auto low = ParseCount(use.label, text.substr(0, dash));
  const auto high = ParseCount(use.label, text.substr(dash + 1));
  if (!low || !high) {
    return Invalid(fmt::format("{}: '{}' is not a node count (examples: 2, 2-4)", use.label,
                               *value));
  }
  if (*low > *high) {
    return Invalid(fmt::format("{}: '{}' has its minimum above its maximum", use.label, *value));
  }
  out.num_nodes = *low;
  if (*low != *high) {
    out.warnings.push_back(fmt::format(
        "{}={}: node count ranges are not supported; asking for the minimum, {} nodes",
        use.option, text, *low));
  }
  return {};
}

template <CpuKind kKind>
Result<> SetCpus(const OptionUse& use, Value value, SubmitOptions& out) {
  auto n = ParseCount(use.label, *value);
  if (!n) return tl::unexpected(n.error());
  if (out.cpus && out.cpus->kind != kKind) {
    return Invalid(fmt::format("{} and {} are mutually exclusive", out.cpus->option, use.label));
  }
  out.cpus = Choice<CpuKind, int>{kKind, *n, std::string(use.label)};
  return {};
}

template <MemoryKind kKind>
Result<> SetMemory(const OptionUse& use, Value value, SubmitOptions& out) {
  auto bytes = ParseMemory(*value);
  if (!bytes) return Labelled(use.label, bytes.error());
  if (out.memory && out.memory->kind != kKind) {
    return Invalid(
        fmt::format("{} and {} are mutually exclusive", out.memory->option, use.label));
  }
  out.memory = Choice<MemoryKind, std::int64_t>{kKind, *bytes, std::string(use.label)};
  return {};
}

enum class GpuSlot { kPerNode, kTotal, kPerTask };

Result<> StoreGpus(GpuSlot slot, const OptionUse& use, const GpuRequest& request,
                   SubmitOptions& out) {
  GpuSetting setting{request.model, request.count, std::string(use.label)};
  switch (slot) {
    case GpuSlot::kPerNode:
      // Slurm: --gres=gpu and --gpus-per-node exclude each other; so do Weft's spellings.
      if (out.gpus.per_node && out.gpus.per_node->option != setting.option) {
        return Invalid(fmt::format("{} and {} are mutually exclusive", out.gpus.per_node->option,
                                   setting.option));
      }
      out.gpus.per_node = std::move(setting);
      break;
    case GpuSlot::kTotal:
      out.gpus.total = std::move(setting);
      break;
    case GpuSlot::kPerTask:
      out.gpus.per_task = std::move(setting);
      break;
  }
  return {};
}

template <GpuSlot kSlot>
Result<> SetGpus(const OptionUse& use, Value value, SubmitOptions& out) {
  auto request = ParseGpuRequest(use.label, *value);
  if (!request) return tl::unexpected(request.error());
  return StoreGpus(kSlot, use, *request, out);
}

Result<> SetGres(const OptionUse& use, Value value, SubmitOptions& out) {
  auto request = ParseGres(use.label, *value);
  if (!request) return tl::unexpected(request.error());
  return StoreGpus(GpuSlot::kPerNode, use, *request, out);
}

Result<> SetTime(const OptionUse& use, Value value, SubmitOptions& out) {
  auto limit = ParseTimeLimit(*value);
  if (!limit) return Labelled(use.label, limit.error());
  out.time_limit = *limit;
  return {};
}

// Weft --max-pending=TIME: how long the job may wait in one pool before it fails over to the
// next. As --time ("30" minutes, "0:30" seconds, "1-00:00:00"), or with a unit ("90s", "10m").
Result<> SetMaxPending(const OptionUse& use, Value value, SubmitOptions& out) {
  const std::string_view text = Trim(*value);
  if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back()))) {
    auto with_unit = ParseServiceDuration(use.label, text);
    if (!with_unit) return tl::unexpected(with_unit.error());
    out.max_pending = *with_unit;
    return {};
  }
  auto limit = ParseTimeLimit(*value);
  if (!limit) return Labelled(use.label, limit.error());
  if (!*limit) return Invalid(fmt::format("{}: '{}' is not a duration", use.label, *value));
  out.max_pending = **limit;
  return {};
}

// -p/--partition and --pools: a comma-separated list in failover order.
Result<> SetPools(const OptionUse& use, Value value, SubmitOptions& out) {
  std::vector<std::string> pools;
  for (const std::string& part : Split(*value, ',')) {
    const std::string_view pool = Trim(part);
    if (pool.empty()) {
      return Invalid(fmt::format("{}: '{}' contains an empty pool name", use.label, *value));
    }
    pools.emplace_back(pool);
  }
  out.pools = std::move(pools);
  return {};
}

Result<> SetPriority(const OptionUse& use, Value value, SubmitOptions& out) {
  auto n = ParseSignedInt(use.label, *value);
  if (!n) return tl::unexpected(n.error());
  out.priority = *n;
  return {};
}

// --nice[=adjustment]: lowers the priority by the adjustment (Slurm's default is 100).
Result<> SetNice(const OptionUse& use, Value value, SubmitOptions& out) {
  if (!value) {
    out.nice = 100;
    return {};
  }
  auto n = ParseSignedInt(use.label, *value);
  if (!n) return tl::unexpected(n.error());
  out.nice = *n;
  return {};
}

// --exclusive[=user|mcs|topo]: every form is treated as whole nodes, the strictest reading.
Result<> SetExclusive(const OptionUse& use, Value value, SubmitOptions& out) {
  if (value) {
    const std::string_view mode = Trim(*value);
    if (mode != "user" && mode != "mcs" && mode != "topo") {
      return Invalid(fmt::format("{}: '{}' is not one of user, mcs, topo", use.label, *value));
    }
    out.warnings.push_back(
        fmt::format("{}={}: treated as {} (whole nodes)", use.option, mode, use.option));
  }
  out.exclusive = true;
  return {};
}

// A switch: "--flag" alone means true; "--flag=false" (or any ParseBool word) sets it.
template <std::optional<bool> SubmitOptions::*Member>
Result<> SetSwitch(const OptionUse& use, Value value, SubmitOptions& out) {
  if (!value) {
    out.*Member = true;
    return {};
  }
  auto b = ParseBool(use.label, *value);
  if (!b) return tl::unexpected(b.error());
  out.*Member = *b;
  return {};
}

// --signal=[{R|B}:]SIG[@SECS]: the time-limit warning and the preemption signal.
Result<> SetSignal(const OptionUse& use, Value value, SubmitOptions& out) {
  auto signal = ParseSignalSpec(use.label, *value);
  if (!signal) return tl::unexpected(signal.error());
  out.signal = *signal;
  return {};
}

// Weft --env KEY=VALUE (repeatable).
Result<> AddEnv(const OptionUse& use, Value value, SubmitOptions& out) {
  const auto eq = value->find('=');
  if (eq == std::string_view::npos) {
    return Invalid(fmt::format("{}: '{}' is not KEY=VALUE", use.label, *value));
  }
  const std::string_view name = value->substr(0, eq);
  if (!IsVariableName(name)) {
    return Invalid(fmt::format("{}: '{}' is not a variable name", use.label, name));
  }
  out.env[std::string(name)] = std::string(value->substr(eq + 1));
  return {};
}

// --export=ALL | NONE | [ALL,]NAME[=VALUE],...: without ALL only the listed variables pass.
Result<> SetExport(const OptionUse& use, Value value, SubmitOptions& out) {
  ExportRule rule;
  rule.all = false;
  for (const std::string& item : Split(*value, ',')) {
    const std::string_view entry = Trim(item);
    if (entry.empty()) continue;
    if (entry == "ALL") {
      rule.all = true;
      continue;
    }
    if (entry == "NONE" || entry == "NIL") continue;
    const auto eq = entry.find('=');
    const std::string_view name = entry.substr(0, eq);
    if (!IsVariableName(name)) {
      return Invalid(fmt::format("{}: '{}' is not a variable name", use.label, name));
    }
    std::optional<std::string> assigned;
    if (eq != std::string_view::npos) assigned = std::string(entry.substr(eq + 1));
    rule.vars.emplace_back(std::string(name), std::move(assigned));
  }
  out.export_rule = std::move(rule);
  return {};
}

Result<> SetArray(const OptionUse& use, Value value, SubmitOptions& out) {
  auto array = ParseArraySpec(use.label, *value);
  if (!array) return tl::unexpected(array.error());
  out.array = std::move(*array);
  return {};
}

Result<> SetDependency(const OptionUse& use, Value value, SubmitOptions& out) {
  auto dependency = ParseDependency(use.label, *value);
  if (!dependency) return tl::unexpected(dependency.error());
  out.dependency = std::move(*dependency);
  return {};
}

// Weft --topology=switch|rack|zone: every rank on nodes sharing that label's value.
Result<> SetTopology(const OptionUse& use, Value value, SubmitOptions& out) {
  const std::string_view level = Trim(*value);
  if (level != "switch" && level != "rack" && level != "zone") {
    return Invalid(fmt::format("{}: '{}' is not one of switch, rack, zone", use.label, *value));
  }
  out.topology = std::string(level);
  return {};
}

// Options whose absence would change what the job does: refusing them beats ignoring them.
Result<> Unsupported(const OptionUse& use, Value, SubmitOptions&) {
  if (use.label != use.option) {
    return Invalid(fmt::format("{}: {} is not supported yet", use.label, use.option));
  }
  return Invalid(fmt::format("{} is not supported yet", use.option));
}

// Tuning and bookkeeping options a job runs correctly without.
Result<> Ignore(const OptionUse& use, Value, SubmitOptions& out) {
  out.warnings.push_back(fmt::format("ignored: {}", use.option));
  return {};
}

using enum ValueArg;

// The table. Order matters only where a name has two meanings: Weft's `--gpus` (per node)
// comes first so the Weft dialect finds it; `-G` and the sbatch dialect reach the total.
constexpr OptionDef kOptions[] = {
    // Weft's own options.
    {"gpus", '\0', kRequired, kWeftOnly, &SetGpus<GpuSlot::kPerNode>},
    {"name", '\0', kRequired, kWeftOnly, &SetText<&SubmitOptions::name>},
    {"num-nodes", '\0', kRequired, kWeftOnly, &SetNodes},
    {"cpus", '\0', kRequired, kWeftOnly, &SetCpus<CpuKind::kPerNode>},
    {"memory", '\0', kRequired, kWeftOnly, &SetMemory<MemoryKind::kPerNode>},
    {"queue", '\0', kRequired, kWeftOnly, &SetText<&SubmitOptions::queue>},
    {"pools", '\0', kRequired, kWeftOnly, &SetPools},
    {"max-pending", '\0', kRequired, kWeftOnly, &SetMaxPending},
    {"preemptible", '\0', kOptional, kWeftOnly, &SetSwitch<&SubmitOptions::preemptible>},
    {"require-isolation", '\0', kOptional, kWeftOnly, &SetSwitch<&SubmitOptions::require_isolation>},
    {"max-retries", '\0', kRequired, kWeftOnly, &SetCount<&SubmitOptions::max_retries>},
    {"env", '\0', kRequired, kWeftOnly, &AddEnv},
    {"topology", '\0', kRequired, kWeftOnly, &SetTopology},
    // sbatch options that map onto the job.
    {"job-name", 'J', kRequired, kBoth, &SetText<&SubmitOptions::name>},
    {"nodes", 'N', kRequired, kBoth, &SetNodes},
    {"ntasks", 'n', kRequired, kBoth, &SetCount<&SubmitOptions::ntasks>},
    {"ntasks-per-node", '\0', kRequired, kBoth, &SetCount<&SubmitOptions::tasks_per_node>},
    {"cpus-per-task", 'c', kRequired, kBoth, &SetCpus<CpuKind::kPerTask>},
    {"cpus-per-gpu", '\0', kRequired, kBoth, &SetCpus<CpuKind::kPerGpu>},
    {"mem", '\0', kRequired, kBoth, &SetMemory<MemoryKind::kPerNode>},
    {"mem-per-cpu", '\0', kRequired, kBoth, &SetMemory<MemoryKind::kPerCpu>},
    {"mem-per-gpu", '\0', kRequired, kBoth, &SetMemory<MemoryKind::kPerGpu>},
    {"gres", '\0', kRequired, kBoth, &SetGres},
    {"gpus-per-node", '\0', kRequired, kBoth, &SetGpus<GpuSlot::kPerNode>},
    {"gpus", 'G', kRequired, kBoth, &SetGpus<GpuSlot::kTotal>},
    {"gpus-per-task", '\0', kRequired, kBoth, &SetGpus<GpuSlot::kPerTask>},
    {"time", 't', kRequired, kBoth, &SetTime},
    {"partition", 'p', kRequired, kBoth, &SetPools},
    {"account", 'A', kRequired, kBoth, &SetText<&SubmitOptions::queue>},
    {"output", 'o', kRequired, kBoth, &SetText<&SubmitOptions::output_pattern>},
    {"error", 'e', kRequired, kBoth, &SetText<&SubmitOptions::error_pattern>},
    {"chdir", 'D', kRequired, kBoth, &SetText<&SubmitOptions::work_dir>},
    {"exclusive", '\0', kOptional, kBoth, &SetExclusive},
    {"requeue", '\0', kNone, kBoth, &SetFlag<&SubmitOptions::requeue, true>},
    {"no-requeue", '\0', kNone, kBoth, &SetFlag<&SubmitOptions::requeue, false>},
    {"signal", '\0', kRequired, kBoth, &SetSignal},
    {"priority", '\0', kRequired, kBoth, &SetPriority},
    {"nice", '\0', kOptional, kBoth, &SetNice},
    {"export", '\0', kRequired, kBoth, &SetExport},
    {"parsable", '\0', kNone, kBoth, &SetFlag<&SubmitOptions::parsable, true>},
    {"wait", 'W', kNone, kBoth, &SetFlag<&SubmitOptions::wait, true>},
    {"array", 'a', kRequired, kBoth, &SetArray},
    {"dependency", 'd', kRequired, kBoth, &SetDependency},
    // Not supported yet (refused).
    {"begin", 'b', kRequired, kBoth, &Unsupported},
    {"deadline", '\0', kRequired, kBoth, &Unsupported},
    {"hold", 'H', kNone, kBoth, &Unsupported},
    {"test-only", '\0', kNone, kBoth, &Unsupported},
    {"wrap", '\0', kRequired, kBoth, &Unsupported},
    {"nodelist", 'w', kRequired, kBoth, &Unsupported},
    {"nodefile", 'F', kRequired, kBoth, &Unsupported},
    {"exclude", 'x', kRequired, kBoth, &Unsupported},
    {"constraint", 'C', kRequired, kBoth, &Unsupported},
    {"cluster-constraint", '\0', kRequired, kBoth, &Unsupported},
    {"reservation", '\0', kRequired, kBoth, &Unsupported},
    {"container", '\0', kRequired, kBoth, &Unsupported},
    {"input", 'i', kRequired, kBoth, &Unsupported},
    {"clusters", 'M', kRequired, kBoth, &Unsupported},
    {"export-file", '\0', kRequired, kBoth, &Unsupported},
    {"gpus-per-socket", '\0', kRequired, kBoth, &Unsupported},
    {"immediate", 'I', kOptional, kBoth, &Unsupported},
    {"jobid", '\0', kRequired, kBoth, &Unsupported},
    {"batch", '\0', kRequired, kBoth, &Unsupported},
    // Accepted and ignored with a warning: QoS, notifications, bookkeeping, soft placement
    // preferences, and the CPU/memory binding knobs of §3.1's tier 3.
    {"qos", 'q', kRequired, kBoth, &Ignore},
    {"mail-type", '\0', kRequired, kBoth, &Ignore},
    {"mail-user", '\0', kRequired, kBoth, &Ignore},
    {"comment", '\0', kRequired, kBoth, &Ignore},
    {"wckey", '\0', kRequired, kBoth, &Ignore},
    {"licenses", 'L', kRequired, kBoth, &Ignore},
    {"time-min", '\0', kRequired, kBoth, &Ignore},
    {"prefer", '\0', kRequired, kBoth, &Ignore},
    {"switches", '\0', kRequired, kBoth, &Ignore},
    {"segment", '\0', kRequired, kBoth, &Ignore},
    {"open-mode", '\0', kRequired, kBoth, &Ignore},
    {"hint", '\0', kRequired, kBoth, &Ignore},
    {"distribution", 'm', kRequired, kBoth, &Ignore},
    {"cores-per-socket", '\0', kRequired, kBoth, &Ignore},
    {"sockets-per-node", '\0', kRequired, kBoth, &Ignore},
    {"threads-per-core", '\0', kRequired, kBoth, &Ignore},
    {"ntasks-per-core", '\0', kRequired, kBoth, &Ignore},
    {"ntasks-per-socket", '\0', kRequired, kBoth, &Ignore},
    {"ntasks-per-gpu", '\0', kRequired, kBoth, &Ignore},
    {"extra-node-info", 'B', kRequired, kBoth, &Ignore},
    {"mincpus", '\0', kRequired, kBoth, &Ignore},
    {"tmp", '\0', kRequired, kBoth, &Ignore},
    {"mem-bind", '\0', kRequired, kBoth, &Ignore},
    {"cpu-bind", '\0', kRequired, kBoth, &Ignore},
    {"gpu-bind", '\0', kRequired, kBoth, &Ignore},
    {"gres-flags", '\0', kRequired, kBoth, &Ignore},
    {"cpu-freq", '\0', kRequired, kBoth, &Ignore},
    {"gpu-freq", '\0', kRequired, kBoth, &Ignore},
    {"network", '\0', kRequired, kBoth, &Ignore},
    {"bb", '\0', kRequired, kBoth, &Ignore},
    {"bbf", '\0', kRequired, kBoth, &Ignore},
    {"acctg-freq", '\0', kRequired, kBoth, &Ignore},
    {"profile", '\0', kRequired, kBoth, &Ignore},
    {"core-spec", 'S', kRequired, kBoth, &Ignore},
    {"thread-spec", '\0', kRequired, kBoth, &Ignore},
    {"mcs-label", '\0', kRequired, kBoth, &Ignore},
    {"uid", '\0', kRequired, kBoth, &Ignore},
    {"gid", '\0', kRequired, kBoth, &Ignore},
    {"get-user-env", '\0', kOptional, kBoth, &Ignore},
    {"propagate", '\0', kOptional, kBoth, &Ignore},
    {"kill-on-invalid-dep", '\0', kRequired, kBoth, &Ignore},
    {"wait-all-nodes", '\0', kRequired, kBoth, &Ignore},
    {"delay-boot", '\0', kRequired, kBoth, &Ignore},
    {"power", '\0', kRequired, kBoth, &Ignore},
    {"no-kill", 'k', kOptional, kBoth, &Ignore},
    {"reboot", '\0', kNone, kBoth, &Ignore},
    {"contiguous", '\0', kNone, kBoth, &Ignore},
    {"overcommit", 'O', kNone, kBoth, &Ignore},
    {"oversubscribe", 's', kNone, kBoth, &Ignore},
    {"spread-job", '\0', kNone, kBoth, &Ignore},
    {"use-min-nodes", '\0', kNone, kBoth, &Ignore},
    {"ignore-pbs", '\0', kNone, kBoth, &Ignore},
    {"quiet", 'Q', kNone, kBoth, &Ignore},
    {"verbose", 'v', kNone, kBoth, &Ignore},
};

bool Speaks(const OptionDef& def, Dialect dialect) {
  return (def.dialects & (1u << static_cast<unsigned>(dialect))) != 0;
}

// The one place values reach handlers: refuses empty required values and drops the value a
// flag may carry (SBATCH_EXCLUSIVE=1).
Result<> Apply(const OptionDef& def, Value value, std::string_view label, SubmitOptions& out) {
  if (def.value == kRequired && (!value || Trim(*value).empty())) {
    return Invalid(fmt::format("{}: the value is empty", label));
  }
  if (def.value == kNone) value.reset();
  const std::string option = fmt::format("--{}", def.long_name);
  return def.apply(OptionUse{option, label}, value, out);
}

Result<ScannedArgs> UnknownOption(std::string_view what, std::string_view written,
                                  Dialect dialect) {
  std::string message = fmt::format("unknown {} '{}'", what, written);
  if (dialect == Dialect::kSbatch && StartsWith(written, "--") &&
      FindLongOption(written.substr(2), Dialect::kWeft) != nullptr) {
    message += " (Weft's own options go in #WEFT directives)";
  }
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// SBATCH_* input variables sbatch reads, and the option each stands for.
struct EnvOption {
  std::string_view variable;
  std::string_view option;
};
constexpr EnvOption kSbatchVariables[] = {
    {"SBATCH_ACCOUNT", "account"},
    {"SBATCH_ARRAY_INX", "array"},
    {"SBATCH_CPUS_PER_GPU", "cpus-per-gpu"},
    {"SBATCH_EXCLUSIVE", "exclusive"},
    {"SBATCH_EXPORT", "export"},
    {"SBATCH_GPUS", "gpus"},
    {"SBATCH_GPUS_PER_NODE", "gpus-per-node"},
    {"SBATCH_GPUS_PER_TASK", "gpus-per-task"},
    {"SBATCH_GRES", "gres"},
    {"SBATCH_JOB_NAME", "job-name"},
    {"SBATCH_MEM_PER_CPU", "mem-per-cpu"},
    {"SBATCH_MEM_PER_GPU", "mem-per-gpu"},
    {"SBATCH_MEM_PER_NODE", "mem"},
    {"SBATCH_NO_REQUEUE", "no-requeue"},
    {"SBATCH_PARTITION", "partition"},
    {"SBATCH_QOS", "qos"},
    {"SBATCH_REQUEUE", "requeue"},
    {"SBATCH_SIGNAL", "signal"},
    {"SBATCH_TIMELIMIT", "time"},
    {"SBATCH_WAIT", "wait"},
};

}  // namespace

const OptionDef* FindLongOption(std::string_view name, Dialect dialect) {
  for (const OptionDef& def : kOptions) {
    if (def.long_name == name && Speaks(def, dialect)) return &def;
  }
  return nullptr;
}

const OptionDef* FindShortOption(char name, Dialect dialect) {
  if (name == '\0') return nullptr;
  for (const OptionDef& def : kOptions) {
    if (def.short_name == name && Speaks(def, dialect)) return &def;
  }
  return nullptr;
}

Result<ScannedArgs> ScanOptions(const std::vector<std::string>& args, Dialect dialect,
                                std::string_view what) {
  ScannedArgs out;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string_view word = args[i];
    if (word == "--") {
      out.options_end = i;
      out.rest = i + 1;
      return out;
    }
    if (word.size() > 2 && StartsWith(word, "--")) {
      const auto eq = word.find('=');
      const std::string_view name = word.substr(2, eq == std::string_view::npos ? eq : eq - 2);
      const OptionDef* def = FindLongOption(name, dialect);
      if (def == nullptr) return UnknownOption(what, word.substr(0, eq), dialect);
      OptionArg arg{def, std::nullopt};
      if (eq != std::string_view::npos) {
        if (def->value == kNone) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("option '--{}' takes no value", name));
        }
        arg.value = std::string(word.substr(eq + 1));
      } else if (def->value == kRequired) {
        if (i + 1 >= args.size()) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("option '--{}' needs a value", name));
        }
        arg.value = args[++i];
      }
      out.options.push_back(std::move(arg));
    } else if (word.size() > 1 && word[0] == '-') {
      // One or more short options: flags may be bundled (-WQ); an option with a value takes
      // the rest of the word (-N2) or the next word (-N 2).
      for (size_t j = 1; j < word.size(); ++j) {
        const OptionDef* def = FindShortOption(word[j], dialect);
        if (def == nullptr) return UnknownOption(what, fmt::format("-{}", word[j]), dialect);
        OptionArg arg{def, std::nullopt};
        if (def->value == kNone) {
          out.options.push_back(std::move(arg));
          continue;
        }
        if (j + 1 < word.size()) {
          arg.value = std::string(word.substr(j + 1));
        } else if (def->value == kRequired) {
          if (i + 1 >= args.size()) {
            return Fail(ErrorCode::kInvalidArgument,
                        fmt::format("option '-{}' needs a value", word[j]));
          }
          arg.value = args[++i];
        }
        out.options.push_back(std::move(arg));
        break;
      }
    } else {
      break;
    }
  }
  out.options_end = i;
  out.rest = i;
  return out;
}

Result<> ApplyOption(const OptionArg& arg, SubmitOptions& out) {
  WEFT_CHECK(arg.def != nullptr);
  const std::string label = fmt::format("--{}", arg.def->long_name);
  Value value;
  if (arg.value) value = *arg.value;
  return Apply(*arg.def, value, label, out);
}

Result<SubmitOptions> ParseCommandLineOptions(const std::vector<std::string>& args) {
  auto scanned = ScanOptions(args, Dialect::kWeft, "option");
  if (!scanned) return tl::unexpected(scanned.error());
  if (scanned->rest < args.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("unexpected argument '{}' among the options", args[scanned->rest]));
  }
  SubmitOptions layer;
  for (const OptionArg& arg : scanned->options) {
    if (auto applied = ApplyOption(arg, layer); !applied) return tl::unexpected(applied.error());
  }
  return layer;
}

Result<> ApplyNamedOption(std::string_view long_name, std::optional<std::string_view> value,
                          std::string_view label, SubmitOptions& out) {
  const OptionDef* def = FindLongOption(long_name, Dialect::kWeft);
  WEFT_CHECK(def != nullptr);
  return Apply(*def, value, label, out);
}

Result<SubmitOptions> ParseSbatchEnvironment(const std::map<std::string, std::string>& env) {
  SubmitOptions layer;
  for (const EnvOption& entry : kSbatchVariables) {
    const auto it = env.find(std::string(entry.variable));
    if (it == env.end() || Trim(it->second).empty()) continue;
    const OptionDef* def = FindLongOption(entry.option, Dialect::kSbatch);
    WEFT_CHECK(def != nullptr);
    Value value;
    if (def->value == kRequired) value = it->second;
    if (auto applied = Apply(*def, value, entry.variable, layer); !applied) {
      return tl::unexpected(applied.error());
    }
  }
  return layer;
}

}  // namespace weft::spec
