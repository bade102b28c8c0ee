#include "model/resources.h"

#include <fmt/format.h>

namespace weft::model {

std::string FormatMemory(std::int64_t bytes) {
  constexpr std::int64_t kKi = 1024;
  const char* units[] = {"K", "M", "G", "T", "P"};
  std::int64_t value = bytes;
  if (value == 0) return "0";
  if (value % kKi != 0) return fmt::format("{}B", bytes);
  value /= kKi;
  int unit = 0;
  while (unit < 4 && value != 0 && value % kKi == 0) {
    value /= kKi;
    ++unit;
  }
  return fmt::format("{}{}", value, units[unit]);
}

std::string Describe(const Resources& r) {
  std::string cpus = r.cpu_milli % 1000 == 0 ? fmt::format("{}", r.cpu_milli / 1000)
                                             : fmt::format("{:.3f}", r.cpu_milli / 1000.0);
  return fmt::format("{} cpus, {} memory, {} gpus", cpus, FormatMemory(r.memory_bytes), r.gpus);
}

}  // namespace weft::model
