#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

model::JobSpec ValidSpec() {
  model::JobSpec spec;
  spec.name = "ok";
  spec.per_node = {1000, 0, 0};
  spec.script = "#!/bin/sh\ntrue\n";
  spec.submit_dir = "/home/alice";
  spec.work_dir = "/home/alice";
  return spec;
}

TEST(ValidateTest, AcceptsAValidSpec) { EXPECT_TRUE(Validate(ValidSpec()).has_value()); }

TEST(ValidateTest, EachBrokenFieldIsNamed) {
  struct Case {
    void (*breaks)(model::JobSpec&);
    const char* message;
  };
  const Case kCases[] = {
      {[](model::JobSpec& s) { s.num_nodes = 0; }, "num_nodes: must be at least 1"},
      {[](model::JobSpec& s) { s.tasks_per_node = 0; }, "tasks_per_node: must be at least 1"},
      {[](model::JobSpec& s) { s.cpus_per_task = 0; }, "cpus_per_task: must be at least 1"},
      {[](model::JobSpec& s) { s.per_node.cpu_milli = -1; }, "cpu_milli: must not be negative"},
      {[](model::JobSpec& s) { s.per_node.memory_bytes = -1; }, "memory: must not be negative"},
      {[](model::JobSpec& s) { s.per_node.gpus = -2; }, "gpus: must not be negative"},
      {[](model::JobSpec& s) { s.time_limit = Duration(0); },
       "time_limit: must be positive when set"},
      {[](model::JobSpec& s) { s.max_retries = -1; }, "max_retries: must not be negative"},
      {[](model::JobSpec& s) { s.script.clear(); }, "script: is empty"},
      {[](model::JobSpec& s) { s.script = "echo hi\n"; },
       "script: must start with '#!' followed by an interpreter"},
      {[](model::JobSpec& s) { s.pools = {"a", ""}; }, "pools: a pool name is empty"},
      {[](model::JobSpec& s) { s.env["A=B"] = "x"; }, "env: 'A=B' is not a variable name"},
      {[](model::JobSpec& s) { s.submit_dir = "rel"; },
       "submit_dir: 'rel' is not an absolute path"},
      {[](model::JobSpec& s) { s.work_dir = ""; }, "work_dir: '' is not an absolute path"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.message);
    model::JobSpec spec = ValidSpec();
    c.breaks(spec);
    const auto result = Validate(spec);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(result.error().message, c.message);
  }
}

// Absurd sizes are refused with the field's name and range, before any sum can overflow.
TEST(ValidateTest, AbsurdValuesAreOutOfRange) {
  struct Case {
    void (*breaks)(model::JobSpec&);
    const char* message;
  };
  const Case kCases[] = {
      {[](model::JobSpec& s) { s.num_nodes = 1'000'000; },
       "num_nodes: 1000000 is out of range (1 to 100000)"},
      {[](model::JobSpec& s) { s.per_node.gpus = 1LL << 40; },
       "gpus: 1099511627776 is out of range (0 to 4096)"},
      {[](model::JobSpec& s) { s.per_node.cpu_milli = 1LL << 62; },
       "cpu_milli: 4611686018427387904 is out of range (0 to 65536000)"},
      {[](model::JobSpec& s) { s.per_node.memory_bytes = 1LL << 50; },
       "memory: 1125899906842624 is out of range (0 to 70368744177664)"},
      {[](model::JobSpec& s) { s.tasks_per_node = 1 << 20; },
       "tasks_per_node: 1048576 is out of range (1 to 65536)"},
      {[](model::JobSpec& s) { s.cpus_per_task = 1 << 30; },
       "cpus_per_task: 1073741824 is out of range (1 to 65536)"},
      {[](model::JobSpec& s) { s.max_retries = 1 << 30; },
       "max_retries: 1073741824 is out of range (0 to 10000)"},
      {[](model::JobSpec& s) { s.time_limit = Duration(-5); }, "time_limit: must be positive when set"},
      {[](model::JobSpec& s) { s.time_limit = Duration::max(); },
       "time_limit: must be at most 100 years (leave it unset for no limit)"},
      {[](model::JobSpec& s) { s.signal = model::SignalSpec{10, Duration::max(), false}; },
       "signal: the warning time must be at most 100 years"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.message);
    model::JobSpec spec = ValidSpec();
    c.breaks(spec);
    const auto result = Validate(spec);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message, c.message);
  }
  model::JobSpec big = ValidSpec();
  big.num_nodes = 100'000;
  big.per_node = {65'536'000, 64LL << 40, 4096};
  EXPECT_TRUE(Validate(big).has_value());
}

// Every string ends up in JSON, whose encoder throws on invalid UTF-8.
TEST(ValidateTest, StringsMustBeUtf8) {
  model::JobSpec spec = ValidSpec();
  spec.name = "caf\xc3\xa9";
  EXPECT_TRUE(Validate(spec).has_value());
  spec.name = "caf\xe9";
  EXPECT_EQ(Validate(spec).error().message, "name: is not valid UTF-8");
  spec = ValidSpec();
  spec.script = "#!/bin/sh\necho \xff\n";
  EXPECT_EQ(Validate(spec).error().message, "script: is not valid UTF-8");
  spec = ValidSpec();
  spec.args = {"ok", "\xc0\xaf"};
  EXPECT_EQ(Validate(spec).error().message, "args: is not valid UTF-8");
  spec = ValidSpec();
  spec.env["A"] = "\xfe";
  EXPECT_EQ(Validate(spec).error().message, "env: a variable's name or value is not valid UTF-8");
}

TEST(ValidateTest, NodeReportsNeedANameAndSaneCapacity) {
  model::NodeReport report;
  report.name = "n1";
  report.capacity = {64'000, 512LL << 30, 8};
  EXPECT_TRUE(ValidateNodeReport(report).has_value());
  report.capacity.gpus = 9'000'000'000'000'000'000;
  EXPECT_EQ(ValidateNodeReport(report).error().message,
            "capacity.gpus: 9000000000000000000 is out of range (0 to 4096)");
  report.capacity.gpus = 8;
  report.capacity.memory_bytes = -1;
  EXPECT_EQ(ValidateNodeReport(report).error().message,
            "capacity.memory_bytes: -1 is out of range (0 to 70368744177664)");
  report.capacity.memory_bytes = 0;
  report.name.clear();
  EXPECT_EQ(ValidateNodeReport(report).error().message, "name: is empty");
}

TEST(ValidateTest, TopologyMustBeALevel) {
  model::JobSpec spec = ValidSpec();
  for (const char* level : {"", "switch", "rack", "zone"}) {
    spec.topology = level;
    EXPECT_TRUE(Validate(spec).has_value()) << level;
  }
  spec.topology = "row";
  EXPECT_EQ(Validate(spec).error().message, "topology: 'row' is not one of switch, rack, zone");
}

}  // namespace
}  // namespace weft::spec
