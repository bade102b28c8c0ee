// An index of a cluster's nodes by what they have free (and by pool, GPU model, state), so
// that placing a rank visits only the nodes that could hold it instead of every node.
//
// The index answers with a SUPERSET: ForEach may name nodes that do not satisfy the query,
// never skip one that does. Filters stay the source of truth: a filter plugin narrows a
// query only by conditions its own Filter rejects (FilterPlugin::Narrow), and the placer
// still runs every filter on every node the index names. So using the index changes which
// nodes are looked at, never which nodes pass, nor the choice among them.
//
// Cost: one bit per node per level. Free GPUs have one level per count (up to 64); free
// CPUs and memory have two levels per power of two. A query ANDs a handful of bit rows
// (N/64 words each) and walks the set bits, so it is O(N/64 + answers); an update flips a
// node's bits between its old and new levels. Building is O(N + levels · N/64).
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "model/resources.h"
#include "sched/snapshot.h"

namespace weft::sched {

// What a placement may prune on. Every field only narrows; the default asks for every node.
struct NodeQuery {
  model::Resources free_at_least;     // free >= this in every dimension (<= 0: any)
  bool idle = false;                  // only idle nodes
  bool schedulable = false;           // only schedulable nodes
  const std::string* gpu_model = nullptr;  // only nodes with this GPU model (nullptr: any)
  std::span<const std::string> pools;      // only nodes in one of these pools (empty: any)
};

class NodeIndex {
 public:
  // Indexes `nodes` as they are now; keeps no reference to them. Nodes are named by their
  // position in `nodes`.
  explicit NodeIndex(std::span<const NodeView> nodes);

  std::size_t size() const { return size_; }

  // Re-indexes node `i` from `node` (its free resources, idle and schedulable flags, pool and
  // GPU model). CONTRACT: whoever changes an indexed node must call this before the next
  // query, or a query may skip a node that now qualifies.
  void Update(std::size_t i, const NodeView& node);

  // Calls visit(i) for every node i that might satisfy `query`, in ascending order of i: a
  // superset of the nodes satisfying it (see the file comment).
  template <typename Visit>
  void ForEach(const NodeQuery& query, Visit&& visit) const;

  // The most free CPU (millicores) on a schedulable node; 0 when there is none. O(1) but
  // after the last node holding the most shrank (then a rescan). Not thread-safe (caches).
  std::int64_t MaxFreeCpu() const;

  // Whether the index describes `nodes` exactly as Update would leave it (for tests).
  bool Consistent(std::span<const NodeView> nodes) const;

 private:
  // Free resources per dimension. A node sits in rows 0..Level(free) of its dimension, so the
  // row Level(request) holds every node with free >= request (levels are monotone).
  static constexpr std::size_t kGpu = 0, kCpu = 1, kMemory = 2, kDims = 3;
  static constexpr int kMaxGpuLevel = 64;
  static int RawLevel(std::size_t dim, std::int64_t value);
  static std::int64_t Value(std::size_t dim, const model::Resources& r);
  int Level(std::size_t dim, std::int64_t value) const;
  const std::uint64_t* Row(std::size_t dim, int level) const {
    return rows_[dim].data() + static_cast<std::size_t>(level) * words_;
  }

  // Bit rows keyed by a name (pools, GPU models), in order of first appearance.
  struct Named {
    std::string name;
    std::vector<std::uint64_t> bits;
  };
  static int NamedId(std::vector<Named>& set, const std::string& name, std::size_t words);
  static const std::uint64_t* FindNamed(const std::vector<Named>& set, const std::string& name);

  static void Set(std::vector<std::uint64_t>& bits, std::size_t i, bool on) {
    const std::uint64_t mask = std::uint64_t{1} << (i % 64);
    if (on) {
      bits[i / 64] |= mask;
    } else {
      bits[i / 64] &= ~mask;
    }
  }
  void RescanMaxCpu() const;

  std::size_t size_ = 0;
  std::size_t words_ = 0;  // per row: ceil(size_ / 64)
  std::array<int, kDims> levels_{};  // rows per dimension (>= 1)
  std::array<std::vector<std::uint64_t>, kDims> rows_;
  std::vector<std::uint64_t> idle_, schedulable_;
  std::vector<Named> pools_, models_;
  struct Entry {
    model::Resources free;
    int pool = 0, model = 0;  // ids in pools_ / models_
    bool idle = false, schedulable = false;
  };
  std::vector<Entry> entries_;  // what each node was indexed with
  // Per node, its free CPU when schedulable, else 0: MaxFreeCpu reads this compact copy (it
  // runs after every start).
  std::vector<std::int64_t> schedulable_cpu_;
  // When !max_cpu_stale_: max_cpu_ = max(0, schedulable_cpu_) and max_cpu_count_ nodes hold
  // exactly it (0 when it is the floor 0 alone). When stale: max_cpu_ is an upper bound.
  mutable std::int64_t max_cpu_ = 0;
  mutable std::size_t max_cpu_count_ = 0;
  mutable bool max_cpu_stale_ = false;
};

template <typename Visit>
void NodeIndex::ForEach(const NodeQuery& query, Visit&& visit) const {
  const std::uint64_t* gpu = Row(kGpu, Level(kGpu, query.free_at_least.gpus));
  const std::uint64_t* cpu = Row(kCpu, Level(kCpu, query.free_at_least.cpu_milli));
  const std::uint64_t* memory = Row(kMemory, Level(kMemory, query.free_at_least.memory_bytes));
  const std::uint64_t* model = nullptr;
  if (query.gpu_model != nullptr) {
    model = FindNamed(models_, *query.gpu_model);
    if (model == nullptr) return;  // no node has that model
  }
  // Pools: up to kMaxPools rows ORed; a longer list is not narrowed (a superset is fine).
  constexpr std::size_t kMaxPools = 8;
  std::array<const std::uint64_t*, kMaxPools> pools{};
  std::size_t pool_rows = 0;
  const bool by_pool = !query.pools.empty() && query.pools.size() <= kMaxPools;
  if (by_pool) {
    for (const std::string& name : query.pools) {
      if (const std::uint64_t* row = FindNamed(pools_, name)) pools[pool_rows++] = row;
    }
    if (pool_rows == 0) return;  // no node is in any of them
  }
  for (std::size_t w = 0; w < words_; ++w) {
    std::uint64_t bits = gpu[w] & cpu[w] & memory[w];
    if (query.idle) bits &= idle_[w];
    if (query.schedulable) bits &= schedulable_[w];
    if (model != nullptr) bits &= model[w];
    if (by_pool && bits != 0) {
      std::uint64_t in_pools = 0;
      for (std::size_t p = 0; p < pool_rows; ++p) in_pools |= pools[p][w];
      bits &= in_pools;
    }
    while (bits != 0) {
      visit(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
      bits &= bits - 1;
    }
  }
}

}  // namespace weft::sched
