// Per-node resource quantities in integer units: CPUs in millicores, memory in bytes, GPUs as
// whole devices. Integer arithmetic only, so decisions never drift.
#pragma once

#include <cstdint>
#include <string>

namespace weft::model {

struct Resources {
  std::int64_t cpu_milli = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t gpus = 0;

  // True when `this` (a request) fits inside `available`.
  bool FitsIn(const Resources& available) const {
    return cpu_milli <= available.cpu_milli && memory_bytes <= available.memory_bytes &&
           gpus <= available.gpus;
  }
  Resources& operator+=(const Resources& o) {
    cpu_milli += o.cpu_milli;
    memory_bytes += o.memory_bytes;
    gpus += o.gpus;
    return *this;
  }
  Resources& operator-=(const Resources& o) {
    cpu_milli -= o.cpu_milli;
    memory_bytes -= o.memory_bytes;
    gpus -= o.gpus;
    return *this;
  }
  bool operator==(const Resources&) const = default;
};

inline Resources operator+(Resources a, const Resources& b) { return a += b; }
inline Resources operator-(Resources a, const Resources& b) { return a -= b; }

// "2 cpus, 4.0G mem, 1 gpu"-style text for messages.
std::string Describe(const Resources& r);
// Memory as Slurm prints it: "512M", "4G".
std::string FormatMemory(std::int64_t bytes);

}  // namespace weft::model
