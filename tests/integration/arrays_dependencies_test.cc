// Job arrays (--array with a %N throttle) and dependencies (afterok, afterany, singleton) on a
// real cluster.
#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>

#include "local_cluster.h"

namespace weft::testing {
namespace {

using namespace std::chrono_literals;

// The most lines "start" seen without their "end" in a log of "start <i>" / "end <i>" lines.
int MaxConcurrent(const std::string& log) {
  std::istringstream in(log);
  std::string word, index;
  int running = 0, most = 0;
  while (in >> word >> index) {
    running += word == "start" ? 1 : -1;
    most = std::max(most, running);
  }
  return most;
}

TEST(ArraysDependenciesTest, ThrottledArrayRunsEveryTaskAtMostTwoAtOnce) {
  LocalCluster cluster(2);  // 8 CPUs: without the throttle all six tasks would run together
  const CommandResult submit = [&] {
    WriteFile(cluster.work_dir() + "/array.sh",
              "#!/bin/bash\n"
              "#SBATCH --array=0-5%2\n"
              "#SBATCH -o out-%A_%a.txt\n"
              "echo \"start $SLURM_ARRAY_TASK_ID\" >> markers.log\n"
              "echo \"$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_COUNT "
              "$SLURM_ARRAY_TASK_MIN $SLURM_ARRAY_TASK_MAX $WEFT_ARRAY_TASK_ID\"\n"
              "sleep 0.3\n"
              "echo \"end $SLURM_ARRAY_TASK_ID\" >> markers.log\n");
    return cluster.Weft({"submit", "array.sh"});
  }();
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  ASSERT_EQ(submit.out.rfind("Submitted batch job ", 0), 0u) << submit.out;
  const long long array_id = std::atoll(submit.out.substr(20).c_str());
  ASSERT_GT(array_id, 0);

  // Watch the API while it runs: never more than two tasks of the array RUNNING.
  int most_running = 0;
  const bool all_done = PollUntil(
      [&] {
        const nlohmann::json jobs = cluster.Get("/v1/jobs");
        int running = 0, finished = 0;
        for (const nlohmann::json& job : jobs["jobs"]) {
          if (job["array_job_id"] != array_id) continue;
          const std::string state = job["state"];
          if (state == "RUNNING") ++running;
          if (state == "COMPLETED") ++finished;
          if (state == "PENDING") {
            const std::string reason = job["reason"];
            EXPECT_TRUE(reason == "JobArrayTaskLimit" || reason == "None" || reason == "Priority" ||
                        reason == "Resources")
                << reason;
          }
        }
        most_running = std::max(most_running, running);
        return finished == 6;
      },
      60s);
  ASSERT_TRUE(all_done);
  EXPECT_LE(most_running, 2);
  EXPECT_LE(MaxConcurrent(ReadFile(cluster.work_dir() + "/markers.log")), 2);

  for (int i = 0; i < 6; ++i) {
    const nlohmann::json job = cluster.Job(array_id + i);
    EXPECT_EQ(job["state"], "COMPLETED") << job.dump();
    EXPECT_EQ(job["array_job_id"], array_id);
    EXPECT_EQ(job["array_task_id"], i);
    const std::string out =
        ReadFile(cluster.work_dir() + "/out-" + std::to_string(array_id) + "_" + std::to_string(i) + ".txt");
    EXPECT_EQ(out, std::to_string(i) + " " + std::to_string(array_id) + " 6 0 5 " + std::to_string(i) + "\n");
  }
}

// An array job id stands for all its tasks: `submit --wait` and `weft wait` return only when
// every task has ended, with the highest exit code of any task (as sbatch --wait does).
TEST(ArraysDependenciesTest, WaitOnAnArrayWaitsForEveryTask) {
  LocalCluster cluster(1);
  WriteFile(cluster.work_dir() + "/arr.sh",
            "#!/bin/sh\n"
            "#SBATCH --array=0-2\n"
            "if [ \"$SLURM_ARRAY_TASK_ID\" = 2 ]; then sleep 0.5; exit 5; fi\n");
  const CommandResult submit = cluster.Weft({"submit", "--wait", "--parsable", "arr.sh"});
  EXPECT_EQ(submit.exit_code, 5) << submit.err;
  const long long array_id = std::atoll(submit.out.c_str());
  ASSERT_GT(array_id, 0) << submit.out;
  for (int i = 0; i < 3; ++i) {
    const std::string state = cluster.Job(array_id + i)["state"];
    EXPECT_EQ(state, i == 2 ? "FAILED" : "COMPLETED");
  }

  // Task 1 outlives task 0 (the array id): waiting on the id alone would return too early.
  const long long second = cluster.SubmitScript(
      "arr2.sh", "#!/bin/sh\n#SBATCH --array=0-1\nif [ \"$SLURM_ARRAY_TASK_ID\" = 1 ]; then sleep 1; fi\n");
  const CommandResult wait = cluster.Weft({"wait", std::to_string(second)});
  EXPECT_EQ(wait.exit_code, 0) << wait.err;
  EXPECT_EQ(cluster.Job(second + 1)["state"], "COMPLETED");
}

TEST(ArraysDependenciesTest, AfterOkChainsAndNeverSatisfiedDependencies) {
  LocalCluster cluster(1);
  // A writes a file; B (afterok A) runs only after A completed, so it finds the file.
  const long long a = cluster.SubmitScript("a.sh", "#!/bin/sh\nsleep 0.3\necho a > a.done\n");
  const long long b = cluster.SubmitScript(
      "b.sh", "#!/bin/sh\ntest -f a.done && echo b > b.done\n", {"--dependency=afterok:" + std::to_string(a)});
  // F fails; C (afterok F) can never run; D (afterany F) and E (afternotok F) do.
  const long long f = cluster.SubmitScript("f.sh", "#!/bin/sh\nexit 3\n");
  const long long c = cluster.SubmitScript("c.sh", "#!/bin/sh\ntouch c.ran\n", {"-d", "afterok:" + std::to_string(f)});
  const long long d = cluster.SubmitScript("d.sh", "#!/bin/sh\ntrue\n", {"-d", "afterany:" + std::to_string(f)});
  const long long e = cluster.SubmitScript("e.sh", "#!/bin/sh\ntrue\n", {"-d", "afternotok:" + std::to_string(f)});

  EXPECT_EQ(cluster.WaitFinal(a)["state"], "COMPLETED");
  const nlohmann::json b_job = cluster.WaitFinal(b);
  EXPECT_EQ(b_job["state"], "COMPLETED") << b_job.dump();
  EXPECT_EQ(ReadFile(cluster.work_dir() + "/b.done"), "b\n");
  EXPECT_EQ(cluster.WaitFinal(f)["state"], "FAILED");
  const nlohmann::json c_job = cluster.WaitFinal(c);
  EXPECT_EQ(c_job["state"], "FAILED");
  EXPECT_EQ(c_job["reason"], "DependencyNeverSatisfied: afterok:" + std::to_string(f) + " ended FAILED");
  EXPECT_TRUE(c_job["start_time"].is_null());
  EXPECT_EQ(cluster.WaitFinal(d)["state"], "COMPLETED");
  EXPECT_EQ(cluster.WaitFinal(e)["state"], "COMPLETED");

  // An unknown job id is refused at submit with one clear sentence.
  WriteFile(cluster.work_dir() + "/x.sh", "#!/bin/sh\ntrue\n");
  const CommandResult refused = cluster.Weft({"submit", "-d", "afterok:9999", "x.sh"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("afterok:9999 names job 9999, which does not exist"), std::string::npos)
      << refused.err;
}

TEST(ArraysDependenciesTest, SingletonJobsOfOneNameRunOneAtATime) {
  LocalCluster cluster(1);
  const std::string script =
      "#!/bin/sh\n"
      "#SBATCH -J solo\n"
      "#SBATCH --dependency=singleton\n"
      "echo \"start $SLURM_JOB_ID\" >> solo.log\n"
      "sleep 0.3\n"
      "echo \"end $SLURM_JOB_ID\" >> solo.log\n";
  std::vector<long long> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(cluster.SubmitScript("solo.sh", script));
  for (long long id : ids) EXPECT_EQ(cluster.WaitFinal(id)["state"], "COMPLETED");
  EXPECT_EQ(MaxConcurrent(ReadFile(cluster.work_dir() + "/solo.log")), 1);
}

}  // namespace
}  // namespace weft::testing
