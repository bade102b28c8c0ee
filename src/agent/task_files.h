// The tasks' directories under work_dir: tasks/<key>/script, the script each task runs
// (0700). A directory lives until the controller acknowledges the task's exit. (The rest of
// the agent's state is TaskJournal's: work_dir/journal.)
// Not thread-safe: the TaskSupervisor's loop thread owns it.
#pragma once

#include <set>
#include <string>

#include "common/error.h"
#include "model/task.h"

namespace weft::agent {

class TaskFiles {
 public:
  explicit TaskFiles(std::string work_dir);

  // Creates work_dir and work_dir/tasks.
  Result<> Init();
  std::string TaskDir(const model::TaskKey& key) const;
  // Creates the task's directory and writes its script (0700); returns the script's path.
  Result<std::string> WriteScript(const model::TaskKey& key, const std::string& script);
  // Deletes the task's directory.
  void Remove(const model::TaskKey& key);
  // Deletes the directories of tasks not in `keep` (left by a crash or by tasks since
  // acknowledged).
  void RemoveAllBut(const std::set<model::TaskKey>& keep);

 private:
  std::string tasks_dir_;
};

}  // namespace weft::agent
