// Fuzzes the YAML job spec parser (spec::ParseYamlJob). Input: the YAML text, optionally
// followed by a NUL byte and newline-separated command-line options that override it.
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
  std::vector<std::string> options;
  if (nul != std::string_view::npos) options = fuzz::SplitOn(input.substr(nul + 1), "\n");

  const spec::SubmitContext context{"/home/alice/proj", {{"HOME", "/home/alice"}}, "alice"};
  auto job = spec::ParseYamlJob(input.substr(0, nul), options, context);
  if (!job) return 0;
  (void)nlohmann::json(job->spec).dump();
  (void)job->spec.array.Indices();
  return 0;
}
