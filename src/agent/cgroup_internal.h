// Private to the cgroup drivers (cgroup_driver.cc, cgroup_v1.cc, cgroup_v2.cc): small file
// helpers over cgroupfs. `fake` = a plain directory tree standing in for cgroupfs (tests).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace weft::agent::cgroup_internal {

std::string JoinPath(std::string_view a, std::string_view b);
// Writes `value` in one write() (cgroupfs takes one command per write). With `fake`, the file is
// created when missing.
Result<> WriteControl(const std::string& path, std::string_view value, bool fake);
// Whole (small) file; nullopt when it cannot be read.
std::optional<std::string> ReadControl(const std::string& path);
// First integer of the file ("max" reads as nullopt).
std::optional<std::int64_t> ReadInt(const std::string& path);
// Value of "key N" lines (memory.events, cpu.stat, memory.oom_control, pids.events).
std::optional<std::int64_t> ReadKeyed(const std::string& path, std::string_view key);
// mkdir; an existing directory is fine.
Result<> MakeDir(const std::string& path);
// rmdir (with `fake`, regular files inside are deleted first); a missing directory is fine.
Result<> RemoveDir(const std::string& path, bool fake);
bool IsDir(const std::string& path);
std::vector<std::string> SubDirs(const std::string& path);
std::vector<pid_t> ReadPids(const std::string& procs_file);
// True when the file can be opened for writing.
bool Writable(const std::string& path);

// CPU weights by request, as Kubernetes sets them: v1 cpu.shares = 1024 per CPU (within
// 2..262144); v2 cpu.weight = 1 + (shares - 2) * 9999 / 262142 (one CPU: 39).
std::int64_t CpuShares(double cpus);
std::int64_t CpuWeight(double cpus);

}  // namespace weft::agent::cgroup_internal
