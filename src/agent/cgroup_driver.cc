#include "agent/cgroup_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "agent/cgroup_internal.h"
#include "common/log.h"

namespace weft::agent {

CgroupPlacement::~CgroupPlacement() {
  if (v2_dir_fd >= 0) ::close(v2_dir_fd);
}

CgroupPlacement::CgroupPlacement(CgroupPlacement&& other) noexcept
    : v2_dir_fd(std::exchange(other.v2_dir_fd, -1)), procs_files(std::move(other.procs_files)) {}

CgroupPlacement& CgroupPlacement::operator=(CgroupPlacement&& other) noexcept {
  if (this != &other) {
    if (v2_dir_fd >= 0) ::close(v2_dir_fd);
    v2_dir_fd = std::exchange(other.v2_dir_fd, -1);
    procs_files = std::move(other.procs_files);
  }
  return *this;
}

bool ValidCgroupName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 200) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace cgroup_internal {

std::int64_t CpuShares(double cpus) {
  return std::clamp<std::int64_t>(std::llround(cpus * 1024.0), 2, 262144);
}

std::int64_t CpuWeight(double cpus) { return 1 + ((CpuShares(cpus) - 2) * 9999) / 262142; }

std::string JoinPath(std::string_view a, std::string_view b) {
  std::string out(a);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (b.empty()) return out;
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

Result<> WriteControl(const std::string& path, std::string_view value, bool fake) {
  const int flags = O_WRONLY | O_CLOEXEC | (fake ? O_CREAT | O_TRUNC : 0);
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  ssize_t n;
  do {
    n = ::write(fd, value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) {
    return Fail(ErrorCode::kInternal,
                fmt::format("cannot write \"{}\" to {}: {}", value, path, std::strerror(err)));
  }
  return {};
}

std::optional<std::string> ReadControl(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
    if (out.size() > (std::size_t{4} << 20)) break;
  }
  ::close(fd);
  return out;
}

std::optional<std::int64_t> ReadInt(const std::string& path) {
  auto text = ReadControl(path);
  if (!text) return std::nullopt;
  char* end = nullptr;
  const long long value = std::strtoll(text->c_str(), &end, 10);
  if (end == text->c_str()) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

std::optional<std::int64_t> ReadKeyed(const std::string& path, std::string_view key) {
  auto text = ReadControl(path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ') {
      return static_cast<std::int64_t>(std::strtoll(line.c_str() + key.size() + 1, nullptr, 10));
    }
  }
  return std::nullopt;
}

Result<> MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return {};
  return Fail(ErrorCode::kInternal,
              fmt::format("cannot create cgroup {}: {}", path, std::strerror(errno)));
}

Result<> RemoveDir(const std::string& path, bool fake) {
  if (fake) {
    if (DIR* dir = ::opendir(path.c_str())) {
      while (const dirent* entry = ::readdir(dir)) {
        const std::string child = JoinPath(path, entry->d_name);
        struct stat st {};
        if (::lstat(child.c_str(), &st) == 0 && S_ISREG(st.st_mode)) ::unlink(child.c_str());
      }
      ::closedir(dir);
    }
  }
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
  const int err = errno;
  return Fail(err == EBUSY ? ErrorCode::kFailedPrecondition : ErrorCode::kInternal,
              fmt::format("cannot remove cgroup {}: {}", path, std::strerror(err)));
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> SubDirs(const std::string& path) {
  std::vector<std::string> out;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (IsDir(JoinPath(path, name))) out.push_back(name);
  }
  ::closedir(dir);
  return out;
}

std::vector<pid_t> ReadPids(const std::string& procs_file) {
  std::vector<pid_t> pids;
  auto text = ReadControl(procs_file);
  if (!text) return pids;
  const char* cursor = text->c_str();
  for (;;) {
    char* end = nullptr;
    const long pid = std::strtol(cursor, &end, 10);
    if (end == cursor) break;
    if (pid > 0) pids.push_back(static_cast<pid_t>(pid));
    cursor = end;
  }
  return pids;
}

bool Writable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace cgroup_internal

namespace {

using cgroup_internal::JoinPath;
using cgroup_internal::ReadControl;

// The driver of a host without any usable cgroup hierarchy: does nothing, successfully.
class NoCgroupDriver final : public CgroupDriver {
 public:
  explicit NoCgroupDriver(std::vector<std::string> problems) {
    support_.problems = std::move(problems);
  }
  std::string_view Version() const override { return "none"; }
  const IsolationSupport& Support() const override { return support_; }
  Result<> Create(const std::string&, const CgroupLimits&) override { return {}; }
  bool Exists(const std::string&) const override { return false; }
  Result<CgroupPlacement> Placement(const std::string&) const override { return CgroupPlacement{}; }
  Result<> Attach(const std::string&, pid_t) override { return {}; }
  Result<CgroupUsage> Usage(const std::string&) const override { return CgroupUsage{}; }
  std::vector<pid_t> Pids(const std::string&) const override { return {}; }
  bool KillAll(const std::string&) override { return true; }
  Result<> Remove(const std::string&) override { return {}; }
  std::vector<std::string> List() const override { return {}; }
  Result<> RemoveBase() override { return {}; }
  std::string Describe(const std::string&) const override { return "(no cgroup)"; }

 private:
  IsolationSupport support_;
};

// Undoes mountinfo's octal escapes (\040 for a space...).
std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string digits(s.substr(i + 1, 3));
      char* end = nullptr;
      const long value = std::strtol(digits.c_str(), &end, 8);
      if (end == digits.c_str() + 3) {
        out.push_back(static_cast<char>(value));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

struct MountEntry {
  std::string root;               // the mount's root within its hierarchy
  std::string mount_point;        // where it is mounted
  std::string fstype;             // "cgroup" or "cgroup2"
  std::set<std::string> options;  // super options: the v1 controllers
};

std::vector<MountEntry> ReadCgroupMounts(const std::string& proc_root) {
  std::vector<MountEntry> mounts;
  auto text = ReadControl(JoinPath(proc_root, "self/mountinfo"));
  if (!text) return mounts;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> before;
    std::string field;
    while (fields >> field && field != "-") before.push_back(field);
    std::string fstype, source, super;
    fields >> fstype >> source >> super;
    if (before.size() < 5 || (fstype != "cgroup" && fstype != "cgroup2")) continue;
    MountEntry entry;
    entry.root = Unescape(before[3]);
    entry.mount_point = Unescape(before[4]);
    entry.fstype = fstype;
    std::istringstream opts(super);
    while (std::getline(opts, field, ',')) entry.options.insert(field);
    mounts.push_back(std::move(entry));
  }
  return mounts;
}

// The path of `cgroup_path` (relative to its hierarchy's root) inside a mount whose root is
// `mount_root`; nullopt when the cgroup is not visible in that mount.
std::optional<std::string> WithinMount(const std::string& mount_root,
                                       const std::string& cgroup_path) {
  if (mount_root == "/" || mount_root.empty()) return cgroup_path.empty() ? "/" : cgroup_path;
  if (cgroup_path == mount_root) return std::string("/");
  if (cgroup_path.starts_with(mount_root + "/")) return cgroup_path.substr(mount_root.size());
  return std::nullopt;
}

}  // namespace

Result<std::unique_ptr<CgroupDriver>> DetectCgroupDriver(const CgroupOptions& options) {
  if (!ValidCgroupName(options.base_name)) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("invalid cgroup base name \"{}\"", options.base_name));
  }
  std::vector<std::string> problems;
  const std::vector<MountEntry> mounts = ReadCgroupMounts(options.proc_root);
  // controller ("" = v2) -> own path, from /proc/self/cgroup.
  std::map<std::string, std::string> own;
  if (auto text = ReadControl(JoinPath(options.proc_root, "self/cgroup"))) {
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      const std::size_t first = line.find(':');
      const std::size_t second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      const std::string controllers = line.substr(first + 1, second - first - 1);
      const std::string path = line.substr(second + 1);
      if (controllers.empty()) {
        own[""] = path;
        continue;
      }
      std::istringstream names(controllers);
      std::string name;
      while (std::getline(names, name, ',')) own[name] = path;
    }
  } else {
    problems.push_back(
        fmt::format("cannot read {}/self/cgroup: no cgroup support", options.proc_root));
  }

  // v2: a cgroup2 mount where our own cgroup offers memory, cpu and pids.
  if (auto it = own.find(""); it != own.end()) {
    const std::string cgroup_path = options.parent.empty() ? it->second : options.parent;
    for (const MountEntry& m : mounts) {
      if (m.fstype != "cgroup2") continue;
      auto within = WithinMount(m.root, cgroup_path);
      if (!within) continue;
      auto controllers =
          ReadControl(JoinPath(JoinPath(m.mount_point, *within), "cgroup.controllers"));
      std::set<std::string> available;
      if (controllers) {
        std::istringstream names(*controllers);
        std::string name;
        while (names >> name) available.insert(name);
      }
      if (available.count("memory") && available.count("cpu") && available.count("pids")) {
        return MakeCgroupV2Driver(m.mount_point, *within, options);
      }
      problems.push_back(
          fmt::format("cgroup v2 at {} offers only \"{}\" to this agent's cgroup: using cgroup v1",
                      m.mount_point, controllers ? *controllers : std::string("(unreadable)")));
      break;
    }
  }

  // v1: one hierarchy per controller.
  std::map<std::string, std::string> dirs, own_paths;
  for (const char* controller :
       {"memory", "cpu", "cpuacct", "pids", "cpuset", "devices", "freezer"}) {
    const auto it = own.find(controller);
    bool found = false;
    for (const MountEntry& m : mounts) {
      if (m.fstype != "cgroup" || m.options.count(controller) == 0) continue;
      const std::string cgroup_path =
          options.parent.empty() ? (it != own.end() ? it->second : "/") : options.parent;
      auto within = WithinMount(m.root, cgroup_path);
      if (!within) continue;
      dirs[controller] = m.mount_point;
      own_paths[controller] = *within;
      found = true;
      break;
    }
    if (!found) {
      problems.push_back(
          fmt::format("no cgroup v1 hierarchy of the {} controller is mounted", controller));
    }
  }
  if (dirs.empty()) {
    for (const std::string& p : problems) Log(LogLevel::kDebug, "cgroups: {}", p);
    return std::unique_ptr<CgroupDriver>(new NoCgroupDriver(std::move(problems)));
  }
  auto driver = MakeCgroupV1Driver(std::move(dirs), std::move(own_paths), options);
  return driver;
}

}  // namespace weft::agent
