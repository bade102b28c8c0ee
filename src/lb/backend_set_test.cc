#include "lb/backend_set.h"

#include <gtest/gtest.h>

namespace weft::lb {
namespace {

TEST(MergeBackendsTest, KeepsUnchangedEntriesWithTheirStateAndTakesNewReadiness) {
  std::uint64_t serial = 1;
  auto first = MergeBackends(
      BackendSet{}, {{"a", "127.0.0.1", 8001, true}, {"b", "127.0.0.1", 8002, true}}, serial, {});
  ASSERT_TRUE(first.has_value());
  (*first)->entries[0]->in_flight = 3;

  auto second = MergeBackends(**first,
                              {{"a", "127.0.0.1", 8001, false}, {"b", "127.0.0.1", 9999, true},
                               {"c", "localhost", 8003, true}},
                              serial, {});

  ASSERT_TRUE(second.has_value());
  const auto& e = (*second)->entries;
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0], (*first)->entries[0]);  // same id, host, port: same entry
  EXPECT_EQ(e[0]->in_flight.load(), 3);
  EXPECT_FALSE(e[0]->ready.load());
  EXPECT_NE(e[1], (*first)->entries[1]);  // moved to another port: a new entry
  EXPECT_EQ(e[2]->ip, "127.0.0.1");
  EXPECT_EQ(serial, 5u);
}

TEST(MergeBackendsTest, RejectsBadBackendsNamingTheField) {
  struct Case {
    const char* name;
    std::vector<Backend> backends;
    const char* field;
  };
  const Case kCases[] = {
      {"empty id", {{"", "127.0.0.1", 80, true}}, "backends[0].id"},
      {"duplicate id", {{"a", "127.0.0.1", 80, true}, {"a", "127.0.0.1", 81, true}},
       "backends[1].id"},
      {"hostname", {{"a", "example.com", 80, true}}, "backends[0].host"},
      {"port", {{"a", "::1", 0, true}}, "backends[0].port"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    std::uint64_t serial = 1;

    auto merged = MergeBackends(BackendSet{}, c.backends, serial, {});

    ASSERT_FALSE(merged.has_value());
    EXPECT_EQ(merged.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(merged.error().message.rfind(c.field, 0), 0u) << merged.error().message;
  }
}

}  // namespace
}  // namespace weft::lb
