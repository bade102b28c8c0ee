#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

FilenameContext Context() {
  FilenameContext c;
  c.job_id = 42;
  c.job_name = "train";
  c.node_name = "node7";
  c.node_index = 3;
  c.user = "alice";
  c.restart_count = 2;
  return c;
}

FilenameContext ArrayContext() {
  FilenameContext c = Context();
  c.array_job_id = 40;
  c.array_task_id = 15;
  return c;
}

TEST(ExpandFilenamePatternTest, Substitutions) {
  struct Case {
    const char* pattern;
    FilenameContext context;
    const char* want;
  };
  const Case kCases[] = {
      {"slurm-%j.out", Context(), "slurm-42.out"},
      {"%x-%j.log", Context(), "train-42.log"},
      {"%N.%n.log", Context(), "node7.3.log"},
      {"rank%t-%u-r%r", Context(), "rank3-alice-r2"},
      {"%%j", Context(), "%j"},
      {"100%%", Context(), "100%"},
      {"%J", Context(), "42"},
      {"%5j", Context(), "00042"},
      {"job%2j-%2t.out", Context(), "job42-03.out"},
      {"%A_%a", ArrayContext(), "40_15"},
      {"%b", ArrayContext(), "5"},
      {"%A_%a", Context(), "42_4294967294"},  // Slurm's values outside an array job
      {"%q%", Context(), "%q%"},               // unknown and trailing: kept as written
      {"out\\%j.log", Context(), "out%j.log"},  // a backslash disables substitution
      {"a\\\\b%x", Context(), "ab%x"},
      {"plain.txt", Context(), "plain.txt"},
      {"", Context(), ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.pattern);
    EXPECT_EQ(ExpandFilenamePattern(c.pattern, c.context), c.want);
  }
}

}  // namespace
}  // namespace weft::spec
