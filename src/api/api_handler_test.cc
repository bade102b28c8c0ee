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
        auth_("secret", "admin", "join-secret"),
        handler_(controller_, loop_, auth_, nullptr, &history_) {}

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
  ClusterHistory history_;
  ApiHandler handler_;
};

TEST_F(ApiHandlerTest, EveryRouteButHealthzNeedsTheToken) {
  EXPECT_EQ(Call("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", "wrong").status, 401);
  EXPECT_EQ(Call("GET", "/v1/jobs").status, 200);
}

// The join token (agents) opens /v1/agents/... and nothing else; nothing else opens those.
TEST_F(ApiHandlerTest, JoinTokenOpensOnlyTheAgentRoutes) {
  const std::string report = R"({"name": "n1", "capacity": {"cpu_milli": 1000}})";
  EXPECT_EQ(Call("POST", "/v1/agents/n1/report", report, "join-secret").status, 200);
  EXPECT_EQ(Call("GET", "/v1/agents/n1/assignments", "", "join-secret").status, 200);

  for (const std::string path : {"/v1/jobs", "/v1/nodes", "/v1/users", "/v1/history", "/v1/queues",
                                 "/v1/services", "/v1/jobs/1", "/metrics"}) {
    const auto r = Call("GET", path, "", "join-secret");
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_NE(r.body.find("join token is accepted only on /v1/agents/"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Call("POST", "/v1/jobs", "{}", "join-secret").status, 403);

  const auto admin = Call("POST", "/v1/agents/n1/report", report);
  EXPECT_EQ(admin.status, 403);
  EXPECT_NE(admin.body.find("agent routes need the agent join token"), std::string::npos) << admin.body;
  EXPECT_EQ(Call("GET", "/v1/agents/n1/assignments").status, 403);
  EXPECT_EQ(Call("GET", "/v1/agents/n1/assignments", "", "join-secre").status, 401);
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

// The dashboard's files load without the token (its login form asks for one); /v1 does not.
TEST_F(ApiHandlerTest, DashboardLoadsWithoutTheTokenButTheApiNeedsIt) {
  const auto page = Call("GET", "/", "", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>Weft</title>"), std::string::npos);
  EXPECT_EQ(Call("GET", "/assets/app.js", "", "").status, 200);
  EXPECT_EQ(Call("GET", "/assets/missing.js", "", "").status, 404);
  EXPECT_EQ(Call("GET", "/v1/nodes", "", "").status, 401);
  EXPECT_EQ(Call("GET", "/metrics", "", "").status, 401);
  EXPECT_EQ(Call("POST", "/", "", "").status, 401);  // only GET is the dashboard's
}

// ?offset= pages through the matching jobs with their total; ?queue= and ?user= filter.
TEST_F(ApiHandlerTest, JobsPageWithOffsetTotalAndFilters) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Call("POST", "/v1/jobs", kSpec).status, 201);
  auto ids = [](const nlohmann::json& body) {
    std::vector<int> out;
    for (const auto& j : body.at("jobs")) out.push_back(j.at("id"));
    return out;
  };
  const auto page = Body(Call("GET", "/v1/jobs", "", "secret", {{"offset", "1"}, {"limit", "2"}}));
  EXPECT_EQ(ids(page), (std::vector<int>{2, 3}));
  EXPECT_EQ(page.at("total"), 5);
  EXPECT_TRUE(page.at("jobs")[0].contains("priority_factors"));
  const auto newest = Body(Call("GET", "/v1/jobs", "", "secret", {{"offset", "1"}, {"limit", "2"}, {"order", "desc"}}));
  EXPECT_EQ(ids(newest), (std::vector<int>{4, 3}));
  const auto past_end = Body(Call("GET", "/v1/jobs", "", "secret", {{"offset", "9"}, {"limit", "2"}}));
  EXPECT_TRUE(past_end.at("jobs").empty());
  EXPECT_EQ(past_end.at("total"), 5);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", "secret", {{"queue", "default"}})).at("total"), 5);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", "secret", {{"queue", "other"}, {"offset", "0"}})).at("total"), 0);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", "secret", {{"user", "mallory"}, {"offset", "0"}})).at("total"), 5);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", "secret", {{"user", "bob"}, {"offset", "0"}})).at("total"), 0);
  EXPECT_EQ(Call("GET", "/v1/jobs", "", "secret", {{"offset", "-1"}}).status, 400);
  const std::string alice = Body(Call("POST", "/v1/users", R"({"name": "alice"})")).at("token");
  EXPECT_EQ(Call("GET", "/v1/jobs", "", alice, {{"user", "mallory"}}).status, 403);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs", "", alice, {{"offset", "0"}})).at("total"), 0);
}

// /v1/nodes says which job holds each GPU slot; /v1/cluster/history serves allocation samples.
TEST_F(ApiHandlerTest, NodesShowGpuHoldersAndClusterHistorySamplesAllocation) {
  model::NodeReport node;
  node.name = "n1";
  node.address = "127.0.0.1";
  node.capacity = {4000, 1LL << 30, 2};
  controller_.ReportNode(node, [](Result<std::int64_t>) {});
  loop_.RunUntil(loop_.clock().Now());
  history_.Record(SampleAllocation(controller_, loop_.clock().Now()));
  const char* gpu_job = R"({"spec": {"name": "g", "script": "#!/bin/sh\ntrue\n", "submit_dir": "/tmp",
                          "work_dir": "/tmp", "resources": {"cpu_milli": 1000, "gpus": 1}}})";
  ASSERT_EQ(Call("POST", "/v1/jobs", gpu_job).status, 201);
  loop_.RunUntil(loop_.clock().Now() + 1s);
  history_.Record(SampleAllocation(controller_, loop_.clock().Now()));

  const auto nodes = Body(Call("GET", "/v1/nodes"));
  const auto& holders = nodes.at("nodes")[0].at("gpu_jobs");
  ASSERT_EQ(holders.size(), 2u);
  EXPECT_EQ((holders[0] == 1) + (holders[1] == 1), 1) << holders;
  EXPECT_EQ(holders[0].is_null() + holders[1].is_null(), 1) << holders;

  const auto samples = Body(Call("GET", "/v1/cluster/history")).at("samples");
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].at("allocated").at("gpus"), 0);
  EXPECT_EQ(samples[1].at("allocated").at("gpus"), 1);
  EXPECT_EQ(samples[1].at("capacity").at("gpus"), 2);
  EXPECT_EQ(samples[1].at("nodes_up"), 1);
  EXPECT_EQ(samples[1].at("running_jobs"), 1);
  const std::string later = std::to_string(ToUnixMicros(loop_.clock().Now()) / 1000000 + 10);
  EXPECT_TRUE(Body(Call("GET", "/v1/cluster/history", "", "secret", {{"since", later}})).at("samples").empty());
  EXPECT_EQ(Call("GET", "/v1/cluster/history", "", "").status, 401);
}

// Input hardening: absurd numbers, bad bodies and odd query values get a 400 naming the field,
// and nothing is stored.
TEST_F(ApiHandlerTest, AbsurdValuesGet400NamingTheField) {
  const auto submit = [&](const std::string& fields) {
    return Call("POST", "/v1/jobs",
                R"({"spec": {"name": "x", "script": "#!/bin/sh\ntrue\n", "submit_dir": "/tmp", "work_dir": "/tmp", )" +
                    fields + "}}");
  };
  const auto message = [](const net::HttpResponse& r) {
    return nlohmann::json::parse(r.body).at("error").at("message").get<std::string>();
  };
  const struct {
    const char* fields;
    const char* field;
  } kCases[] = {
      {R"("resources": {"gpus": 1e30})", "'gpus'"},
      {R"("resources": {"cpu_milli": 1e30})", "'cpu_milli'"},
      {R"("resources": {"memory_bytes": 1e30})", "'memory_bytes'"},
      {R"("resources": {"gpus": 100000})", "gpus:"},
      {R"("resources": {"cpu_milli": 9000000000000000000})", "cpu_milli:"},
      {R"("resources": {"memory_bytes": 9000000000000000000})", "memory:"},
      {R"("num_nodes": 0)", "num_nodes:"},
      {R"("num_nodes": -3)", "num_nodes:"},
      {R"("num_nodes": 2000000000)", "num_nodes:"},
      {R"("num_nodes": 1e10)", "'num_nodes'"},
      {R"("time_limit_us": -60000000)", "time_limit:"},
      {R"("time_limit_us": 9223372036854775807)", "time_limit:"},
      {R"("signal": {"signal": 10, "before_us": -1})", "signal:"},
      {R"("array": {"ranges": [{"first": 0, "last": 1e30}]})", "'last'"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.fields);
    const auto r = submit(c.fields);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(message(r).find(c.field), std::string::npos) << message(r);
  }
  // Raw invalid UTF-8 in a name is not JSON at all; a valid escape round-trips.
  const auto latin1 = Call("POST", "/v1/jobs", "{\"spec\": {\"name\": \"caf\xe9\"}}");
  EXPECT_EQ(latin1.status, 400);
  EXPECT_EQ(message(latin1), "request body is not valid JSON");
  EXPECT_EQ(submit(R"("resources": {"cpu_milli": 1000}, "env": {"A": "caf\u00e9"})").status, 201);
  // 100000 '[' is refused before parsing (nlohmann's tree operations recurse per level).
  const auto deep = Call("POST", "/v1/jobs", std::string(100000, '['));
  EXPECT_EQ(deep.status, 400);
  EXPECT_EQ(message(deep), "request body nests arrays and objects deeper than 64 levels");
  const auto deep_report =
      Call("POST", "/v1/agents/n1/report", "{\"name\": " + std::string(5000, '{'), "join-secret");
  EXPECT_EQ(deep_report.status, 400);
  // A node reporting 9e18 GPUs: the scheduler would allocate a bit per GPU.
  const auto huge_node = Call("POST", "/v1/agents/n1/report",
                              R"({"name": "n1", "capacity": {"cpu_milli": 1000, "gpus": 9000000000000000000}})",
                              "join-secret");
  EXPECT_EQ(huge_node.status, 400);
  EXPECT_EQ(message(huge_node), "capacity.gpus: 9000000000000000000 is out of range (0 to 4096)");
  // A target without a path ("?x") is a 404, not an exception (substr(1) of "" threw).
  EXPECT_EQ(Call("GET", "").status, 404);
  // Users: "admin" must be a boolean (json::value() threw out of the handler before).
  const auto bad_admin = Call("POST", "/v1/users", R"({"name": "carol", "admin": "yes"})");
  EXPECT_EQ(bad_admin.status, 400);
  EXPECT_EQ(message(bad_admin), "admin: must be true or false");
  // Query values that would overflow when converted to microseconds.
  EXPECT_EQ(Call("GET", "/v1/history", "", "secret", {{"since", "9223372036854775807"}}).status, 400);
  EXPECT_EQ(Call("GET", "/v1/jobs/999", "", "secret", {{"wait_ms", "9223372036854775807"}}).status, 404);
  EXPECT_EQ(store_.List("job/")->size(), 1u);  // only the one valid submission
}

}  // namespace
}  // namespace weft::api
