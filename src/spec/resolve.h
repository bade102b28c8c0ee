// Folds option layers into one and turns the result into a validated ParsedJob: the one place
// where node, task, CPU, GPU and memory requests are reconciled.
#pragma once

#include <string>
#include <vector>

#include "common/error.h"
#include "spec/job_spec_parser.h"
#include "spec/submit_options.h"

namespace weft::spec {

// `layers` from lowest to highest precedence. A set field of a later layer replaces the
// earlier value; the cpus, memory and gpus groups are replaced whole; env entries merge by
// key; warnings accumulate.
SubmitOptions MergeLayers(const std::vector<SubmitOptions>& layers);

// What a job source provides besides its options.
struct JobBody {
  std::string script;             // full text, starting with "#!"
  std::vector<std::string> args;  // script arguments
  std::string default_name;       // used when no option names the job ("" allowed)
};

// The spec `options` describe, with the body and the submit context filled in, checked by
// Validate(). Defaults: 1 node, 1 task per node, 1 CPU per task, no GPUs, no memory
// reservation (memory_bytes 0), no time limit, --export=ALL.
Result<ParsedJob> ResolveJob(const SubmitOptions& options, JobBody body,
                             const SubmitContext& context);

}  // namespace weft::spec
