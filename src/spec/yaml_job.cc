// ParseYamlJob: DESIGN.md's SkyPilot-like job spec. Every field goes through the option table
// under Weft's option name, so YAML and the command line cannot disagree on meaning.

#include <algorithm>
#include <iterator>
#include <set>

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "common/strings.h"
#include "spec/job_spec_parser.h"
#include "spec/resolve.h"
#include "spec/submit_options.h"

namespace weft::spec {
namespace {

Result<> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// "line N: " when yaml-cpp knows where `node` is, "" otherwise.
std::string Where(const YAML::Mark& mark) {
  return mark.is_null() ? std::string() : fmt::format("line {}: ", mark.line + 1);
}

// The scalar text of `node`, refusing lists and mappings.
Result<std::string> ScalarText(const YAML::Node& node, std::string_view label) {
  if (!node.IsScalar()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}{}: expected a single value, not a list or mapping",
                            Where(node.Mark()), label));
  }
  return node.Scalar();
}

// Applies the YAML value `node` as the Weft option `option`.
Result<> ApplyField(const YAML::Node& node, std::string_view option, std::string_view label,
                    SubmitOptions& layer) {
  auto text = ScalarText(node, label);
  if (!text) return tl::unexpected(text.error());
  if (auto applied = ApplyNamedOption(option, *text, label, layer); !applied) {
    return Invalid(Where(node.Mark()) + applied.error().message);
  }
  return {};
}

// A list of scalars, or one comma-separated scalar, as --pools takes it.
Result<> ApplyPools(const YAML::Node& node, SubmitOptions& layer) {
  if (!node.IsSequence()) return ApplyField(node, "pools", "pools", layer);
  std::vector<std::string> pools;
  for (const YAML::Node& item : node) {
    auto text = ScalarText(item, "pools");
    if (!text) return tl::unexpected(text.error());
    pools.push_back(*text);
  }
  if (pools.empty()) return {};
  if (auto applied = ApplyNamedOption("pools", Join(pools, ","), "pools", layer); !applied) {
    return Invalid(Where(node.Mark()) + applied.error().message);
  }
  return {};
}

Result<> ApplyEnv(const YAML::Node& node, SubmitOptions& layer) {
  if (!node.IsMap()) {
    return Invalid(Where(node.Mark()) + "env: expected a mapping such as {BATCH: \"64\"}");
  }
  for (const auto& entry : node) {
    auto name = ScalarText(entry.first, "env");
    if (!name) return tl::unexpected(name.error());
    const std::string label = fmt::format("env.{}", *name);
    std::string value;
    if (!entry.second.IsNull()) {
      auto text = ScalarText(entry.second, label);
      if (!text) return tl::unexpected(text.error());
      value = *text;
    }
    if (auto applied = ApplyNamedOption("env", fmt::format("{}={}", *name, value), "env", layer);
        !applied) {
      return Invalid(Where(entry.first.Mark()) + applied.error().message);
    }
  }
  return {};
}

Result<> ApplyResources(const YAML::Node& node, SubmitOptions& layer) {
  if (!node.IsMap()) {
    return Invalid(Where(node.Mark()) +
                   "resources: expected a mapping such as {gpus: 8, cpus: 32, memory: 256G}");
  }
  for (const auto& entry : node) {
    auto key = ScalarText(entry.first, "resources");
    if (!key) return tl::unexpected(key.error());
    const YAML::Node& value = entry.second;
    if (value.IsNull()) continue;
    const std::string label = fmt::format("resources.{}", *key);
    std::string_view option;
    if (*key == "gpus") {
      option = "gpus";
    } else if (*key == "cpus") {
      option = "cpus";
    } else if (*key == "memory") {
      option = "memory";
    } else if (*key == "time") {
      option = "time";
    } else {
      return Invalid(fmt::format("{}unknown key '{}' in resources (known: gpus, cpus, memory, "
                                 "time)",
                                 Where(entry.first.Mark()), *key));
    }
    if (auto applied = ApplyField(value, option, label, layer); !applied) return applied;
  }
  return {};
}

// Top-level keys that map one-to-one onto a Weft option.
struct FieldOption {
  std::string_view key;
  std::string_view option;
};
constexpr FieldOption kFieldOptions[] = {
    {"name", "name"},       {"num_nodes", "num-nodes"},     {"queue", "queue"},
    {"priority", "priority"}, {"preemptible", "preemptible"}, {"max_retries", "max-retries"},
    {"workdir", "chdir"},   {"output", "output"},           {"error", "error"},
    {"array", "array"},     {"dependency", "dependency"},   {"topology", "topology"},
    {"signal", "signal"},   {"require_isolation", "require-isolation"},
    {"max_pending", "max-pending"},
};

struct YamlJob {
  SubmitOptions layer;
  std::string setup;
  std::optional<std::string> run;
};

// Reads the document. REQUIRES: yaml-cpp exceptions are caught by the caller.
Result<YamlJob> ReadJob(const YAML::Node& root) {
  if (!root.IsMap()) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}the job spec must be a mapping with keys such as name and run",
                            Where(root.Mark())));
  }
  YamlJob job;
  std::set<std::string> seen;
  for (const auto& entry : root) {
    auto key_text = ScalarText(entry.first, "job spec key");
    if (!key_text) return tl::unexpected(key_text.error());
    const std::string& key = *key_text;
    if (!seen.insert(key).second) {
      return Fail(ErrorCode::kInvalidArgument, fmt::format("{}duplicate key '{}' in job spec",
                                                           Where(entry.first.Mark()), key));
    }
    const YAML::Node& value = entry.second;
    if (value.IsNull()) continue;  // "key:" with nothing after it: as if absent
    Result<> applied;
    if (key == "resources") {
      applied = ApplyResources(value, job.layer);
    } else if (key == "pools") {
      applied = ApplyPools(value, job.layer);
    } else if (key == "env") {
      applied = ApplyEnv(value, job.layer);
    } else if (key == "setup" || key == "run") {
      auto text = ScalarText(value, key);
      if (!text) return tl::unexpected(text.error());
      (key == "setup" ? job.setup : job.run.emplace()) = *text;
    } else {
      const auto* field = std::find_if(std::begin(kFieldOptions), std::end(kFieldOptions),
                                       [&](const FieldOption& f) { return f.key == key; });
      if (field == std::end(kFieldOptions)) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("{}unknown key '{}' in job spec",
                                                             Where(entry.first.Mark()), key));
      }
      applied = ApplyField(value, field->option, key, job.layer);
    }
    if (!applied) return tl::unexpected(applied.error());
  }
  return job;
}

// The generated script. Setup runs first under `set -e` in a subshell (like SkyPilot's
// separate setup step, it does not share shell state with `run`); if it fails the job
// fails with setup's exit code and `run` never starts. The subshell is not the operand of
// `||` or `if`, where bash would silently switch `set -e` off.
std::string MakeScript(std::string_view setup, std::string_view run) {
  // Block scalars (`run: |`) end in a newline; one is enough.
  const auto chomp = [](std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
  };
  std::string script = "#!/bin/bash\n";
  if (!Trim(setup).empty()) {
    script += "# setup\n(\nset -e\n" + chomp(setup) + "\n)\n";
    script +=
        "weft_setup_status=$?\n"
        "if [ \"$weft_setup_status\" -ne 0 ]; then\n"
        "  echo \"weft: setup failed with exit code $weft_setup_status\" >&2\n"
        "  exit \"$weft_setup_status\"\n"
        "fi\n"
        "# run\n";
  }
  script += chomp(run) + "\n";
  return script;
}

}  // namespace

Result<ParsedJob> ParseYamlJob(std::string_view yaml_text, const std::vector<std::string>& options,
                               const SubmitContext& context) {
  Result<YamlJob> job = Fail(ErrorCode::kInternal, "unreachable");
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsDefined() || root.IsNull()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "the job spec is empty; it needs at least a 'run' command");
    }
    job = ReadJob(root);
  } catch (const YAML::Exception& e) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}invalid YAML: {}", Where(e.mark), e.msg));
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid YAML: {}", e.what()));
  }
  if (!job) return tl::unexpected(job.error());
  if (!job->run || Trim(*job->run).empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "run: missing; the job spec needs a 'run' command");
  }
  auto command_line = ParseCommandLineOptions(options);
  if (!command_line) return tl::unexpected(command_line.error());
  const SubmitOptions merged = MergeLayers({std::move(job->layer), std::move(*command_line)});
  return ResolveJob(merged, JobBody{MakeScript(job->setup, *job->run), {}, ""}, context);
}

}  // namespace weft::spec
