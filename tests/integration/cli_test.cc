// The CLI's contract: bad input is one clear sentence and a non-zero exit, listings have
// -o json, and `weft up`/`weft down` manage a local cluster without leftovers.
#include <dirent.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

TEST(CliTest, BadInputIsRejectedAtSubmitAndNothingIsStored) {
  LocalCluster cluster(1, AgentSpec{2, "1G", 2});
  WriteFile(cluster.work_dir() + "/bad-mem.sh", "#!/bin/sh\n#SBATCH --mem=lots\ntrue\n");
  WriteFile(cluster.work_dir() + "/unknown.sh", "#!/bin/sh\n#SBATCH --frobnicate\ntrue\n");
  WriteFile(cluster.work_dir() + "/too-big.sh", "#!/bin/sh\n#SBATCH --gpus-per-node=8\ntrue\n");
  WriteFile(cluster.work_dir() + "/bad.yaml", "name: x\nrun: [unclosed\n");

  const CommandResult mem = cluster.Weft({"submit", "bad-mem.sh"});
  const CommandResult unknown = cluster.Weft({"submit", "unknown.sh"});
  const CommandResult big = cluster.Weft({"submit", "too-big.sh"});
  const CommandResult yaml = cluster.Weft({"submit", "bad.yaml"});
  const CommandResult missing = cluster.Weft({"show", "4242"});

  EXPECT_NE(mem.exit_code, 0);
  EXPECT_NE(mem.err.find("--mem"), std::string::npos) << mem.err;
  EXPECT_NE(mem.err.find("lots"), std::string::npos) << mem.err;
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("--frobnicate"), std::string::npos) << unknown.err;
  EXPECT_NE(big.exit_code, 0);
  EXPECT_NE(big.err.find("gpus"), std::string::npos) << big.err;
  EXPECT_NE(yaml.exit_code, 0);
  EXPECT_NE(yaml.err.find("bad.yaml"), std::string::npos) << yaml.err;
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("4242"), std::string::npos) << missing.err;
  for (const CommandResult* r : {&mem, &unknown, &big, &yaml, &missing}) {
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;  // one sentence
  }
  EXPECT_TRUE(cluster.Get("/v1/jobs")["jobs"].empty());
}

TEST(CliTest, ListingsTakeJsonAndCommandLineOverridesDirectives) {
  LocalCluster cluster(2);
  const long long id = cluster.SubmitScript("j.sh", "#!/bin/sh\n#SBATCH -J fromscript -N 1\ntrue\n", {"-J", "fromcli"});
  cluster.WaitFinal(id);

  const CommandResult history = cluster.Weft({"history", "-o", "json"});
  const CommandResult nodes = cluster.Weft({"nodes", "-o", "json"});
  const CommandResult queue = cluster.Weft({"queue", "-o", "json"});
  const CommandResult table = cluster.Weft({"history"});

  ASSERT_EQ(history.exit_code, 0);
  const nlohmann::json h = nlohmann::json::parse(history.out);
  ASSERT_EQ(h["attempts"].size(), 1u);
  EXPECT_EQ(h["attempts"][0]["name"], "fromcli");
  EXPECT_EQ(h["attempts"][0]["state"], "COMPLETED");
  EXPECT_EQ(h["attempts"][0]["nodes"].size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(nodes.out)["nodes"].size(), 2u);
  EXPECT_TRUE(nlohmann::json::parse(queue.out)["jobs"].empty());
  EXPECT_NE(table.out.find("fromcli"), std::string::npos);
}

bool AnyProcessMentions(const std::string& text) {
  DIR* proc = ::opendir("/proc");
  bool found = false;
  while (dirent* entry = ::readdir(proc)) {
    const int pid = std::atoi(entry->d_name);
    if (pid <= 0) continue;
    std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    std::string environ_text = ReadFile("/proc/" + std::to_string(pid) + "/environ");
    if ((cmdline.find(text) != std::string::npos || environ_text.find(text) != std::string::npos) &&
        ProcessAlive(pid)) {
      found = true;
    }
  }
  ::closedir(proc);
  return found;
}

TEST(CliTest, UpTwiceIsHarmlessAndDownLeavesNothingBehind) {
  char tmpl[] = "/tmp/weft-up-XXXXXX";
  const std::string home = ::mkdtemp(tmpl);
  const std::string state = home + "/cluster";
  const std::map<std::string, std::string> env = {{"HOME", home}, {"WEFT_SERVER", ""}, {"WEFT_TOKEN", ""},
                                                  {"WEFT_CONFIG", ""}};
  auto weft = [&](std::vector<std::string> args) {
    args.insert(args.begin(), WEFT_BINARY);
    return RunProgram(args, env, home);
  };

  const CommandResult up = weft({"up", "--agents", "2", "--gpus-per-agent", "2", "--state-dir", state});
  const CommandResult again = weft({"up", "--agents", "2", "--state-dir", state});
  WriteFile(home + "/long.sh", "#!/bin/sh\nsleep 1000 &\nsleep 1000\n");
  const CommandResult submitted = weft({"submit", "--parsable", "long.sh"});
  ASSERT_TRUE(PollUntil([&] { return weft({"queue"}).out.find("RUNNING") != std::string::npos; }, 20s));
  const CommandResult down = weft({"down"});

  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already running"), std::string::npos);
  EXPECT_EQ(submitted.exit_code, 0) << submitted.err;
  EXPECT_EQ(down.exit_code, 0) << down.err;
  EXPECT_TRUE(PollUntil([&] { return !AnyProcessMentions(home); }, 20s));  // HOME=home marks all of it
  EXPECT_FALSE(std::filesystem::exists(home + "/.weft/config.json"));
  std::error_code ec;
  std::filesystem::remove_all(home, ec);
}

}  // namespace
}  // namespace weft::testing
