#include "sim/trace_reader.h"

#include <gtest/gtest.h>

namespace weft::sim {
namespace {

TEST(TraceReaderTest, PhillyMuriIsInMillisecondsAndKeepsTheMuriColumns) {
  const std::string text =
      "job_id,num_gpu,submit_time,iterations,model_name,batch_size,duration,interval,iteration_time,"
      "resource_time_0,resource_time_1,resource_time_2,priority\n"
      "0,1,0,5853661,dqn,128,2868294000,46122000,490,446,8,0,1\n"
      "1,8,201694000,8787693,vgg16,128,4472936500,201694000,509,435,8,0.5,0\n";
  Result<Trace> trace = ParseTrace(text, "dir/trace1.csv");
  ASSERT_TRUE(trace) << trace.error().message;
  EXPECT_EQ(trace->name, "trace1");
  ASSERT_EQ(trace->jobs.size(), 2u);
  const TraceJob& j = trace->jobs[1];
  EXPECT_EQ(j.id, 1);
  EXPECT_EQ(j.num_gpus, 8);
  EXPECT_DOUBLE_EQ(j.submit_s, 201694.0);
  EXPECT_DOUBLE_EQ(j.duration_s, 4472936.5);
  EXPECT_EQ(j.model, "vgg16");
  EXPECT_EQ(j.iterations, 8787693);
  EXPECT_DOUBLE_EQ(j.iteration_time_ms, 509);
  EXPECT_EQ(j.queue, "");
}

TEST(TraceReaderTest, PhillyPolluxIsSortedStablyByTimestampWithRowIndexIdsAndClusterQueues) {
  const std::string text =
      "timestamp,duration,num_gpus,gpu_time,cluster\r\n"
      "2017-10-09 07:01:55,66.0,1,66.0,11cb48\r\n"
      "2017-10-09 06:13:03,2951.0,2,5902.0,6214e9\r\n"
      "2017-10-09 07:01:55,10.0,4,40.0,6214e9\r\n"
      "2017-10-10 06:13:03,5.0,8,40.0,6214e9\r\n";
  Result<Trace> trace = ParseTrace(text, "philly.csv");
  ASSERT_TRUE(trace) << trace.error().message;
  ASSERT_EQ(trace->jobs.size(), 4u);
  EXPECT_EQ(trace->jobs[0].id, 1);
  EXPECT_DOUBLE_EQ(trace->jobs[0].submit_s, 0);
  EXPECT_EQ(trace->jobs[0].queue, "6214e9");
  EXPECT_EQ(trace->jobs[0].num_gpus, 2);
  EXPECT_EQ(trace->jobs[1].id, 0);  // equal timestamps keep file order
  EXPECT_EQ(trace->jobs[2].id, 2);
  EXPECT_DOUBLE_EQ(trace->jobs[1].submit_s, 48 * 60 + 52);
  EXPECT_DOUBLE_EQ(trace->jobs[3].submit_s, 86400);
  EXPECT_DOUBLE_EQ(trace->jobs[1].duration_s, 66);
}

TEST(TraceReaderTest, ItpRawAndAugmentedFilesShiftTheFirstArrivalToZero) {
  Result<Trace> raw = ParseTrace(
      "job_id,submission_time,duration,num_gpu\n"
      "965d744f-0445,1932025,2429,64\n"
      "fb10987f-20ac,2000581,1532,1\n",
      "cluster01.csv");
  ASSERT_TRUE(raw) << raw.error().message;
  ASSERT_EQ(raw->jobs.size(), 2u);
  EXPECT_EQ(raw->jobs[0].id, 0);
  EXPECT_EQ(raw->jobs[1].id, 1);
  EXPECT_DOUBLE_EQ(raw->jobs[1].submit_s, 2000581 - 1932025);
  EXPECT_EQ(raw->jobs[0].num_gpus, 64);
  EXPECT_DOUBLE_EQ(raw->jobs[0].duration_s, 2429);

  Result<Trace> augmented = ParseTrace(
      "job_id,submission_time,num_iteration,model_name,deadline,batch_size,num_gpu,duration\n"
      "bdd640fb,3715485,3249,deepspeech2,3716178,32,1,1075\n"
      "23b8c1e9,3717550,48266,inception3,3720405,64,8,3604\n",
      "195job.csv");
  ASSERT_TRUE(augmented) << augmented.error().message;
  EXPECT_EQ(augmented->jobs[1].num_gpus, 8);
  EXPECT_DOUBLE_EQ(augmented->jobs[1].duration_s, 3604);
  EXPECT_DOUBLE_EQ(augmented->jobs[1].submit_s, 3717550 - 3715485);
  EXPECT_EQ(augmented->jobs[1].model, "inception3");
  EXPECT_EQ(augmented->jobs[1].iterations, 48266);
}

// Every error is one sentence naming the source, the line and the column.
void ExpectError(const std::string& text, const std::string& expected) {
  Result<Trace> trace = ParseTrace(text, "t.csv");
  ASSERT_FALSE(trace) << "parsed: " << text;
  EXPECT_EQ(trace.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(trace.error().message, expected);
  EXPECT_EQ(trace.error().message.find('\n'), std::string::npos);
}

TEST(TraceReaderTest, BadInputIsOneSentenceNamingFileLineAndColumn) {
  ExpectError("a,b,c\n1,2,3\n",
              "t.csv:1: column 1: header 'a,b,c' is none of the known trace formats (philly-muri, "
              "philly-pollux, itp-elasticflow)");
  ExpectError("job_id,submission_time,duration,num_gpu\nx,1,2,1\ny,1,2\n",
              "t.csv:3: column 4: expected 4 columns as in the header, found 3");
  ExpectError("job_id,submission_time,duration,num_gpu\nx,1,2,many\n",
              "t.csv:2: column 'num_gpu' (4): 'many' is not a whole number");
  ExpectError("job_id,submission_time,duration,num_gpu\nx,soon,2,1\n",
              "t.csv:2: column 'submission_time' (2): 'soon' is not a number");
  ExpectError("job_id,submission_time,duration,num_gpu\nx,1,2,0\n",
              "t.csv:2: column 'num_gpu' (4): '0' is not a GPU count of at least 1");
  ExpectError("job_id,submission_time,duration,num_gpu\nx,1,-2,1\n",
              "t.csv:2: column 'duration' (3): '-2' is a negative duration");
  ExpectError("timestamp,duration,num_gpus,gpu_time,cluster\n2017-13-01 00:00:00,1,1,1,a\n",
              "t.csv:2: column 'timestamp' (1): '2017-13-01 00:00:00' is not a 'YYYY-MM-DD HH:MM:SS' "
              "timestamp");
  ExpectError("", "t.csv:1: column 1: the file is empty (no header line)");
  ExpectError("job_id,submission_time,duration,num_gpu\n\n",
              "t.csv:2: column 1: the trace has a header but no jobs");
}

TEST(TraceReaderTest, MissingFileIsNamed) {
  Result<Trace> trace = ReadTraceFile("/nonexistent/trace.csv");
  ASSERT_FALSE(trace);
  EXPECT_EQ(trace.error().message, "/nonexistent/trace.csv: cannot open the trace file");
}

}  // namespace
}  // namespace weft::sim
