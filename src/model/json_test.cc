#include "model/json.h"

#include <gtest/gtest.h>

namespace weft::model {
namespace {

TEST(JsonTest, JobRoundTripsThroughJson) {
  Job job;
  job.id = 7;
  job.spec.name = "train";
  job.spec.num_nodes = 2;
  job.spec.per_node = {4000, 1LL << 30, 2};
  job.spec.time_limit = std::chrono::seconds(90);
  job.spec.max_pending = std::chrono::seconds(30);
  job.spec.env = {{"A", "1"}};
  job.state = JobState::kRunning;
  job.submit_time = FromUnixMicros(1000);
  job.start_time = FromUnixMicros(2000);
  job.allocation.ranks = {{"n1", {4000, 1LL << 30, 2}, {0, 1}}, {"n2", {4000, 1LL << 30, 2}, {2, 3}}};
  job.tasks.resize(2);
  job.tasks[1].phase = TaskPhase::kExited;
  job.tasks[1].exit = TaskExit{137, 9, true, false, false};

  const nlohmann::json j = job;
  Result<Job> back = JobFromJson(j);

  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(nlohmann::json(*back), j);
  EXPECT_EQ(back->spec.time_limit, std::chrono::seconds(90));
  EXPECT_EQ(back->spec.max_pending, std::chrono::seconds(30));
  EXPECT_EQ(back->allocation.ranks[1].gpu_ids, (std::vector<int>{2, 3}));
  EXPECT_TRUE(back->tasks[1].exit->timed_out);
}

TEST(JsonTest, ArrayAndDependencyRoundTripAndOldRecordsDecodeToDefaults) {
  Job job;
  job.id = 9;
  job.spec.array = {{{0, 15, 4}, {20, 20, 1}}, 2};
  job.spec.dependency = {{{DependencyType::kAfterOk, {3, 4}}, {DependencyType::kSingleton, {}}}, true};
  job.array_job_id = 9;
  job.array_task_id = 0;
  Result<Job> back = JobFromJson(nlohmann::json(job));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->spec.array, job.spec.array);
  EXPECT_EQ(back->spec.dependency, job.spec.dependency);
  EXPECT_EQ(back->array_job_id, 9);
  EXPECT_EQ(back->array_task_id, 0);
  EXPECT_EQ(ToString(back->spec.array), "0-15:4,20%2");
  EXPECT_EQ(ToString(back->spec.dependency), "afterok:3:4?singleton");

  // A record written before these fields existed.
  nlohmann::json old = nlohmann::json(Job{});
  old["spec"].erase("array");
  old["spec"].erase("dependency");
  ASSERT_FALSE(old.contains("array_job_id"));
  Result<Job> plain = JobFromJson(old);
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->spec.array.empty());
  EXPECT_TRUE(plain->spec.dependency.empty());
  EXPECT_EQ(plain->array_job_id, 0);
  EXPECT_EQ(plain->array_task_id, -1);

  nlohmann::json bad = nlohmann::json(job);
  bad["spec"]["dependency"]["terms"][0]["type"] = "aftercorr";
  EXPECT_FALSE(JobFromJson(bad).has_value());
}

TEST(JsonTest, BadFieldTypeIsAnInvalidArgumentNotAnException) {
  Result<JobSpec> spec = JobSpecFromJson(nlohmann::json{{"num_nodes", "two"}});
  ASSERT_FALSE(spec.has_value());
  EXPECT_EQ(spec.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(ParseJson("{not json").has_value());
}

// Numbers that do not fit the field (1e30 GPUs, a fraction, 2^63) are refused with the field's
// name; converting them would be undefined behaviour (float to integer) or wrap silently.
TEST(JsonTest, OutOfRangeNumbersNameTheirField) {
  const auto message = [](const char* text) {
    Result<JobSpec> spec = JobSpecFromJson(nlohmann::json::parse(text));
    EXPECT_FALSE(spec.has_value()) << text;
    return spec ? std::string("(decoded)") : spec.error().message;
  };
  EXPECT_EQ(message(R"({"resources": {"gpus": 1e30}})"),
            "bad job spec: field 'gpus': 1e+30 is out of range (-9223372036854775808 to 9223372036854775807)");
  EXPECT_EQ(message(R"({"resources": {"cpu_milli": 1.5}})"),
            "bad job spec: field 'cpu_milli': 1.5 is not a whole number");
  EXPECT_EQ(message(R"({"num_nodes": 4294967296})"),
            "bad job spec: field 'num_nodes': 4294967296 is out of range (-2147483648 to 2147483647)");
  EXPECT_EQ(message(R"({"time_limit_us": 18446744073709551615})"),
            "bad job spec: field 'time_limit_us': 18446744073709551615 is out of range "
            "(-9223372036854775808 to 9223372036854775807)");
  EXPECT_EQ(message(R"({"array": {"ranges": [{"first": 0, "last": -1e300}]}})"),
            "bad job spec: field 'last': -1e+300 is out of range (-2147483648 to 2147483647)");
  EXPECT_EQ(message(R"({"pools": ["a", 3]})"),
            "bad job spec: field 'pools': [json.exception.type_error.302] type must be string, but is number");
  EXPECT_EQ(message(R"({"dependency": {"terms": [{"type": "afterok", "jobs": [1e19]}]}})"),
            "bad job spec: field 'jobs': 1e+19 is out of range (-9223372036854775808 to 9223372036854775807)");
  // Whole floats in range are accepted, as before.
  EXPECT_EQ(JobSpecFromJson(nlohmann::json::parse(R"({"num_nodes": 2.0})"))->num_nodes, 2);

  Result<NodeReport> report = NodeReportFromJson(nlohmann::json::parse(
      R"({"name": "n1", "capacity": {}, "tasks": [{"key": {"job_id": 1, "rank": 1e30}, "phase": "RUNNING"}]})"));
  ASSERT_FALSE(report.has_value());
  EXPECT_EQ(report.error().message,
            "bad node report: field 'rank': 1e+30 is out of range (-2147483648 to 2147483647)");
}

// Deep nesting is refused before parsing: nlohmann copies and dumps trees recursively.
TEST(JsonTest, DeeplyNestedBodiesAreRefused) {
  const auto nested = [](std::size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth)).has_value());
  const auto too_deep = ParseJson(nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(too_deep.has_value());
  EXPECT_EQ(too_deep.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(too_deep.error().message, "request body nests arrays and objects deeper than 64 levels");
  EXPECT_FALSE(ParseJson(std::string(100000, '[')).has_value());
  EXPECT_FALSE(ParseJson("{\"a\":" + std::string(100000, '{')).has_value());
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson(R"({"script": ")" + std::string(1000, '[') + R"(\"{"})").has_value());
}

TEST(JsonTest, NodeReportRoundTrips) {
  NodeReport report;
  report.name = "n1";
  report.capacity = {2000, 1LL << 30, 1};
  TaskReport t;
  t.key = {5, 1, 2};
  t.phase = TaskPhase::kExited;
  t.exit = TaskExit{1, 0, false, false, false};
  report.tasks.push_back(t);

  Result<NodeReport> back = NodeReportFromJson(nlohmann::json(report));

  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->tasks.at(0).key, (TaskKey{5, 1, 2}));
  EXPECT_EQ(back->tasks.at(0).exit->exit_code, 1);
}

TEST(JsonTest, PreemptionFieldsRoundTripAndAreAbsentFromOtherRecords) {
  Job job;
  job.id = 3;
  job.spec.signal = SignalSpec{10, std::chrono::seconds(90), true};
  job.state = JobState::kRunning;
  job.preempted_at = FromUnixMicros(5000);
  job.preempted_by = 4;
  job.preemption_reason = "preempted by job 4 (priority 10 > 0)";
  job.tasks.resize(1);
  job.tasks[0].exit = TaskExit{143, 15, false, false, false, true};

  const nlohmann::json j = job;
  Result<Job> back = JobFromJson(j);

  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(nlohmann::json(*back), j);
  EXPECT_EQ(back->spec.signal, job.spec.signal);
  EXPECT_EQ(back->preempted_at, job.preempted_at);
  EXPECT_TRUE(back->tasks[0].exit->preempted);
  const nlohmann::json plain = Job{};
  EXPECT_FALSE(plain.contains("preempted_at"));
  EXPECT_FALSE(plain["spec"].contains("signal"));
}

TEST(JsonTest, AssignmentCarriesItsStopRequestAndWarning) {
  NodeAssignments out;
  out.version = 2;
  TaskAssignment a;
  a.key = {7, 0, 1};
  a.warning = SignalSpec{12, std::chrono::seconds(30), false};
  a.stop = StopRequest{10, std::chrono::seconds(3)};
  out.tasks = {a, TaskAssignment{}};

  Result<NodeAssignments> back = NodeAssignmentsFromJson(nlohmann::json(out));

  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->tasks[0].stop, a.stop);
  EXPECT_EQ(back->tasks[0].warning, a.warning);
  EXPECT_FALSE(back->tasks[1].stop.has_value());
  EXPECT_FALSE(back->tasks[1].warning.has_value());
}

TEST(JsonTest, TopologyRoundTripsAndDefaultsToEmpty) {
  Job job;
  job.spec.topology = "rack";
  Result<Job> back = JobFromJson(nlohmann::json(job));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->spec.topology, "rack");
  // Plain jobs write no key, and records without it decode to "".
  const nlohmann::json plain = nlohmann::json(Job{});
  EXPECT_FALSE(plain["spec"].contains("topology"));
  Result<Job> old = JobFromJson(plain);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->spec.topology, "");
}

// The store writes EncodeJob's text; it must be exactly the tree's dump, for every field that
// is written only when set, and for strings that need escaping.
TEST(JsonTest, EncodeJobIsExactlyTheTreeDump) {
  Job plain;
  EXPECT_EQ(EncodeJob(plain), nlohmann::json(plain).dump());

  Job job;
  job.id = 123456789012LL;
  job.spec.name = "train \"quoted\" back\\slash\ttab\nnew \x01 caf\xc3\xa9 \x7f";
  job.spec.num_nodes = 2;
  job.spec.per_node = {4000, 1LL << 40, 8};
  job.spec.cpus_per_task = 3;
  job.spec.tasks_per_node = 2;
  job.spec.gpu_model = "a100";
  job.spec.time_limit = std::chrono::seconds(90);
  job.spec.priority = -5;
  job.spec.queue = "research";
  job.spec.pools = {"gpu", "cpu"};
  job.spec.exclusive = true;
  job.spec.preemptible = true;
  job.spec.max_retries = 2;
  job.spec.requeue = true;
  job.spec.signal = SignalSpec{10, std::chrono::seconds(30), true};
  job.spec.script = "#!/bin/sh\necho \"$HOME\"\n";
  job.spec.args = {"a", "b c", ""};
  job.spec.env = {{"A", "1"}, {"PATH", "/bin:/usr/bin"}, {"Z\n", "\x1f\b\f\r\x0b"}};
  job.spec.submit_dir = "/home/u";
  job.spec.work_dir = "/home/u/w";
  job.spec.output_pattern = "out-%j";
  job.spec.error_pattern = "err-%j";
  job.spec.user = "u";
  job.spec.array.ranges = {{0, 9, 3}, {20, 20, 1}};
  job.spec.array.max_running = 2;
  job.spec.dependency.terms = {{DependencyType::kAfterOk, {1, 2}}, {DependencyType::kSingleton, {}}};
  job.spec.dependency.any = true;
  job.spec.topology = "switch";
  job.state = JobState::kRunning;
  job.reason = "None";
  job.submit_time = FromUnixMicros(1000);
  job.start_time = FromUnixMicros(2000);
  job.end_time = FromUnixMicros(3000);
  job.expected_start = FromUnixMicros(1500);
  job.exit_code = 137;
  job.exit_signal = 9;
  job.restart_count = 1;
  job.preempted_at = FromUnixMicros(2500);
  job.preempted_by = 99;
  job.preemption_reason = "preempted by job 99 (priority 5 > 0)";
  job.master_port = 20001;
  job.array_job_id = 120;
  job.array_task_id = 3;
  job.allocation.ranks = {{"n1", {4000, 1LL << 30, 2}, {0, 1}}, {"n2", {4000, 0, 0}, {}}};
  job.tasks.resize(2);
  job.tasks[0].phase = TaskPhase::kExited;
  job.tasks[0].start_time = FromUnixMicros(2100);
  job.tasks[0].end_time = FromUnixMicros(2900);
  job.tasks[0].exit = TaskExit{137, 9, true, false, true, true, true};
  job.node_failed_at = FromUnixMicros(2700);
  job.node_failure = "node n2 stopped answering";
  job.idempotency_key = "k-1";
  job.backend_pool = "hpc";
  job.backend_id = "4711";
  job.tasks[0].output_path = "/o";
  job.tasks[0].error_path = "/e";
  job.tasks[1].phase = TaskPhase::kRunning;
  job.spec.require_isolation = true;
  job.spec.service = "llm-chat";
  job.spec.service_generation = 3;
  job.tasks[0].usage = TaskUsage{1500000, 64 << 20, 0, 128 << 20, 87};
  AttemptRecord attempt;
  attempt.attempt = 0;
  attempt.state = JobState::kPreempted;
  attempt.reason = "preempted by job 99";
  attempt.start_time = FromUnixMicros(1100);
  attempt.end_time = FromUnixMicros(1900);
  attempt.exit_code = 143;
  attempt.exit_signal = 15;
  attempt.nodes = {"n1", "n2"};
  attempt.cpu_usec = 7;
  attempt.memory_peak_bytes = 9;
  attempt.memory_limit_bytes = 10;
  attempt.gpu_usec = 11;
  job.attempts = {attempt};
  EXPECT_EQ(EncodeJob(job), nlohmann::json(job).dump());
  Result<Job> back = JobFromJson(nlohmann::json::parse(EncodeJob(job)));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->attempts, job.attempts);
  EXPECT_EQ(back->tasks[0].usage, job.tasks[0].usage);
  EXPECT_FALSE(back->tasks[1].usage.has_value());
  EXPECT_TRUE(back->spec.require_isolation);
  EXPECT_EQ(back->spec.service, "llm-chat");
  EXPECT_EQ(back->spec.service_generation, 3);
  job.spec.require_isolation = false;
  job.spec.service.clear();
  job.tasks[0].usage.reset();
  job.attempts.clear();

  job.spec.signal.reset();
  job.spec.array = {};
  job.spec.dependency = {};
  job.spec.time_limit.reset();
  job.preempted_at.reset();
  job.preempted_by = 0;
  job.preemption_reason.clear();
  job.node_failed_at.reset();
  job.node_failure.clear();
  job.idempotency_key.clear();
  job.tasks[0].exit->node_failed = false;
  job.array_job_id = 0;
  EXPECT_EQ(EncodeJob(job), nlohmann::json(job).dump());
}

// Agents report GPUs, isolation and usage; the controller keeps the first two in the node record.
TEST(JsonTest, NodeReportCarriesGpusIsolationAndUsage) {
  NodeReport report;
  report.name = "n1";
  report.gpus = {GpuInfo{0, "GPU-aaa", "NVIDIA H100", 80LL << 30}, GpuInfo{1, "GPU-bbb", "NVIDIA H100", 80LL << 30}};
  report.isolation = NodeIsolation{"v1", true, true, true, false, true, true};
  TaskReport task;
  task.key = {7, 0, 1};
  task.usage = TaskUsage{10, 20, 15, 30, -1};
  report.tasks.push_back(task);
  Result<NodeReport> back = NodeReportFromJson(nlohmann::json(report));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->gpus, report.gpus);
  EXPECT_EQ(back->isolation, report.isolation);
  ASSERT_EQ(back->tasks.size(), 1u);
  EXPECT_EQ(back->tasks[0].usage, task.usage);

  Node node;
  node.name = "n1";
  node.gpus = report.gpus;
  node.isolation = report.isolation;
  Result<Node> stored = NodeFromJson(nlohmann::json(node));
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->gpus, node.gpus);
  EXPECT_EQ(stored->isolation, node.isolation);
  EXPECT_EQ(ToString(node.isolation), "v1: memory,cpu,pids,devices,user");
  EXPECT_EQ(ToString(NodeIsolation{}), "none");
  EXPECT_FALSE(nlohmann::json(Node{}).contains("isolation"));  // older records unchanged
}

TEST(JsonTest, AssignmentCarriesItsUser) {
  NodeAssignments assignments;
  TaskAssignment a;
  a.key = {3, 0, 0};
  a.user = "alice";
  assignments.tasks.push_back(a);
  Result<NodeAssignments> back = NodeAssignmentsFromJson(nlohmann::json(assignments));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->tasks[0].user, "alice");
}

}  // namespace
}  // namespace weft::model
