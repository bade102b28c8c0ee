// `weft server --tls-cert --tls-key`: HTTPS only; agents (--ca-file or WEFT_CA_FILE) and the
// CLI (WEFT_CA_FILE) verify it, and a job runs end to end through https.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "daemon.h"
#include "local_cluster.h"
#include "net/http.h"
#include "testing/test_certificates.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

// Sets an environment variable for the test's lifetime (the harness's client, the CLI and the
// agents it starts read it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

bool HasNode(const LocalCluster& cluster, const std::string& name) {
  const nlohmann::json nodes = cluster.Get("/v1/nodes");  // kept: the loop reads into it
  for (const auto& node : nodes["nodes"]) {
    if (node.value("name", "") == name && node.value("state", "") == "UP") return true;
  }
  return false;
}

TEST(TlsClusterTest, AgentsAndTheCliRunAJobThroughHttps) {
  char tmpl[] = "/tmp/weft-tls-it-XXXXXX";
  const std::string certs_dir = ::mkdtemp(tmpl);
  const TestCertificates certs = MakeTestCertificates(certs_dir);
  ASSERT_EQ(certs.error, "") << "the test needs the openssl command (scripts/setup.sh installs it)";
  ScopedEnv ca("WEFT_CA_FILE", certs.ca_file);
  {
    LocalCluster cluster(1, AgentSpec{1, "1G", 0}, "", {"--ca-file", certs.ca_file},
                         {"--tls-cert", certs.cert_file, "--tls-key", certs.key_file});
    ASSERT_EQ(cluster.url().rfind("https://127.0.0.1:", 0), 0u) << cluster.url();
    const std::string host_port = cluster.url().substr(std::string("https://").size());

    // A job submitted, run, waited for and its output streamed, all through https.
    const CommandResult run = cluster.Weft({"run", "--", "echo", "hello over tls"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("hello over tls"), std::string::npos) << run.out << run.err;
    const long long id = cluster.SubmitScript("tls.sh", "#!/bin/sh\necho batch over tls\n");
    EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");

    // The CLI with the wrong CA: one clear sentence, non-zero exit.
    const CommandResult wrong =
        RunProgram({WEFT_BINARY, "queue"},
                   {{"WEFT_SERVER", cluster.url()}, {"WEFT_TOKEN", cluster.token()},
                    {"WEFT_CA_FILE", certs.other_ca_file}, {"WEFT_CONFIG", cluster.dir() + "/no-config.json"}},
                   cluster.work_dir());
    EXPECT_NE(wrong.exit_code, 0);
    EXPECT_NE(wrong.err.find("cannot verify the server's TLS certificate for 127.0.0.1: unable to get local "
                             "issuer certificate"),
              std::string::npos)
        << wrong.err;

    // Plain HTTP on the TLS port is not served.
    auto plain = net::HttpClient("http://" + host_port, cluster.token()).Get("/v1/jobs", 5s);
    EXPECT_FALSE(plain.has_value() && plain->status == 200);

    const auto agent_argv = [&](const std::string& name) {
      return std::vector<std::string>{WEFT_BINARY, "agent", "--server", cluster.url(), "--join-token-file",
                                      cluster.dir() + "/state/join_token", "--name", name, "--cpus", "1",
                                      "--memory", "1G", "--gpus", "0", "--isolation", "off", "--heartbeat", "0.2",
                                      "--work-dir", cluster.dir() + "/" + name};
    };
    // An agent whose CA is wrong cannot join and says why ...
    Daemon lost(agent_argv("wrong-ca"), {{"WEFT_CA_FILE", certs.other_ca_file}}, cluster.dir(),
                cluster.dir() + "/wrong-ca.log");
    EXPECT_TRUE(lost.WaitForLog("cannot verify the server's TLS certificate for 127.0.0.1", 30s)) << lost.Log();
    EXPECT_FALSE(HasNode(cluster, "wrong-ca"));
    // ... and --ca-file takes precedence over WEFT_CA_FILE.
    std::vector<std::string> with_flag = agent_argv("ca-flag");
    with_flag.insert(with_flag.end(), {"--ca-file", certs.ca_file});
    Daemon joined(with_flag, {{"WEFT_CA_FILE", certs.other_ca_file}}, cluster.dir(), cluster.dir() + "/ca-flag.log");
    EXPECT_TRUE(PollUntil([&] { return HasNode(cluster, "ca-flag"); }, 30000ms)) << joined.Log();
  }
  std::filesystem::remove_all(certs_dir);
}

}  // namespace
}  // namespace weft::testing
