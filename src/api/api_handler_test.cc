#include "api/api_handler.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/simulated_event_loop.h"
#include "controller/persister.h"
#include "store/in_memory_kv_store.h"

namespace weft::api {
namespace {

using namespace std::chrono_literals;

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiHandlerTest()
      : loop_(TimePoint{} + 100s),
        persister_(store_, loop_),
        controller_(loop_, persister_, controller::ControllerOptions{}),
        auth_("secret", "admin"),
        handler_(controller_, loop_, auth_) {}

  net::HttpResponse Call(std::string method, std::string path, std::string body = "",
                         std::string token = "secret", std::map<std::string, std::string> query = {}) {
    net::HttpRequest request;
    request.method = std::move(method);
    request.path = request.target = std::move(path);
    request.body = std::move(body);
    request.query = std::move(query);
    if (!token.empty()) request.headers["authorization"] = "Bearer " + token;
    std::optional<net::HttpResponse> response;
    handler_.Handle(request, [&](net::HttpResponse r) { response = std::move(r); });
    loop_.RunUntil(loop_.clock().Now());
    EXPECT_TRUE(response.has_value());
    return response.value_or(net::HttpResponse{});
  }

  SimulatedEventLoop loop_;
  store::InMemoryKvStore store_;
  controller::DirectPersister persister_;
  controller::Controller controller_;
  Authenticator auth_;
  ApiHandler handler_;
};

TEST_F(ApiHandlerTest, EveryRouteButHealthzNeedsTheToken) {
  EXPECT_EQ(Call("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", "wrong").status, 401);
  EXPECT_EQ(Call("GET", "/v1/jobs").status, 200);
}

TEST_F(ApiHandlerTest, SubmitThenShowAndList) {
  const nlohmann::json spec = {{"name", "hello"},       {"script", "#!/bin/sh\ntrue\n"},
                               {"submit_dir", "/tmp"}, {"work_dir", "/tmp"},
                               {"resources", {{"cpu_milli", 1000}}}};

  const auto created = Call("POST", "/v1/jobs", nlohmann::json{{"spec", spec}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  const auto id = nlohmann::json::parse(created.body).at("id").get<int>();
  const auto shown = Call("GET", "/v1/jobs/" + std::to_string(id));
  const auto listed = Call("GET", "/v1/jobs", "", "secret", {{"state", "PENDING"}});

  EXPECT_EQ(nlohmann::json::parse(shown.body).at("state"), "PENDING");
  EXPECT_EQ(nlohmann::json::parse(listed.body).at("jobs").size(), 1u);
}

TEST_F(ApiHandlerTest, ErrorsNameTheProblemWithTheRightStatus) {
  const auto bad_json = Call("POST", "/v1/jobs", "{oops");
  const auto missing = Call("GET", "/v1/jobs/42");
  const auto bad_state = Call("GET", "/v1/jobs", "", "secret", {{"state", "SLEEPING"}});
  const auto bad_spec = Call("POST", "/v1/jobs", R"({"spec": {"script": "no shebang", "submit_dir": "/tmp", "work_dir": "/tmp"}})");

  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["error"]["message"], "job 42 does not exist");
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_EQ(bad_spec.status, 400);
  EXPECT_TRUE(store_.List("job/")->empty());
}

nlohmann::json Body(const net::HttpResponse& r) { return nlohmann::json::parse(r.body); }

const char* kSpec = R"({"spec": {"name": "x", "script": "#!/bin/sh\ntrue\n", "submit_dir": "/tmp",
                      "work_dir": "/tmp", "user": "mallory", "resources": {"cpu_milli": 1000}}})";

// Users get tokens (stored hashed); a user's jobs are theirs alone; revoked tokens stop working.
TEST_F(ApiHandlerTest, UsersOwnTheirJobsAndSeeOnlyThem) {
  const auto created = Call("POST", "/v1/users", R"({"name": "alice"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string alice = Body(created).at("token");
  const auto bob_created = Call("POST", "/v1/users", R"({"name": "bob"})");
  const std::string bob = Body(bob_created).at("token");
  EXPECT_EQ(Call("POST", "/v1/users", R"({"name": "alice"})").status, 409);
  EXPECT_EQ(Call("POST", "/v1/users", R"({"name": "Bad Name"})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/users", R"({"name": "eve"})", alice).status, 403);
  // Only the hash is stored.
  const std::string stored = store_.Get("user/alice")->value();
  EXPECT_EQ(stored.find(alice), std::string::npos);
  EXPECT_NE(stored.find(Sha256Hex(alice)), std::string::npos);

  // The job belongs to the token's user, whatever the body says.
  const auto submitted = Call("POST", "/v1/jobs", kSpec, alice);
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const std::string id = std::to_string(Body(submitted).at("id").get<int>());
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/" + id, "", alice)).at("user"), "alice");
  // An admin may submit for another user.
  const auto for_mallory = Call("POST", "/v1/jobs", kSpec);
  EXPECT_EQ(Body(for_mallory).at("job").at("user"), "mallory");

  EXPECT_EQ(Call("GET", "/v1/jobs/" + id, "", bob).status, 403);
  EXPECT_EQ(Call("POST", "/v1/jobs/" + id + "/cancel", "", bob).status, 403);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", bob)).at("jobs").size(), 0u);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", alice)).at("jobs").size(), 1u);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs")).at("jobs").size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/agents/n1/assignments", "", alice).status, 403);
  EXPECT_EQ(Call("GET", "/v1/history", "", bob, {{"user", "alice"}}).status, 403);

  EXPECT_EQ(Call("DELETE", "/v1/users/alice").status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", alice).status, 401);
  EXPECT_EQ(Call("DELETE", "/v1/users/alice").status, 404);
  const auto users = Body(Call("GET", "/v1/users"));
  ASSERT_EQ(users.at("users").size(), 2u);
  EXPECT_TRUE(users.at("users")[0].at("revoked").get<bool>());
}

// History: one row per ended attempt, filtered by user, queue and time.
TEST_F(ApiHandlerTest, HistoryListsAttemptsWithUsage) {
  model::NodeReport node;
  node.name = "n1";
  node.address = "127.0.0.1";
  node.capacity = {4000, 1LL << 30, 0};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now());
  const auto submitted = Call("POST", "/v1/jobs", kSpec);
  ASSERT_EQ(submitted.status, 201);
  loop_.RunUntil(loop_.clock().Now() + 1s);
  const auto assignments = controller_.AssignmentsFor("n1");
  ASSERT_EQ(assignments.tasks.size(), 1u);
  EXPECT_EQ(assignments.tasks[0].user, "mallory");
  model::TaskReport running;
  running.key = assignments.tasks[0].key;
  running.phase = model::TaskPhase::kRunning;
  running.start_time = loop_.clock().Now();
  running.usage = model::TaskUsage{250000, 1 << 20, 1 << 20, 0, -1};
  node.tasks = {running};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now() + 2s);
  auto live = Body(Call("GET", "/v1/history"));
  ASSERT_EQ(live.at("attempts").size(), 1u);
  EXPECT_EQ(live.at("attempts")[0].at("state"), "RUNNING");
  EXPECT_DOUBLE_EQ(live.at("attempts")[0].at("cpu_s").get<double>(), 0.25);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/1")).at("usage").at("memory_current_bytes"), 1 << 20);

  model::TaskReport done = running;
  done.phase = model::TaskPhase::kExited;
  done.exit = model::TaskExit{};
  done.end_time = loop_.clock().Now();
  done.usage = model::TaskUsage{1500000, 2 << 20, 0, 0, -1};
  node.tasks = {done};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now());

  const auto all = Body(Call("GET", "/v1/history"));
  ASSERT_EQ(all.at("attempts").size(), 1u);
  const auto& row = all.at("attempts")[0];
  EXPECT_EQ(row.at("state"), "COMPLETED");
  EXPECT_EQ(row.at("user"), "mallory");
  EXPECT_EQ(row.at("nodes"), nlohmann::json::array({"n1"}));
  EXPECT_DOUBLE_EQ(row.at("cpu_s").get<double>(), 1.5);
  EXPECT_EQ(row.at("memory_peak_bytes"), 2 << 20);
  EXPECT_DOUBLE_EQ(row.at("elapsed_s").get<double>(), 3.0);  // from the start of the allocation
  EXPECT_EQ(Body(Call("GET", "/v1/history", "", "secret", {{"user", "alice"}})).at("attempts").size(), 0u);
  EXPECT_EQ(Body(Call("GET", "/v1/history", "", "secret", {{"queue", "default"}})).at("attempts").size(), 1u);
  const std::string later = std::to_string(ToUnixMicros(loop_.clock().Now()) / 1000000 + 10);
  EXPECT_EQ(Body(Call("GET", "/v1/history", "", "secret", {{"since", later}})).at("attempts").size(), 0u);
  EXPECT_EQ(Call("GET", "/v1/history", "", "secret", {{"since", "yesterday"}}).status, 400);
}

}  // namespace
}  // namespace weft::api
