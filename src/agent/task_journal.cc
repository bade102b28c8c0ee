#include "agent/task_journal.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/log.h"
#include "model/json.h"

namespace weft::agent {
namespace {

using nlohmann::json;

// Past this many lines, a file holding mostly dead records is rewritten.
constexpr std::size_t kCompactAfterLines = 4096;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Replaces `path` through a synced temporary file and a rename (then syncs the directory).
Result<> ReplaceFileDurably(const std::string& path, std::string_view data) {
  const std::string temp = path + ".tmp";
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot create {}: {}", temp, std::strerror(errno)));
  }
  const bool ok = WriteAll(fd, data) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok)
    return Fail(ErrorCode::kInternal, fmt::format("cannot write {}: {}", temp, std::strerror(err)));
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot rename {} to {}: {}", temp, path, std::strerror(errno)));
  }
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

// model/json.h decodes a TaskReport only inside a NodeReport: wrap it, so that the mapping
// stays the one shared with the controller.
Result<model::TaskReport> TaskReportFromJson(const json& j) {
  const json wrapper = {{"name", ""}, {"capacity", json::object()}, {"tasks", json::array({j})}};
  auto report = model::NodeReportFromJson(wrapper);
  if (!report) return tl::unexpected(report.error());
  return report->tasks.front();
}

Result<model::TaskKey> TaskKeyFromJson(const json& key) {
  auto report = TaskReportFromJson(json{{"key", key}, {"phase", "EXITED"}});
  if (!report) return tl::unexpected(report.error());
  return report->key;
}

json StartToJson(const RunningTaskRecord& r) {
  json j{{"key", r.key},
         {"pid", r.pid},
         {"start_ticks", r.start_ticks},
         {"start_time", ToUnixMicros(r.start_time)},
         {"time_limit_us", r.time_limit ? json(r.time_limit->count()) : json()},
         {"marker", r.marker}};
  if (r.warning) {
    j["warning"] = json{{"signal", r.warning->signal},
                        {"before_us", r.warning->before.count()},
                        {"batch_only", r.warning->batch_only}};
  }
  return j;
}

Result<RunningTaskRecord> StartFromJson(const json& j) {
  if (!j.is_object() || !j.contains("key")) return Fail(ErrorCode::kInvalidArgument, "no key");
  auto key = TaskKeyFromJson(j.at("key"));
  if (!key) return tl::unexpected(key.error());
  RunningTaskRecord r;
  r.key = *key;
  try {
    r.pid = j.at("pid").get<pid_t>();
    r.start_ticks = j.at("start_ticks").get<unsigned long long>();
    r.start_time = FromUnixMicros(j.at("start_time").get<std::int64_t>());
    if (auto it = j.find("time_limit_us"); it != j.end() && !it->is_null()) {
      r.time_limit = Duration(it->get<std::int64_t>());
    }
    r.marker = j.at("marker").get<std::string>();
    if (auto it = j.find("warning"); it != j.end() && it->is_object()) {
      model::SignalSpec warning;
      warning.signal = it->at("signal").get<int>();
      warning.before = Duration(it->at("before_us").get<std::int64_t>());
      warning.batch_only = it->value("batch_only", false);
      r.warning = warning;
    }
  } catch (const json::exception& e) {
    return Fail(ErrorCode::kInvalidArgument, e.what());
  }
  return r;
}

std::size_t LineCount(const std::string& start, const std::string& exit,
                      const std::string& tombstone) {
  return (start.empty() ? 0 : 1) + (exit.empty() ? 0 : 1) + (tombstone.empty() ? 0 : 1);
}

}  // namespace

TaskJournal::TaskJournal(std::string path) : path_(std::move(path)) {}

TaskJournal::~TaskJournal() { Close(); }

Result<TaskJournal::Recovered> TaskJournal::Open(DurableCallback on_durable) {
  on_durable_ = std::move(on_durable);
  std::map<model::TaskKey, RunningTaskRecord> running;
  std::map<model::TaskKey, model::TaskReport> exits;
  std::map<model::TaskKey, std::int64_t> tombstones;
  std::ifstream in(path_);
  std::size_t line_number = 0;
  for (std::string text; std::getline(in, text);) {
    ++line_number;
    auto parsed = model::ParseJson(text);
    bool understood = false;
    if (parsed && parsed->is_object()) {
      const json& j = *parsed;
      if (auto it = j.find("start"); it != j.end()) {
        if (auto record = StartFromJson(*it)) {
          live_[record->key].start = Dump(j);
          running[record->key] = std::move(*record);
          understood = true;
        }
      } else if (auto it2 = j.find("exit"); it2 != j.end()) {
        if (auto report = TaskReportFromJson(*it2); report && report->exit) {
          Live& live = live_[report->key];
          live.start.clear();
          live.exit = Dump(j);
          running.erase(report->key);
          exits[report->key] = std::move(*report);
          understood = true;
        }
      } else if (auto it3 = j.find("ack"); it3 != j.end()) {
        auto key = TaskKeyFromJson(*it3);
        auto version = j.find("version");
        if (key && version != j.end() && version->is_number_integer()) {
          live_[*key] = Live{"", "", Dump(j)};
          running.erase(*key);
          exits.erase(*key);
          tombstones[*key] = version->get<std::int64_t>();
          understood = true;
        }
      } else if (auto it4 = j.find("forget"); it4 != j.end()) {
        if (auto key = TaskKeyFromJson(*it4)) {
          live_.erase(*key);
          tombstones.erase(*key);
          understood = true;
        }
      }
    }
    // A crash mid-append leaves a torn last line; anything else is worth a word.
    if (!understood && in.peek() != std::char_traits<char>::eof()) {
      Log(LogLevel::kWarn, "{}:{}: unreadable record skipped", path_, line_number);
    }
  }
  live_lines_ = 0;
  for (const auto& [key, live] : live_)
    live_lines_ += LineCount(live.start, live.exit, live.tombstone);
  {
    std::lock_guard lock(mu_);
    if (Result<> rewritten = Rewrite(); !rewritten) return tl::unexpected(rewritten.error());
  }
  Recovered recovered;
  for (auto& [key, record] : running) recovered.running.push_back(std::move(record));
  for (auto& [key, report] : exits) recovered.exits.push_back(std::move(report));
  recovered.tombstones = std::move(tombstones);
  thread_ = std::thread([this] { Run(); });
  return recovered;
}

Result<> TaskJournal::Rewrite() {
  std::string text;
  for (const auto& [key, live] : live_) {
    for (const std::string* line : {&live.start, &live.exit, &live.tombstone}) {
      if (!line->empty()) text += *line + "\n";
    }
  }
  if (Result<> written = ReplaceFileDurably(path_, text); !written) return written;
  if (fd_ >= 0) ::close(fd_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
  }
  lines_in_file_ = live_lines_;
  return {};
}

void TaskJournal::Write(const model::TaskKey& key, std::string line) {
  line += '\n';
  if (fd_ < 0 || !WriteAll(fd_, line)) {
    if (!std::exchange(failed_, true)) {
      Log(LogLevel::kError, "cannot append to {}: {}; a restarted agent will miss task {}", path_,
          std::strerror(errno), model::ToString(key));
    }
    return;
  }
  ++lines_in_file_;
}

void TaskJournal::RecordStart(const RunningTaskRecord& record) {
  std::string line = Dump(json{{"start", StartToJson(record)}});
  std::lock_guard lock(mu_);
  Live& live = live_[record.key];
  live_lines_ -= LineCount(live.start, live.exit, live.tombstone);
  live.start = line;
  live_lines_ += LineCount(live.start, live.exit, live.tombstone);
  Write(record.key, std::move(line));
}

void TaskJournal::RecordExit(const model::TaskReport& report) {
  std::string line = Dump(json{{"exit", report}});
  std::lock_guard lock(mu_);
  Live& live = live_[report.key];
  live_lines_ -= LineCount(live.start, live.exit, live.tombstone);
  live.start.clear();
  live.exit = line;
  live_lines_ += LineCount(live.start, live.exit, live.tombstone);
  Write(report.key, std::move(line));
  unsynced_.push_back(report.key);
  wake_.notify_one();
}

void TaskJournal::RecordAck(const model::TaskKey& key, std::int64_t version) {
  std::string line = Dump(json{{"ack", key}, {"version", version}});
  std::lock_guard lock(mu_);
  Live& live = live_[key];
  live_lines_ -= LineCount(live.start, live.exit, live.tombstone);
  live = Live{"", "", line};
  live_lines_ += 1;
  Write(key, std::move(line));
}

void TaskJournal::RecordForget(const model::TaskKey& key) {
  std::string line = Dump(json{{"forget", key}});
  std::lock_guard lock(mu_);
  if (auto it = live_.find(key); it != live_.end()) {
    live_lines_ -= LineCount(it->second.start, it->second.exit, it->second.tombstone);
    live_.erase(it);
  }
  Write(key, std::move(line));
}

void TaskJournal::Run() {
  for (;;) {
    std::vector<model::TaskKey> keys;
    int fd;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return closing_ || !unsynced_.empty(); });
      if (unsynced_.empty()) return;  // closing, nothing left
      keys = std::exchange(unsynced_, {});
      fd = fd_;  // only this thread replaces fd_ (Rewrite)
    }
    if (fd >= 0 && ::fdatasync(fd) != 0) {
      Log(LogLevel::kError, "cannot sync {}: {}", path_, std::strerror(errno));
    }
    on_durable_(std::move(keys));
    std::lock_guard lock(mu_);
    if (live_lines_ == 0 && lines_in_file_ > 0) {
      if (::ftruncate(fd_, 0) == 0) lines_in_file_ = 0;
    } else if (lines_in_file_ > kCompactAfterLines && lines_in_file_ > 2 * live_lines_) {
      if (Result<> rewritten = Rewrite(); !rewritten) {
        Log(LogLevel::kWarn, "cannot compact {}: {}", path_, rewritten.error().message);
      }
    }
  }
}

void TaskJournal::Close() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  if (fd_ >= 0 && live_lines_ == 0 && lines_in_file_ > 0) ::ftruncate(fd_, 0);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace weft::agent
