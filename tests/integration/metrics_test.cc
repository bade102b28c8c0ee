// GET /metrics scraped by a real Prometheus (/usr/bin/prometheus, Debian's `prometheus`):
// the exposition parses, the bearer token from a credentials file is accepted, and a job's
// counters reach Prometheus's query API.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cctype>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "local_cluster.h"
#include "net/http.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

// A port that was free a moment ago (bound to 0, read back, closed).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// A Prometheus process scraping `target` ("host:port") every second with `token_file`.
class Prometheus {
 public:
  Prometheus(const std::string& dir, const std::string& target, const std::string& token_file)
      : dir_(dir), port_(FreePort()) {
    const std::string config = dir + "/prometheus.yml";
    WriteFile(config, "global:\n"
                      "  scrape_interval: 1s\n"
                      "  evaluation_interval: 1s\n"
                      "scrape_configs:\n"
                      "  - job_name: weft\n"
                      "    scrape_interval: 1s\n"
                      "    scrape_timeout: 1s\n"
                      "    metrics_path: /metrics\n"
                      "    authorization:\n"
                      "      type: Bearer\n"
                      "      credentials_file: " + token_file + "\n"
                      "    static_configs:\n"
                      "      - targets: ['" + target + "']\n");
    std::filesystem::create_directories(dir + "/tsdb");
    const std::vector<std::string> argv = {kPrometheus, "--config.file=" + config,
                                           "--storage.tsdb.path=" + dir + "/tsdb",
                                           "--web.listen-address=127.0.0.1:" + std::to_string(port_)};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int log = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setsid();
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(kPrometheus, args.data());
      _exit(127);
    }
    ::close(log);
  }
  ~Prometheus() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!PollUntil([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, 10s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log_path() const { return dir_ + "/prometheus.log"; }

  // GET on Prometheus's HTTP API; a null json when it is not answering (yet).
  nlohmann::json Api(const std::string& target) const {
    net::HttpClient client(url(), "");
    auto response = client.Get(target, 2s);
    if (!response || response->status != 200) return nullptr;
    return nlohmann::json::parse(response->body, nullptr, false);
  }
  // The value of the instant query's single series matching `query`, or "" if none yet.
  std::string Value(const std::string& query) const {
    std::string encoded;
    for (unsigned char c : query) {
      if (std::isalnum(c) || c == '_') encoded += static_cast<char>(c);
      else encoded += fmt_hex(c);
    }
    const nlohmann::json r = Api("/api/v1/query?query=" + encoded);
    if (!r.is_object() || r.value("status", "") != "success") return "";
    const nlohmann::json& result = r["data"]["result"];
    if (!result.is_array() || result.size() != 1) return "";
    return result[0]["value"][1].get<std::string>();
  }

 private:
  static std::string fmt_hex(unsigned char c) {
    static const char* kHex = "0123456789ABCDEF";
    return std::string{'%', kHex[c >> 4], kHex[c & 15]};
  }
  std::string dir_;
  int port_;
  pid_t pid_ = -1;
};

TEST(MetricsIntegrationTest, PrometheusScrapesJobCountersWithTheToken) {
  if (::access(kPrometheus, X_OK) != 0) {
    GTEST_SKIP() << kPrometheus << " is not installed (Debian package `prometheus`; scripts/setup.sh installs it)";
  }
  LocalCluster cluster(1, AgentSpec{2, "1G", 0});
  // Without the token the route refuses, as every route but /healthz.
  net::HttpClient anonymous(cluster.url(), "");
  auto refused = anonymous.Get("/metrics");
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 401);

  // The exposition passes Prometheus's own format and naming lint, when promtool is there.
  net::HttpClient client(cluster.url(), cluster.token());
  auto exposition = client.Get("/metrics");
  ASSERT_TRUE(exposition.has_value());
  ASSERT_EQ(exposition->status, 200);
  EXPECT_NE(exposition->body.find("# TYPE weft_jobs gauge"), std::string::npos) << exposition->body;
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    const CommandResult lint = RunProgram({"/usr/bin/promtool", "check", "metrics"}, {}, cluster.dir(), exposition->body);
    EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
    EXPECT_EQ(lint.out + lint.err, "");
  }

  const std::string token_file = cluster.dir() + "/prometheus-token";
  WriteFile(token_file, cluster.token() + "\n");
  Prometheus prometheus(cluster.dir(), cluster.url().substr(std::string("http://").size()), token_file);

  const long long id = cluster.SubmitScript("hello.sh", "#!/bin/sh\necho hello\n");
  EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");

  // Prometheus scrapes every second; wait (with a deadline) for the values to arrive.
  const bool scraped = PollUntil(
      [&] {
        return prometheus.Value("weft_jobs_submitted_total{queue=\"default\"}") == "1" &&
               prometheus.Value("weft_jobs_completed_total{queue=\"default\",state=\"COMPLETED\"}") == "1";
      },
      60s);
  const nlohmann::json targets = prometheus.Api("/api/v1/targets");
  ASSERT_TRUE(scraped) << "Prometheus did not report the job's counters.\ntargets: "
                       << (targets.is_null() ? "(no answer)" : targets.dump()) << "\nlog:\n"
                       << ReadFile(prometheus.log_path());
  // The target is healthy and the histograms parsed (a series per bucket, _count included).
  // A scrape is timed once answered, so /metrics's own series shows from the next scrape on.
  EXPECT_EQ(prometheus.Value("up{job=\"weft\"}"), "1");
  EXPECT_EQ(prometheus.Value("weft_job_queue_wait_seconds_count{queue=\"default\"}"), "1");
  EXPECT_EQ(prometheus.Value("sum(weft_nodes{state=\"UP\"})"), "1");
  EXPECT_TRUE(PollUntil(
      [&] {
        return !prometheus.Value("weft_api_request_duration_seconds_bucket{route=\"/metrics\",method=\"GET\","
                                 "code=\"200\",le=\"+Inf\"}").empty();
      },
      10s));
}

}  // namespace
}  // namespace weft::testing
