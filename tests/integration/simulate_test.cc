// `weft simulate` as a user runs it: the committed small trace, byte-identical output across
// runs, the decision log file, and one-sentence errors with non-zero exits.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "local_cluster.h"

namespace weft::testing {
namespace {

const std::string kTestData = std::string(WEFT_SOURCE_DIR) + "/src/sim/testdata";

CommandResult Simulate(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {WEFT_BINARY, "simulate"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProgram(argv, {}, "/tmp");
}

TEST(SimulateCliTest, ReportsJsonAndWritesTheGoldenDecisionLogByteForByte) {
  const std::string decisions = "/tmp/weft-sim-decisions-" + std::to_string(::getpid());
  const std::vector<std::string> args = {"--trace", kTestData + "/small_pollux.csv", "--nodes", "3",
                                         "--gpus-per-node", "4", "--queues-from-trace", "-o", "json",
                                         "--decisions", decisions};
  const CommandResult first = Simulate(args);
  const CommandResult second = Simulate(args);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, second.out);
  EXPECT_EQ(ReadFile(decisions), ReadFile(kTestData + "/small_pollux.easy.decisions"));
  std::filesystem::remove(decisions);
  const nlohmann::json report = nlohmann::json::parse(first.out);
  EXPECT_EQ(report["jobs"], 9);
  EXPECT_EQ(report["policy"], "easy");
  EXPECT_EQ(report["trace"], "small_pollux");
  for (const char* field : {"avg_jct_s", "median_jct_s", "p99_jct_s", "max_jct_s", "avg_queueing_s",
                            "median_queueing_s", "p99_queueing_s", "max_queueing_s", "makespan_s",
                            "gpu_utilization"}) {
    EXPECT_TRUE(report.contains(field)) << field;
  }
  ASSERT_EQ(report["queues"].size(), 2u);
  EXPECT_EQ(report["queues"][0]["name"], "vca");
  EXPECT_EQ(report["makespan_s"], 11500.0);
}

TEST(SimulateCliTest, PoliciesDifferAndTheTableIsReadable) {
  const std::vector<std::string> base = {"--trace", kTestData + "/fifo_vs_easy.csv", "--nodes", "2",
                                         "--gpus-per-node", "4", "--time-limits", "exact"};
  std::vector<std::string> fifo = base, easy = base;
  fifo.insert(fifo.end(), {"--policy", "fifo", "-o", "json"});
  easy.insert(easy.end(), {"--policy", "easy", "-o", "json"});
  const CommandResult f = Simulate(fifo), e = Simulate(easy), table = Simulate(base);
  ASSERT_EQ(f.exit_code, 0) << f.err;
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(f.out)["max_jct_s"], 190.0);  // d waits behind the gang
  EXPECT_EQ(nlohmann::json::parse(e.out)["max_jct_s"], 190.0);  // c: submitted 10, ends 200
  EXPECT_EQ(nlohmann::json::parse(e.out)["avg_jct_s"], (100.0 + 50 + 190 + 40) / 4);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("queueing delay"), std::string::npos) << table.out;
}

TEST(SimulateCliTest, BadInputIsOneSentenceAndANonZeroExit) {
  const std::string bad_trace = "/tmp/weft-sim-bad-" + std::to_string(::getpid()) + ".csv";
  WriteFile(bad_trace, "job_id,submission_time,duration,num_gpu\nx,1,2,many\n");
  const CommandResult policy =
      Simulate({"--trace", kTestData + "/fifo_vs_easy.csv", "--nodes", "2", "--gpus-per-node", "4", "--policy", "lottery"});
  const CommandResult trace = Simulate({"--trace", bad_trace, "--nodes", "2", "--gpus-per-node", "4"});
  const CommandResult missing = Simulate({"--trace", "/nonexistent.csv", "--nodes", "2", "--gpus-per-node", "4"});
  const CommandResult too_small =
      Simulate({"--trace", kTestData + "/fifo_vs_easy.csv", "--nodes", "1", "--gpus-per-node", "4"});
  std::filesystem::remove(bad_trace);
  EXPECT_EQ(policy.exit_code, 2);
  EXPECT_NE(policy.err.find("lottery"), std::string::npos) << policy.err;
  EXPECT_NE(trace.exit_code, 0);
  EXPECT_NE(trace.err.find(":2: column 'num_gpu' (4): 'many'"), std::string::npos) << trace.err;
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("/nonexistent.csv"), std::string::npos) << missing.err;
  EXPECT_NE(too_small.exit_code, 0);
  EXPECT_NE(too_small.err.find("needs 8 GPUs"), std::string::npos) << too_small.err;
  for (const CommandResult* r : {&policy, &trace, &missing, &too_small}) {
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
    EXPECT_TRUE(r->out.empty()) << r->out;
  }
}

}  // namespace
}  // namespace weft::testing
