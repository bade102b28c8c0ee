#include "sim/policy.h"

#include <gtest/gtest.h>

namespace weft::sim {
namespace {

TEST(PolicyTest, NamesMapToBackfillModesOrResearchPolicies) {
  EXPECT_EQ(ParsePolicy("easy")->backfill, model::BackfillMode::kEasy);
  EXPECT_EQ(ParsePolicy("conservative")->backfill, model::BackfillMode::kConservative);
  EXPECT_EQ(ParsePolicy("fifo")->backfill, model::BackfillMode::kNone);
  EXPECT_EQ(ParsePolicy("tiresias-l")->research, ResearchPolicy::kTiresiasL);
  EXPECT_FALSE(ParsePolicy("tiresias-l")->backfill);
  EXPECT_FALSE(ParsePolicy("lottery"));
  EXPECT_EQ(PolicyName(model::BackfillMode::kNone), "fifo");
}

TEST(PolicyTest, QueueWeightsReadTheHeliosCsvAndNameBadLines) {
  Result<std::map<std::string, double>> weights = ParseQueueWeights("vc,node num\n6214e9,64\r\n7f04ca,32\n", "w.csv");
  ASSERT_TRUE(weights) << weights.error().message;
  EXPECT_EQ(*weights, (std::map<std::string, double>{{"6214e9", 64}, {"7f04ca", 32}}));
  Result<std::map<std::string, double>> bad = ParseQueueWeights("vc,node num\na,64\nb,lots\n", "w.csv");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "w.csv:3: column 2: 'lots' is not a positive weight");
  Result<std::map<std::string, double>> short_line = ParseQueueWeights("vc,node num\na\n", "w.csv");
  ASSERT_FALSE(short_line);
  EXPECT_EQ(short_line.error().message, "w.csv:2: column 2: expected 2 columns (queue,weight), found 1");
}

TEST(PolicyTest, TraceQueuesAreAddedSortedWithTheirWeights) {
  Trace trace;
  for (const char* q : {"vcb", "vca", "", "vcb"}) {
    TraceJob job;
    job.queue = q;
    trace.jobs.push_back(job);
  }
  model::ClusterConfig config;
  model::QueueConfig existing;
  existing.name = "vcb";
  existing.weight = 3;
  config.queues.push_back(existing);
  AddTraceQueues(trace, {{"vca", 8}}, config);
  ASSERT_EQ(config.queues.size(), 3u);
  EXPECT_EQ(config.queues[0].name, "vcb");
  EXPECT_EQ(config.queues[0].weight, 3);
  EXPECT_EQ(config.queues[1].name, "default");
  EXPECT_EQ(config.queues[2].name, "vca");
  EXPECT_EQ(config.queues[2].weight, 8);
}

}  // namespace
}  // namespace weft::sim
