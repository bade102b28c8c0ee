// KvStore kept in process memory: for tests and simulations. Nothing survives the process,
// so "durable on return" holds only for the lifetime of the object.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/kv_store.h"

namespace weft::store {

// Thread-safe: every call takes one mutex, so a batch is applied atomically with respect to
// readers. Never fails.
class InMemoryKvStore final : public KvStore {
 public:
  InMemoryKvStore() = default;
  InMemoryKvStore(const InMemoryKvStore&) = delete;
  InMemoryKvStore& operator=(const InMemoryKvStore&) = delete;

  Result<std::optional<std::string>> Get(std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) const override;
  Result<> Write(const WriteBatch& batch) override;

 private:
  mutable std::mutex mu_;
  // std::less<> allows lookups by string_view without building a std::string.
  std::map<std::string, std::string, std::less<>> data_;
};

}  // namespace weft::store
