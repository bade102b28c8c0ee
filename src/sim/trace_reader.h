// Reads the workload traces of ../shared/traces into a Trace, recognising the format by the
// header line (each format's README is the authority on units and meaning):
//   philly-muri     job_id,num_gpu,submit_time,...,duration,...,iteration_time,...  (ms)
//   philly-pollux   timestamp,duration,num_gpus,gpu_time,cluster  (unsorted; cluster = queue)
//   itp-elasticflow job_id,submission_time,duration,num_gpu  (raw/) or the augmented
//                   job_id,submission_time,num_iteration,model_name,deadline,batch_size,num_gpu,duration
// Every format comes out the same way: seconds, jobs sorted by arrival (stable: ties keep file
// order), arrivals shifted so that the first job arrives at 0. Pure apart from reading the file.
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "sim/trace.h"

namespace weft::sim {

enum class TraceFormat { kPhillyMuri, kPhillyPollux, kItpRaw, kItpElasticflow };
std::string_view ToString(TraceFormat format);

// Parses trace text. `source` names the input in messages ("trace1.csv:12: ...") and gives the
// trace its name (the file stem). Bad input is kInvalidArgument with one sentence naming the
// source, the line and the column.
Result<Trace> ParseTrace(std::string_view text, std::string_view source);

// Reads and parses a file; an unreadable file is kNotFound naming it.
Result<Trace> ReadTraceFile(const std::string& path);

}  // namespace weft::sim
