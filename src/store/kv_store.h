// Durable key-value state. Small on purpose (LevelDB's lesson): engines implement three
// calls; typed repositories live above. Implementations: InMemoryKvStore, SqliteKvStore.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace weft::store {

struct WriteOp {
  std::string key;
  std::optional<std::string> value;  // nullopt deletes the key
};
using WriteBatch = std::vector<WriteOp>;

class KvStore {
 public:
  virtual ~KvStore() = default;
  // nullopt when the key does not exist.
  virtual Result<std::optional<std::string>> Get(std::string_view key) const = 0;
  // Every pair whose key starts with `prefix`, ordered by key.
  virtual Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) const = 0;
  // Applies the whole batch atomically; durable (survives kill -9 of the process) on return.
  // Thread-safety: implementations allow one writer concurrent with readers.
  virtual Result<> Write(const WriteBatch& batch) = 0;
};

}  // namespace weft::store
