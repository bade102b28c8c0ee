// KvStore on one SQLite file: table kv(key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID, in
// WAL mode with synchronous=FULL, so a Write() that returned success survives kill -9 of the
// process and, as far as the OS and disk honour fsync, power loss.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/kv_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace weft::store {

// Threads: Write() calls are serialised on the write connection; Get()/List() are serialised
// on a separate read connection and run concurrently with a Write() (WAL readers see the last
// committed state, never part of a batch). Every call is thread-safe.
// Keys and values are byte strings (NULs allowed); keys order bytewise, like std::string.
// Errors are Unavailable (busy, I/O, disk full, cannot open) or Internal (everything else),
// with message "sqlite: <what>: <sqlite errmsg>".
class SqliteKvStore final : public KvStore {
 public:
  // Opens or creates the database at `path`; its directory must exist. Fails when the
  // directory is missing or the file is not an SQLite database.
  static Result<std::unique_ptr<SqliteKvStore>> Open(const std::string& path);

  SqliteKvStore(const SqliteKvStore&) = delete;
  SqliteKvStore& operator=(const SqliteKvStore&) = delete;
  ~SqliteKvStore() override;

  Result<std::optional<std::string>> Get(std::string_view key) const override;
  Result<std::vector<std::pair<std::string, std::string>>> List(
      std::string_view prefix) const override;
  // One transaction (BEGIN IMMEDIATE ... COMMIT); rolled back on any failure. An empty batch
  // is a no-op.
  Result<> Write(const WriteBatch& batch) override;

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
  using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

  SqliteKvStore() = default;

  // Members are destroyed in reverse order: statements are finalized before their connection
  // closes.
  std::mutex write_mu_;  // Guards the write connection and its statements.
  DbPtr write_db_;
  StmtPtr begin_;
  StmtPtr commit_;
  StmtPtr rollback_;
  StmtPtr put_;
  StmtPtr delete_;

  mutable std::mutex read_mu_;  // Guards the read connection and its statements.
  DbPtr read_db_;
  StmtPtr get_;
  StmtPtr list_range_;  // key >= ?1 AND key < ?2
  StmtPtr list_from_;   // key >= ?1 (the prefix has no successor)
};

}  // namespace weft::store
