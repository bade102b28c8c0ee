// Fuzzes the JSON decoders of the API bodies and durable records: model::ParseJson, then
// JobSpecFromJson (with spec::Validate, as the controller does), NodeReportFromJson,
// NodeAssignmentsFromJson, JobFromJson, NodeFromJson and UserFromJson. Whatever decodes must
// encode again.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "model/json.h"
#include "spec/job_spec_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace weft;
  auto parsed = model::ParseJson(fuzz::AsText(data, size));
  if (!parsed) return 0;
  const nlohmann::json& j = *parsed;
  const nlohmann::json& spec_json = j.is_object() && j.contains("spec") ? j["spec"] : j;
  if (auto spec = model::JobSpecFromJson(spec_json)) {
    if (spec::Validate(*spec)) (void)spec->array.Indices();
    (void)nlohmann::json(*spec).dump();
  }
  if (auto report = model::NodeReportFromJson(j)) (void)nlohmann::json(*report).dump();
  if (auto assignments = model::NodeAssignmentsFromJson(j)) (void)nlohmann::json(*assignments).dump();
  if (auto job = model::JobFromJson(j)) {
    (void)model::EncodeJob(*job);
    (void)nlohmann::json(*job).dump();
  }
  if (auto node = model::NodeFromJson(j)) (void)nlohmann::json(*node).dump();
  if (auto user = model::UserFromJson(j)) (void)nlohmann::json(*user).dump();
  return 0;
}
