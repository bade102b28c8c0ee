// Crash safety: acknowledged jobs survive kill -9; running work is reconciled after restart.
#include <signal.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

TEST(DurabilityTest, KillNineRightAfterTwoHundredAcknowledgementsLosesNone) {
  LocalCluster cluster(1, AgentSpec{1, "1G", 0});
  const nlohmann::json spec = {{"name", "durable"},
                               {"script", "#!/bin/sh\nsleep 1000\n"},
                               {"submit_dir", cluster.work_dir()},
                               {"work_dir", cluster.work_dir()},
                               {"resources", {{"cpu_milli", 1000}}}};
  const std::string body = nlohmann::json{{"spec", spec}}.dump();
  std::mutex mu;
  std::vector<long long> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      net::HttpClient http(cluster.url(), cluster.token());
      while (!stop) {
        auto r = http.Post("/v1/jobs", body, 5s);
        if (!r || r->status != 201) break;  // the server is gone
        std::lock_guard lock(mu);
        acknowledged.push_back(nlohmann::json::parse(r->body)["id"].get<long long>());
        if (acknowledged.size() >= 200) stop = true;
      }
    });
  }
  ASSERT_TRUE(PollUntil([&] { return stop.load(); }, 60s));

  cluster.KillServer(SIGKILL);  // while other submissions are still in flight
  for (auto& t : clients) t.join();
  cluster.StartServer();

  std::lock_guard lock(mu);
  ASSERT_GE(acknowledged.size(), 200u);
  for (long long id : acknowledged) {
    const nlohmann::json job = cluster.Job(id);
    EXPECT_EQ(job.value("id", 0LL), id) << job.dump();
  }
  // Job ids are never reused after the crash.
  const long long newest = *std::max_element(acknowledged.begin(), acknowledged.end());
  const long long next = cluster.SubmitScript("after.sh", "#!/bin/sh\ntrue\n");
  EXPECT_GT(next, newest);
}

TEST(DurabilityTest, RestartKeepsPendingJobsAndReconcilesRunningOnes) {
  LocalCluster cluster(1, AgentSpec{1, "1G", 0});
  const std::string flag = cluster.work_dir() + "/go";
  // Runs until the test creates `go`, so it can finish while the server is down.
  const long long running = cluster.SubmitScript(
      "wait.sh", "#!/bin/sh\nwhile [ ! -e " + flag + " ]; do sleep 0.05; done\necho finished\n");
  const long long pending = cluster.SubmitScript("later.sh", "#!/bin/sh\necho later\n");
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(running)["state"] == "RUNNING"; }, 20s));
  EXPECT_EQ(cluster.Job(pending)["state"], "PENDING");

  cluster.KillServer(SIGKILL);
  WriteFile(flag, "");  // the task finishes while the server is away
  cluster.StartServer();

  EXPECT_EQ(cluster.WaitFinal(running)["state"], "COMPLETED");
  EXPECT_EQ(cluster.WaitFinal(pending)["state"], "COMPLETED");
  EXPECT_EQ(cluster.Weft({"logs", std::to_string(running)}).out, "finished\n");
}

TEST(DurabilityTest, RunningJobSurvivesServerRestartStillRunning) {
  LocalCluster cluster(1, AgentSpec{1, "1G", 0});
  const std::string flag = cluster.work_dir() + "/go";
  const long long id = cluster.SubmitScript(
      "wait.sh", "#!/bin/sh\nwhile [ ! -e " + flag + " ]; do sleep 0.05; done\n");
  ASSERT_TRUE(PollUntil([&] { return cluster.Job(id)["state"] == "RUNNING"; }, 20s));

  cluster.KillServer(SIGKILL);
  cluster.StartServer();

  EXPECT_EQ(cluster.Job(id)["state"], "RUNNING");
  WriteFile(flag, "");
  EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");
}

}  // namespace
}  // namespace weft::testing
