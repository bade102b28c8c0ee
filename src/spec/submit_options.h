// The one option table behind every way of describing a job: #SBATCH and #WEFT directives,
// SBATCH_* input variables, command-line options and YAML fields all go through it and fill a
// SubmitOptions layer; resolve.h folds the layers into a JobSpec.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "model/job.h"

namespace weft::spec {

// Which option names a source understands. #SBATCH directives and SBATCH_* variables speak
// sbatch only. #WEFT directives, the command line and YAML also take Weft's own options, and
// there `--gpus` means GPUs per node (sbatch's `--gpus`, like `-G` everywhere, is a job total).
enum class Dialect { kSbatch, kWeft };

enum class CpuKind { kPerTask, kPerNode, kPerGpu };  // -c, --cpus, --cpus-per-gpu
enum class MemoryKind { kPerNode, kPerCpu, kPerGpu };  // --mem/--memory, --mem-per-cpu/-gpu

// One of a set of mutually exclusive ways to ask for a quantity, with the option that did
// (for messages such as "--mem and --mem-per-gpu are mutually exclusive").
template <class Kind, class T>
struct Choice {
  Kind kind;
  T value;
  std::string option;
};

struct GpuSetting {
  std::string model;  // "" = any
  int count = 0;
  std::string option;
};

// --gres=gpu / --gpus-per-node / Weft --gpus (per node), -G (job total), --gpus-per-task.
// resolve.cc reconciles them; the per-node options exclude each other.
struct GpuOptions {
  std::optional<GpuSetting> per_node;
  std::optional<GpuSetting> total;
  std::optional<GpuSetting> per_task;
  bool empty() const { return !per_node && !total && !per_task; }
};

// --export: start from the submitter's environment (ALL) or from nothing, then copy NAME or
// set NAME=VALUE for each listed variable.
struct ExportRule {
  bool all = true;
  std::vector<std::pair<std::string, std::optional<std::string>>> vars;
};

// What one source said about a job. Unset fields leave lower layers' values alone. The cpus,
// memory and gpus groups are each replaced as a whole by a higher layer, so that a
// command-line --mem overrides a directive's --mem-per-cpu instead of conflicting with it.
struct SubmitOptions {
  std::optional<std::string> name;
  std::optional<int> num_nodes;
  std::optional<int> ntasks;
  std::optional<int> tasks_per_node;
  std::optional<Choice<CpuKind, int>> cpus;
  std::optional<Choice<MemoryKind, std::int64_t>> memory;  // bytes
  GpuOptions gpus;
  std::optional<std::optional<Duration>> time_limit;  // set to nullopt = explicitly unlimited
  std::optional<int> priority;
  std::optional<int> nice;
  std::optional<std::string> queue;
  std::optional<std::vector<std::string>> pools;
  std::optional<bool> exclusive;
  std::optional<bool> requeue;
  std::optional<bool> preemptible;
  std::optional<bool> require_isolation;  // Weft --require-isolation
  std::optional<int> max_retries;
  std::optional<Duration> max_pending;  // --max-pending (Slurm time format, as --time)
  std::optional<model::SignalSpec> signal;  // --signal
  std::optional<std::string> work_dir;  // as written: relative paths are against submit_dir
  std::optional<std::string> output_pattern;
  std::optional<std::string> error_pattern;
  std::optional<model::ArraySpec> array;            // -a/--array
  std::optional<model::Dependency> dependency;      // -d/--dependency
  std::optional<std::string> topology;              // Weft --topology: switch, rack or zone
  std::optional<ExportRule> export_rule;
  std::map<std::string, std::string> env;  // Weft --env / YAML env: applied after --export
  std::optional<bool> parsable;
  std::optional<bool> wait;
  std::vector<std::string> warnings;  // "ignored: --hint", one line each
};

enum class ValueArg {
  kNone,      // a flag: --exclusive
  kRequired,  // --time=1:00, --time 1:00, -t1:00, -t 1:00
  kOptional,  // only as --nice=5; a bare --nice takes the default
};

// How the option is named in messages: `option` is its canonical "--long" spelling, `label`
// what the user wrote it as ("--mem", "SBATCH_MEM_PER_NODE", "resources.memory").
struct OptionUse {
  std::string_view option;
  std::string_view label;
};

// Records what the option means in `out`. `value` is nullopt only for flags and for optional
// values not given. Errors are one sentence starting with `use.label`.
using ApplyOptionFn = Result<> (*)(const OptionUse& use, std::optional<std::string_view> value,
                                   SubmitOptions& out);

struct OptionDef {
  std::string_view long_name;  // without the leading "--"
  char short_name;             // '\0': none
  ValueArg value;
  unsigned dialects;           // bit mask over Dialect
  ApplyOptionFn apply;
};

// Lookups in the table; nullptr when `dialect` has no such option.
const OptionDef* FindLongOption(std::string_view name, Dialect dialect);
const OptionDef* FindShortOption(char name, Dialect dialect);

// One option found in an argument list.
struct OptionArg {
  const OptionDef* def = nullptr;
  std::optional<std::string> value;
};

struct ScannedArgs {
  std::vector<OptionArg> options;
  size_t options_end = 0;  // index just past the last option word (before any "--")
  size_t rest = 0;         // index of the first positional word (after any "--")
};

// Reads options from the front of `args` (getopt-style: "--opt=v", "--opt v", "-Nv", "-N v",
// bundled short flags) up to the first word that is not an option, or just past "--".
// `what` names an option in the unknown-option error: "unknown <what> '--foo'".
Result<ScannedArgs> ScanOptions(const std::vector<std::string>& args, Dialect dialect,
                                std::string_view what);

// Applies one scanned option to `out`.
Result<> ApplyOption(const OptionArg& arg, SubmitOptions& out);

// A layer from command-line `args`, which must all be options (Weft dialect).
Result<SubmitOptions> ParseCommandLineOptions(const std::vector<std::string>& args);

// Applies the Weft-dialect option `long_name` with `value`, naming it `label` in messages:
// how YAML fields reach the table.
Result<> ApplyNamedOption(std::string_view long_name, std::optional<std::string_view> value,
                          std::string_view label, SubmitOptions& out);

// A layer from the SBATCH_* input variables in `env` (SBATCH_JOB_NAME, SBATCH_PARTITION,
// SBATCH_TIMELIMIT, ...). Empty values are ignored.
Result<SubmitOptions> ParseSbatchEnvironment(const std::map<std::string, std::string>& env);

}  // namespace weft::spec
