#include "store/sqlite_kv_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <semaphore>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "store/group_commit.h"
#include "store/temp_dir_for_test.h"

namespace weft::store {
namespace {

std::unique_ptr<SqliteKvStore> OpenOrDie(const std::string& path) {
  auto store = SqliteKvStore::Open(path);
  EXPECT_TRUE(store.has_value()) << store.error().message;
  return store ? std::move(*store) : nullptr;
}

// Runs `sql` on the database with a connection of its own (outside the store under test).
void ExecRaw(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_free(error);
  sqlite3_close(db);
}

TEST(SqliteKvStoreTest, PersistsAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("kv.db");
  {
    auto store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Write({{"a", "1"}, {"b", "2"}, {"c", "3"}}).has_value());
    ASSERT_TRUE(store->Write({{"b", std::nullopt}}).has_value());
  }
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  auto all = store->List("");
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, (std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"c", "3"}}));
}

TEST(SqliteKvStoreTest, OpenFailsWhenDirectoryIsMissing) {
  TempDir dir;
  auto store = SqliteKvStore::Open(dir.File("missing/kv.db"));
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(store.error().message.find("does not exist"), std::string::npos)
      << store.error().message;
}

TEST(SqliteKvStoreTest, OpenFailsWhenFileIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.File("kv.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database\n";
  }
  auto store = SqliteKvStore::Open(path);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().message.rfind("sqlite: ", 0), 0u) << store.error().message;
  EXPECT_NE(store.error().message.find("not a database"), std::string::npos)
      << store.error().message;
}

TEST(SqliteKvStoreTest, FailedBatchIsRolledBackAndTheStoreStaysUsable) {
  TempDir dir;
  const std::string path = dir.File("kv.db");
  OpenOrDie(path);  // Creates the schema.
  ExecRaw(path,
          "CREATE TRIGGER poison BEFORE INSERT ON kv WHEN NEW.key = 'poison' "
          "BEGIN SELECT RAISE(ABORT, 'poisoned'); END");
  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write({{"keep", "old"}}).has_value());

  auto r = store->Write({{"keep", "new"}, {"a", "1"}, {"poison", "x"}, {"b", "2"}});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  EXPECT_EQ(r.error().message, "sqlite: put: poisoned");
  EXPECT_EQ(*store->Get("keep"), "old");
  EXPECT_EQ(*store->Get("a"), std::nullopt);
  EXPECT_EQ(store->List("")->size(), 1u);

  // No transaction was left open.
  ASSERT_TRUE(store->Write({{"a", "1"}}).has_value());
  EXPECT_EQ(*store->Get("a"), "1");
}

TEST(SqliteKvStoreTest, ReadersNeverSeeHalfABatch) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("kv.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write({{"pair/a", "0"}, {"pair/b", "0"}}).has_value());
  std::atomic<bool> writer_done{false};
  std::thread writer([&] {
    for (int i = 1; i <= 100; ++i) {
      const std::string v = std::to_string(i);
      EXPECT_TRUE(store->Write({{"pair/a", v}, {"pair/b", v}}).has_value());
    }
    writer_done = true;
  });
  int reads = 0;
  while (!writer_done) {
    auto pairs = store->List("pair/");
    ASSERT_TRUE(pairs.has_value()) << pairs.error().message;
    ASSERT_EQ(pairs->size(), 2u);
    ASSERT_EQ((*pairs)[0].second, (*pairs)[1].second);
    ++reads;
  }
  writer.join();
  EXPECT_EQ(*store->Get("pair/a"), "100");
  EXPECT_GT(reads, 0);
}

// Child side of the crash test: writes keys forever through a GroupCommitter and reports each
// key on `ack_fd` from its `done` callback, i.e. only once the store has said it is durable.
[[noreturn]] void CrashChild(const std::string& path, int ack_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // Never outlive a parent that failed.
  auto report = [ack_fd](const std::string& line) {
    size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::write(ack_fd, line.data() + off, line.size() - off);
      if (n <= 0) ::_exit(4);
      off += static_cast<size_t>(n);
    }
  };
  auto store = SqliteKvStore::Open(path);
  if (!store) {
    report("ERR " + store.error().message + "\n");
    ::_exit(2);
  }
  GroupCommitter committer(**store);
  std::counting_semaphore<64> in_flight(64);  // Bounds the queue while the parent reads.
  for (int i = 0;; ++i) {
    in_flight.acquire();
    std::string key = fmt::format("key/{:08}", i);
    WriteBatch batch = {{key, "value-" + key}};
    committer.Submit(std::move(batch), [key, &report, &in_flight](Result<> r) {
      if (!r) {
        report("ERR " + r.error().message + "\n");
        ::_exit(3);
      }
      report(key + "\n");
      in_flight.release();
    });
  }
}

TEST(SqliteKvStoreTest, AcknowledgedWritesSurviveKill9) {
  TempDir dir;
  const std::string path = dir.File("kv.db");
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    CrashChild(path, fds[1]);
  }
  ::close(fds[1]);

  // Reads acknowledgements until `enough` keys were acked or the pipe reaches EOF.
  std::string buffer;
  std::vector<std::string> acked;
  auto read_acks = [&](size_t enough) {
    char chunk[4096];
    while (acked.size() < enough) {
      const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
      size_t newline;
      while ((newline = buffer.find('\n')) != std::string::npos) {
        acked.push_back(buffer.substr(0, newline));
        buffer.erase(0, newline + 1);
      }
    }
  };
  read_acks(200);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  read_acks(SIZE_MAX);  // Acks already in the pipe when the child died count too.
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "child exited early; last acks: " << (acked.empty() ? "" : acked.back());
  ASSERT_GE(acked.size(), 200u);

  auto store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  std::set<std::string> seen;
  for (const std::string& key : acked) {
    ASSERT_EQ(key.rfind("key/", 0), 0u) << key;
    EXPECT_TRUE(seen.insert(key).second) << "acked twice: " << key;
    auto value = store->Get(key);
    ASSERT_TRUE(value.has_value()) << value.error().message;
    EXPECT_EQ(*value, "value-" + key) << key;
  }
  // Keys are written in order, so acknowledged keys form a prefix of what the store holds.
  auto all = store->List("key/");
  ASSERT_TRUE(all.has_value());
  EXPECT_GE(all->size(), acked.size());
}

TEST(SqliteKvStoreTest, GroupCommitterOnSqliteLandsEveryBatch) {
  TempDir dir;
  auto store = OpenOrDie(dir.File("kv.db"));
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<int> ok{0};
  {
    GroupCommitter committer(*store);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          committer.Submit({{fmt::format("t{}/{:04}", t, i), "v"}}, [&](Result<> r) {
            if (r) ++ok;
          });
        }
      });
    }
    for (auto& thread : threads) thread.join();
    committer.Flush();
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
  }
  EXPECT_EQ(store->List("t")->size(), static_cast<size_t>(kThreads * kPerThread));
}

}  // namespace
}  // namespace weft::store
