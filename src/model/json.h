// JSON encoding of the model types: one mapping shared by the store (durable records), the
// REST API and the agent protocol, so field names cannot drift between them.
#pragma once

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/job.h"
#include "model/node.h"
#include "model/task.h"
#include "model/user.h"

namespace weft::model {

void to_json(nlohmann::json& j, const Resources& r);
void to_json(nlohmann::json& j, const JobSpec& s);
void to_json(nlohmann::json& j, const NodeAllocation& a);
void to_json(nlohmann::json& j, const TaskExit& e);
void to_json(nlohmann::json& j, const TaskRecord& t);
void to_json(nlohmann::json& j, const Job& job);
void to_json(nlohmann::json& j, const Node& n);
void to_json(nlohmann::json& j, const TaskKey& k);
void to_json(nlohmann::json& j, const TaskAssignment& a);
void to_json(nlohmann::json& j, const TaskReport& r);
void to_json(nlohmann::json& j, const NodeReport& r);
void to_json(nlohmann::json& j, const NodeAssignments& a);
void to_json(nlohmann::json& j, const User& u);

// Exactly nlohmann::json(job).dump(), byte for byte, written straight into one string
// instead of through a json tree (the store encodes a job at every state change, which made
// the tree a hot spot). Keys come in the tree's order (sorted); strings that need escaping,
// or might be invalid UTF-8, go through nlohmann's own serializer (which may throw, as
// dump() does).
std::string EncodeJob(const Job& job);

// Decoders report the first bad field as kInvalidArgument ("field 'num_nodes': ...").
Result<JobSpec> JobSpecFromJson(const nlohmann::json& j);
Result<Job> JobFromJson(const nlohmann::json& j);
Result<Node> NodeFromJson(const nlohmann::json& j);
Result<NodeReport> NodeReportFromJson(const nlohmann::json& j);
Result<NodeAssignments> NodeAssignmentsFromJson(const nlohmann::json& j);
Result<User> UserFromJson(const nlohmann::json& j);

// Parses text as JSON without throwing. Refuses (kInvalidArgument) text that nests arrays and
// objects deeper than kMaxJsonDepth, before parsing: deep trees would overflow the stack in
// nlohmann's recursive copy and dump.
inline constexpr std::size_t kMaxJsonDepth = 64;
Result<nlohmann::json> ParseJson(std::string_view text);

}  // namespace weft::model
