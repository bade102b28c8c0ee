// Fuzzes the sbatch/#WEFT batch-script parser (spec::ParseBatchScript). Input: the script,
// optionally followed by a NUL byte and newline-separated command-line options (as `weft
// submit` passes them after SplitSubmitArgs). A parsed job must survive JSON encoding (the
// CLI sends it to the server as JSON) and filename-pattern expansion.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "model/json.h"
#include "spec/job_spec_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace weft;
  const std::string_view input = fuzz::AsText(data, size);
  const std::size_t nul = input.find('\0');
  const std::string_view script = input.substr(0, nul);
  std::vector<std::string> options;
  if (nul != std::string_view::npos) options = fuzz::SplitOn(input.substr(nul + 1), "\n");

  const spec::SubmitContext context{"/home/alice/proj", {{"HOME", "/home/alice"}}, "alice"};
  auto split = spec::SplitSubmitArgs(options);
  auto job = spec::ParseBatchScript(script, options, {"arg1"}, context);
  if (!job) return 0;
  // Validated specs must encode: dump() throws on invalid UTF-8, which would end the CLI.
  (void)nlohmann::json(job->spec).dump();
  spec::FilenameContext names;
  names.job_id = 7;
  names.job_name = job->spec.name;
  names.node_name = "n1";
  names.user = "alice";
  (void)spec::ExpandFilenamePattern(job->spec.output_pattern, names);
  (void)spec::ExpandFilenamePattern(job->spec.error_pattern, names);
  (void)job->spec.array.Indices();
  return 0;
}
