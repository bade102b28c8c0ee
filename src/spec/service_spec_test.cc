#include "spec/service_spec.h"

#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using namespace std::chrono_literals;

constexpr const char* kIssueExample = R"(name: llm-chat
replicas: {min: 1, max: 8}
resources: {gpus: 1, cpus: 4, memory: 16G}
queue: team-a
port: 8000
readiness: {path: /health, initial_delay: 5s, period: 2s, timeout: 1s}
autoscale: {target_qps_per_replica: 20, upscale_delay: 30s, downscale_delay: 300s}
load_balancing: least_outstanding
run: python3 -m my_server --port $WEFT_PORT
)";

std::string ErrorOf(std::string_view yaml) {
  auto spec = ParseServiceYaml(yaml, "/home/u");
  return spec ? "" : spec.error().message;
}

TEST(ServiceSpecTest, ParsesTheIssueExample) {
  auto spec = ParseServiceYaml(kIssueExample, "/home/u");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->name, "llm-chat");
  EXPECT_EQ(spec->min_replicas, 1);
  EXPECT_EQ(spec->max_replicas, 8);
  EXPECT_EQ(spec->per_replica.gpus, 1);
  EXPECT_EQ(spec->per_replica.cpu_milli, 4000);
  EXPECT_EQ(spec->per_replica.memory_bytes, 16LL << 30);
  EXPECT_EQ(spec->queue, "team-a");
  EXPECT_EQ(spec->port, 8000);
  EXPECT_EQ(spec->readiness.path, "/health");
  EXPECT_EQ(spec->readiness.initial_delay, 5s);
  EXPECT_EQ(spec->readiness.period, 2s);
  EXPECT_EQ(spec->readiness.timeout, 1s);
  EXPECT_EQ(spec->readiness.failure_threshold, 1);
  EXPECT_EQ(spec->autoscale.target_qps_per_replica, 20);
  EXPECT_EQ(spec->autoscale.upscale_delay, 30s);
  EXPECT_EQ(spec->autoscale.downscale_delay, 300s);
  EXPECT_EQ(spec->autoscale.cold_start_timeout, 60s);
  EXPECT_EQ(spec->load_balancing, "least_outstanding");
  EXPECT_EQ(spec->submit_dir, "/home/u");
}

TEST(ServiceSpecTest, DefaultsAndScalarReplicas) {
  auto spec = ParseServiceYaml("name: a\nreplicas: 3\nrun: ./serve\nresources: {gpus: 'H100:2'}\n", "/w");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  EXPECT_EQ(spec->min_replicas, 3);
  EXPECT_EQ(spec->max_replicas, 3);
  EXPECT_EQ(spec->port, 0);  // auto
  EXPECT_EQ(spec->gpu_model, "H100");
  EXPECT_EQ(spec->per_replica.gpus, 2);
  EXPECT_EQ(spec->load_balancing, "least_outstanding");
}

TEST(ServiceSpecTest, DurationsTakeUnits) {
  EXPECT_EQ(*ParseServiceDuration("d", "200ms"), 200ms);
  EXPECT_EQ(*ParseServiceDuration("d", "0.5s"), 500ms);
  EXPECT_EQ(*ParseServiceDuration("d", "2m"), 120s);
  EXPECT_EQ(*ParseServiceDuration("d", "1h"), 3600s);
  EXPECT_EQ(*ParseServiceDuration("d", "7"), 7s);
  EXPECT_FALSE(ParseServiceDuration("d", "-1s").has_value());
  EXPECT_FALSE(ParseServiceDuration("d", "5 parsecs").has_value());
  EXPECT_FALSE(ParseServiceDuration("d", "").has_value());
}

TEST(ServiceSpecTest, BadInputNamesTheField) {
  EXPECT_NE(ErrorOf("name: Bad_Name\nrun: x\n").find("name:"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nreplicas: {min: 3, max: 2}\nrun: x\n").find("replicas.min"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nreplicas: {min: 0, max: 0}\nrun: x\n").find("replicas.max"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nreadiness: {period: 0s}\n").find("readiness.period"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nreadiness: {period: soon}\n").find("readiness.period"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\ncolour: blue\n").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nreadiness: {paht: /h}\n").find("unknown key 'paht' in readiness"),
            std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nload_balancing: random\n").find("load_balancing"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\n").find("run:"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nport: 70000\n").find("port"), std::string::npos);
  EXPECT_NE(ErrorOf("name: a\nrun: x\nreplicas: {min: 0, max: 2}\n").find("replicas.min"), std::string::npos);
  EXPECT_NE(ErrorOf("[1, 2]").find("mapping"), std::string::npos);
  EXPECT_NE(ErrorOf("name: [a").find("YAML"), std::string::npos);
}

TEST(ServiceSpecTest, ReplicaJobSpecIsAValidOneNodeJobWithoutTimeLimit) {
  auto spec = ParseServiceYaml(std::string(kIssueExample) + "setup: echo hi\nenv: {MODEL: m}\npreemptible: true\n",
                               "/home/u");
  ASSERT_TRUE(spec.has_value()) << spec.error().message;
  spec->user = "alice";
  const model::JobSpec job = ReplicaJobSpec(*spec, 3, 2);
  EXPECT_TRUE(Validate(job).has_value()) << Validate(job).error().message;
  EXPECT_EQ(job.service, "llm-chat");
  EXPECT_EQ(job.service_generation, 3);
  EXPECT_EQ(job.num_nodes, 1);
  EXPECT_EQ(job.per_node.gpus, 1);
  EXPECT_FALSE(job.time_limit.has_value());
  EXPECT_TRUE(job.preemptible);
  EXPECT_FALSE(job.requeue);
  EXPECT_EQ(job.user, "alice");
  EXPECT_EQ(job.env.at("WEFT_PORT"), "8000");  // fixed port
  EXPECT_EQ(job.env.at("WEFT_REPLICA"), "2");
  EXPECT_EQ(job.env.at("MODEL"), "m");
  EXPECT_NE(job.script.find("echo hi"), std::string::npos);
  EXPECT_NE(job.script.find("python3 -m my_server"), std::string::npos);
  spec->port = 0;
  EXPECT_EQ(ReplicaJobSpec(*spec, 1, 0).env.count("WEFT_PORT"), 0u);  // the controller's port
}

}  // namespace
}  // namespace weft::spec
