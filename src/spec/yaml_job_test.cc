#include <gtest/gtest.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

using std::chrono::hours;
using Args = std::vector<std::string>;

SubmitContext Context() {
  return SubmitContext{"/home/alice/proj", {{"HOME", "/home/alice"}}, "alice"};
}

std::string ErrorOf(const std::string& yaml, const Args& options = {}) {
  const auto job = ParseYamlJob(yaml, options, Context());
  if (job) return "(parsed)";
  EXPECT_EQ(job.error().code, ErrorCode::kInvalidArgument);
  return job.error().message;
}

constexpr const char* kDesignExample = R"(name: llama-finetune
num_nodes: 2
resources: {gpus: "H100:8", cpus: 32, memory: 256G, time: 48h}   # per node
queue: team-nlp
pools: [onprem, hpc-slurm]        # failover order; omitted = any
preemptible: false
max_retries: 3
env: {BATCH: "64"}
setup: pip install -r requirements.txt
run: torchrun --nnodes=$WEFT_NUM_NODES --nproc_per_node=$WEFT_GPUS_PER_NODE train.py
)";

TEST(ParseYamlJobTest, DesignExampleParses) {
  const auto job = ParseYamlJob(kDesignExample, {}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  const model::JobSpec& spec = job->spec;
  EXPECT_EQ(spec.name, "llama-finetune");
  EXPECT_EQ(spec.num_nodes, 2);
  EXPECT_EQ(spec.per_node, (model::Resources{32000, 256LL << 30, 8}));
  EXPECT_EQ(spec.gpu_model, "H100");
  EXPECT_EQ(spec.cpus_per_task, 32);
  EXPECT_EQ(spec.time_limit, std::optional<Duration>(hours(48)));
  EXPECT_EQ(spec.queue, "team-nlp");
  EXPECT_EQ(spec.pools, (Args{"onprem", "hpc-slurm"}));
  EXPECT_FALSE(spec.preemptible);
  EXPECT_EQ(spec.max_retries, 3);
  EXPECT_EQ(spec.env.at("BATCH"), "64");
  EXPECT_EQ(spec.env.at("HOME"), "/home/alice");
  EXPECT_EQ(spec.work_dir, "/home/alice/proj");
  EXPECT_EQ(spec.user, "alice");
  EXPECT_EQ(spec.script,
            "#!/bin/bash\n"
            "# setup\n"
            "(\nset -e\npip install -r requirements.txt\n)\n"
            "weft_setup_status=$?\n"
            "if [ \"$weft_setup_status\" -ne 0 ]; then\n"
            "  echo \"weft: setup failed with exit code $weft_setup_status\" >&2\n"
            "  exit \"$weft_setup_status\"\n"
            "fi\n"
            "# run\n"
            "torchrun --nnodes=$WEFT_NUM_NODES --nproc_per_node=$WEFT_GPUS_PER_NODE train.py\n");
}

TEST(ParseYamlJobTest, MinimalJobWithoutSetup) {
  const auto job = ParseYamlJob("run: |\n  echo one\n  echo two\n", {}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.script, "#!/bin/bash\necho one\necho two\n");
  EXPECT_EQ(job->spec.name, "");
  EXPECT_EQ(job->spec.per_node, (model::Resources{1000, 0, 0}));
}

TEST(ParseYamlJobTest, OtherFieldForms) {
  const auto job = ParseYamlJob(
      "resources:\n  gpus: A100:4\n  memory: 1024\npools: onprem\npriority: 5\npreemptible: yes\n"
      "require_isolation: true\nworkdir: runs/a\noutput: out-%j.log\nerror: err-%j.log\nrun: ./train.sh\n",
      {}, Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  const model::JobSpec& spec = job->spec;
  EXPECT_EQ(spec.per_node.gpus, 4);
  EXPECT_EQ(spec.gpu_model, "A100");
  EXPECT_EQ(spec.per_node.memory_bytes, 1024LL << 20);  // a bare number is MiB, as for --mem
  EXPECT_EQ(spec.pools, (Args{"onprem"}));
  EXPECT_EQ(spec.priority, 5);
  EXPECT_TRUE(spec.preemptible);
  EXPECT_TRUE(spec.require_isolation);
  EXPECT_EQ(spec.work_dir, "/home/alice/proj/runs/a");
  EXPECT_EQ(spec.output_pattern, "out-%j.log");
  EXPECT_EQ(spec.error_pattern, "err-%j.log");
}

TEST(ParseYamlJobTest, ArrayAndDependencyFields) {
  const auto job =
      ParseYamlJob("array: 0-15:4%2\ndependency: afterok:3?afterany:4\nrun: echo hi\n", {}, Context());
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.array.Indices(), (std::vector<int>{0, 4, 8, 12}));
  EXPECT_EQ(job->spec.array.max_running, 2);
  EXPECT_EQ(model::ToString(job->spec.dependency), "afterok:3?afterany:4");
  EXPECT_EQ(ParseYamlJob("array: 3-1\nrun: x\n", {}, Context()).error().message,
            "line 1: array: '3-1' has its first index above its last");
}

TEST(ParseYamlJobTest, CommandLineOverridesFields) {
  const auto job =
      ParseYamlJob(kDesignExample, {"-N", "4", "--gpus", "2", "-J", "short", "-t", "1:00:00"},
                   Context());

  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.num_nodes, 4);
  EXPECT_EQ(job->spec.per_node.gpus, 2);
  EXPECT_EQ(job->spec.gpu_model, "");
  EXPECT_EQ(job->spec.name, "short");
  EXPECT_EQ(job->spec.time_limit, std::optional<Duration>(hours(1)));
}

TEST(ParseYamlJobTest, ErrorsNameTheKeyAndLine) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case kCases[] = {
      {"name: x\nresorces: {gpus: 1}\nrun: x\n", "line 2: unknown key 'resorces' in job spec"},
      {"resources: {gpu: 1}\nrun: x\n",
       "line 1: unknown key 'gpu' in resources (known: gpus, cpus, memory, time)"},
      {"resources:\n  memory: lots\nrun: x\n",
       "line 2: resources.memory: 'lots' is not a size (examples: 4G, 512M)"},
      {"num_nodes: two\nrun: x\n",
       "line 1: num_nodes: 'two' is not a count (a whole number such as 1 or 8)"},
      {"resources: {time: soon}\nrun: x\n",
       "line 1: resources.time: 'soon' is not a time limit (examples: 90, 1:30:00, "
       "2-12:00:00, 48h, UNLIMITED)"},
      {"preemptible: maybe\nrun: x\n", "line 1: preemptible: 'maybe' is not true or false"},
      {"name: [a, b]\nrun: x\n", "line 1: name: expected a single value, not a list or mapping"},
      {"env: [A]\nrun: x\n", "line 1: env: expected a mapping such as {BATCH: \"64\"}"},
      {"env: {1BAD: x}\nrun: x\n", "line 1: env: '1BAD' is not a variable name"},
      {"run: a\nrun: b\n", "line 2: duplicate key 'run' in job spec"},
      {"name: x\n", "run: missing; the job spec needs a 'run' command"},
      {"", "the job spec is empty; it needs at least a 'run' command"},
      {"just a string\n",
       "line 1: the job spec must be a mapping with keys such as name and run"},
      {"num_nodes: 0\nrun: x\n", "num_nodes: must be at least 1"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.yaml);
    EXPECT_EQ(ErrorOf(c.yaml), c.message);
  }
  EXPECT_EQ(ErrorOf("run: x\n", {"--nope"}), "unknown option '--nope'");
}

TEST(ParseYamlJobTest, MalformedYamlIsOneSentenceWithTheLine) {
  const std::string message = ErrorOf("name: x\nrun: [unclosed\nqueue: a\n");
  EXPECT_EQ(message.rfind("line ", 0), 0u) << message;
  EXPECT_NE(message.find("invalid YAML: "), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;

  const std::string tabs = ErrorOf("name: x\n\tbad: [\n");
  EXPECT_NE(tabs.find("invalid YAML"), std::string::npos) << tabs;
}

TEST(ParseYamlJobTest, TopologyField) {
  EXPECT_EQ(ParseYamlJob("max_pending: 2m\nrun: echo hi\n", {}, Context())->spec.max_pending, std::chrono::minutes(2));
  const auto job = ParseYamlJob("num_nodes: 4\ntopology: rack\nrun: echo hi\n", {}, Context());
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_EQ(job->spec.topology, "rack");
  const auto over =
      ParseYamlJob("topology: rack\nrun: echo hi\n", {"--topology", "switch"}, Context());
  ASSERT_TRUE(over.has_value()) << over.error().message;
  EXPECT_EQ(over->spec.topology, "switch");
  EXPECT_EQ(ErrorOf("topology: pod\nrun: x\n"),
            "line 1: topology: 'pod' is not one of switch, rack, zone");
}

TEST(ParseYamlJobTest, SignalAndPreemptibleFields) {
  const auto job = ParseYamlJob("preemptible: true\nsignal: B:USR1@120\nrun: echo hi\n", {}, Context());
  ASSERT_TRUE(job.has_value()) << job.error().message;
  EXPECT_TRUE(job->spec.preemptible);
  EXPECT_TRUE(job->spec.requeue);
  EXPECT_EQ(job->spec.max_retries, model::kDefaultPreemptRequeues);
  ASSERT_TRUE(job->spec.signal.has_value());
  EXPECT_EQ(job->spec.signal->signal, 10);
  EXPECT_EQ(job->spec.signal->before, std::chrono::seconds(120));
  EXPECT_TRUE(job->spec.signal->batch_only);
  EXPECT_EQ(ErrorOf("signal: NOPE\nrun: x\n"),
            "line 1: signal: 'NOPE' is not [{R|B}:]SIG[@SECS] (examples: USR1, B:USR1@90, 10@120)");
}

}  // namespace
}  // namespace weft::spec
