#include "spec/cluster_config.h"

#include <gtest/gtest.h>

namespace weft::spec {
namespace {

TEST(ClusterConfigTest, ParsesTheDocumentedExample) {
  auto config = ParseClusterConfig(R"(
queues:
  - name: team-a
    quota: {gpus: 16, cpus: 256, memory: 2T}
    weight: 2
    cohort: research
    borrow_limit: {gpus: 8}
    default_time: 4h
  - name: team-b
    quota: {gpus: 8}
    cohort: research
scheduler:
  backfill: easy
  fair_share_half_life: 7d
  preemption_grace: 30s
  priority_weights: {fair_share: 5000, age: 2000, short_job: 0, max_age: 14d}
)");

  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->queues.size(), 2u);
  const model::QueueConfig& a = config->queues[0];
  EXPECT_EQ(a.quota.gpus, 16);
  EXPECT_EQ(a.quota.cpu_milli, 256000);
  EXPECT_EQ(a.quota.memory_bytes, 2LL << 40);
  EXPECT_EQ(a.weight, 2.0);
  EXPECT_EQ(a.cohort, "research");
  EXPECT_EQ(a.borrow_limit.gpus, 8);
  EXPECT_FALSE(a.borrow_limit.cpu_milli.has_value());
  EXPECT_EQ(a.default_time, std::chrono::hours(4));
  EXPECT_FALSE(config->queues[1].quota.cpu_milli.has_value());
  EXPECT_EQ(config->scheduler.backfill, model::BackfillMode::kEasy);
  EXPECT_EQ(config->scheduler.fair_share_half_life, std::chrono::hours(24 * 7));
  EXPECT_EQ(config->scheduler.preemption_grace, std::chrono::seconds(30));
  EXPECT_EQ(config->scheduler.priority.fair_share, 5000);
  EXPECT_EQ(config->scheduler.priority.age, 2000);
  EXPECT_EQ(config->scheduler.priority.short_job, 0);
  EXPECT_EQ(config->scheduler.priority.max_age, std::chrono::hours(24 * 14));
  EXPECT_EQ(config->scheduler.priority.short_horizon, std::chrono::hours(48));
}

TEST(ClusterConfigTest, EmptyConfigHasOneDefaultQueueWithoutQuota) {
  auto config = ParseClusterConfig("");
  ASSERT_TRUE(config.has_value());
  ASSERT_EQ(config->queues.size(), 1u);
  EXPECT_EQ(config->queues[0].name, "default");
  EXPECT_TRUE(config->queues[0].quota.Unlimited());
}

TEST(ClusterConfigTest, PoolsWithTheirBackendsInOrder) {
  auto config = ParseClusterConfig(
      "pools:\n"
      "  - {name: onprem, backend: agents, burst: true}\n"
      "  - {name: hpc, backend: slurm, slurm: {partition: gpu, account: ml, bin_dir: /usr/bin}}\n");
  ASSERT_TRUE(config.has_value()) << config.error().message;
  ASSERT_EQ(config->pools.size(), 2u);
  EXPECT_EQ(config->pools[0].name, "onprem");
  EXPECT_EQ(config->pools[0].backend, "agents");
  EXPECT_TRUE(config->pools[0].burst);
  EXPECT_EQ(config->pools[1].backend, "slurm");
  EXPECT_FALSE(config->pools[1].burst);
  EXPECT_EQ(config->pools[1].slurm, (std::map<std::string, std::string>{
                                        {"partition", "gpu"}, {"account", "ml"}, {"bin_dir", "/usr/bin"}}));
  EXPECT_EQ(config->FindPool("hpc"), &config->pools[1]);
  EXPECT_EQ(config->FindPool("nope"), nullptr);
}

TEST(ClusterConfigTest, ErrorsNameTheKeyAndTheProblem) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"queues:\n  - name: a\n    quota: {gpus: lots}\n", "queues[0].quota.gpus"},
      {"queues:\n  - name: a\n    quota: {disks: 1}\n", "queues[0].quota.disks: unknown resource"},
      {"queues:\n  - quota: {gpus: 1}\n", "queues[0].name"},
      {"queues:\n  - name: a\n  - name: a\n", "queues[1].name: 'a' is defined twice"},
      {"scheduler: {backfill: greedy}\n", "scheduler.backfill: 'greedy' is not one of none, easy, conservative"},
      {"scheduler: {priority_weights: {age: -1}}\n", "scheduler.priority_weights.age: '-1' is not a number"},
      {"scheduler: {priority_weights: {size: 1}}\n", "scheduler.priority_weights.size: unknown key"},
      {"schedular: {}\n", "schedular: unknown key"},
      {"queues: [unclosed\n", "line "},
      {"queues:\n  - name: a\n    weight: -1\n", "queues[0].weight: '-1' is not a positive number"},
      {"pools: [{name: a, backend: k8s}]\n", "pools[0].backend: 'k8s' is not one of agents, slurm"},
      {"pools: [{backend: slurm}]\n", "pools[0].name: a pool needs a name"},
      {"pools: [{name: a}, {name: a}]\n", "pools[1].name: 'a' is defined twice"},
      {"pools: [{name: a, slurm: {partition: p}}]\n", "pools[0].slurm: only a pool with backend: slurm"},
      {"pools: [{name: a, backend: slurm, burst: true}]\n", "pools[0].burst: only an agents pool"},
      {"pools: [{name: a, size: 3}]\n", "pools[0].size: unknown key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    auto config = ParseClusterConfig(c.yaml);
    ASSERT_FALSE(config.has_value());
    EXPECT_NE(config.error().message.find(c.expected), std::string::npos) << config.error().message;
  }
}

}  // namespace
}  // namespace weft::spec
