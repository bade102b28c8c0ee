// Research replay: hand-computed cases per policy (the overhead quirk, SRTF preemption, SRSF's
// different order, yarn fragmentation, Tiresias-L demotion) and the reproduction of the
// published philly-muri numbers (README item 8: within 0.1 %).
#include "sim/research_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim/research_engine.h"

namespace weft::sim {
namespace {

constexpr double kEps = 1e-6;

// A philly-muri job: `iterations` x `iteration_ms` alone, i.e. iterations x iteration_ms x
// 1.015 / 1000 seconds once the slowdown factor is applied.
TraceJob MuriJob(std::int64_t id, double submit_s, int gpus, std::int64_t iterations, double iteration_ms,
                 std::string model = "resnet18") {
  TraceJob j;
  j.id = id;
  j.submit_s = submit_s;
  j.num_gpus = gpus;
  j.iterations = iterations;
  j.iteration_time_ms = iteration_ms;
  j.duration_s = static_cast<double>(iterations) * iteration_ms / 1000;
  j.model = std::move(model);
  return j;
}

std::vector<JobOutcome> Replay(const std::vector<TraceJob>& jobs, ResearchCluster cluster, ResearchPolicy policy) {
  Trace trace;
  trace.name = "hand";
  trace.jobs = jobs;
  auto out = RunResearchReplay(trace, cluster, policy);
  EXPECT_TRUE(out.has_value()) << (out ? "" : out.error().message);
  return out ? *out : std::vector<JobOutcome>{};
}

TEST(ResearchReplay, ParsesPolicyNames) {
  EXPECT_EQ(ParseResearchPolicy("srtf"), ResearchPolicy::kSrtf);
  EXPECT_EQ(ParseResearchPolicy("srsf"), ResearchPolicy::kSrsf);
  EXPECT_EQ(ParseResearchPolicy("tiresias-l"), ResearchPolicy::kTiresiasL);
  EXPECT_FALSE(ParseResearchPolicy("fifo").has_value());
}

TEST(ResearchReplay, OverheadTableFollowsReadme) {
  EXPECT_EQ(research::RestartOverheadS(1, "a2c"), 38);
  EXPECT_EQ(research::RestartOverheadS(16, "vgg19"), 10);
  EXPECT_EQ(research::RestartOverheadS(32, "dqn"), 8);
  EXPECT_EQ(research::RestartOverheadS(8, "unknown-model"), 10);
  EXPECT_EQ(research::RestartOverheadS(3, "resnet18"), 5);    // unlisted size: next larger row (4)
  EXPECT_EQ(research::RestartOverheadS(64, "resnet18"), 7);   // above 32: the 32 row
}

// A job alone runs 1.015 x its duration; a second job's arrival is an event, and at every event
// each running job loses its restart overhead (resnet18 on 1 GPU: 4 s) although nothing was
// preempted. A: 1015 s alone, B arrives at 100: A progresses 96 s there, ends at 1019; B then
// progresses 1019 - 100 - 4 = 915 s at A's end and ends 100 s later, at 1119.
TEST(ResearchReplay, ChargesOverheadAtEveryEventEvenWithoutPreemption) {
  for (ResearchPolicy policy : {ResearchPolicy::kSrtf, ResearchPolicy::kSrsf, ResearchPolicy::kTiresiasL}) {
    auto alone = Replay({MuriJob(1, 0, 1, 1000, 1000)}, {1, 8}, policy);
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_NEAR(alone[0].end_s, 1015, kEps);
    auto out = Replay({MuriJob(1, 0, 1, 1000, 1000), MuriJob(2, 100, 1, 1000, 1000)}, {1, 8}, policy);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_NEAR(out[0].end_s, 1019, kEps);
    EXPECT_NEAR(out[1].first_start_s, 100, kEps);
    EXPECT_NEAR(out[1].end_s, 1119, kEps);
    EXPECT_EQ(out[0].preemptions + out[1].preemptions, 0);
    EXPECT_NEAR(out[0].run_s, 1019, kEps);
  }
}

// One GPU. A (1015 s) runs from 0; B (101.5 s) arrives at 100 when A has 1015 - 96 = 919 s
// left, so B preempts A and ends at 201.5; A resumes and ends at 201.5 + 919 = 1120.5.
TEST(ResearchReplay, SrtfPreemptsForShorterRemainingTime) {
  auto out = Replay({MuriJob(1, 0, 1, 1000, 1000), MuriJob(2, 100, 1, 100, 1000)}, {1, 1}, ResearchPolicy::kSrtf);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[1].first_start_s, 100, kEps);
  EXPECT_NEAR(out[1].end_s, 201.5, kEps);
  EXPECT_NEAR(out[0].end_s, 1120.5, kEps);
  EXPECT_EQ(out[0].preemptions, 1);
  EXPECT_NEAR(out[0].run_s, 100 + 919, kEps);
}

// 8 GPUs. A: 8 GPUs x 101.5 s (812 GPU-s); B: 1 GPU x 152.25 s. SRTF runs A first (shorter
// time) and B after it; SRSF runs B first (less GPU time), and A cannot fit beside it.
TEST(ResearchReplay, SrsfOrdersByRemainingGpuTime) {
  const std::vector<TraceJob> jobs = {MuriJob(1, 0, 8, 100, 1000), MuriJob(2, 0, 1, 150, 1000)};
  auto srtf = Replay(jobs, {1, 8}, ResearchPolicy::kSrtf);
  ASSERT_EQ(srtf.size(), 2u);
  EXPECT_NEAR(srtf[0].end_s, 101.5, kEps);
  EXPECT_NEAR(srtf[1].first_start_s, 101.5, kEps);
  EXPECT_NEAR(srtf[1].end_s, 253.75, kEps);
  auto srsf = Replay(jobs, {1, 8}, ResearchPolicy::kSrsf);
  ASSERT_EQ(srsf.size(), 2u);
  EXPECT_NEAR(srsf[1].end_s, 152.25, kEps);
  EXPECT_NEAR(srsf[0].first_start_s, 152.25, kEps);
  EXPECT_NEAR(srsf[0].end_s, 253.75, kEps);
}

// 2 nodes x 4 GPUs, all at 0, shortest first: J1 (2 GPUs) takes node 0, J2 (3) node 1; J3 (3)
// sees 3 free GPUs but no node with 3, so yarn skips it, and J4 (2) still starts (no
// head-of-line blocking). Tiresias-L counts GPUs only: J1, J2, J3 fill 8 GPUs and J4 waits.
TEST(ResearchReplay, YarnPlacementFragmentsWhereGpuCountingDoesNot) {
  const std::vector<TraceJob> jobs = {MuriJob(1, 0, 2, 100, 1000), MuriJob(2, 0, 3, 200, 1000),
                                      MuriJob(3, 0, 3, 300, 1000), MuriJob(4, 0, 2, 400, 1000)};
  auto yarn = Replay(jobs, {2, 4}, ResearchPolicy::kSrtf);
  ASSERT_EQ(yarn.size(), 4u);
  EXPECT_NEAR(yarn[3].first_start_s, 0, kEps);
  EXPECT_NEAR(yarn[2].first_start_s, 101.5, kEps);  // J1 leaves node 0 with 2 + 2 = 4 free
  auto counted = Replay(jobs, {2, 4}, ResearchPolicy::kTiresiasL);
  ASSERT_EQ(counted.size(), 4u);
  EXPECT_NEAR(counted[2].first_start_s, 0, kEps);
  EXPECT_GT(counted[3].first_start_s, 0);
}

// A gang wider than a node needs whole free nodes: 16 GPUs on 2 x 8 waits for a 1-GPU job to
// leave although 15 GPUs are free.
TEST(ResearchReplay, YarnMultiNodeGangNeedsWholeNodes) {
  const std::vector<TraceJob> jobs = {MuriJob(1, 0, 1, 100, 1000), MuriJob(2, 0, 16, 200, 1000)};
  auto out = Replay(jobs, {2, 8}, ResearchPolicy::kSrtf);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[1].first_start_s, 101.5, kEps);
  EXPECT_NEAR(out[1].end_s, 101.5 + 203, kEps);
}

// One GPU. A (1 GPU, 10150 s) runs from 0; B (101.5 s) arrives at 100 and waits behind A in Q0
// (no preemption inside a queue). A reaches 3250 GPU-s at the jump event t = 3250, is demoted
// to Q1, and B (Q0) preempts it: B runs 3250..3351.5. A resumes with 10150 - 96 - 3146 = 6908 s
// left; its Q1->Q2 jump comes at 7301.5 (executed 7200), charging 4 s more; it ends at
// 7301.5 + (6908 - 3946) = 10263.5. SRTF would have run B at once.
TEST(ResearchReplay, TiresiasDemotesAtAttainedGpuServiceThreshold) {
  auto out = Replay({MuriJob(1, 0, 1, 10000, 1000), MuriJob(2, 100, 1, 100, 1000)}, {1, 1},
                    ResearchPolicy::kTiresiasL);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[1].first_start_s, 3250, kEps);
  EXPECT_NEAR(out[1].end_s, 3351.5, kEps);
  EXPECT_NEAR(out[0].end_s, 10263.5, kEps);
  EXPECT_EQ(out[0].preemptions, 1);
  EXPECT_EQ(out[1].preemptions, 0);
}

// Demotion uses GPU time: a 32-GPU job's Q0 threshold is ceil(3250 / 32) = 102 s of wall time.
TEST(ResearchReplay, TiresiasThresholdScalesWithGangSize) {
  // A: 32 GPUs, long. B: 32 GPUs, short, arrives at 50 and waits in Q0 behind A until A's
  // demotion at 102 s.
  auto out = Replay({MuriJob(1, 0, 32, 10000, 1000), MuriJob(2, 50, 32, 10, 1000)}, {4, 8},
                    ResearchPolicy::kTiresiasL);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[1].first_start_s, 102, kEps);
  EXPECT_NEAR(out[1].end_s, 102 + 10.15, kEps);
}

TEST(ResearchReplay, RejectsTracesWithoutMuriColumnsAndJobsThatNeverFit) {
  Trace trace;
  TraceJob plain;
  plain.id = 7;
  plain.duration_s = 10;
  trace.jobs = {plain};
  auto no_iters = RunResearchReplay(trace, {}, ResearchPolicy::kSrtf);
  ASSERT_FALSE(no_iters.has_value());
  EXPECT_EQ(no_iters.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_iters.error().message.find("job 7"), std::string::npos);

  trace.jobs = {MuriJob(9, 0, 16, 10, 100)};
  auto too_big = RunResearchReplay(trace, {1, 8}, ResearchPolicy::kSrsf);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_NE(too_big.error().message.find("job 9"), std::string::npos);
}

// ---- Reproduction of the published numbers ----------------------------------------------

const std::string kMuriDir = std::string(WEFT_SHARED_TRACES_DIR) + "/philly-muri";

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string cell;
  while (std::getline(ss, cell, ',')) {
    if (!cell.empty() && cell.back() == '\r') cell.pop_back();
    cells.push_back(cell);
  }
  return cells;
}

// Minimal philly-muri loader (ms in the file), kept inside the test so that the research
// replay is checked independently of trace_reader.
Trace LoadMuri(const std::string& path) {
  Trace trace;
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return trace;
  std::map<std::string, std::size_t> col;
  const auto header = SplitCsv(line);
  for (std::size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto c = SplitCsv(line);
    TraceJob j;
    j.id = std::stoll(c[col.at("job_id")]);
    j.num_gpus = std::stoi(c[col.at("num_gpu")]);
    j.submit_s = static_cast<double>(std::stoll(c[col.at("submit_time")])) / 1000.0;
    j.iterations = std::stoll(c[col.at("iterations")]);
    j.model = c[col.at("model_name")];
    j.duration_s = std::stod(c[col.at("duration")]) / 1000.0;
    j.iteration_time_ms = std::stod(c[col.at("iteration_time")]);
    trace.jobs.push_back(j);
  }
  std::stable_sort(trace.jobs.begin(), trace.jobs.end(),
                   [](const TraceJob& a, const TraceJob& b) { return a.submit_s < b.submit_s; });
  return trace;
}

struct Metrics {
  double avg_jct = 0, makespan = 0, p99_jct = 0;
};

// README step 6: mean JCT, max end, sorted(jct)[int(0.99 n)].
Metrics Summarize(const std::vector<JobOutcome>& out) {
  Metrics m;
  std::vector<double> jct;
  double sum = 0;
  for (const auto& o : out) {
    jct.push_back(o.end_s - o.submit_s);
    sum += o.end_s - o.submit_s;
    m.makespan = std::max(m.makespan, o.end_s);
  }
  std::sort(jct.begin(), jct.end());
  m.avg_jct = sum / static_cast<double>(out.size());
  m.p99_jct = jct[static_cast<std::size_t>(0.99 * static_cast<double>(jct.size()))];
  return m;
}

// published_results.csv: figure,trace,policy,metric,value.
std::map<std::string, double> LoadPublished() {
  std::map<std::string, double> out;
  std::ifstream in(kMuriDir + "/published_results.csv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto c = SplitCsv(line);
    if (c.size() != 5 || c[0] == "figure") continue;
    out[c[1] + "/" + c[2] + "/" + c[3]] = std::stod(c[4]);
  }
  return out;
}

constexpr double kTolerance = 0.001;  // item 8: within 0.1 %

struct Case {
  const char* trace;
  const char* published_policy;  // name in published_results.csv
  ResearchPolicy policy;
};

class MuriReproduction : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kMuriDir + "/trace1.csv")) {
      GTEST_SKIP() << "philly-muri traces not found at " << kMuriDir
                   << " (a checkout without ../shared/traces); the reproduction needs them";
    }
  }
};

TEST_P(MuriReproduction, MatchesPublishedAvgJctMakespanAndP99) {
  const Case& c = GetParam();
  const auto published = LoadPublished();
  const Trace trace = LoadMuri(kMuriDir + "/" + c.trace + ".csv");
  ASSERT_FALSE(trace.jobs.empty());
  const auto t0 = std::chrono::steady_clock::now();
  auto out = RunResearchReplay(trace, {8, 8}, c.policy);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(out.has_value()) << out.error().message;
  const Metrics m = Summarize(*out);
  const std::string key = std::string(c.trace) + "/" + c.published_policy + "/";
  for (const auto& [metric, value] : {std::pair<std::string, double>{"avg_jct", m.avg_jct},
                                      {"makespan", m.makespan},
                                      {"p99_jct", m.p99_jct}}) {
    ASSERT_TRUE(published.contains(key + metric)) << "published_results.csv lacks " << key + metric;
    const double want = published.at(key + metric);
    EXPECT_LE(std::abs(value - want) / want, kTolerance)
        << key << metric << ": got " << value << ", published " << want;
  }
  std::printf("%s %s: avg %.6f makespan %.6f p99 %.6f (%.2f s)\n", c.trace, c.published_policy, m.avg_jct,
              m.makespan, m.p99_jct, secs);
}

std::string CaseName(const ::testing::TestParamInfo<Case>& p) {
  std::string name = std::string(p.param.trace) + "_" + p.param.published_policy;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(PublishedTraces, MuriReproduction,
                         ::testing::Values(Case{"trace1", "SRTF", ResearchPolicy::kSrtf},
                                           Case{"trace1", "SRSF", ResearchPolicy::kSrsf},
                                           Case{"trace1", "Tiresias-L", ResearchPolicy::kTiresiasL},
                                           Case{"trace3", "SRTF", ResearchPolicy::kSrtf},
                                           Case{"trace3", "SRSF", ResearchPolicy::kSrsf},
                                           Case{"trace3", "Tiresias-L", ResearchPolicy::kTiresiasL}),
                         CaseName);

// The other traces of Muri's Figures 9 and 10 (the "raw data" arrays of
// simulator/draw_fig9-10.py at Rivendile/Muri@4e69a78; the README table repeats the average
// JCTs of the _pr variants). Not part of item 8, which names trace1 and trace3, but the same
// semantics reproduce them: all but one value within 0.001 %, most to the last digit. The
// exception is SRSF on trace4_pr, whose published makespan is 0.31 % above what these rules
// give (average JCT 0.01 % and p99 0.06 % off); it is checked at 0.5 % and noted in
// docs/scheduling-quality.md.
struct FigureCase {
  const char* trace;
  ResearchPolicy policy;
  double avg_jct, makespan, p99_jct;
  double makespan_tolerance = kTolerance;
};

class MuriFigureReproduction : public ::testing::TestWithParam<FigureCase> {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kMuriDir + "/" + GetParam().trace + ".csv")) {
      GTEST_SKIP() << "philly-muri traces not found at " << kMuriDir;
    }
  }
};

TEST_P(MuriFigureReproduction, MatchesFigure9And10RawData) {
  const FigureCase& c = GetParam();
  const Trace trace = LoadMuri(kMuriDir + "/" + c.trace + ".csv");
  ASSERT_FALSE(trace.jobs.empty());
  auto out = RunResearchReplay(trace, {8, 8}, c.policy);
  ASSERT_TRUE(out.has_value()) << out.error().message;
  const Metrics m = Summarize(*out);
  EXPECT_LE(std::abs(m.avg_jct - c.avg_jct) / c.avg_jct, kTolerance) << "avg JCT " << m.avg_jct;
  EXPECT_LE(std::abs(m.makespan - c.makespan) / c.makespan, c.makespan_tolerance) << "makespan " << m.makespan;
  EXPECT_LE(std::abs(m.p99_jct - c.p99_jct) / c.p99_jct, kTolerance) << "p99 JCT " << m.p99_jct;
}

std::string FigureCaseName(const ::testing::TestParamInfo<FigureCase>& p) {
  const char* policy = p.param.policy == ResearchPolicy::kSrtf   ? "SRTF"
                       : p.param.policy == ResearchPolicy::kSrsf ? "SRSF"
                                                                 : "TiresiasL";
  return std::string(p.param.trace) + "_" + policy;
}

constexpr ResearchPolicy kSrtf = ResearchPolicy::kSrtf;
constexpr ResearchPolicy kSrsf = ResearchPolicy::kSrsf;
constexpr ResearchPolicy kTiresias = ResearchPolicy::kTiresiasL;

INSTANTIATE_TEST_SUITE_P(
    OtherTraces, MuriFigureReproduction,
    ::testing::Values(FigureCase{"trace1_pr", kSrtf, 2303543.816, 24513543.937825, 19871388.29092},
                      FigureCase{"trace1_pr", kSrsf, 1801859.995, 24272529.59311, 18267307.81118},
                      FigureCase{"trace1_pr", kTiresias, 6921682.793, 21990477.824095, 21765400.784095},
                      FigureCase{"trace2", kSrtf, 2665607.375, 48847005.197635, 33128484.196403},
                      FigureCase{"trace2", kSrsf, 2213949.687, 49026465.31107, 31241250.835485},
                      FigureCase{"trace2", kTiresias, 7396368.514, 48117093.307735, 37913098.47143},
                      FigureCase{"trace2_pr", kSrtf, 4079154.454, 48697594.999386, 36640840.003736},
                      FigureCase{"trace2_pr", kSrsf, 3384600.437, 47972347.554251, 34656644.081924},
                      FigureCase{"trace2_pr", kTiresias, 10555502.040026, 47686997.556889, 44369455.221804},
                      FigureCase{"trace3_pr", kSrtf, 844394.78, 7261795.828, 6363099.549},
                      FigureCase{"trace3_pr", kSrsf, 798057.6829, 6907790.403, 6228160.594},
                      FigureCase{"trace3_pr", kTiresias, 2213110.128, 6761641.42, 6739568.999},
                      FigureCase{"trace4", kSrtf, 581982.9002, 14787990.59235, 7768533.005},
                      FigureCase{"trace4", kSrsf, 487167.1688, 14887908.86639, 7372568.184},
                      FigureCase{"trace4", kTiresias, 1319382.936, 13073838.61827, 8663311.856},
                      FigureCase{"trace4_pr", kSrtf, 1430856.446, 14272665.007687, 9443500.203},
                      FigureCase{"trace4_pr", kSrsf, 1218501.968, 14426755.371188, 9227908.326, 0.005},
                      FigureCase{"trace4_pr", kTiresias, 2674022.636, 12584603.56365, 11219877.952119}),
    FigureCaseName);

}  // namespace
}  // namespace weft::sim
