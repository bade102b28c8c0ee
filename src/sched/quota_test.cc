#include "sched/quota.h"

#include <gtest/gtest.h>

namespace weft::sched {
namespace {

model::QueueConfig Queue(std::string name, std::optional<std::int64_t> gpus, std::string cohort = "",
                         std::optional<std::int64_t> borrow_gpus = std::nullopt) {
  model::QueueConfig q;
  q.name = std::move(name);
  q.quota.gpus = gpus;
  q.cohort = std::move(cohort);
  q.borrow_limit.gpus = borrow_gpus;
  return q;
}

model::Resources Gpus(std::int64_t n) { return {0, 0, n}; }

TEST(QuotaLedgerTest, WithinNominalQuotaIsAdmittedAndBeyondIsNotWithoutACohort) {
  QuotaLedger ledger({Queue("a", 8)}, {{"a", Gpus(6)}});

  EXPECT_TRUE(ledger.Admits("a", Gpus(2)));
  EXPECT_FALSE(ledger.Admits("a", Gpus(3)));
  EXPECT_TRUE(ledger.Admits("unconfigured", Gpus(1000)));
}

TEST(QuotaLedgerTest, BorrowsIdleCohortQuotaUpToTheBorrowLimit) {
  QuotaLedger ledger({Queue("a", 16, "research", 8), Queue("b", 8, "research")}, {{"a", Gpus(16)}});

  EXPECT_TRUE(ledger.Admits("a", Gpus(8)));    // b's 8 idle GPUs, within a's borrow limit
  EXPECT_FALSE(ledger.Admits("a", Gpus(9)));   // past the borrow limit
  ledger.Charge("a", Gpus(8));
  EXPECT_EQ(ledger.Borrowed("a").gpus, 8);
  // b is always entitled to its nominal quota, lent or not: admitting it is what makes the
  // lender reclaim (preempt) the borrowed work.
  EXPECT_TRUE(ledger.Admits("b", Gpus(8)));
  EXPECT_FALSE(ledger.Admits("b", Gpus(9)));
}

TEST(QuotaLedgerTest, CannotBorrowWhatTheCohortIsUsing) {
  QuotaLedger ledger({Queue("a", 4, "c"), Queue("b", 4, "c")}, {{"a", Gpus(4)}, {"b", Gpus(3)}});

  EXPECT_TRUE(ledger.Admits("a", Gpus(1)));
  EXPECT_FALSE(ledger.Admits("a", Gpus(2)));
}

TEST(QuotaLedgerTest, ResourcesWithoutQuotaAreUnlimited) {
  QuotaLedger ledger({Queue("a", 1)}, {});

  EXPECT_TRUE(ledger.Admits("a", {64000, 1LL << 40, 1}));
  EXPECT_FALSE(ledger.Admits("a", {1000, 0, 2}));
}

}  // namespace
}  // namespace weft::sched
