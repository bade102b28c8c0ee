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
