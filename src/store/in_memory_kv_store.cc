#include "store/in_memory_kv_store.h"

namespace weft::store {

Result<std::optional<std::string>> InMemoryKvStore::Get(std::string_view key) const {
  std::lock_guard lock(mu_);
  const auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  return it->second;
}

Result<std::vector<std::pair<std::string, std::string>>> InMemoryKvStore::List(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::lock_guard lock(mu_);
  // Keys with the prefix form one contiguous run starting at lower_bound(prefix).
  for (auto it = data_.lower_bound(prefix);
       it != data_.end() && std::string_view(it->first).starts_with(prefix); ++it) {
    out.emplace_back(it->first, it->second);
  }
  return out;
}

Result<> InMemoryKvStore::Write(const WriteBatch& batch) {
  std::lock_guard lock(mu_);
  for (const WriteOp& op : batch) {
    if (op.value.has_value()) {
      data_.insert_or_assign(op.key, *op.value);
    } else if (const auto it = data_.find(op.key); it != data_.end()) {
      data_.erase(it);
    }
  }
  return {};
}

}  // namespace weft::store
