#include "model/task.h"

#include <fmt/format.h>

namespace weft::model {

const TaskEnvironment::Map& TaskEnvironment::Empty() {
  static const Map empty;
  return empty;
}

std::string ToString(const TaskKey& key) {
  if (key.attempt == 0) return fmt::format("{}.{}", key.job_id, key.rank);
  return fmt::format("{}.{}@{}", key.job_id, key.rank, key.attempt);
}

}  // namespace weft::model
