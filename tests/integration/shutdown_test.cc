// SIGTERM to `weft server` is a graceful stop: requests in flight finish, long polls are
// answered at once, everything acknowledged is durable, and the exit code is 0.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

TEST(GracefulShutdownTest, SigtermAnswersLongPollsFinishesSubmissionsAndExitsZeroLosingNothing) {
  LocalCluster cluster(1, AgentSpec{1, "1G", 0});
  const long long running = cluster.SubmitScript("forever.sh", "#!/bin/sh\nsleep 1000\n");
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(running)["state"] == "RUNNING"; }, 30s));

  // A long poll (`weft wait`'s request) on a job that will not end for a long while.
  auto watch = std::async(std::launch::async, [&] {
    const auto sent = std::chrono::steady_clock::now();
    auto r = net::HttpClient(cluster.url(), cluster.token())
                 .Get("/v1/jobs/" + std::to_string(running) + "?wait_ms=120000", 150s);
    return std::make_pair(std::move(r), std::chrono::steady_clock::now() - sent);
  });

  // Four clients submit as fast as they can; SIGTERM lands while they do.
  const nlohmann::json spec = {{"name", "burst"},
                               {"script", "#!/bin/sh\nsleep 1000\n"},
                               {"submit_dir", cluster.work_dir()},
                               {"work_dir", cluster.work_dir()},
                               {"resources", {{"cpu_milli", 1000}}}};
  const std::string body = nlohmann::json{{"spec", spec}}.dump();
  std::mutex mu;
  std::vector<long long> acknowledged;
  std::vector<std::string> last_errors;  // why each client stopped
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      net::HttpClient http(cluster.url(), cluster.token());
      for (;;) {
        auto r = http.Post("/v1/jobs", body, 20s);
        std::lock_guard lock(mu);
        if (!r || r->status != 201) {
          last_errors.push_back(r ? "HTTP " + std::to_string(r->status) + ": " + r->body : r.error().message);
          return;
        }
        acknowledged.push_back(nlohmann::json::parse(r->body)["id"].get<long long>());
      }
    });
  }
  ASSERT_TRUE(PollUntil([&] { std::lock_guard lock(mu); return acknowledged.size() >= 100; }, 60s));

  const pid_t server = cluster.server_pid();
  const auto signalled = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(server, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(server, &status, 0), server);
  const auto took = std::chrono::steady_clock::now() - signalled;
  for (auto& t : clients) t.join();

  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  // The open long poll did not hold the stop for its 120 s, nor for the 10 s grace.
  EXPECT_LT(took, 8s);
  ASSERT_EQ(watch.wait_for(30s), std::future_status::ready);
  auto [polled, waited] = watch.get();
  ASSERT_TRUE(polled.has_value()) << polled.error().message;
  EXPECT_EQ(polled->status, 503) << polled->body;
  EXPECT_NE(polled->body.find("shutting down"), std::string::npos) << polled->body;
  EXPECT_LT(waited, 120s);
  const std::string log = ReadFile(cluster.dir() + "/server.log");
  EXPECT_NE(log.find("weft server stopped"), std::string::npos) << log;
  {
    // Each client ended on a refused or closed connection or a 503, never a 5xx of a lost write.
    std::lock_guard lock(mu);
    for (const std::string& error : last_errors) {
      EXPECT_TRUE(error.find("HTTP 500") == std::string::npos && error.find("HTTP 502") == std::string::npos)
          << error;
    }
  }

  cluster.StartServer();
  std::lock_guard lock(mu);
  ASSERT_GE(acknowledged.size(), 100u);
  for (long long id : acknowledged) {
    EXPECT_EQ(cluster.Job(id).value("id", 0LL), id) << "acknowledged job " << id << " was lost";
  }
  // The agent kept its task running through the restart.
  EXPECT_EQ(cluster.Job(running)["state"], "RUNNING");
}

}  // namespace
}  // namespace weft::testing
