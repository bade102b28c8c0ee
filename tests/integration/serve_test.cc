// `weft serve` end to end: a real server and agents, replicas that are real HTTP servers
// (python3's http.server, below), traffic through the service's load balancer on 127.0.0.1.
// Readiness gating, failure removal and replacement, rolling update without failed requests,
// autoscaling up and down under generated load, scale from zero with a held request.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A replica: answers "<VERSION> <job id>" on every path but /health, which answers 503 while
// FLAG_DIR/sick-<replica index> exists. Writes FLAG_DIR/pid-<job id>. Listens on the node's
// address (MASTER_ADDR) at $WEFT_PORT. DELAY (seconds) slows every answer.
constexpr const char* kReplica = R"PY(
import http.server, os, time
port = int(os.environ["WEFT_PORT"])
host = os.environ.get("MASTER_ADDR", "127.0.0.1")
job = os.environ["WEFT_JOB_ID"]
replica = os.environ.get("WEFT_REPLICA", "0")
flags = os.environ["FLAG_DIR"]
version = os.environ.get("VERSION", "v1")
delay = float(os.environ.get("DELAY", "0"))
with open(os.path.join(flags, "pid-" + job), "w") as f:
    f.write(str(os.getpid()))

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/health":
            sick = os.path.exists(os.path.join(flags, "sick-" + replica))
            return self.reply(503 if sick else 200, "sick" if sick else "ok")
        if delay:
            time.sleep(delay)
        self.reply(200, version + " " + job)
    def reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

Server((host, port), Handler).serve_forever()
)PY";

// Agent addresses of their own in 127.0.0.0/8 for each cluster: replicas listen on their
// node's address at ports every controller allocates from the same range, so clusters of tests
// running at once (ctest -j) must not share 127.0.0.1 or they would bind (and probe) each
// other's replicas.
ClusterNetwork OwnLoopback() {
  static int clusters = 0;
  const long key = static_cast<long>(::getpid()) * 16 + clusters++ % 16;
  const int second = 1 + static_cast<int>(key % 250);
  const int third = 1 + static_cast<int>((key / 250) % 250);
  ClusterNetwork network;
  network.agent_address = [second, third](int index) {
    return "127." + std::to_string(second) + "." + std::to_string(third) + "." + std::to_string(index + 1);
  };
  return network;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
    cluster_ = std::make_unique<LocalCluster>(2, AgentSpec{4, "4G", 0}, "", std::vector<std::string>{},
                                              std::vector<std::string>{}, OwnLoopback());
    flags_ = cluster_->dir() + "/flags";
    std::filesystem::create_directories(flags_);
    WriteFile(cluster_->work_dir() + "/replica.py", kReplica);
  }

  // Writes a spec file into the work dir; `extra` adds top-level YAML lines.
  std::string Spec(const std::string& file, const std::string& name, const std::string& replicas,
                   const std::string& extra = "", const std::string& version = "v1") {
    const std::string path = cluster_->work_dir() + "/" + file;
    WriteFile(path, "name: " + name + "\n" + "replicas: " + replicas + "\n" +
                        "resources: {cpus: 1, memory: 256M}\n"
                        "readiness: {path: /health, period: 200ms, timeout: 1s}\n"
                        "env: {FLAG_DIR: " + flags_ + ", VERSION: " + version + "}\n"
                        "run: exec /usr/bin/python3 replica.py\n" + extra);
    return path;
  }

  json Status(const std::string& name) const { return cluster_->Get("/v1/services/" + name); }

  // `weft serve up FILE`; returns the endpoint it printed.
  std::string Up(const std::string& path) {
    CommandResult up = cluster_->Weft({"serve", "up", path});
    EXPECT_EQ(up.exit_code, 0) << up.err;
    const std::string marker = "endpoint ";
    const auto at = up.out.find(marker);
    EXPECT_NE(at, std::string::npos) << up.out;
    if (at == std::string::npos) return "";
    std::string endpoint = up.out.substr(at + marker.size());
    endpoint.erase(endpoint.find_last_not_of("\n") + 1);
    return endpoint;
  }

  bool WaitReady(const std::string& name, int ready, std::chrono::seconds timeout = 30s) const {
    return PollUntil([&] { return Status(name).value("ready_replicas", -1) == ready; }, timeout);
  }

  std::set<long long> JobIds(const json& status) const {
    std::set<long long> ids;
    for (const json& r : status["replicas"]) ids.insert(r["job_id"].get<long long>());
    return ids;
  }

  std::unique_ptr<LocalCluster> cluster_;
  std::string flags_;
};

// A port no one listens on now (bound to port 0 and released), for a service's fixed `port:`.
int UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A fixed `port:` (Kubernetes' hostPort): replicas spread over the nodes, each binding it on
// its own node's address; one more replica than nodes waits rather than start beside another
// and fail to bind.
TEST_F(ServeTest, FixedPortReplicasNeverShareANode) {
  const int port = UnusedPort();
  ASSERT_GT(port, 0);
  Up(Spec("fixed.yaml", "fixed", "3", "port: " + std::to_string(port) + "\n"));
  ASSERT_TRUE(WaitReady("fixed", 2)) << Status("fixed").dump(2);
  const json status = Status("fixed");
  std::set<std::string> hosts;
  for (const json& r : status["replicas"]) {
    if (r["ready"] == true) hosts.insert(r["host"].get<std::string>());
  }
  EXPECT_EQ(hosts.size(), 2u) << status.dump(2);
  int pending = 0;
  for (long long id : JobIds(status)) pending += cluster_->Job(id)["state"] == "PENDING";
  EXPECT_EQ(pending, 1) << status.dump(2);
  EXPECT_EQ(cluster_->Weft({"serve", "down", "fixed"}).exit_code, 0);
}

TEST_F(ServeTest, UpGatesOnReadinessListsStatusAndDownStopsEverything) {
  WriteFile(flags_ + "/sick-1", "");  // replica 1 fails its probe from the start
  const std::string endpoint = Up(Spec("svc.yaml", "echo", "2"));
  ASSERT_FALSE(endpoint.empty());
  EXPECT_EQ(endpoint.rfind("http://127.0.0.1:", 0), 0u) << endpoint;

  ASSERT_TRUE(WaitReady("echo", 1)) << Status("echo").dump(2);
  // Only the ready replica gets traffic.
  net::HttpClient client(endpoint, "");
  std::set<std::string> answered_by;
  for (int i = 0; i < 20; ++i) {
    auto r = client.Get("/", 5s);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->status, 200) << r->body;
    answered_by.insert(r->body);
  }
  EXPECT_EQ(answered_by.size(), 1u);
  json status = Status("echo");
  EXPECT_EQ(status["replicas"].size(), 2u);
  EXPECT_EQ(status["desired_replicas"], 2);
  for (const json& r : status["replicas"]) {
    EXPECT_EQ(r["job_state"], "RUNNING");
    EXPECT_EQ(r["ready"], r["replica"] == 0) << r.dump();
  }

  // The sick one recovers: both answer.
  std::filesystem::remove(flags_ + "/sick-1");
  ASSERT_TRUE(WaitReady("echo", 2)) << Status("echo").dump(2);
  answered_by.clear();
  for (int i = 0; i < 20; ++i) {
    auto r = client.Get("/", 5s);
    ASSERT_TRUE(r.has_value() && r->status == 200);
    answered_by.insert(r->body);
  }
  EXPECT_EQ(answered_by.size(), 2u);

  // ls and status show it; the replicas are jobs of the service.
  CommandResult ls = cluster_->Weft({"serve", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("echo"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find(endpoint), std::string::npos) << ls.out;
  CommandResult st = cluster_->Weft({"serve", "status", "echo"});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("2 ready"), std::string::npos) << st.out;
  const std::set<long long> jobs = JobIds(Status("echo"));
  for (long long id : jobs) EXPECT_EQ(cluster_->Job(id)["spec"]["service"], "echo");

  // A second service with the same name is refused; a bad spec names its field.
  CommandResult again = cluster_->Weft({"serve", "up", cluster_->work_dir() + "/svc.yaml"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  WriteFile(cluster_->work_dir() + "/bad.yaml", "name: bad\nreplicas: {min: 3, max: 1}\nrun: x\n");
  CommandResult bad = cluster_->Weft({"serve", "up", cluster_->work_dir() + "/bad.yaml"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("replicas.min"), std::string::npos) << bad.err;

  CommandResult down = cluster_->Weft({"serve", "down", "echo"});
  EXPECT_EQ(down.exit_code, 0) << down.err;
  for (long long id : jobs) EXPECT_EQ(cluster_->WaitFinal(id)["state"], "CANCELLED");
  EXPECT_TRUE(cluster_->Get("/v1/services")["services"].empty());
  auto gone = net::HttpClient(endpoint, "").Get("/", 2s);
  EXPECT_FALSE(gone.has_value() && gone->status == 200);
}

TEST_F(ServeTest, DeadOrUnansweringReplicaLeavesRotationAndIsReplaced) {
  const std::string endpoint = Up(Spec("svc.yaml", "heal", "2"));
  ASSERT_TRUE(WaitReady("heal", 2)) << Status("heal").dump(2);
  const std::set<long long> first = JobIds(Status("heal"));
  ASSERT_EQ(first.size(), 2u);

  // Kill one replica's server: its job ends, it leaves the balancer, a new job replaces it.
  const long long victim = *first.begin();
  const std::string pid_text = ReadFile(flags_ + "/pid-" + std::to_string(victim));
  ASSERT_FALSE(pid_text.empty());
  ::kill(std::stoi(pid_text), SIGKILL);
  net::HttpClient client(endpoint, "");
  // Traffic keeps being answered meanwhile (connect failures are retried elsewhere).
  int failures = 0;
  const bool replaced = PollUntil(
      [&] {
        auto r = client.Get("/", 5s);
        failures += !(r && r->status == 200);
        const json s = Status("heal");
        const std::set<long long> ids = JobIds(s);
        return !ids.count(victim) && ids.size() == 2 && s["ready_replicas"] == 2;
      },
      30s);
  ASSERT_TRUE(replaced) << Status("heal").dump(2);
  EXPECT_LE(failures, 1) << "requests in flight on the killed replica may fail, later ones not";
  EXPECT_NE(cluster_->Job(victim)["state"], "RUNNING");

  // A replica that stops answering its probe leaves rotation within about one period, then
  // is replaced (cancelled after failure_threshold + 3 failures).
  const json before = Status("heal");
  const long long sick_job = before["replicas"][0]["job_id"].get<long long>();
  const std::string sick_index = std::to_string(before["replicas"][0]["replica"].get<int>());
  WriteFile(flags_ + "/sick-" + sick_index, "");
  const auto marked = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitReady("heal", 1, 10s)) << Status("heal").dump(2);
  EXPECT_LT(std::chrono::steady_clock::now() - marked, 2s);
  ASSERT_TRUE(PollUntil([&] { return !JobIds(Status("heal")).count(sick_job); }, 30s)) << Status("heal").dump(2);
  std::filesystem::remove(flags_ + "/sick-" + sick_index);
  ASSERT_TRUE(WaitReady("heal", 2)) << Status("heal").dump(2);
  EXPECT_EQ(cluster_->WaitFinal(sick_job)["state"], "CANCELLED");
}

TEST_F(ServeTest, RollingUpdateFailsNoRequestUnderSteadyLoad) {
  const std::string endpoint = Up(Spec("v1.yaml", "roll", "2"));
  ASSERT_TRUE(WaitReady("roll", 2)) << Status("roll").dump(2);
  const std::set<long long> old_jobs = JobIds(Status("roll"));

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, v2{0};
  std::string last_failure;
  std::thread load([&] {
    net::HttpClient client(endpoint, "");
    while (!stop) {
      auto r = client.Get("/", 10s);
      if (r && r->status == 200) {
        ++ok;
        v2 += r->body.rfind("v2 ", 0) == 0;
      } else {
        ++failed;
        last_failure = r ? std::to_string(r->status) + " " + r->body : r.error().message;
      }
    }
  });
  CommandResult update =
      cluster_->Weft({"serve", "update", "roll", Spec("v2.yaml", "roll", "2", "load_balancing: power_of_two\n", "v2")});
  EXPECT_EQ(update.exit_code, 0) << update.err;
  const bool rolled = PollUntil(
      [&] {
        const json s = Status("roll");
        if (s["replicas"].size() != 2 || s["ready_replicas"] != 2) return false;
        for (const json& r : s["replicas"]) {
          if (r["generation"] != 2) return false;
        }
        return true;
      },
      60s);
  const int v2_before = v2;
  PollUntil([&] { return v2 > v2_before + 20; }, 10s);  // traffic on the new generation alone
  stop = true;
  load.join();
  ASSERT_TRUE(rolled) << Status("roll").dump(2);
  EXPECT_EQ(failed, 0) << "last failure: " << last_failure;
  EXPECT_GT(ok, 50);
  EXPECT_GT(v2, 20);
  for (long long id : old_jobs) EXPECT_EQ(cluster_->WaitFinal(id)["state"], "CANCELLED");
  EXPECT_EQ(Status("roll")["generation"], 2);
  EXPECT_EQ(Status("roll").value("message", ""), "");  // the new policy is live, no restart needed
}

TEST_F(ServeTest, AutoscalesUpUnderLoadAndDownAfter) {
  const std::string endpoint = Up(Spec(
      "svc.yaml", "auto", "{min: 1, max: 3}",
      "autoscale: {target_qps_per_replica: 5, upscale_delay: 1s, downscale_delay: 2s}\n"));
  ASSERT_TRUE(WaitReady("auto", 1)) << Status("auto").dump(2);

  // About 25 requests a second: wants 3 replicas (QPS over the balancer's 10 s window).
  std::atomic<bool> stop{false};
  std::thread load([&] {
    net::HttpClient client(endpoint, "");
    while (!stop) {
      client.Get("/", 5s);
      std::this_thread::sleep_for(40ms);  // the load's rate, not a synchronisation
    }
  });
  const auto step = std::chrono::steady_clock::now();
  const bool up = WaitReady("auto", 3, 60s);
  const auto scaled_up = std::chrono::steady_clock::now();
  stop = true;
  load.join();
  ASSERT_TRUE(up) << Status("auto").dump(2);
  std::printf("load step to 3 ready replicas: %.2fs\n",
              std::chrono::duration<double>(scaled_up - step).count());

  // Idle: back to min once the window empties and downscale_delay has passed.
  ASSERT_TRUE(PollUntil(
      [&] {
        const json s = Status("auto");
        return s["desired_replicas"] == 1 && s["replicas"].size() == 1;
      },
      60s))
      << Status("auto").dump(2);
}

TEST_F(ServeTest, ScalesFromZeroHoldingTheFirstRequest) {
  const std::string endpoint = Up(Spec(
      "svc.yaml", "cold", "{min: 0, max: 1}",
      "autoscale: {target_qps_per_replica: 5, upscale_delay: 1s, downscale_delay: 1s, cold_start_timeout: 30s}\n"));
  json s = Status("cold");
  EXPECT_EQ(s["desired_replicas"], 0);
  EXPECT_TRUE(s["replicas"].empty());

  // The request is held while one replica starts, then answered.
  const auto sent = std::chrono::steady_clock::now();
  auto r = net::HttpClient(endpoint, "").Get("/", 40s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200) << r->body;
  std::printf("scale from zero, first request answered after %.2fs\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - sent).count());
  EXPECT_EQ(Status("cold")["replicas"].size(), 1u);

  // Idle again: back to zero.
  ASSERT_TRUE(PollUntil([&] { return Status("cold")["replicas"].empty(); }, 60s)) << Status("cold").dump(2);
}

TEST_F(ServeTest, AReplicaThatCannotStartIsRetriedWithBackoffAndReported) {
  WriteFile(cluster_->work_dir() + "/crash.yaml",
            "name: crash\nreplicas: 1\nresources: {cpus: 1, memory: 64M}\nrun: exit 3\n");
  const auto start = std::chrono::steady_clock::now();
  Up(cluster_->work_dir() + "/crash.yaml");
  // Backoff 1 s, 2 s, then 4 s: when the message announces 4 s, three replicas have run.
  ASSERT_TRUE(PollUntil(
      [&] { return Status("crash").value("message", "").find("next replica in 4s") != std::string::npos; }, 30s))
      << Status("crash").dump(2);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_NE(Status("crash")["message"].get<std::string>().find("before becoming ready"), std::string::npos);
  EXPECT_EQ(cluster_->Get("/v1/jobs")["jobs"].size(), 3u);
  CommandResult st = cluster_->Weft({"serve", "status", "crash"});
  EXPECT_NE(st.out.find("Message: replica job"), std::string::npos) << st.out;
}

TEST_F(ServeTest, ServerRestartKeepsTheEndpointAndAdoptsRunningReplicas) {
  const std::string endpoint = Up(Spec("svc.yaml", "keep", "1"));
  ASSERT_TRUE(WaitReady("keep", 1)) << Status("keep").dump(2);
  const std::set<long long> jobs = JobIds(Status("keep"));

  cluster_->KillServer(SIGKILL);
  cluster_->StartServer();
  // Same port, same replica job (its agent kept it running), ready again.
  ASSERT_TRUE(WaitReady("keep", 1)) << Status("keep").dump(2);
  EXPECT_EQ(JobIds(Status("keep")), jobs);
  EXPECT_EQ(Status("keep")["endpoint"], endpoint);
  auto r = net::HttpClient(endpoint, "").Get("/", 5s);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "v1 " + std::to_string(*jobs.begin()));
}

// Replicas are charged to their queue like any job: beyond the quota they wait, a higher
// priority batch job of the queue does not preempt them (the service is not preemptible), and
// the queue's default time limit does not apply to them.
class ServeQuotaTest : public ServeTest {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3";
    cluster_ = std::make_unique<LocalCluster>(2, AgentSpec{4, "4G", 0},
                                              "queues:\n  - {name: team-a, quota: {cpus: 2}, default_time: 1h}\n",
                                              std::vector<std::string>{}, std::vector<std::string>{}, OwnLoopback());
    flags_ = cluster_->dir() + "/flags";
    std::filesystem::create_directories(flags_);
    WriteFile(cluster_->work_dir() + "/replica.py", kReplica);
  }
};

TEST_F(ServeQuotaTest, ReplicasCountAgainstTheQueueQuotaAndAreNotPreempted) {
  Up(Spec("svc.yaml", "quota", "3", "queue: team-a\n"));
  ASSERT_TRUE(WaitReady("quota", 2)) << Status("quota").dump(2);
  long long waiting = 0;
  ASSERT_TRUE(PollUntil(
      [&] {
        const json status = Status("quota");  // not a temporary: the loop holds a reference into it
        for (const json& r : status["replicas"]) {
          if (r["job_state"] == "PENDING") waiting = r["job_id"];
        }
        return waiting != 0 && cluster_->Job(waiting).value("reason", "") == "QuotaExceeded";
      },
      10s))
      << Status("quota").dump(2);
  EXPECT_EQ(Status("quota")["desired_replicas"], 3);

  const long long batch = cluster_->SubmitScript("hi.sh", "#!/bin/bash\necho hi\n",
                                                 {"-A", "team-a", "-c", "1", "--priority", "1000"});
  // The batch job waits; no replica is stopped for it.
  ASSERT_TRUE(PollUntil([&] { return !cluster_->Job(batch).value("reason", "").empty() &&
                                     cluster_->Job(batch)["reason"] != "None"; },
                        10s));
  EXPECT_EQ(cluster_->Job(batch)["state"], "PENDING");
  EXPECT_EQ(Status("quota")["ready_replicas"], 2);
  const json status = Status("quota");
  for (const json& r : status["replicas"]) {
    if (r["job_id"] != waiting) {
      EXPECT_EQ(r["job_state"], "RUNNING");
      EXPECT_TRUE(cluster_->Job(r["job_id"]).value("preempted_at", json()).is_null());
    }
  }

  // The queue's default time limit is for batch jobs; replicas run until the service stops them.
  EXPECT_FALSE(cluster_->Job(batch)["spec"]["time_limit_us"].is_null());
  for (const json& r : status["replicas"]) {
    EXPECT_TRUE(cluster_->Job(r["job_id"])["spec"]["time_limit_us"].is_null()) << r["job_id"];
  }

  // Another user neither sees nor controls it.
  const CommandResult added = cluster_->Weft({"user", "add", "bob"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::string bob = added.out;
  bob.erase(bob.find_last_not_of("\n") + 1);
  const CommandResult ls = cluster_->WeftAs(bob, cluster_->work_dir(), {"serve", "ls", "-o", "json"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_TRUE(json::parse(ls.out)["services"].empty()) << ls.out;
  const CommandResult down = cluster_->WeftAs(bob, cluster_->work_dir(), {"serve", "down", "quota"});
  EXPECT_NE(down.exit_code, 0);
  EXPECT_NE(down.err.find("belongs to another user"), std::string::npos) << down.err;
  EXPECT_EQ(Status("quota")["ready_replicas"], 2);
}

}  // namespace
}  // namespace weft::testing
