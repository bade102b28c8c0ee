#include "agent/task_journal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>

#include "agent/agent_test_util.h"

namespace weft::agent {
namespace {

using model::TaskKey;
using testing::TempDir;
using testing::WaitUntil;

model::TaskReport Exit(int job_id, int code) {
  model::TaskReport report;
  report.key = TaskKey{job_id, 0, 0};
  report.phase = model::TaskPhase::kExited;
  report.start_time = FromUnixMicros(1000);
  report.end_time = FromUnixMicros(2000);
  report.exit = model::TaskExit{.exit_code = code};
  return report;
}

RunningTaskRecord Start(int job_id) {
  RunningTaskRecord r;
  r.key = TaskKey{job_id, 0, 0};
  r.pid = 1000 + job_id;
  r.start_ticks = 77;
  r.start_time = FromUnixMicros(1000);
  r.time_limit = std::chrono::seconds(60);
  r.marker = "node/" + std::to_string(job_id) + ".0";
  return r;
}

class TaskJournalTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/journal"; }
  TempDir dir_;
};

TEST_F(TaskJournalTest, RecoversWhatWasNotAcknowledged) {
  std::mutex mu;
  std::set<int> durable;
  {
    TaskJournal journal(Path());
    auto empty = journal.Open([&](std::vector<TaskKey> keys) {
      std::lock_guard lock(mu);
      for (const TaskKey& key : keys) durable.insert(static_cast<int>(key.job_id));
    });
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->running.empty() && empty->exits.empty() && empty->tombstones.empty());
    for (int i = 1; i <= 5; ++i) journal.RecordStart(Start(i));
    journal.RecordExit(Exit(1, 1));
    journal.RecordExit(Exit(2, 2));
    journal.RecordExit(Exit(3, 3));
    ASSERT_TRUE(WaitUntil([&] {
      std::lock_guard lock(mu);
      return durable == std::set<int>{1, 2, 3};
    }));
    journal.RecordAck(TaskKey{2, 0, 0}, 40);  // tombstone
    journal.RecordAck(TaskKey{3, 0, 0}, 41);
    journal.RecordForget(TaskKey{3, 0, 0});
  }
  std::ofstream(Path(), std::ios::app) << "{\"exit\": {\"key\": {\"job_";  // torn by a crash

  TaskJournal reopened(Path());
  auto recovered = reopened.Open([](std::vector<TaskKey>) {});
  ASSERT_TRUE(recovered);
  ASSERT_EQ(recovered->exits.size(), 1u);
  EXPECT_EQ(recovered->exits[0].key.job_id, 1);
  EXPECT_EQ(recovered->exits[0].exit->exit_code, 1);
  EXPECT_EQ(recovered->exits[0].end_time, FromUnixMicros(2000));
  ASSERT_EQ(recovered->running.size(), 2u);
  const RunningTaskRecord& r = recovered->running[0];
  EXPECT_EQ(r.key.job_id, 4);
  EXPECT_EQ(r.pid, 1004);
  EXPECT_EQ(r.start_ticks, 77u);
  EXPECT_EQ(r.start_time, FromUnixMicros(1000));
  EXPECT_EQ(r.time_limit, Duration(std::chrono::seconds(60)));
  EXPECT_EQ(r.marker, "node/4.0");
  EXPECT_EQ(recovered->running[1].key.job_id, 5);
  EXPECT_EQ(recovered->tombstones, (std::map<TaskKey, std::int64_t>{{TaskKey{2, 0, 0}, 40}}));
  // Rewritten compactly: start 4, start 5, exit 1, ack 2.
  EXPECT_EQ(testing::Lines(testing::ReadFile(Path())).size(), 4u);
}

TEST_F(TaskJournalTest, EmptiesOnceNothingIsLive) {
  std::atomic<bool> synced{false};
  TaskJournal journal(Path());
  ASSERT_TRUE(journal.Open([&](std::vector<TaskKey>) { synced = true; }));
  journal.RecordStart(Start(1));
  journal.RecordAck(TaskKey{1, 0, 0}, 3);
  journal.RecordForget(TaskKey{1, 0, 0});
  journal.RecordExit(Exit(2, 0));
  ASSERT_TRUE(WaitUntil([&] { return synced.load(); }));
  journal.RecordAck(TaskKey{2, 0, 0}, 4);
  journal.RecordForget(TaskKey{2, 0, 0});
  journal.RecordExit(Exit(3, 0));  // a sync after which nothing but 3 is live
  journal.RecordAck(TaskKey{3, 0, 0}, 5);
  journal.RecordForget(TaskKey{3, 0, 0});
  journal.Close();
  EXPECT_EQ(testing::ReadFile(Path()), "");
}

}  // namespace
}  // namespace weft::agent
