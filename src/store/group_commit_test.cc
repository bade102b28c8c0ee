#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/in_memory_kv_store.h"

namespace weft::store {
namespace {

// An InMemoryKvStore that records every Write, fails any batch containing the key "bad", and
// can hold its first Write until released (so the test controls what the next group holds).
class ScriptedStore final : public KvStore {
 public:
  explicit ScriptedStore(bool hold_first_write) : hold_(hold_first_write) {}

  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return inner_.Get(key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) const override {
    return inner_.List(prefix);
  }
  Result<> Write(const WriteBatch& batch) override {
    std::vector<std::string> keys;
    for (const WriteOp& op : batch) keys.push_back(op.key);
    {
      std::lock_guard lock(mu_);
      writes_.push_back(keys);
    }
    if (hold_) {
      hold_ = false;  // Only the writer thread calls Write.
      entered_.set_value();
      release_.get_future().wait();
    }
    for (const std::string& key : keys) {
      if (key == "bad") return Fail(ErrorCode::kInvalidArgument, "bad key");
    }
    return inner_.Write(batch);
  }

  std::future<void> Entered() { return entered_.get_future(); }
  void Release() { release_.set_value(); }
  std::vector<std::vector<std::string>> writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }

 private:
  InMemoryKvStore inner_;
  bool hold_;
  std::promise<void> entered_;
  std::promise<void> release_;
  mutable std::mutex mu_;
  std::vector<std::vector<std::string>> writes_;
};

TEST(GroupCommitterTest, DoneCallbacksRunInSubmissionOrder) {
  InMemoryKvStore store;
  std::vector<int> order;  // Touched only on the writer thread until Flush() returns.
  GroupCommitter committer(store);
  for (int i = 0; i < 1000; ++i) {
    committer.Submit({{"k/" + std::to_string(i), "v"}}, [&order, i](Result<> r) {
      EXPECT_TRUE(r.has_value());
      order.push_back(i);
    });
  }
  committer.Flush();
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(store.List("k/")->size(), 1000u);
}

TEST(GroupCommitterTest, FlushWaitsForEveryEarlierBatch) {
  ScriptedStore store(/*hold_first_write=*/true);
  std::future<void> entered = store.Entered();
  std::atomic<int> done{0};
  GroupCommitter committer(store);
  committer.Submit({{"a", "1"}}, [&](Result<>) { ++done; });
  entered.wait();  // The writer is inside Write() for "a".
  committer.Submit({{"b", "2"}}, [&](Result<>) { ++done; });
  std::thread flusher([&] {
    committer.Flush();
    // Everything submitted before Flush() has completed by the time it returns.
    EXPECT_EQ(done.load(), 2);
    EXPECT_EQ(*store.Get("b"), "2");
  });
  store.Release();
  flusher.join();
  committer.Flush();  // Nothing pending: returns at once.
}

TEST(GroupCommitterTest, QueuedBatchesCommitAsOneWrite) {
  ScriptedStore store(/*hold_first_write=*/true);
  std::future<void> entered = store.Entered();
  GroupCommitter committer(store);
  committer.Submit({{"first", "v"}}, nullptr);
  entered.wait();
  committer.Submit({{"x", "1"}, {"y", "1"}}, nullptr);
  committer.Submit({{"z", "1"}}, nullptr);
  store.Release();
  committer.Flush();
  EXPECT_EQ(store.writes(), (std::vector<std::vector<std::string>>{{"first"}, {"x", "y", "z"}}));
}

TEST(GroupCommitterTest, OneBadBatchFailsOnlyItself) {
  ScriptedStore store(/*hold_first_write=*/true);
  std::future<void> entered = store.Entered();
  std::vector<std::string> results;  // Writer thread only until Flush() returns.
  auto record = [&results](std::string name) {
    return [&results, name](Result<> r) { results.push_back(name + (r ? ":ok" : ":failed")); };
  };
  GroupCommitter committer(store);
  committer.Submit({{"first", "v"}}, record("first"));
  entered.wait();
  committer.Submit({{"good1", "v"}}, record("good1"));
  committer.Submit({{"also-bad", "v"}, {"bad", "v"}}, record("bad"));
  committer.Submit({{"good2", "v"}}, record("good2"));
  store.Release();
  committer.Flush();

  EXPECT_EQ(results,
            (std::vector<std::string>{"first:ok", "good1:ok", "bad:failed", "good2:ok"}));
  EXPECT_EQ(store.writes(), (std::vector<std::vector<std::string>>{
                                {"first"},
                                {"good1", "also-bad", "bad", "good2"},  // The group, failed.
                                {"good1"},
                                {"also-bad", "bad"},
                                {"good2"},
                            }));
  EXPECT_EQ(*store.Get("good1"), "v");
  EXPECT_EQ(*store.Get("good2"), "v");
  EXPECT_EQ(*store.Get("also-bad"), std::nullopt);
}

TEST(GroupCommitterTest, ConcurrentSubmittersAllLandInPerThreadOrder) {
  InMemoryKvStore store;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  std::vector<std::vector<int>> seen(kThreads);  // Writer thread only until Flush().
  {
    GroupCommitter committer(store);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          committer.Submit({{"t" + std::to_string(t) + "/" + std::to_string(i), "v"}},
                           [&seen, t, i](Result<> r) {
                             EXPECT_TRUE(r.has_value());
                             seen[t].push_back(i);
                           });
        }
      });
    }
    for (auto& thread : threads) thread.join();
    committer.Flush();
  }
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(seen[t][i], i);
  }
  EXPECT_EQ(store.List("t")->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(GroupCommitterTest, DestructorCommitsEverythingSubmitted) {
  InMemoryKvStore store;
  int done = 0;
  {
    GroupCommitter committer(store);
    for (int i = 0; i < 300; ++i) {
      committer.Submit({{"k/" + std::to_string(i), "v"}}, [&done](Result<>) { ++done; });
    }
  }
  EXPECT_EQ(done, 300);
  EXPECT_EQ(store.List("k/")->size(), 300u);
}

TEST(GroupCommitterTest, DoneMaySubmitMore) {
  InMemoryKvStore store;
  std::promise<void> chained;
  GroupCommitter committer(store);
  committer.Submit({{"a", "1"}}, [&](Result<>) {
    committer.Submit({{"b", "2"}}, [&](Result<>) { chained.set_value(); });
  });
  chained.get_future().wait();
  EXPECT_EQ(*store.Get("b"), "2");
}

}  // namespace
}  // namespace weft::store
