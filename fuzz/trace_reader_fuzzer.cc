// Fuzzes the workload-trace reader (sim::ParseTrace). The first byte picks the header line
// put in front of the rest (one per format, or none: the input's own header), so that every
// format's row parser sees arbitrary rows.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "sim/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace weft;
  if (size == 0) return 0;
  static const char* const kHeaders[] = {
      "",
      ("job_id,num_gpu,submit_time,iterations,model_name,batch_size,duration,interval,"
       "iteration_time,resource_time_0,resource_time_1,resource_time_2,priority\n"),
      "timestamp,duration,num_gpus,gpu_time,cluster\n",
      "job_id,submission_time,duration,num_gpu\n",
      "job_id,submission_time,num_iteration,model_name,deadline,batch_size,num_gpu,duration\n",
  };
  std::string text = kHeaders[data[0] % 5];
  text.append(fuzz::AsText(data + 1, size - 1));
  auto trace = sim::ParseTrace(text, "fuzz.csv");
  (void)trace;
  return 0;
}
