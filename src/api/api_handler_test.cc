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
        handler_(controller_, loop_, "secret") {}

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

}  // namespace
}  // namespace weft::api
