#include "sim/report.h"

#include <gtest/gtest.h>

namespace weft::sim {
namespace {

JobOutcome Outcome(std::int64_t id, std::string queue, int gpus, double submit, double start, double end,
                   double run = -1) {
  JobOutcome o;
  o.id = id;
  o.queue = std::move(queue);
  o.num_gpus = gpus;
  o.submit_s = submit;
  o.first_start_s = start;
  o.end_s = end;
  o.run_s = run;
  return o;
}

// Four jobs on 2 nodes x 4 GPUs, every figure computed by hand:
//   JCT [10, 25, 30, 10], waits [0, 5, 20, 0], GPU-seconds 20 + 80 + 80 + 4 (job 4 ran 4 s of
//   its 10 s span: run_s wins) = 184 over 8 GPUs x 40 s.
std::vector<JobOutcome> Jobs() {
  return {Outcome(1, "a", 2, 0, 0, 10), Outcome(2, "a", 4, 0, 5, 25), Outcome(3, "b", 8, 10, 30, 40),
          Outcome(4, "", 1, 20, 20, 30, 4)};
}

ReportOptions Options() {
  ReportOptions options;
  options.policy = "easy";
  options.trace = "t";
  options.nodes = 2;
  options.gpus_per_node = 4;
  options.weights = {{"a", 2}};
  return options;
}

TEST(ReportTest, FiguresMatchHandComputedValues) {
  const Report r = Summarize(Jobs(), Options());
  EXPECT_EQ(r.jobs, 4);
  EXPECT_DOUBLE_EQ(r.avg_jct_s, 18.75);
  EXPECT_DOUBLE_EQ(r.median_jct_s, 25);  // sorted [10,10,25,30][int(0.5*4)]
  EXPECT_DOUBLE_EQ(r.p99_jct_s, 30);     // [int(0.99*4) = 3]
  EXPECT_DOUBLE_EQ(r.max_jct_s, 30);
  EXPECT_DOUBLE_EQ(r.avg_queueing_s, 6.25);
  EXPECT_DOUBLE_EQ(r.median_queueing_s, 5);
  EXPECT_DOUBLE_EQ(r.p99_queueing_s, 20);
  EXPECT_DOUBLE_EQ(r.max_queueing_s, 20);
  EXPECT_DOUBLE_EQ(r.makespan_s, 40);
  EXPECT_DOUBLE_EQ(r.gpu_utilization, 184.0 / 320.0);
  ASSERT_EQ(r.queues.size(), 3u);
  EXPECT_EQ(r.queues[0].name, "a");
  EXPECT_EQ(r.queues[0].jobs, 2);
  EXPECT_DOUBLE_EQ(r.queues[0].gpu_hours, 100.0 / 3600);
  EXPECT_DOUBLE_EQ(r.queues[0].share, 100.0 / 184);
  EXPECT_DOUBLE_EQ(r.queues[0].weight_share, 0.5);  // weights a=2, b=1, default=1
  EXPECT_DOUBLE_EQ(r.queues[0].avg_jct_s, 17.5);
  EXPECT_DOUBLE_EQ(r.queues[0].avg_queueing_s, 2.5);
  EXPECT_EQ(r.queues[2].name, "default");  // the trace's "" queue
  EXPECT_DOUBLE_EQ(r.queues[2].share, 4.0 / 184);
  EXPECT_DOUBLE_EQ(r.queues[2].weight_share, 0.25);
  EXPECT_TRUE(r.share_over_time.empty());
}

TEST(ReportTest, PercentileFollowsTheMuriRule) {
  EXPECT_DOUBLE_EQ(Percentile({}, 0.99), 0);
  EXPECT_DOUBLE_EQ(Percentile({3, 1, 2}, 0.99), 3);  // int(2.97) = 2
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);
  EXPECT_DOUBLE_EQ(Percentile(hundred, 0.99), 100);  // index 99
  EXPECT_DOUBLE_EQ(Percentile(hundred, 0.5), 51);    // index 50
}

TEST(ReportTest, SharesOverTimeSplitRunTimeAcrossIntervals) {
  ReportOptions options = Options();
  options.share_interval_s = 20;
  const Report r = Summarize(Jobs(), options);
  ASSERT_EQ(r.share_over_time.size(), 2u);
  // [0,20): job 1 20 GPU-s, job 2 15 s x 4 = 60: all queue a.
  EXPECT_DOUBLE_EQ(r.share_over_time[0].gpu_hours, 80.0 / 3600);
  EXPECT_DOUBLE_EQ(r.share_over_time[0].share.at("a"), 1);
  EXPECT_DOUBLE_EQ(r.share_over_time[0].share.at("b"), 0);
  // [20,40): job 2 20, job 3 80, job 4 10 s x 1 x 0.4 = 4.
  EXPECT_DOUBLE_EQ(r.share_over_time[1].share.at("a"), 20.0 / 104);
  EXPECT_DOUBLE_EQ(r.share_over_time[1].share.at("b"), 80.0 / 104);
  EXPECT_DOUBLE_EQ(r.share_over_time[1].share.at("default"), 4.0 / 104);
}

TEST(ReportTest, JsonHasStableFieldsAndFixedDecimals) {
  ReportOptions options = Options();
  options.share_interval_s = 20;
  EXPECT_EQ(FormatJson(Summarize(Jobs(), options)),
            "{\"trace\":\"t\",\"policy\":\"easy\",\"nodes\":2,\"gpus_per_node\":4,\"jobs\":4,"
            "\"avg_jct_s\":18.750,\"median_jct_s\":25.000,\"p99_jct_s\":30.000,\"max_jct_s\":30.000,"
            "\"avg_queueing_s\":6.250,\"median_queueing_s\":5.000,\"p99_queueing_s\":20.000,"
            "\"max_queueing_s\":20.000,\"makespan_s\":40.000,\"gpu_utilization\":0.575000,\"queues\":["
            "{\"name\":\"a\",\"jobs\":2,\"gpu_hours\":0.028,\"share\":0.543478,\"weight\":2.000000,"
            "\"weight_share\":0.500000,\"avg_jct_s\":17.500,\"avg_queueing_s\":2.500},"
            "{\"name\":\"b\",\"jobs\":1,\"gpu_hours\":0.022,\"share\":0.434783,\"weight\":1.000000,"
            "\"weight_share\":0.250000,\"avg_jct_s\":30.000,\"avg_queueing_s\":20.000},"
            "{\"name\":\"default\",\"jobs\":1,\"gpu_hours\":0.001,\"share\":0.021739,\"weight\":1.000000,"
            "\"weight_share\":0.250000,\"avg_jct_s\":10.000,\"avg_queueing_s\":0.000}],"
            "\"share_over_time\":[{\"start_s\":0.000,\"gpu_hours\":0.022,\"shares\":{\"a\":1.000000,"
            "\"b\":0.000000,\"default\":0.000000}},{\"start_s\":20.000,\"gpu_hours\":0.029,\"shares\":{"
            "\"a\":0.192308,\"b\":0.769231,\"default\":0.038462}}]}\n");
}

TEST(ReportTest, TextTableShowsTheHeadlineFigures) {
  const std::string text = FormatText(Summarize(Jobs(), Options()));
  EXPECT_NE(text.find("policy              easy\n"), std::string::npos) << text;
  EXPECT_NE(text.find("18.750"), std::string::npos) << text;
  EXPECT_NE(text.find("GPU utilization     0.5750\n"), std::string::npos) << text;
  EXPECT_EQ(text, FormatText(Summarize(Jobs(), Options())));
}

}  // namespace
}  // namespace weft::sim
