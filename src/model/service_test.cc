#include "model/service.h"

#include <gtest/gtest.h>

#include "model/json.h"

namespace weft::model {
namespace {

ServiceSpec FullSpec() {
  ServiceSpec s;
  s.name = "llm-chat";
  s.min_replicas = 0;
  s.max_replicas = 8;
  s.per_replica = {4000, 16LL << 30, 1};
  s.gpu_model = "h100";
  s.queue = "team-a";
  s.port = 8000;
  s.readiness = {"/ready", std::chrono::seconds(5), std::chrono::milliseconds(200),
                 std::chrono::seconds(1), 3};
  s.autoscale = {20.5, 4, std::chrono::seconds(30), std::chrono::seconds(300),
                 std::chrono::seconds(60)};
  s.load_balancing = "power_of_two";
  s.run = "python3 -m my_server --port $WEFT_PORT";
  s.setup = "pip install x";
  s.env = {{"A", "1"}};
  s.preemptible = true;
  s.user = "alice";
  s.submit_dir = "/home/alice";
  return s;
}

TEST(ServiceJsonTest, SpecRoundTripsEveryField) {
  const ServiceSpec spec = FullSpec();
  Result<ServiceSpec> back = ServiceSpecFromJson(ServiceSpecToJson(spec));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, spec);
}

TEST(ServiceJsonTest, ServiceRoundTripsAndMissingFieldsKeepDefaults) {
  Service service;
  service.spec = FullSpec();
  service.generation = 4;
  service.endpoint_port = 43210;
  service.created = FromUnixMicros(1000);
  service.updated = FromUnixMicros(2000);
  service.state = ServiceState::kDeleting;
  Result<Service> back = ServiceFromJson(nlohmann::json::parse(ServiceToJson(service).dump()));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, service);

  Result<ServiceSpec> minimal = ServiceSpecFromJson(nlohmann::json{{"name", "x"}});
  ASSERT_TRUE(minimal.has_value());
  EXPECT_EQ(minimal->readiness.path, "/health");
  EXPECT_EQ(minimal->min_replicas, 1);
  EXPECT_EQ(minimal->load_balancing, "least_outstanding");
}

TEST(ServiceJsonTest, BadFieldsAreNamed) {
  Result<ServiceSpec> bad = ServiceSpecFromJson(nlohmann::json{{"min_replicas", "two"}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("min_replicas"), std::string::npos) << bad.error().message;
  bad = ServiceSpecFromJson(nlohmann::json{{"readiness", {{"period_us", 1.5}}}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("period_us"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(ServiceSpecFromJson(nlohmann::json::array()).has_value());
  EXPECT_FALSE(ServiceFromJson(nlohmann::json{{"generation", 1}}).has_value());  // no spec
}

TEST(ServiceJsonTest, ReplicaJobFieldsRoundTrip) {
  Job job;
  job.spec.service = "llm-chat";
  job.spec.service_generation = 2;
  Result<Job> back = JobFromJson(nlohmann::json::parse(EncodeJob(job)));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->spec.service, "llm-chat");
  EXPECT_EQ(back->spec.service_generation, 2);
  // A batch job's record has no service fields at all.
  EXPECT_EQ(nlohmann::json(Job{}).at("spec").count("service"), 0u);
}

}  // namespace
}  // namespace weft::model
