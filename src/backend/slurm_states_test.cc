#include "backend/slurm_states.h"

#include <gtest/gtest.h>

namespace weft::backend {
namespace {

using model::JobState;

TEST(SlurmStates, EveryLongStateMapsToWeft) {
  const std::vector<std::pair<std::string, JobState>> cases = {
      {"PENDING", JobState::kPending},     {"CONFIGURING", JobState::kPending},
      {"REQUEUED", JobState::kPending},    {"REQUEUE_HOLD", JobState::kPending},
      {"RUNNING", JobState::kRunning},     {"COMPLETING", JobState::kRunning},
      {"SUSPENDED", JobState::kRunning},   {"RESIZING", JobState::kRunning},
      {"COMPLETED", JobState::kCompleted}, {"FAILED", JobState::kFailed},
      {"SPECIAL_EXIT", JobState::kFailed}, {"TIMEOUT", JobState::kTimeout},
      {"DEADLINE", JobState::kTimeout},    {"CANCELLED", JobState::kCancelled},
      {"REVOKED", JobState::kCancelled},   {"OUT_OF_MEMORY", JobState::kOomKilled},
      {"NODE_FAIL", JobState::kNodeFail},  {"BOOT_FAIL", JobState::kNodeFail},
      {"PREEMPTED", JobState::kPreempted},
  };
  for (const auto& [text, state] : cases) {
    const auto mapped = MapSlurmState(text);
    ASSERT_TRUE(mapped.has_value()) << text;
    EXPECT_EQ(*mapped, state) << text;
    EXPECT_EQ(CanonicalSlurmState(text), text);
  }
}

TEST(SlurmStates, CompactCodesFromSqueuePercentT) {
  EXPECT_EQ(MapSlurmState("PD"), JobState::kPending);
  EXPECT_EQ(MapSlurmState("R"), JobState::kRunning);
  EXPECT_EQ(MapSlurmState("CG"), JobState::kRunning);
  EXPECT_EQ(MapSlurmState("CD"), JobState::kCompleted);
  EXPECT_EQ(MapSlurmState("F"), JobState::kFailed);
  EXPECT_EQ(MapSlurmState("TO"), JobState::kTimeout);
  EXPECT_EQ(MapSlurmState("CA"), JobState::kCancelled);
  EXPECT_EQ(MapSlurmState("OOM"), JobState::kOomKilled);
  EXPECT_EQ(MapSlurmState("NF"), JobState::kNodeFail);
  EXPECT_EQ(MapSlurmState("PR"), JobState::kPreempted);
  EXPECT_EQ(MapSlurmState("BF"), JobState::kNodeFail);
  EXPECT_EQ(CanonicalSlurmState("CA"), "CANCELLED");
}

TEST(SlurmStates, SacctDecorationsAreIgnored) {
  EXPECT_EQ(MapSlurmState("CANCELLED by 0"), JobState::kCancelled);
  EXPECT_EQ(MapSlurmState("CANCELLED by 1000"), JobState::kCancelled);
  EXPECT_EQ(CanonicalSlurmState("CANCELLED by 0"), "CANCELLED");
  EXPECT_EQ(MapSlurmState("OUT_OF_ME+"), std::nullopt);  // truncated beyond recognition
  EXPECT_EQ(MapSlurmState("CANCELLED+"), JobState::kCancelled);
  EXPECT_EQ(MapSlurmState(" completed \n"), JobState::kCompleted);
}

TEST(SlurmStates, UnknownTextIsNotAState) {
  EXPECT_EQ(MapSlurmState(""), std::nullopt);
  EXPECT_EQ(MapSlurmState("EXPLODED"), std::nullopt);
  EXPECT_EQ(CanonicalSlurmState("EXPLODED"), "");
}

TEST(SlurmStates, SacctExitCodes) {
  EXPECT_EQ(ParseSacctExitCode("0:0"), (ExitStatus{0, 0}));
  EXPECT_EQ(ParseSacctExitCode("3:0"), (ExitStatus{3, 0}));
  EXPECT_EQ(ParseSacctExitCode("0:9"), (ExitStatus{137, 9}));    // killed by SIGKILL
  EXPECT_EQ(ParseSacctExitCode("0:15"), (ExitStatus{143, 15}));  // TIMEOUT / scancel
  EXPECT_EQ(ParseSacctExitCode("1:15"), (ExitStatus{1, 15}));
  EXPECT_EQ(ParseSacctExitCode("3"), std::nullopt);
  EXPECT_EQ(ParseSacctExitCode("a:b"), std::nullopt);
  EXPECT_EQ(ParseSacctExitCode("300:0"), std::nullopt);
}

TEST(SlurmStates, SqueueWaitStatus) {
  EXPECT_EQ(FromWaitStatus(0), (ExitStatus{0, 0}));
  EXPECT_EQ(FromWaitStatus(768), (ExitStatus{3, 0}));  // exit 3
  EXPECT_EQ(FromWaitStatus(15), (ExitStatus{143, 15}));
  EXPECT_EQ(FromWaitStatus(9), (ExitStatus{137, 9}));
  EXPECT_EQ(FromWaitStatus(-1), (ExitStatus{0, 0}));
}

TEST(SlurmStates, FinalFollowsWeftsLifecycle) {
  SlurmJobStatus s;
  s.state = JobState::kRunning;
  EXPECT_FALSE(s.final());
  s.state = JobState::kTimeout;
  EXPECT_TRUE(s.final());
}

}  // namespace
}  // namespace weft::backend
