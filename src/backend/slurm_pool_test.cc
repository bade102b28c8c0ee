#include "backend/slurm_pool.h"

#include <gtest/gtest.h>

namespace weft::backend {
namespace {

using model::JobState;

TEST(ExpandHostlist, SlurmExpressions) {
  EXPECT_EQ(ExpandHostlist("n[1-3,5],gpu-a,x[01-02]"),
            (std::vector<std::string>{"n1", "n2", "n3", "n5", "gpu-a", "x01", "x02"}));
  EXPECT_EQ(ExpandHostlist("n1"), (std::vector<std::string>{"n1"}));
  EXPECT_EQ(ExpandHostlist("r[1-2]n[1-2]"), (std::vector<std::string>{"r1n1", "r1n2", "r2n1", "r2n2"}));
  EXPECT_TRUE(ExpandHostlist("").empty());
}

// A scripted SlurmClient: what each call answers.
class FakeClient : public SlurmClient {
 public:
  Result<std::string> Submit(const SbatchRequest& request) override {
    submitted.push_back(request);
    if (submit_error) return tl::unexpected(*submit_error);
    return std::to_string(next_id++);
  }
  Result<std::map<std::string, SlurmJobStatus>> Query(const std::vector<std::string>& ids) override {
    queried = ids;
    if (query_error) return tl::unexpected(*query_error);
    return statuses;
  }
  Result<void> Cancel(const std::string& id, bool) override {
    cancelled.push_back(id);
    return {};
  }
  Result<std::vector<SlurmNode>> Nodes() override { return nodes; }
  Result<void> Check() override {
    if (check_error) return tl::unexpected(*check_error);
    return {};
  }
  Result<std::string> FindByComment(const std::string& comment) override {
    searched.push_back(comment);
    auto it = comments.find(comment);
    return it == comments.end() ? std::string() : it->second;
  }

  std::map<std::string, std::string> comments;  // comment → Slurm id
  std::vector<std::string> searched;
  int next_id = 500;
  std::optional<Error> submit_error, query_error, check_error;
  std::vector<SbatchRequest> submitted;
  std::vector<std::string> queried, cancelled;
  std::map<std::string, SlurmJobStatus> statuses;
  std::vector<SlurmNode> nodes;
};

SlurmJobStatus Status(const std::string& id, const std::string& state, const std::string& nodelist = "",
                      ExitStatus exit = {}, const std::string& reason = "") {
  SlurmJobStatus s;
  s.slurm_id = id;
  s.slurm_state = state;
  s.state = *MapSlurmState(state);
  s.nodelist = nodelist;
  s.exit = exit;
  s.reason = reason;
  return s;
}

model::Job Job(model::JobId id) {
  model::Job job;
  job.id = id;
  job.spec.script = "#!/bin/sh\ntrue\n";
  return job;
}

class SlurmPoolTest : public ::testing::Test {
 protected:
  SlurmPoolTest() {
    auto client = std::make_unique<FakeClient>();
    fake_ = client.get();
    SlurmPoolConfig config;
    config.pool = "hpc";
    config.partition = "gpu";
    pool_ = std::make_unique<SlurmPool>(config, std::move(client));
  }
  FakeClient* fake_;
  std::unique_ptr<SlurmPool> pool_;
};

TEST_F(SlurmPoolTest, SubmitTranslatesAndTracks) {
  auto id = pool_->Submit(Job(7));
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "500");
  EXPECT_EQ(pool_->SlurmId(7), "500");
  ASSERT_EQ(fake_->submitted.size(), 1u);
  EXPECT_NE(std::find(fake_->submitted[0].args.begin(), fake_->submitted[0].args.end(), "--partition=gpu"),
            fake_->submitted[0].args.end());
}

TEST_F(SlurmPoolTest, PollReportsChangesOnceAndForgetsFinalJobs) {
  ASSERT_TRUE(pool_->Submit(Job(7)));
  fake_->statuses["500"] = Status("500", "PENDING", "", {}, "Resources");
  auto u = pool_->Poll();
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].state, JobState::kPending);
  EXPECT_EQ((*u)[0].reason, "Slurm job 500: PENDING (Resources)");
  EXPECT_TRUE(pool_->Poll()->empty()) << "no change, no update";

  fake_->statuses["500"] = Status("500", "RUNNING", "n[1-2]");
  u = pool_->Poll();
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].state, JobState::kRunning);
  EXPECT_EQ((*u)[0].nodes, (std::vector<std::string>{"n1", "n2"}));

  fake_->statuses["500"] = Status("500", "FAILED", "n[1-2]", {3, 0}, "NonZeroExitCode");
  u = pool_->Poll();
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].job, 7);
  EXPECT_EQ((*u)[0].state, JobState::kFailed);
  EXPECT_EQ((*u)[0].exit_code, 3);
  EXPECT_EQ(pool_->SlurmId(7), "") << "final jobs are forgotten";
  fake_->queried.clear();
  EXPECT_TRUE(pool_->Poll()->empty());
  EXPECT_TRUE(fake_->queried.empty()) << "nothing tracked, nothing asked";
}

TEST_F(SlurmPoolTest, AJobSlurmForgotIsFailedAfterSomePolls) {
  pool_->Adopt(9, "42");
  for (int i = 1; i < SlurmPool::kMissingPolls; ++i) EXPECT_TRUE(pool_->Poll()->empty());
  auto u = pool_->Poll();
  ASSERT_EQ(u->size(), 1u);
  EXPECT_EQ((*u)[0].state, JobState::kFailed);
  EXPECT_EQ((*u)[0].reason, "Slurm job 42 is no longer known to Slurm (squeue and sacct)");
}

TEST_F(SlurmPoolTest, PoolLevelErrorsMarkThePoolUnavailableUntilSlurmAnswers) {
  fake_->submit_error =
      Error{ErrorCode::kFailedPrecondition, "Slurm rejected partition 'gpu' of pool hpc: x"};
  EXPECT_FALSE(pool_->Submit(Job(1)));
  EXPECT_FALSE(pool_->available());
  EXPECT_EQ(pool_->unavailable_reason(), "Slurm rejected partition 'gpu' of pool hpc: x");
  fake_->submit_error = Error{ErrorCode::kInvalidArgument, "this job is too big"};
  fake_->check_error.reset();
  ASSERT_TRUE(pool_->RefreshNodes());
  EXPECT_TRUE(pool_->available());
  EXPECT_FALSE(pool_->Submit(Job(2)));
  EXPECT_TRUE(pool_->available()) << "one job's refusal says nothing about the pool";
  fake_->check_error = Error{ErrorCode::kUnavailable, "Slurm controller unreachable: munge"};
  EXPECT_FALSE(pool_->RefreshNodes());
  EXPECT_EQ(pool_->unavailable_reason(), "Slurm controller unreachable: munge");
}

TEST_F(SlurmPoolTest, NodesAreThePoolsAndCancelNeedsATrackedJob) {
  SlurmNode n;
  n.name = "n1";
  n.cpus = 4;
  n.state = "idle";
  fake_->nodes = {n};
  auto nodes = pool_->RefreshNodes();
  ASSERT_TRUE(nodes);
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].pool, "hpc");
  EXPECT_EQ(pool_->Cancel(3).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(pool_->Submit(Job(3)));
  EXPECT_TRUE(pool_->Cancel(3));
  EXPECT_EQ(fake_->cancelled, (std::vector<std::string>{"500"}));
}

// After a restart, a submission whose id was never recorded is found by its comment and
// tracked; none found answers "" (the caller may submit), and nothing is submitted here.
TEST(SlurmPool, FindLooksTheAttemptUpByItsCommentAndTracksIt) {
  auto client = std::make_unique<FakeClient>();
  FakeClient* fake = client.get();
  fake->comments["weft-job=7,attempt=1"] = "612";
  SlurmPoolConfig config;
  config.pool = "hpc";
  SlurmPool pool(config, std::move(client));

  auto found = pool.Find(7, 1);
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(*found, "612");
  EXPECT_EQ(pool.SlurmId(7), "612");
  auto none = pool.Find(8, 0);
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, "");
  EXPECT_EQ(pool.SlurmId(8), "");
  EXPECT_EQ(fake->searched, (std::vector<std::string>{"weft-job=7,attempt=1", "weft-job=8,attempt=0"}));
  EXPECT_TRUE(fake->submitted.empty());

  fake->statuses["612"] = Status("612", "RUNNING", "n1");
  auto updates = pool.Poll();
  ASSERT_TRUE(updates);
  ASSERT_EQ(updates->size(), 1u);
  EXPECT_EQ((*updates)[0].job, 7);
  EXPECT_EQ((*updates)[0].state, JobState::kRunning);
}

}  // namespace
}  // namespace weft::backend
