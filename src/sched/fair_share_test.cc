#include "sched/fair_share.h"

#include <gtest/gtest.h>

namespace weft::sched {
namespace {

using namespace std::chrono_literals;

model::QueueConfig Queue(std::string name, double weight) {
  model::QueueConfig q;
  q.name = std::move(name);
  q.weight = weight;
  return q;
}

TEST(UsageLedgerTest, UsageAccruesWhileRunningAndHalvesEveryHalfLife) {
  UsageLedger ledger(1h);
  const TimePoint t0{};
  ledger.Advance(t0, {});
  ledger.Advance(t0 + 10s, {{"a", {2000, 0, 0}}});  // 2 CPUs for 10 s ≈ 20 CPU-seconds

  EXPECT_NEAR(ledger.Usage("a"), 20.0, 0.05);  // decays a little while it accrues

  ledger.Advance(t0 + 10s + 1h, {});
  EXPECT_NEAR(ledger.Usage("a"), 10.0, 0.05);
  EXPECT_EQ(ledger.Usage("nobody"), 0.0);
}

// A restarted controller rebuilds usage from job records: the same as having watched it.
TEST(UsageLedgerTest, PastIntervalsMatchWhatAdvanceAccrued) {
  const TimePoint t0{};
  UsageLedger watched(1h);
  watched.Advance(t0, {});
  watched.Advance(t0 + 30min, {{"a", {0, 0, 2}}});
  watched.Advance(t0 + 2h, {});

  UsageLedger rebuilt(1h);
  rebuilt.Advance(t0 + 2h, {});
  rebuilt.AddPast("a", {0, 0, 2}, t0, t0 + 30min);
  rebuilt.AddPast("a", {0, 0, 2}, t0 + 3h, t0 + 4h);  // after the clock: nothing

  EXPECT_NEAR(rebuilt.Usage("a"), watched.Usage("a"), 1e-6 * watched.Usage("a"));
  EXPECT_GT(rebuilt.Usage("a"), 0.0);
}

TEST(UsageLedgerTest, GpuSecondsOutweighCpuSeconds) {
  EXPECT_EQ(BillingRate({1000, 0, 1}), 101.0);
}

TEST(FairShareTest, FactorFollowsUsageAgainstWeight) {
  const std::vector<model::QueueConfig> queues = {Queue("a", 2), Queue("b", 1)};
  UsageLedger ledger(7 * 24h);
  ledger.Advance(TimePoint{}, {});
  EXPECT_EQ(FairShareFactor("a", queues, ledger), 1.0);  // nothing used yet

  // a used 2/3 of everything with 2/3 of the weight: exactly its share → 0.5.
  ledger.Advance(TimePoint{} + 100s, {{"a", {2000, 0, 0}}, {"b", {1000, 0, 0}}});

  EXPECT_NEAR(FairShareFactor("a", queues, ledger), 0.5, 1e-6);
  EXPECT_NEAR(FairShareFactor("b", queues, ledger), 0.5, 1e-6);

  ledger.Advance(TimePoint{} + 200s, {{"b", {8000, 0, 0}}});  // b now over-uses
  EXPECT_GT(FairShareFactor("a", queues, ledger), FairShareFactor("b", queues, ledger));
}

TEST(PriorityTest, CombinesFairShareAgeAndJobPriority) {
  const PriorityWeights weights;
  const TimePoint now = TimePoint{} + 7 * 24h;

  const PriorityFactors fresh = ComputePriority(now, 0, 1.0, std::nullopt, now, weights);
  const PriorityFactors old = ComputePriority(TimePoint{}, 0, 1.0, std::nullopt, now, weights);
  const PriorityFactors boosted = ComputePriority(now, 50, 0.5, std::nullopt, now, weights);

  EXPECT_EQ(fresh.total, 10000);
  EXPECT_EQ(old.total, 11000);
  EXPECT_DOUBLE_EQ(old.age, 1.0);
  EXPECT_EQ(boosted.total, 5050);
}

// Shorter time limits rank higher; no limit or one past the horizon scores nothing; a job
// that waited max_age outranks a new job with the shortest limit (no unbounded wait).
TEST(PriorityTest, ShortTimeLimitsRankHigherButAgeWins) {
  const PriorityWeights weights;  // short_job = age = 1000, max_age 7 days, short_horizon 2 days
  const TimePoint now = TimePoint{} + 30 * 24h;

  const PriorityFactors hour = ComputePriority(now, 0, 1.0, 1h, now, weights);
  const PriorityFactors day = ComputePriority(now, 0, 1.0, 24h, now, weights);
  const PriorityFactors month = ComputePriority(now, 0, 1.0, 30 * 24h, now, weights);
  const PriorityFactors none = ComputePriority(now, 0, 1.0, std::nullopt, now, weights);
  const PriorityFactors old_month = ComputePriority(now - 7 * 24h, 0, 1.0, 30 * 24h, now, weights);

  EXPECT_GT(hour.total, day.total);
  EXPECT_GT(day.total, month.total);
  EXPECT_DOUBLE_EQ(month.short_job, 0.0);
  EXPECT_EQ(none.total, month.total);
  EXPECT_NEAR(hour.short_job, 1.0 - 1.0 / 48, 1e-12);
  EXPECT_NEAR(day.short_job, 0.5, 1e-12);
  EXPECT_GE(old_month.total, ComputePriority(now, 0, 1.0, 1s, now, weights).total);
}

}  // namespace
}  // namespace weft::sched
