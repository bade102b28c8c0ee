// Store write throughput. Every write is durable (WAL + synchronous=FULL), so these measure
// fsync cost on the disk under the database: set WEFT_BENCH_DIR to the disk you care about
// (default: the system temp directory). A tmpfs or a host with a volatile write cache makes
// fsync nearly free and the numbers optimistic.
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "common/check.h"
#include "store/group_commit.h"
#include "store/sqlite_kv_store.h"

namespace weft::store {
namespace {

// A fresh database in a fresh directory; both removed on destruction.
class BenchDb {
 public:
  BenchDb() {
    const char* base = std::getenv("WEFT_BENCH_DIR");
    std::string pattern =
        ((base != nullptr ? std::filesystem::path(base) : std::filesystem::temp_directory_path()) /
         "weft-store-bench-XXXXXX")
            .string();
    WEFT_CHECK(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    auto store = SqliteKvStore::Open((dir_ / "kv.db").string());
    WEFT_CHECK(store.has_value());
    store_ = std::move(*store);
  }
  BenchDb(const BenchDb&) = delete;
  BenchDb& operator=(const BenchDb&) = delete;
  ~BenchDb() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SqliteKvStore& store() { return *store_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<SqliteKvStore> store_;
};

// (a) One small single-key batch per Write(): one transaction, one fsync per item.
void BM_SqliteWriteOneBatch(benchmark::State& state) {
  BenchDb db;
  const std::string value(100, 'v');
  std::int64_t i = 0;
  for (auto _ : state) {
    auto r = db.store().Write({{fmt::format("job/{:012}", i++), value}});
    if (!r) state.SkipWithError(r.error().message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SqliteWriteOneBatch)->UseRealTime();

// (b) N producer threads, each submitting single-key ~1 KB batches through one
// GroupCommitter and waiting for its own `done` before the next: a durable-request server.
// Counts the group commits the committer makes and the time spent in them.
class CountingStore final : public KvStore {
 public:
  explicit CountingStore(KvStore& inner) : inner_(inner) {}
  Result<std::optional<std::string>> Get(std::string_view key) const override {
    return inner_.Get(key);
  }
  Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) const override {
    return inner_.List(prefix);
  }
  Result<> Write(const WriteBatch& batch) override {
    const auto start = std::chrono::steady_clock::now();
    Result<> r = inner_.Write(batch);
    write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                         .count();
    ++writes;
    return r;
  }
  // Written by the committer's writer thread; read after it is joined.
  std::int64_t writes = 0;
  double write_seconds = 0;

 private:
  KvStore& inner_;
};

struct Shared {
  std::unique_ptr<BenchDb> db;
  std::unique_ptr<CountingStore> counting;
  std::unique_ptr<GroupCommitter> committer;
};
Shared g_shared;
// Keys are allocated in submission order across producers, like sequential job ids.
std::atomic<std::int64_t> g_next_key{0};

void BM_GroupCommitProducers(benchmark::State& state) {
  // Thread 0 sets up before and tears down after the timed loop; the framework's barriers at
  // loop start and end order this against the other threads.
  if (state.thread_index() == 0) {
    g_shared.db = std::make_unique<BenchDb>();
    g_shared.counting = std::make_unique<CountingStore>(g_shared.db->store());
    g_shared.committer = std::make_unique<GroupCommitter>(*g_shared.counting);
  }
  const std::string value(1024, 'v');
  for (auto _ : state) {
    std::promise<Result<>> done;
    std::future<Result<>> result = done.get_future();
    g_shared.committer->Submit(
        {{fmt::format("job/{:012}", g_next_key.fetch_add(1, std::memory_order_relaxed)), value}},
        [&done](Result<> r) { done.set_value(std::move(r)); });
    if (Result<> r = result.get(); !r) state.SkipWithError(r.error().message.c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    g_shared.committer.reset();  // Joins the writer thread.
    const auto writes = static_cast<double>(std::max<std::int64_t>(g_shared.counting->writes, 1));
    // Per-thread counters are summed: thread 0 reports totals for the whole run.
    state.counters["batches_per_commit"] =
        static_cast<double>(state.iterations() * state.threads()) / writes;
    state.counters["commit_us"] = 1e6 * g_shared.counting->write_seconds / writes;
    g_shared.counting.reset();
    g_shared.db.reset();
  }
}
BENCHMARK(BM_GroupCommitProducers)->Threads(1)->Threads(8)->Threads(32)->UseRealTime();

}  // namespace
}  // namespace weft::store
