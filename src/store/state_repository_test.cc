#include "store/state_repository.h"

#include <gtest/gtest.h>

#include "store/in_memory_kv_store.h"

namespace weft::store {
namespace {

model::Job MakeJob(model::JobId id) {
  model::Job job;
  job.id = id;
  job.spec.name = "job" + std::to_string(id);
  job.spec.num_nodes = 1;
  return job;
}

TEST(StateRepositoryTest, RoundTripsJobsInIdOrderNodesAndNextId) {
  InMemoryKvStore store;
  model::Node node;
  node.name = "n1";
  node.address = "10.0.0.1";
  ASSERT_TRUE(store.Write({PutJob(MakeJob(10)), PutJob(MakeJob(2)), PutJob(MakeJob(1)),
                           PutNode(node), PutNextJobId(5)})
                  .has_value());
  auto state = LoadState(store);
  ASSERT_TRUE(state.has_value()) << state.error().message;
  ASSERT_EQ(state->jobs.size(), 3u);
  EXPECT_EQ(state->jobs[0].id, 1);
  EXPECT_EQ(state->jobs[1].id, 2);
  EXPECT_EQ(state->jobs[2].id, 10);  // Zero-padded keys order numerically.
  EXPECT_EQ(state->jobs[2].spec.name, "job10");
  ASSERT_EQ(state->nodes.size(), 1u);
  EXPECT_EQ(state->nodes[0].address, "10.0.0.1");
  EXPECT_EQ(state->next_job_id, 11);  // Never reuses a stored id, whatever meta says.
}

TEST(StateRepositoryTest, RoundTripsUsersWithTheirTokenHashOnly) {
  InMemoryKvStore store;
  model::User alice{"alice", false, std::string(64, 'a'), FromUnixMicros(5), false};
  model::User root{"root", true, std::string(64, 'b'), FromUnixMicros(6), true};
  ASSERT_TRUE(store.Write({PutUser(alice), PutUser(root)}).has_value());
  auto state = LoadState(store);
  ASSERT_TRUE(state.has_value()) << state.error().message;
  ASSERT_EQ(state->users.size(), 2u);
  EXPECT_EQ(state->users[0], alice);
  EXPECT_EQ(state->users[1], root);
}

TEST(StateRepositoryTest, EmptyStoreLoadsEmptyState) {
  InMemoryKvStore store;
  auto state = LoadState(store);
  ASSERT_TRUE(state.has_value());
  EXPECT_TRUE(state->jobs.empty());
  EXPECT_EQ(state->next_job_id, 1);
}

TEST(StateRepositoryTest, UndecodableRecordFailsNamingTheKey) {
  InMemoryKvStore store;
  ASSERT_TRUE(store.Write({{"job/00000000000000000003", "{not json"}}).has_value());
  auto state = LoadState(store);
  ASSERT_FALSE(state.has_value());
  EXPECT_EQ(state.error().code, ErrorCode::kInternal);
  EXPECT_NE(state.error().message.find("job/00000000000000000003"), std::string::npos);
}

}  // namespace
}  // namespace weft::store
