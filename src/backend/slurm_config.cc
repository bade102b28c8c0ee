#include "backend/slurm_config.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace weft::backend {

Result<SlurmPoolConfig> MakeSlurmPoolConfig(const std::string& pool,
                                            const std::map<std::string, std::string>& slurm) {
  SlurmPoolConfig c;
  c.pool = pool;
  const auto field = [&](const std::string& key) { return fmt::format("pools[{}].slurm.{}", pool, key); };
  for (const auto& [key, raw] : slurm) {
    const std::string value(Trim(raw));
    if (key == "partition") {
      c.partition = value;
    } else if (key == "account") {
      c.account = value;
    } else if (key == "user") {
      c.user = value;
    } else if (key == "bin_dir" || key == "conf") {
      if (value.empty() || value[0] != '/') {
        return Fail(ErrorCode::kInvalidArgument, field(key) + ": must be an absolute path");
      }
      (key == "bin_dir" ? c.bin_dir : c.conf) = value;
      while (c.bin_dir.size() > 1 && c.bin_dir.back() == '/') c.bin_dir.pop_back();
    } else if (key == "gpu_flag") {
      if (value == "gres") {
        c.gpu_flag = SlurmGpuFlag::kGres;
      } else if (value == "gpus-per-node") {
        c.gpu_flag = SlurmGpuFlag::kGpusPerNode;
      } else {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: '{}' is neither 'gres' nor 'gpus-per-node'", field(key), value));
      }
    } else if (key == "command_timeout") {
      const auto secs = ParseInt(value);
      if (!secs || *secs < 1 || *secs > 3600) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: '{}' is not a number of seconds from 1 to 3600", field(key), value));
      }
      c.command_timeout = std::chrono::seconds(*secs);
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("pools[{}].slurm: unknown key '{}' (partition, account, bin_dir, conf, user, "
                              "gpu_flag, command_timeout)",
                              pool, key));
    }
  }
  return c;
}

}  // namespace weft::backend
