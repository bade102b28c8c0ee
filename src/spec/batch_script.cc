// ParseBatchScript: #SBATCH and #WEFT directives, SBATCH_* variables and command-line options.

#include <fmt/format.h>

#include "common/strings.h"
#include "spec/job_spec_parser.h"
#include "spec/resolve.h"
#include "spec/shell_words.h"
#include "spec/submit_options.h"

namespace weft::spec {
namespace {

constexpr std::string_view kSbatchPrefix = "#SBATCH";
constexpr std::string_view kWeftPrefix = "#WEFT";

Error AtLine(int line, const Error& error) {
  return Error{error.code, fmt::format("line {}: {}", line, error.message)};
}

// Applies the options on one directive line to `layer`.
Result<> ParseDirective(std::string_view text, std::string_view prefix, Dialect dialect,
                        int line, SubmitOptions& layer) {
  auto words = SplitDirectiveWords(text);
  if (!words) {
    return tl::unexpected(AtLine(
        line, Error{ErrorCode::kInvalidArgument,
                    fmt::format("{} in {} directive", words.error().message, prefix)}));
  }
  const std::string what = fmt::format("{} directive", prefix);
  auto scanned = ScanOptions(*words, dialect, what);
  if (!scanned) return tl::unexpected(AtLine(line, scanned.error()));
  if (scanned->rest < words->size()) {
    const std::string& word = (*words)[scanned->rest];
    std::string message =
        word == "hetjob" || word == "packjob" || StartsWith(word, ":")
            ? "heterogeneous jobs are not supported yet"
            : fmt::format("unexpected argument '{}' in {} (options start with '-')", word, what);
    return tl::unexpected(AtLine(line, Error{ErrorCode::kInvalidArgument, std::move(message)}));
  }
  for (const OptionArg& arg : scanned->options) {
    if (auto applied = ApplyOption(arg, layer); !applied) {
      return tl::unexpected(AtLine(line, applied.error()));
    }
  }
  return {};
}

}  // namespace

Result<ParsedJob> ParseBatchScript(std::string_view script_text,
                                   const std::vector<std::string>& options,
                                   const std::vector<std::string>& script_args,
                                   const SubmitContext& context) {
  if (!StartsWith(script_text, "#!")) {
    return Fail(ErrorCode::kInvalidArgument,
                "the script must start with '#!' followed by an interpreter (for example "
                "#!/bin/bash)");
  }
  // #WEFT directives form their own layer above #SBATCH ones, so Weft's spelling wins
  // wherever a script says both.
  SubmitOptions sbatch_layer;
  SubmitOptions weft_layer;
  int line_number = 0;
  for (const std::string& raw : Split(script_text, '\n')) {
    ++line_number;
    const std::string_view line = raw;
    // As sbatch does: a directive starts at the beginning of its line; reading stops at the
    // first line that is neither blank nor a comment.
    if (StartsWith(line, kSbatchPrefix)) {
      if (auto r = ParseDirective(line.substr(kSbatchPrefix.size()), kSbatchPrefix,
                                  Dialect::kSbatch, line_number, sbatch_layer);
          !r) {
        return tl::unexpected(r.error());
      }
      continue;
    }
    if (StartsWith(line, kWeftPrefix)) {
      if (auto r = ParseDirective(line.substr(kWeftPrefix.size()), kWeftPrefix, Dialect::kWeft,
                                  line_number, weft_layer);
          !r) {
        return tl::unexpected(r.error());
      }
      continue;
    }
    const std::string_view trimmed = Trim(line);
    if (!trimmed.empty() && trimmed[0] != '#') break;
  }

  auto env_layer = ParseSbatchEnvironment(context.env);
  if (!env_layer) return tl::unexpected(env_layer.error());
  auto command_line = ParseCommandLineOptions(options);
  if (!command_line) return tl::unexpected(command_line.error());

  // Precedence, lowest first: #SBATCH, #WEFT, SBATCH_* variables, command line.
  const SubmitOptions merged =
      MergeLayers({std::move(sbatch_layer), std::move(weft_layer), std::move(*env_layer),
                   std::move(*command_line)});
  return ResolveJob(merged, JobBody{std::string(script_text), script_args, ""}, context);
}

}  // namespace weft::spec
