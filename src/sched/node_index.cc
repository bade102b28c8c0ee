#include "sched/node_index.h"

#include <algorithm>

namespace weft::sched {

int NodeIndex::RawLevel(std::size_t dim, std::int64_t value) {
  if (value <= 0) return 0;
  if (dim == kGpu) return static_cast<int>(std::min<std::int64_t>(value, kMaxGpuLevel));
  // Two levels per power of two: 1 + 2·floor(log2 v) + (the bit below the leading one).
  // Non-decreasing in `value`, which is all a superset answer needs.
  const int exponent = 63 - std::countl_zero(static_cast<std::uint64_t>(value));
  const int half = exponent >= 1 ? static_cast<int>((value >> (exponent - 1)) & 1) : 0;
  return 1 + 2 * exponent + half;
}

std::int64_t NodeIndex::Value(std::size_t dim, const model::Resources& r) {
  switch (dim) {
    case kGpu: return r.gpus;
    case kCpu: return r.cpu_milli;
    default: return r.memory_bytes;
  }
}

// Clamping to the top row keeps the level monotone: a request beyond every row asks the top
// row, whose nodes are a superset of those with that much free.
int NodeIndex::Level(std::size_t dim, std::int64_t value) const {
  return std::min(RawLevel(dim, value), levels_[dim] - 1);
}

int NodeIndex::NamedId(std::vector<Named>& set, const std::string& name, std::size_t words) {
  for (std::size_t id = 0; id < set.size(); ++id) {
    if (set[id].name == name) return static_cast<int>(id);
  }
  set.push_back({name, std::vector<std::uint64_t>(words, 0)});
  return static_cast<int>(set.size() - 1);
}

const std::uint64_t* NodeIndex::FindNamed(const std::vector<Named>& set, const std::string& name) {
  for (const Named& named : set) {
    if (named.name == name) return named.bits.data();
  }
  return nullptr;
}

NodeIndex::NodeIndex(std::span<const NodeView> nodes)
    : size_(nodes.size()), words_((nodes.size() + 63) / 64) {
  // Rows per dimension: enough to tell apart every value up to the largest capacity or free
  // amount in the cluster (larger values, should a node gain them, share the top row).
  for (std::size_t dim = 0; dim < kDims; ++dim) {
    int top = 0;
    for (const NodeView& node : nodes) {
      top = std::max({top, RawLevel(dim, Value(dim, node.free)),
                      RawLevel(dim, Value(dim, node.capacity))});
    }
    levels_[dim] = top + 1;
    rows_[dim].assign(static_cast<std::size_t>(levels_[dim]) * words_, 0);
  }
  idle_.assign(words_, 0);
  schedulable_.assign(words_, 0);
  entries_.resize(size_);
  schedulable_cpu_.resize(size_);
  // Each node into the row of its own level, then every row gets the rows above it (a node
  // of level L belongs to rows 0..L): O(N + levels · N/64) instead of O(N · levels).
  for (std::size_t i = 0; i < size_; ++i) {
    const NodeView& node = nodes[i];
    Entry& entry = entries_[i];
    entry.free = node.free;
    entry.idle = node.idle;
    entry.schedulable = node.schedulable;
    schedulable_cpu_[i] = node.schedulable ? node.free.cpu_milli : 0;
    entry.pool = NamedId(pools_, node.pool, words_);
    entry.model = NamedId(models_, node.gpu_model, words_);
    for (std::size_t dim = 0; dim < kDims; ++dim) {
      const std::size_t row = static_cast<std::size_t>(Level(dim, Value(dim, node.free)));
      rows_[dim][row * words_ + i / 64] |= std::uint64_t{1} << (i % 64);
    }
    Set(idle_, i, node.idle);
    Set(schedulable_, i, node.schedulable);
    Set(pools_[static_cast<std::size_t>(entry.pool)].bits, i, true);
    Set(models_[static_cast<std::size_t>(entry.model)].bits, i, true);
  }
  for (std::size_t dim = 0; dim < kDims; ++dim) {
    std::vector<std::uint64_t>& rows = rows_[dim];
    for (int level = levels_[dim] - 2; level >= 0; --level) {
      const std::size_t at = static_cast<std::size_t>(level) * words_;
      for (std::size_t w = 0; w < words_; ++w) rows[at + w] |= rows[at + words_ + w];
    }
  }
  RescanMaxCpu();
}

void NodeIndex::Update(std::size_t i, const NodeView& node) {
  Entry& entry = entries_[i];
  const std::size_t word = i / 64;
  const std::uint64_t bit = std::uint64_t{1} << (i % 64);
  for (std::size_t dim = 0; dim < kDims; ++dim) {
    const int before = Level(dim, Value(dim, entry.free));
    const int after = Level(dim, Value(dim, node.free));
    std::vector<std::uint64_t>& rows = rows_[dim];
    for (int level = after + 1; level <= before; ++level) {
      rows[static_cast<std::size_t>(level) * words_ + word] &= ~bit;
    }
    for (int level = before + 1; level <= after; ++level) {
      rows[static_cast<std::size_t>(level) * words_ + word] |= bit;
    }
  }
  entry.free = node.free;
  entry.idle = node.idle;
  entry.schedulable = node.schedulable;
  const std::int64_t cpu_before = schedulable_cpu_[i];
  const std::int64_t cpu_after = node.schedulable ? node.free.cpu_milli : 0;
  schedulable_cpu_[i] = cpu_after;
  if (cpu_after > max_cpu_) {
    // Above every node (max_cpu_ bounds them all, stale or not): the only one at the top.
    max_cpu_ = cpu_after;
    max_cpu_count_ = 1;
    max_cpu_stale_ = false;
  } else if (!max_cpu_stale_ && cpu_before != cpu_after) {
    if (cpu_before == max_cpu_) --max_cpu_count_;
    if (cpu_after == max_cpu_) ++max_cpu_count_;
    // The last node at the top shrank: which is the top now takes a rescan (unless the top
    // is the floor 0, which holds with no node at all).
    if (max_cpu_count_ == 0 && max_cpu_ > 0) max_cpu_stale_ = true;
  }
  Set(idle_, i, node.idle);
  Set(schedulable_, i, node.schedulable);
  if (pools_[static_cast<std::size_t>(entry.pool)].name != node.pool) {
    Set(pools_[static_cast<std::size_t>(entry.pool)].bits, i, false);
    entry.pool = NamedId(pools_, node.pool, words_);
    Set(pools_[static_cast<std::size_t>(entry.pool)].bits, i, true);
  }
  if (models_[static_cast<std::size_t>(entry.model)].name != node.gpu_model) {
    Set(models_[static_cast<std::size_t>(entry.model)].bits, i, false);
    entry.model = NamedId(models_, node.gpu_model, words_);
    Set(models_[static_cast<std::size_t>(entry.model)].bits, i, true);
  }
}

std::int64_t NodeIndex::MaxFreeCpu() const {
  if (max_cpu_stale_) RescanMaxCpu();
  return max_cpu_;
}

void NodeIndex::RescanMaxCpu() const {
  max_cpu_ = 0;
  max_cpu_count_ = 0;
  for (std::int64_t cpu : schedulable_cpu_) {
    if (cpu > max_cpu_) {
      max_cpu_ = cpu;
      max_cpu_count_ = 0;
    }
    if (cpu == max_cpu_) ++max_cpu_count_;
  }
  max_cpu_stale_ = false;
}

bool NodeIndex::Consistent(std::span<const NodeView> nodes) const {
  if (nodes.size() != size_) return false;
  auto has = [&](const std::uint64_t* bits, std::size_t i) {
    return ((bits[i / 64] >> (i % 64)) & 1) != 0;
  };
  for (std::size_t i = 0; i < size_; ++i) {
    const NodeView& node = nodes[i];
    const Entry& entry = entries_[i];
    if (!(entry.free == node.free) || entry.idle != node.idle ||
        entry.schedulable != node.schedulable ||
        pools_[static_cast<std::size_t>(entry.pool)].name != node.pool ||
        models_[static_cast<std::size_t>(entry.model)].name != node.gpu_model) {
      return false;
    }
    for (std::size_t dim = 0; dim < kDims; ++dim) {
      const int level = Level(dim, Value(dim, node.free));
      for (int row = 0; row < levels_[dim]; ++row) {
        if (has(Row(dim, row), i) != (row <= level)) return false;
      }
    }
    if (has(idle_.data(), i) != node.idle || has(schedulable_.data(), i) != node.schedulable ||
        schedulable_cpu_[i] != (node.schedulable ? node.free.cpu_milli : 0)) {
      return false;
    }
    for (std::size_t id = 0; id < pools_.size(); ++id) {
      if (has(pools_[id].bits.data(), i) != (static_cast<int>(id) == entry.pool)) return false;
    }
    for (std::size_t id = 0; id < models_.size(); ++id) {
      if (has(models_[id].bits.data(), i) != (static_cast<int>(id) == entry.model)) return false;
    }
  }
  return true;
}

}  // namespace weft::sched
