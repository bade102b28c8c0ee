// Stub: being written (see research_replay.h).
#include "sim/research_replay.h"

namespace weft::sim {

std::optional<ResearchPolicy> ParseResearchPolicy(std::string_view name) {
  if (name == "srtf") return ResearchPolicy::kSrtf;
  if (name == "srsf") return ResearchPolicy::kSrsf;
  if (name == "tiresias-l") return ResearchPolicy::kTiresiasL;
  return std::nullopt;
}

Result<std::vector<JobOutcome>> RunResearchReplay(const Trace&, const ResearchCluster&, ResearchPolicy) {
  return Fail(ErrorCode::kUnimplemented, "research replay is not written yet");
}

}  // namespace weft::sim
