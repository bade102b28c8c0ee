#include "agent/controller_client.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <vector>

#include "agent/agent.h"
#include "agent/agent_test_util.h"
#include "model/json.h"
#include "net/http.h"

namespace weft::agent {
namespace {

using testing::KillMarkedProcesses;
using testing::MarkedProcesses;
using testing::TempDir;
using testing::WaitUntil;

// A controller speaking the agent protocol over real HTTP, holding one node's assignments.
class HttpFakeController {
 public:
  explicit HttpFakeController(std::string node) : node_(std::move(node)) {
    auto server = net::StartHttpServer("127.0.0.1:0",
                                       [this](net::HttpRequest request, net::Responder respond) {
                                         Handle(std::move(request), std::move(respond));
                                       });
    EXPECT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
  }
  ~HttpFakeController() { server_->Stop(); }

  std::string url() const { return "http://" + server_->address(); }

  void SetAssignments(std::vector<model::TaskAssignment> tasks) {
    std::vector<net::Responder> waiting;
    {
      std::lock_guard lock(mu_);
      assignments_.tasks = std::move(tasks);
      ++assignments_.version;
      waiting = std::exchange(watchers_, {});
    }
    for (auto& respond : waiting) respond(AssignmentsResponse());
  }
  std::vector<model::NodeReport> Reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }
  std::vector<net::HttpRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  net::HttpResponse AssignmentsResponse() {
    std::lock_guard lock(mu_);
    return net::HttpResponse{200, "application/json", nlohmann::json(assignments_).dump(), {}};
  }

  void Handle(net::HttpRequest request, net::Responder respond) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back(request);
    }
    if (request.Header("authorization") != "Bearer secret") {
      return respond(
          net::HttpResponse{401,
                            "application/json",
                            R"({"error": {"code": "UNAUTHENTICATED", "message": "bad token"}})",
                            {}});
    }
    const std::string base = "/v1/agents/" + node_;
    if (request.method == "POST" && request.path == base + "/report") {
      auto parsed = model::ParseJson(request.body);
      auto report = parsed ? model::NodeReportFromJson(*parsed) : tl::unexpected(parsed.error());
      if (!report) return respond(net::HttpResponse{400, "application/json", "{}", {}});
      std::lock_guard lock(mu_);
      reports_.push_back(*report);
      return respond(net::HttpResponse{
          200, "application/json", fmt::format(R"({{"version": {}}})", assignments_.version), {}});
    }
    if (request.method == "GET" && request.path == base + "/assignments") {
      {
        std::lock_guard lock(mu_);
        if (request.query["version"] == std::to_string(assignments_.version)) {
          watchers_.push_back(std::move(respond));  // answered at the next change
          return;
        }
      }
      return respond(AssignmentsResponse());
    }
    respond(net::HttpResponse{404, "application/json", "{}", {}});
  }

  const std::string node_;
  std::unique_ptr<net::HttpServer> server_;
  std::mutex mu_;
  model::NodeAssignments assignments_;
  std::vector<net::Responder> watchers_;
  std::vector<model::NodeReport> reports_;
  std::vector<net::HttpRequest> requests_;
};

TEST(HttpControllerClientTest, SpeaksTheAgentProtocol) {
  HttpFakeController controller("node-1");
  model::TaskAssignment task;
  task.key = model::TaskKey{12, 1, 2};
  task.script = "#!/bin/sh\ntrue\n";
  task.time_limit = std::chrono::seconds(30);
  controller.SetAssignments({task});

  HttpControllerClient client(controller.url(), "secret", "node-1");
  model::NodeReport report;
  report.name = "node-1";
  report.capacity.gpus = 8;
  model::TaskReport running;
  running.key = task.key;
  report.tasks = {running};
  auto version = client.Report(report);
  ASSERT_TRUE(version) << version.error().message;
  EXPECT_EQ(*version, 1);
  ASSERT_EQ(controller.Reports().size(), 1u);
  EXPECT_EQ(controller.Reports()[0].capacity.gpus, 8);
  EXPECT_EQ(controller.Reports()[0].tasks[0].key, task.key);

  auto assignments = client.Watch(-1, std::chrono::seconds(10));
  ASSERT_TRUE(assignments) << assignments.error().message;
  EXPECT_EQ(assignments->version, 1);
  ASSERT_EQ(assignments->tasks.size(), 1u);
  EXPECT_EQ(assignments->tasks[0].key, task.key);
  EXPECT_EQ(assignments->tasks[0].time_limit, task.time_limit);
  const net::HttpRequest watch = controller.Requests().back();
  EXPECT_EQ(watch.query.at("version"), "-1");
  EXPECT_EQ(watch.query.at("wait_ms"), "10000");

  HttpControllerClient intruder(controller.url(), "wrong", "node-1");
  auto refused = intruder.Report(report);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(refused.error().message.find("bad token"), std::string::npos);

  HttpControllerClient nobody("http://127.0.0.1:1", "secret", "node-1");
  auto unreachable = nobody.Report(report);
  ASSERT_FALSE(unreachable);
  EXPECT_EQ(unreachable.error().code, ErrorCode::kUnavailable);
}

TEST(HttpControllerClientTest, AgentRunsTasksOverHttpAndStopsPromptly) {
  const std::string name = fmt::format("http-node-{}", ::getpid());
  HttpFakeController controller(name);
  TempDir dir;
  AgentConfig config;
  config.server_url = controller.url();
  config.token = "secret";
  config.name = name;
  config.work_dir = dir.path() + "/state";
  config.kill_wait = std::chrono::milliseconds(200);
  {
    Agent agent(config);
    ASSERT_TRUE(agent.Start());
    model::TaskAssignment task;
    task.key = model::TaskKey{1, 0, 0};
    task.script = "#!/bin/sh\nexit 9\n";
    task.env = {{"PATH", "/usr/bin:/bin"}};
    task.work_dir = dir.path();
    task.output_path = dir.path() + "/out";
    controller.SetAssignments({task});
    ASSERT_TRUE(WaitUntil([&] {
      for (const model::NodeReport& report : controller.Reports()) {
        for (const model::TaskReport& t : report.tasks) {
          if (t.exit && t.exit->exit_code == 9) return true;
        }
      }
      return false;
    }));
    // The watch is parked in a long poll now: Stop() must not wait for it.
    const auto before = std::chrono::steady_clock::now();
    agent.Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(2));
  }
  EXPECT_TRUE(MarkedProcesses(name + "/").empty());
  EXPECT_TRUE(KillMarkedProcesses(name + "/"));
}

}  // namespace
}  // namespace weft::agent
