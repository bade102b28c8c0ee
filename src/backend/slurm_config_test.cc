#include "backend/slurm_config.h"

#include <gtest/gtest.h>

namespace weft::backend {
namespace {

TEST(SlurmPoolConfig, FromTheConfigBlock) {
  auto c = MakeSlurmPoolConfig("hpc", {{"partition", "gpu"},
                                       {"account", "ml"},
                                       {"bin_dir", "/opt/slurm/bin/"},
                                       {"conf", "/etc/slurm/other.conf"},
                                       {"gpu_flag", "gpus-per-node"},
                                       {"command_timeout", "20"}});
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->pool, "hpc");
  EXPECT_EQ(c->partition, "gpu");
  EXPECT_EQ(c->account, "ml");
  EXPECT_EQ(c->bin_dir, "/opt/slurm/bin");
  EXPECT_EQ(c->conf, "/etc/slurm/other.conf");
  EXPECT_EQ(c->gpu_flag, SlurmGpuFlag::kGpusPerNode);
  EXPECT_EQ(c->command_timeout, std::chrono::seconds(20));
  auto defaults = MakeSlurmPoolConfig("hpc", {});
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->bin_dir, "/usr/bin");
  EXPECT_EQ(defaults->gpu_flag, SlurmGpuFlag::kGres);
}

TEST(SlurmPoolConfig, ErrorsNameTheField) {
  EXPECT_EQ(MakeSlurmPoolConfig("hpc", {{"bin_dir", "usr/bin"}}).error().message,
            "pools[hpc].slurm.bin_dir: must be an absolute path");
  EXPECT_EQ(MakeSlurmPoolConfig("hpc", {{"gpu_flag", "gpus"}}).error().message,
            "pools[hpc].slurm.gpu_flag: 'gpus' is neither 'gres' nor 'gpus-per-node'");
  EXPECT_EQ(MakeSlurmPoolConfig("hpc", {{"command_timeout", "0"}}).error().message,
            "pools[hpc].slurm.command_timeout: '0' is not a number of seconds from 1 to 3600");
  EXPECT_EQ(MakeSlurmPoolConfig("hpc", {{"partitoin", "gpu"}}).error().message,
            "pools[hpc].slurm: unknown key 'partitoin' (partition, account, bin_dir, conf, user, gpu_flag, "
            "command_timeout)");
}

}  // namespace
}  // namespace weft::backend
