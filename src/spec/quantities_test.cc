#include "spec/quantities.h"

#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseTimeLimitTest, AcceptsEverySlurmFormatAndUnitSuffixes) {
  struct Case {
    const char* text;
    std::optional<Duration> want;
  };
  const Case kCases[] = {
      {"0", std::nullopt},
      {"UNLIMITED", std::nullopt},
      {"unlimited", std::nullopt},
      {"INFINITE", std::nullopt},
      {"90", minutes(90)},                                     // minutes
      {"1:30", minutes(1) + seconds(30)},                      // minutes:seconds
      {"1:30:00", minutes(90)},                                // hours:minutes:seconds
      {"1-0", hours(24)},                                      // days-hours
      {"2-12", hours(60)},                                     // days-hours
      {"2-12:30", hours(60) + minutes(30)},                    // days-hours:minutes
      {"2-12:30:15", hours(60) + minutes(30) + seconds(15)},  // days-hours:minutes:seconds
      {"0:0:0", std::nullopt},                                 // zero is no limit
      {"48h", hours(48)},
      {"90s", seconds(90)},
      {"30m", minutes(30)},
      {"2d", hours(48)},
      {" 10 ", minutes(10)},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto got = ParseTimeLimit(c.text);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(*got, c.want);
  }
}

TEST(ParseTimeLimitTest, RejectsMalformedText) {
  for (const char* text : {"1:2:3:4", "abc", "-5", "", "1-", "-", "1:", "h", "1.5h", "1d2h",
                           "2-1:2:3:4", "1:-2", "99999999999999"}) {
    SCOPED_TRACE(text);
    const auto got = ParseTimeLimit(text);
    ASSERT_FALSE(got.has_value());
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(ParseTimeLimit("abc").error().message,
            "'abc' is not a time limit (examples: 90, 1:30:00, 2-12:00:00, 48h, UNLIMITED)");
}

TEST(ParseMemoryTest, AcceptsUnitsAndDefaultsToMebibytes) {
  struct Case {
    const char* text;
    std::int64_t want;
  };
  const Case kCases[] = {
      {"4G", 4LL << 30},     {"512M", 512LL << 20}, {"1024", 1024LL << 20}, {"16Gi", 16LL << 30},
      {"256GB", 256LL << 30}, {"16GiB", 16LL << 30}, {"4g", 4LL << 30},     {"2K", 2LL << 10},
      {"1T", 1LL << 40},     {"1P", 1LL << 50},     {"0", 0},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto got = ParseMemory(c.text);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(*got, c.want);
  }
}

TEST(ParseMemoryTest, RejectsMalformedAndHugeSizes) {
  for (const char* text : {"lots", "", "4X", "-1", "4 G", "G", "1.5G", "4GG", "512B"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseMemory(text).has_value());
  }
  EXPECT_EQ(ParseMemory("lots").error().message, "'lots' is not a size (examples: 4G, 512M)");
  EXPECT_EQ(ParseMemory("9000000P").error().message, "'9000000P' is too large a size");
}

TEST(ParseCountTest, AcceptsNonNegativeWholeNumbersWithinBound) {
  EXPECT_EQ(ParseCount("--nodes", "8").value(), 8);
  EXPECT_EQ(ParseCount("--nodes", "0").value(), 0);
  EXPECT_EQ(ParseCount("--nodes", "-1").error().message,
            "--nodes: '-1' is not a count (a whole number such as 1 or 8)");
  EXPECT_EQ(ParseCount("--nodes", "2000000").error().message,
            "--nodes: 2000000 is too large (at most 1000000)");
  EXPECT_FALSE(ParseCount("--nodes", "two").has_value());
}

TEST(ParseSignedIntTest, AcceptsSignsWithinBound) {
  EXPECT_EQ(ParseSignedInt("--nice", "-5").value(), -5);
  EXPECT_EQ(ParseSignedInt("--nice", "10").value(), 10);
  EXPECT_FALSE(ParseSignedInt("--nice", "ten").has_value());
  EXPECT_FALSE(ParseSignedInt("--nice", "5000000000").has_value());
}

TEST(ParseBoolTest, AcceptsYamlSpellings) {
  EXPECT_TRUE(ParseBool("x", "yes").value());
  EXPECT_TRUE(ParseBool("x", "True").value());
  EXPECT_FALSE(ParseBool("x", "off").value());
  EXPECT_EQ(ParseBool("preemptible", "maybe").error().message,
            "preemptible: 'maybe' is not true or false");
}

TEST(ParseGpuRequestTest, TakesCountWithOptionalType) {
  auto plain = ParseGpuRequest("--gpus", "8");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->count, 8);
  EXPECT_EQ(plain->model, "");
  auto typed = ParseGpuRequest("--gpus", "H100:8");
  ASSERT_TRUE(typed.has_value());
  EXPECT_EQ(typed->count, 8);
  EXPECT_EQ(typed->model, "H100");
  for (const char* bad : {"h100", ":8", "a:b:8", "H100:", "", "H100:-1"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseGpuRequest("--gpus", bad).has_value());
  }
  EXPECT_EQ(ParseGpuRequest("--gpus-per-node", "lots").error().message,
            "--gpus-per-node: 'lots' is not a GPU count (examples: 8, H100:8)");
}

TEST(ParseGresTest, AcceptsGpuEntriesOnly) {
  struct Case {
    const char* text;
    const char* model;
    int count;
  };
  const Case kCases[] = {{"gpu", "", 1},
                         {"gpu:2", "", 2},
                         {"gpu:a100:2", "a100", 2},
                         {"gpu:a100", "a100", 1},
                         {"gres/gpu:4", "", 4}};
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto got = ParseGres("--gres", c.text);
    ASSERT_TRUE(got.has_value()) << got.error().message;
    EXPECT_EQ(got->model, c.model);
    EXPECT_EQ(got->count, c.count);
  }
  for (const char* bad : {"shard:1", "gpu:2,shard:1", "gpu:a:b:2", "gpu:", "gpu::2",
                          "gpu:1,gpu:2"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseGres("--gres", bad).has_value());
  }
  EXPECT_EQ(ParseGres("--gres", "mps:50").error().message,
            "--gres: only GPUs can be requested, not 'mps' (example: --gres=gpu:a100:2)");
}

TEST(IsVariableNameTest, FollowsPosixNames) {
  EXPECT_TRUE(IsVariableName("BATCH_SIZE"));
  EXPECT_TRUE(IsVariableName("_x1"));
  EXPECT_FALSE(IsVariableName("1X"));
  EXPECT_FALSE(IsVariableName("A-B"));
  EXPECT_FALSE(IsVariableName(""));
}

TEST(ParseArraySpecTest, AcceptsSbatchForms) {
  struct Case {
    const char* text;
    std::vector<int> indices;
    int max_running;
    const char* canonical;
  };
  const Case kCases[] = {
      {"0-5%2", {0, 1, 2, 3, 4, 5}, 2, "0-5%2"},
      {"1,3,5-7", {1, 3, 5, 6, 7}, 0, "1,3,5-7"},
      {"0-15:4", {0, 4, 8, 12}, 0, "0-15:4"},
      {"0-15:4%1", {0, 4, 8, 12}, 1, "0-15:4%1"},
      {"7", {7}, 0, "7"},
      {"3,1,3", {1, 3}, 0, "3,1,3"},  // duplicates are one task
      {" 0-2 ", {0, 1, 2}, 0, "0-2"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto array = ParseArraySpec("--array", c.text);
    ASSERT_TRUE(array.has_value()) << array.error().message;
    EXPECT_EQ(array->Indices(), c.indices);
    EXPECT_EQ(array->max_running, c.max_running);
    EXPECT_EQ(model::ToString(*array), c.canonical);
  }
}

TEST(ParseArraySpecTest, ErrorsAreOneSentenceNamingTheOption) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case kCases[] = {
      {"a-b", "--array: 'a-b' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)"},
      {"1,,2", "--array: '' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)"},
      {"%4", "--array: '%4' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)"},
      {"-3", "--array: '-3' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)"},
      {"5:2", "--array: '5:2' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)"},
      {"9-2", "--array: '9-2' has its first index above its last"},
      {"0-9:0", "--array: the step in '0-9:0' must be a count of at least 1"},
      {"0-9%x", "--array: the limit after '%' in '0-9%x' must be a count of at least 1"},
      {"0-9%0", "--array: the limit after '%' in '0-9%0' must be a count of at least 1"},
      {"0-4000001", "--array: '0-4000001' goes above the largest index, 4000000"},
      {"0-10000", "--array: '0-10000' asks for more than 10000 tasks"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto array = ParseArraySpec("--array", c.text);
    ASSERT_FALSE(array.has_value());
    EXPECT_EQ(array.error().message, c.message);
  }
}

TEST(ParseDependencyTest, AcceptsSbatchForms) {
  struct Case {
    const char* text;
    const char* canonical;
    bool any;
    std::size_t terms;
  };
  const Case kCases[] = {
      {"afterok:12", "afterok:12", false, 1},
      {"afterok:12:13,afterany:4", "afterok:12:13,afterany:4", false, 2},
      {"afternotok:3?after:4", "afternotok:3?after:4", true, 2},
      {"singleton", "singleton", false, 1},
      {"AfterOK:7,singleton", "afterok:7,singleton", false, 2},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto dependency = ParseDependency("--dependency", c.text);
    ASSERT_TRUE(dependency.has_value()) << dependency.error().message;
    EXPECT_EQ(model::ToString(*dependency), c.canonical);
    EXPECT_EQ(dependency->any, c.any);
    EXPECT_EQ(dependency->terms.size(), c.terms);
  }
  const auto parsed = ParseDependency("--dependency", "afterok:12:13");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->terms[0].jobs, (std::vector<model::JobId>{12, 13}));
}

TEST(ParseDependencyTest, ErrorsAreOneSentenceNamingTheOption) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case kCases[] = {
      {"afterok", "-d: 'afterok' names no job (example: afterok:12)"},
      {"afterok:x", "-d: 'x' in 'afterok:x' is not a job id"},
      {"afterok:0", "-d: '0' in 'afterok:0' is not a job id"},
      {"afterok:12_3", "-d: '12_3' in 'afterok:12_3' is not a job id"},
      {"expand:4",
       "-d: 'expand:4' is not a dependency (types: after, afterany, afterok, afternotok, "
       "singleton)"},
      {"singleton:3", "-d: 'singleton' takes no job ids"},
      {"afterok:1,afterok:2?afterok:3",
       "-d: 'afterok:1,afterok:2?afterok:3' mixes ',' (all) and '?' (any); use one of them"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.text);
    const auto dependency = ParseDependency("-d", c.text);
    ASSERT_FALSE(dependency.has_value());
    EXPECT_EQ(dependency.error().message, c.message);
  }
}

}  // namespace
}  // namespace weft::spec
