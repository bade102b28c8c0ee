#include "agent/task_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/log.h"

namespace weft::agent {
namespace {

namespace fs = std::filesystem;

Error IoError(std::string_view what, const std::string& path, int err) {
  return Error{ErrorCode::kInternal, fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

}  // namespace

TaskFiles::TaskFiles(std::string work_dir) : tasks_dir_(std::move(work_dir) + "/tasks") {}

Result<> TaskFiles::Init() {
  std::error_code ec;
  fs::create_directories(tasks_dir_, ec);
  if (ec) {
    return Fail(ErrorCode::kFailedPrecondition,
                fmt::format("cannot create work directory {}: {}", tasks_dir_, ec.message()));
  }
  return {};
}

std::string TaskFiles::TaskDir(const model::TaskKey& key) const {
  return tasks_dir_ + "/" + model::ToString(key);
}

Result<std::string> TaskFiles::WriteScript(const model::TaskKey& key, const std::string& script) {
  const std::string dir = TaskDir(key);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return tl::unexpected(IoError("cannot create", dir, errno));
  }
  const std::string path = dir + "/script";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
  if (fd < 0) return tl::unexpected(IoError("cannot create", path, errno));
  std::string_view data = script;
  Result<> written;
  while (written && !data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno != EINTR) written = tl::unexpected(IoError("cannot write", path, errno));
    if (n > 0) data.remove_prefix(static_cast<std::size_t>(n));
  }
  if (written && ::fchmod(fd, 0700) != 0) {
    written = tl::unexpected(IoError("cannot chmod", path, errno));
  }
  ::close(fd);
  if (!written) return tl::unexpected(written.error());
  return path;
}

void TaskFiles::Remove(const model::TaskKey& key) {
  std::error_code ec;
  fs::remove_all(TaskDir(key), ec);
  if (ec) Log(LogLevel::kWarn, "cannot remove {}: {}", TaskDir(key), ec.message());
}

void TaskFiles::RemoveAllBut(const std::set<model::TaskKey>& keep) {
  std::set<std::string> names;
  for (const model::TaskKey& key : keep) names.insert(model::ToString(key));
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(tasks_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    if (names.count(it->path().filename().string()) == 0) stale.push_back(it->path());
  }
  for (const fs::path& path : stale) fs::remove_all(path, ec);
}

}  // namespace weft::agent
