#include "api/metrics_catalog.h"

#include <gtest/gtest.h>

#include "api/api_handler.h"
#include "common/simulated_event_loop.h"
#include "controller/persister.h"
#include "store/in_memory_kv_store.h"

namespace weft::api {
namespace {

using namespace std::chrono_literals;

controller::ControllerOptions Observed(WeftMetrics& metrics) {
  controller::ControllerOptions options;
  options.observer = &metrics;
  return options;
}

// GET /metrics through the real ApiHandler, with a controller on a simulated loop.
class MetricsRouteTest : public ::testing::Test {
 protected:
  MetricsRouteTest()
      : loop_(TimePoint{} + 100s),
        persister_(store_, loop_),
        controller_(loop_, persister_, Observed(metrics_)),
        auth_("secret", "admin"),
        handler_(controller_, loop_, auth_, &metrics_) {}

  net::HttpResponse Call(std::string method, std::string path, std::string body = "",
                         std::string token = "secret") {
    net::HttpRequest request;
    request.method = std::move(method);
    request.path = request.target = std::move(path);
    request.body = std::move(body);
    if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
    std::optional<net::HttpResponse> response;
    handler_.Handle(request, [&](net::HttpResponse r) { response = std::move(r); });
    loop_.RunUntil(loop_.clock().Now());
    EXPECT_TRUE(response.has_value());
    return response.value_or(net::HttpResponse{});
  }
  std::string Scrape() {
    const net::HttpResponse r = Call("GET", "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.content_type, kMetricsContentType);
    return r.body;
  }

  WeftMetrics metrics_;
  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  controller::DirectPersister persister_;
  controller::Controller controller_;
  Authenticator auth_;
  ApiHandler handler_;
};

const char* kSpec = R"({"spec": {"name": "x", "script": "#!/bin/sh\ntrue\n", "submit_dir": "/tmp",
                      "work_dir": "/tmp", "resources": {"cpu_milli": 1000}}})";

#define EXPECT_HAS_LINE(text, line) \
  EXPECT_NE(("\n" + (text)).find("\n" + std::string(line) + "\n"), std::string::npos) << (text)

TEST_F(MetricsRouteTest, NeedsTheToken) {
  EXPECT_EQ(Call("GET", "/metrics", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/metrics", "", "wrong").status, 401);
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
}

TEST_F(MetricsRouteTest, SubmittedJobShowsInCounterAndGauge) {
  ASSERT_EQ(Call("POST", "/v1/jobs", kSpec).status, 201);
  const std::string text = Scrape();
  EXPECT_HAS_LINE(text, "# TYPE weft_jobs_submitted_total counter");
  EXPECT_HAS_LINE(text, "weft_jobs_submitted_total{queue=\"default\"} 1");
  EXPECT_HAS_LINE(text, "# TYPE weft_jobs gauge");
  EXPECT_HAS_LINE(text, "weft_jobs{queue=\"default\",state=\"PENDING\"} 1");
  EXPECT_HAS_LINE(text, "weft_jobs{queue=\"default\",state=\"RUNNING\"} 0");
  // The submission itself was timed under its route template.
  EXPECT_HAS_LINE(text, "weft_api_request_duration_seconds_count{route=\"/v1/jobs\",method=\"POST\",code=\"201\"} 1");
}

TEST_F(MetricsRouteTest, JobLifecycleNodesAndCycles) {
  model::NodeReport node;
  node.name = "n1";
  node.address = "127.0.0.1";
  node.capacity = {4000, 1LL << 30, 2};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now());
  ASSERT_EQ(Call("POST", "/v1/jobs", kSpec).status, 201);
  loop_.RunUntil(loop_.clock().Now() + 1s);
  const auto assignments = controller_.AssignmentsFor("n1");
  ASSERT_EQ(assignments.tasks.size(), 1u);

  std::string text = Scrape();
  EXPECT_HAS_LINE(text, "weft_jobs{queue=\"default\",state=\"RUNNING\"} 1");
  EXPECT_HAS_LINE(text, "weft_jobs{queue=\"default\",state=\"PENDING\"} 0");
  EXPECT_HAS_LINE(text, "weft_job_queue_wait_seconds_count{queue=\"default\"} 1");
  EXPECT_HAS_LINE(text, "weft_job_queue_wait_seconds_bucket{queue=\"default\",le=\"+Inf\"} 1");
  EXPECT_HAS_LINE(text, "weft_nodes{pool=\"default\",state=\"UP\"} 1");
  EXPECT_HAS_LINE(text, "weft_nodes{pool=\"default\",state=\"DOWN\"} 0");
  EXPECT_HAS_LINE(text, "weft_node_capacity{pool=\"default\",resource=\"cpus\"} 4");
  EXPECT_HAS_LINE(text, "weft_node_capacity{pool=\"default\",resource=\"gpus\"} 2");
  EXPECT_HAS_LINE(text, "weft_node_capacity{pool=\"default\",resource=\"memory_bytes\"} 1073741824");
  EXPECT_HAS_LINE(text, "weft_node_allocated{pool=\"default\",resource=\"cpus\"} 1");
  EXPECT_HAS_LINE(text, "# TYPE weft_scheduling_cycle_duration_seconds histogram");
  EXPECT_NE(text.find("weft_scheduling_cycle_duration_seconds_count "), std::string::npos);
  EXPECT_EQ(text.find("weft_jobs_completed_total{"), std::string::npos);

  model::TaskReport done;
  done.key = assignments.tasks[0].key;
  done.phase = model::TaskPhase::kExited;
  done.exit = model::TaskExit{};
  done.start_time = done.end_time = loop_.clock().Now();
  node.tasks = {done};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now());

  text = Scrape();
  EXPECT_HAS_LINE(text, "weft_jobs_completed_total{queue=\"default\",state=\"COMPLETED\"} 1");
  EXPECT_HAS_LINE(text, "weft_jobs{queue=\"default\",state=\"COMPLETED\"} 1");
  EXPECT_HAS_LINE(text, "weft_node_allocated{pool=\"default\",resource=\"cpus\"} 0");
}

TEST_F(MetricsRouteTest, RequeuedJobWaitsFromItsRequeue) {
  model::Job job;
  job.submit_time = TimePoint{} + 10s;
  job.start_time = TimePoint{} + 12s;
  metrics_.OnJobStarted(job);
  job.restart_count = 1;
  job.attempts.push_back(model::AttemptRecord{});
  job.attempts.back().end_time = TimePoint{} + 100s;
  job.start_time = TimePoint{} + 130s;
  metrics_.OnJobStarted(job);
  EXPECT_HAS_LINE(Scrape(), "weft_job_queue_wait_seconds_sum{queue=\"default\"} 32");
}

TEST(MetricsCatalogTest, RouteTemplatesAreBounded) {
  EXPECT_EQ(RouteTemplate("/v1/jobs"), "/v1/jobs");
  EXPECT_EQ(RouteTemplate("/v1/jobs/42"), "/v1/jobs/{id}");
  EXPECT_EQ(RouteTemplate("/v1/jobs/42/logs"), "/v1/jobs/{id}/logs");
  EXPECT_EQ(RouteTemplate("/v1/jobs/42/cancel"), "/v1/jobs/{id}/cancel");
  EXPECT_EQ(RouteTemplate("/v1/agents/node-7/assignments"), "/v1/agents/{name}/assignments");
  EXPECT_EQ(RouteTemplate("/v1/cluster/history"), "/v1/cluster/history");
  EXPECT_EQ(RouteTemplate("/assets/app.js"), "other");
  EXPECT_EQ(RouteTemplate("/v1/users/alice"), "/v1/users/{name}");
  EXPECT_EQ(RouteTemplate("/v1/history"), "/v1/history");
  EXPECT_EQ(RouteTemplate("/metrics"), "/metrics");
  EXPECT_EQ(RouteTemplate("/healthz"), "/healthz");
  EXPECT_EQ(RouteTemplate("/v1/jobs/42/whatever"), "other");
  EXPECT_EQ(RouteTemplate("/v1/random-thing/1"), "other");
  EXPECT_EQ(RouteTemplate("/wp-admin.php"), "other");
  EXPECT_EQ(MethodLabel("GET"), "GET");
  EXPECT_EQ(MethodLabel("BREW"), "other");
}

TEST(MetricsCatalogTest, WithoutMetricsThereIsNoRoute) {
  SimulatedEventLoop loop(TimePoint{} + 100s);
  store::InMemoryKvStore store;
  controller::DirectPersister persister(store, loop);
  controller::Controller controller(loop, persister, {});
  Authenticator auth("secret", "admin");
  ApiHandler handler(controller, loop, auth);
  net::HttpRequest request;
  request.method = "GET";
  request.path = request.target = "/metrics";
  request.headers["authorization"] = "Bearer secret";
  int status = 0;
  handler.Handle(request, [&](net::HttpResponse r) { status = r.status; });
  loop.RunUntil(loop.clock().Now());
  EXPECT_EQ(status, 404);
}

}  // namespace
}  // namespace weft::api
