// ParseCommandJob (`weft run`) and SplitSubmitArgs (`weft submit`): command lines in.

#include <fmt/format.h>

#include "spec/job_spec_parser.h"
#include "spec/resolve.h"
#include "spec/shell_words.h"
#include "spec/submit_options.h"

namespace weft::spec {

Result<ParsedJob> ParseCommandJob(const std::vector<std::string>& options,
                                  const std::vector<std::string>& command,
                                  const SubmitContext& context) {
  if (command.empty() || command[0].empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "command: missing; give the command to run after the options, e.g. "
                "weft run -N 2 -- python train.py");
  }
  auto layer = ParseCommandLineOptions(options);
  if (!layer) return tl::unexpected(layer.error());
  if (layer->array) {
    // srun has no arrays either: one streamed job, one exit code.
    return Fail(ErrorCode::kInvalidArgument,
                "--array: not available with weft run; submit arrays with weft submit");
  }

  std::string script = "#!/bin/sh\nexec";
  for (const std::string& word : command) script += " " + QuoteShellWord(word);
  script += "\n";
  // The program's base name, as srun names a job after its command.
  std::string name = command[0];
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (const auto slash = name.rfind('/'); slash != std::string::npos && name.size() > 1) {
    name = name.substr(slash + 1);
  }
  return ResolveJob(*layer, JobBody{std::move(script), {}, std::move(name)}, context);
}

Result<SplitArgs> SplitSubmitArgs(const std::vector<std::string>& argv) {
  auto scanned = ScanOptions(argv, Dialect::kWeft, "option");
  if (!scanned) return tl::unexpected(scanned.error());
  SplitArgs out;
  const auto at = [&](size_t index) { return argv.begin() + static_cast<std::ptrdiff_t>(index); };
  out.options.assign(argv.begin(), at(scanned->options_end));
  out.positional.assign(at(scanned->rest), argv.end());
  return out;
}

}  // namespace weft::spec
