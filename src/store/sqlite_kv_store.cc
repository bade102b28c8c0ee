#include "store/sqlite_kv_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

namespace weft::store {
namespace {

constexpr int kBusyTimeoutMs = 5000;

ErrorCode CodeFor(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorCode::kUnavailable;
    default:
      return ErrorCode::kInternal;
  }
}

// The error from the last call on `db` that returned `rc`. Must be built before any other call
// on `db` overwrites the message.
Error SqliteError(sqlite3* db, int rc, std::string_view what) {
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error{CodeFor(rc), fmt::format("sqlite: {}: {}", what, message)};
}

// Resets a cached statement when it goes out of scope, so it holds no transaction (a reader
// left mid-scan would pin the WAL and block checkpoints) and no pointers to caller memory.
class StmtScope {
 public:
  explicit StmtScope(sqlite3_stmt* stmt) : stmt_(stmt) {}
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;
  ~StmtScope() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_;
};

// Binds bytes as TEXT (keys: ordered bytewise by the BINARY collation). SQLITE_STATIC: the
// caller keeps `s` alive until the statement is reset.
int BindText(sqlite3_stmt* stmt, int index, std::string_view s) {
  // data() of an empty string_view may be null, which would bind NULL instead of "".
  return sqlite3_bind_text64(stmt, index, s.empty() ? "" : s.data(), s.size(), SQLITE_STATIC,
                             SQLITE_UTF8);
}

int BindBlob(sqlite3_stmt* stmt, int index, std::string_view s) {
  // A null pointer would bind NULL instead of a zero-length blob.
  return sqlite3_bind_blob64(stmt, index, s.empty() ? "" : s.data(), s.size(), SQLITE_STATIC);
}

// Column bytes exactly as stored (TEXT or BLOB), NULs included.
std::string ColumnBytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

// The smallest string greater than every string starting with `prefix`; nullopt when there
// is none (the prefix is empty or all 0xff bytes).
std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty() && static_cast<unsigned char>(s.back()) == 0xff) s.pop_back();
  if (s.empty()) return std::nullopt;
  s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
  return s;
}

Result<> Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return {};
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return Fail(CodeFor(rc), fmt::format("sqlite: {}: {}", sql, text));
}

// fsync()s the directory holding `path`, so a newly created database file's directory entry
// survives power loss (SQLite does this itself for the WAL, not for the main file).
Result<> SyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("sqlite: open directory {}: {}", dir.string(), std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int saved_errno = errno;
  ::close(fd);
  if (rc != 0) {
    return Fail(ErrorCode::kUnavailable, fmt::format("sqlite: fsync directory {}: {}",
                                                     dir.string(), std::strerror(saved_errno)));
  }
  return {};
}

}  // namespace

void SqliteKvStore::DbCloser::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void SqliteKvStore::StmtFinalizer::operator()(sqlite3_stmt* stmt) const {
  sqlite3_finalize(stmt);
}

SqliteKvStore::~SqliteKvStore() = default;

Result<std::unique_ptr<SqliteKvStore>> SqliteKvStore::Open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  if (ec || !fs::is_directory(dir, ec)) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("sqlite: open {}: directory {} does not exist", path, dir.string()));
  }

  std::unique_ptr<SqliteKvStore> store(new SqliteKvStore());

  // Opens one connection. NOMUTEX: each connection is only used under its own mutex.
  auto open = [&path](int flags) -> Result<DbPtr> {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    DbPtr db(raw);
    if (rc != SQLITE_OK) return tl::unexpected(SqliteError(raw, rc, "open " + path));
    sqlite3_extended_result_codes(db.get(), 1);
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
    return db;
  };
  auto prepare = [](sqlite3* db, const char* sql) -> Result<StmtPtr> {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return tl::unexpected(SqliteError(db, rc, std::string("prepare ") + sql));
    return stmt;
  };

  // Write connection: creates the file and the schema.
  auto write_db = open(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!write_db) return tl::unexpected(write_db.error());
  store->write_db_ = std::move(*write_db);
  sqlite3* w = store->write_db_.get();

  // The first statement reads the header: a file that is not a database fails here.
  {
    auto stmt = prepare(w, "PRAGMA journal_mode=WAL");
    if (!stmt) return tl::unexpected(stmt.error());
    const int rc = sqlite3_step(stmt->get());
    if (rc != SQLITE_ROW) return tl::unexpected(SqliteError(w, rc, "open " + path));
    const std::string mode = ColumnBytes(stmt->get(), 0);
    if (mode != "wal") {
      return Fail(ErrorCode::kInternal,
                  fmt::format("sqlite: open {}: cannot enable WAL (journal_mode={})", path, mode));
    }
  }
  if (auto r = Exec(w, "PRAGMA synchronous=FULL"); !r) return tl::unexpected(r.error());
  if (auto r = Exec(w, "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB) "
                       "WITHOUT ROWID");
      !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = SyncDirectory(dir); !r) return tl::unexpected(r.error());

  struct Prepared {
    StmtPtr* slot;
    sqlite3* db;
    const char* sql;
  };

  // Read connection: never writes (query_only), so it cannot take the write lock.
  auto read_db = open(SQLITE_OPEN_READWRITE);
  if (!read_db) return tl::unexpected(read_db.error());
  store->read_db_ = std::move(*read_db);
  sqlite3* r = store->read_db_.get();
  if (auto e = Exec(r, "PRAGMA query_only=1"); !e) return tl::unexpected(e.error());

  const Prepared statements[] = {
      {&store->begin_, w, "BEGIN IMMEDIATE"},
      {&store->commit_, w, "COMMIT"},
      {&store->rollback_, w, "ROLLBACK"},
      {&store->put_, w, "INSERT OR REPLACE INTO kv(key, value) VALUES(?1, ?2)"},
      {&store->delete_, w, "DELETE FROM kv WHERE key = ?1"},
      {&store->get_, r, "SELECT value FROM kv WHERE key = ?1"},
      {&store->list_range_, r,
       "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"},
      {&store->list_from_, r, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key"},
  };
  for (const Prepared& p : statements) {
    auto stmt = prepare(p.db, p.sql);
    if (!stmt) return tl::unexpected(stmt.error());
    *p.slot = std::move(*stmt);
  }
  return store;
}

Result<std::optional<std::string>> SqliteKvStore::Get(std::string_view key) const {
  std::lock_guard lock(read_mu_);
  sqlite3_stmt* stmt = get_.get();
  StmtScope scope(stmt);
  if (const int rc = BindText(stmt, 1, key); rc != SQLITE_OK) {
    return tl::unexpected(SqliteError(read_db_.get(), rc, "get"));
  }
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return tl::unexpected(SqliteError(read_db_.get(), rc, "get"));
  return ColumnBytes(stmt, 0);
}

Result<std::vector<std::pair<std::string, std::string>>> SqliteKvStore::List(
    std::string_view prefix) const {
  const std::optional<std::string> end = PrefixSuccessor(prefix);
  std::lock_guard lock(read_mu_);
  sqlite3_stmt* stmt = end ? list_range_.get() : list_from_.get();
  StmtScope scope(stmt);
  int rc = BindText(stmt, 1, prefix);
  if (rc == SQLITE_OK && end) rc = BindText(stmt, 2, *end);
  if (rc != SQLITE_OK) return tl::unexpected(SqliteError(read_db_.get(), rc, "list"));
  std::vector<std::pair<std::string, std::string>> out;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    out.emplace_back(ColumnBytes(stmt, 0), ColumnBytes(stmt, 1));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(SqliteError(read_db_.get(), rc, "list"));
  return out;
}

Result<> SqliteKvStore::Write(const WriteBatch& batch) {
  if (batch.empty()) return {};
  std::lock_guard lock(write_mu_);
  sqlite3* db = write_db_.get();

  // Runs one cached statement to completion.
  auto run = [db](sqlite3_stmt* stmt, const char* what, auto&&... binds) -> Result<> {
    StmtScope scope(stmt);
    int rc = SQLITE_OK;
    ((rc = rc == SQLITE_OK ? binds(stmt) : rc), ...);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return tl::unexpected(SqliteError(db, rc, what));
    return {};
  };
  // Leaves no transaction open after a failure. SQLite may already have rolled back itself.
  auto abort = [&](Error error) -> Result<> {
    if (sqlite3_get_autocommit(db) == 0) {
      StmtScope scope(rollback_.get());
      sqlite3_step(rollback_.get());
    }
    return tl::unexpected(std::move(error));
  };

  if (auto r = run(begin_.get(), "begin"); !r) return r;
  for (const WriteOp& op : batch) {
    Result<> r;
    if (op.value.has_value()) {
      r = run(
          put_.get(), "put", [&](sqlite3_stmt* s) { return BindText(s, 1, op.key); },
          [&](sqlite3_stmt* s) { return BindBlob(s, 2, *op.value); });
    } else {
      r = run(delete_.get(), "delete",
              [&](sqlite3_stmt* s) { return BindText(s, 1, op.key); });
    }
    if (!r) return abort(std::move(r.error()));
  }
  if (auto r = run(commit_.get(), "commit"); !r) return abort(std::move(r.error()));
  return {};
}

}  // namespace weft::store
