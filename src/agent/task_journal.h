// The agent's durable state: one append-only file of JSON lines in work_dir, read back by the
// next agent on the same work_dir.
//   {"start": {...}}              a task runs: how to find its processes again (adoption)
//   {"exit": TaskReport}          it ended; the controller has not acknowledged it yet
//   {"ack": key, "version": V}    acknowledged: forget the task, never start it again (tombstone)
//   {"forget": key}               the tombstone is no longer needed
// Every record is written at once by the caller (a write(2), no new file: starts and exits
// cost microseconds); exits are also made durable by the journal's own thread, one fdatasync
// per batch however many exits it holds (an fsync costs milliseconds here, which per exit would
// cap the agent near a hundred exits a second). The file is rewritten compactly at Open and
// when it is mostly dead records.
//
// Threading: Record* and Close are thread-safe (the TaskSupervisor calls them from its loop);
// the durable callback runs on the journal's thread.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "model/task.h"

namespace weft::agent {

// What a start record holds: enough to adopt the task's processes after an agent restart.
struct RunningTaskRecord {
  model::TaskKey key;
  pid_t pid = 0;
  unsigned long long start_ticks = 0;  // ProcessInfo::start_ticks of pid
  TimePoint start_time{};
  std::optional<Duration> time_limit;
  std::string marker;
  std::optional<model::SignalSpec> warning;  // --signal, re-armed when the task is adopted
};

class TaskJournal {
 public:
  // Runs on the journal thread once the exits of these tasks are on disk.
  using DurableCallback = std::function<void(std::vector<model::TaskKey>)>;

  // What an earlier agent left.
  struct Recovered {
    std::vector<RunningTaskRecord> running;  // started, no exit recorded
    std::vector<model::TaskReport> exits;    // not acknowledged
    std::map<model::TaskKey, std::int64_t> tombstones;
  };

  explicit TaskJournal(std::string path);
  ~TaskJournal();  // Close()
  TaskJournal(const TaskJournal&) = delete;
  TaskJournal& operator=(const TaskJournal&) = delete;

  // Reads the file (a line torn by a crash is skipped), rewrites it with the live records and
  // starts the journal thread. Call once, before anything else.
  Result<Recovered> Open(DurableCallback on_durable);

  void RecordStart(const RunningTaskRecord& record);
  // The callback names the task once this is durable.
  void RecordExit(const model::TaskReport& report);
  // Drops the task's start and exit; keeps a tombstone with `version`.
  void RecordAck(const model::TaskKey& key, std::int64_t version);
  void RecordForget(const model::TaskKey& key);

  // Syncs what was written, reports it durable, stops the thread. Idempotent.
  void Close();

 private:
  struct Live {  // the records of one task that still matter, as lines
    std::string start;
    std::string exit;
    std::string tombstone;
  };
  void Write(const model::TaskKey& key, std::string line);  // REQUIRES: mu_ held
  Result<> Rewrite();                                       // REQUIRES: mu_ held
  void Run();

  const std::string path_;
  DurableCallback on_durable_;

  std::mutex mu_;
  std::condition_variable wake_;
  int fd_ = -1;                           // guarded by mu_ (swapped by Rewrite)
  std::map<model::TaskKey, Live> live_;   // guarded by mu_
  std::size_t lines_in_file_ = 0;         // guarded by mu_
  std::size_t live_lines_ = 0;            // guarded by mu_
  std::vector<model::TaskKey> unsynced_;  // exits written, not yet synced; guarded by mu_
  bool closing_ = false;                  // guarded by mu_
  bool failed_ = false;                   // a write failed; guarded by mu_
  std::thread thread_;
};

}  // namespace weft::agent
