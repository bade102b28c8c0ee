#include "agent/gpu_discovery.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "agent/agent_test_util.h"

#ifndef WEFT_FAKE_NVML_PATH
#error "WEFT_FAKE_NVML_PATH must name the fake libnvidia-ml (weft_fake_nvml)"
#endif

namespace weft::agent {
namespace {

constexpr const char* kFakeNvml = WEFT_FAKE_NVML_PATH;

// Sets an environment variable for the test's lifetime, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = ::getenv(name);
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

class GpuDiscoveryTest : public ::testing::Test {
 protected:
  // Every test starts from the fake's defaults, whatever the environment holds.
  ScopedEnv gpus_{"FAKE_NVML_GPUS", nullptr};
  ScopedEnv init_fail_{"FAKE_NVML_INIT_FAIL", nullptr};
  ScopedEnv util_{"FAKE_NVML_UTIL", nullptr};
  ScopedEnv library_{"WEFT_NVML_LIBRARY", nullptr};
};

TEST_F(GpuDiscoveryTest, MissingLibraryFailsNamingIt) {
  auto opened = GpuDiscovery::Open("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kNotFound);
  const std::string& message = opened.error().message;
  EXPECT_TRUE(message.starts_with("NVML not found (/nonexistent/libnvidia-ml.so.1: ")) << message;
  EXPECT_TRUE(message.ends_with("); no GPUs discovered")) << message;
  EXPECT_NE(message.find("No such file"), std::string::npos) << message;
  // The library is named once, not again by dlerror's own prefix.
  EXPECT_EQ(message.find("libnvidia-ml.so.1"), message.rfind("libnvidia-ml.so.1")) << message;
}

TEST_F(GpuDiscoveryTest, OpenOrLogYieldsNullWithoutLibrary) {
  EXPECT_EQ(GpuDiscovery::OpenOrLog("/nonexistent/libnvidia-ml.so.1"), nullptr);
}

TEST_F(GpuDiscoveryTest, EnvironmentNamesLibraryWhenArgumentEmpty) {
  {
    ScopedEnv env("WEFT_NVML_LIBRARY", "/nonexistent/custom-nvml.so");
    auto opened = GpuDiscovery::Open();
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message.find("/nonexistent/custom-nvml.so"), std::string::npos)
        << opened.error().message;
  }
  ScopedEnv env("WEFT_NVML_LIBRARY", kFakeNvml);
  auto opened = GpuDiscovery::Open();
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ((*opened)->library(), kFakeNvml);
  // An explicit argument wins over the environment.
  auto explicit_open = GpuDiscovery::Open("/nonexistent/other.so");
  ASSERT_FALSE(explicit_open);
  EXPECT_NE(explicit_open.error().message.find("/nonexistent/other.so"), std::string::npos);
}

TEST_F(GpuDiscoveryTest, LibraryWithoutNvmlSymbolsFails) {
  auto opened = GpuDiscovery::Open("libm.so.6");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(opened.error().message.find("lacks symbol nvmlInit_v2"), std::string::npos)
      << opened.error().message;
}

TEST_F(GpuDiscoveryTest, FakeNvmlReportsTwoDevices) {
  auto opened = GpuDiscovery::Open(kFakeNvml);
  ASSERT_TRUE(opened) << opened.error().message;
  auto devices = (*opened)->Devices();
  ASSERT_TRUE(devices) << devices.error().message;
  ASSERT_EQ(devices->size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const GpuDevice& gpu = (*devices)[i];
    EXPECT_EQ(gpu.index, i);
    EXPECT_EQ(gpu.uuid, "GPU-fa4e0000-0000-0000-0000-00000000000" + std::to_string(i));
    EXPECT_EQ(gpu.model, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(gpu.memory_bytes, std::int64_t{80} << 30);
    EXPECT_EQ(gpu.minor, i + 4);  // read from NVML, not assumed equal to the index
  }
}

TEST_F(GpuDiscoveryTest, DeviceCountFollowsNvml) {
  ScopedEnv env("FAKE_NVML_GPUS", "8");
  auto opened = GpuDiscovery::Open(kFakeNvml);
  ASSERT_TRUE(opened) << opened.error().message;
  auto devices = (*opened)->Devices();
  ASSERT_TRUE(devices) << devices.error().message;
  ASSERT_EQ(devices->size(), 8u);
  EXPECT_EQ(devices->back().index, 7);
  EXPECT_EQ(devices->back().minor, 11);

  ScopedEnv none("FAKE_NVML_GPUS", "0");
  auto empty = (*opened)->Devices();
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->empty());
}

TEST_F(GpuDiscoveryTest, InitFailureIsAClearError) {
  ScopedEnv env("FAKE_NVML_INIT_FAIL", "1");
  auto opened = GpuDiscovery::Open(kFakeNvml);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(opened.error().message,
            fmt::format("NVML init failed ({}): Driver Not Loaded (NVML error 9); no GPUs discovered",
                        kFakeNvml));
  EXPECT_EQ(GpuDiscovery::OpenOrLog(kFakeNvml), nullptr);
}

TEST_F(GpuDiscoveryTest, DestructorShutsNvmlDown) {
  // Hold our own reference so the fake stays loaded (and its counter readable) after the
  // discovery object dlcloses it.
  void* handle = ::dlopen(kFakeNvml, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << ::dlerror();
  auto init_count = reinterpret_cast<int (*)()>(::dlsym(handle, "fake_nvml_init_count"));
  ASSERT_NE(init_count, nullptr);
  const int before = init_count();
  {
    auto opened = GpuDiscovery::Open(kFakeNvml);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(init_count(), before + 1);
  }
  EXPECT_EQ(init_count(), before);
  ::dlclose(handle);
}

TEST_F(GpuDiscoveryTest, Utilization) {
  ScopedEnv env("FAKE_NVML_UTIL", "37,-1,150");
  ScopedEnv gpus("FAKE_NVML_GPUS", "3");
  auto opened = GpuDiscovery::Open(kFakeNvml);
  ASSERT_TRUE(opened) << opened.error().message;
  const GpuDiscovery& nvml = **opened;
  EXPECT_EQ(nvml.Utilization(0), 37);
  EXPECT_EQ(nvml.Utilization(1), std::nullopt);  // NVML_ERROR_NOT_SUPPORTED
  EXPECT_EQ(nvml.Utilization(2), 100);           // clamped
  EXPECT_EQ(nvml.Utilization(3), std::nullopt);  // no such GPU
  EXPECT_EQ(nvml.Utilization(-1), std::nullopt);
}

TEST_F(GpuDiscoveryTest, ConcurrentQueries) {
  auto opened = GpuDiscovery::Open(kFakeNvml);
  ASSERT_TRUE(opened) << opened.error().message;
  const GpuDiscovery& nvml = **opened;
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&nvml, &failures, t] {
      for (int i = 0; i < 200; ++i) {
        auto devices = nvml.Devices();
        if (!devices || devices->size() != 2 || nvml.Utilization(1) != 80) ++failures[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

using weft::agent::testing::TempDir;

TEST(ListNvidiaDeviceNodesTest, OnlyNumberedCharacterDevicesCount) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Entries that never count: control and UVM nodes, non-numbered names, regular files.
  for (const char* name : {"nvidia7", "nvidiactl", "nvidia-uvm", "nvidia1x", "nvidia-caps"}) {
    std::ofstream(dir.path() + "/" + name) << "x";
  }
  std::filesystem::create_directory(dir.path() + "/nvidia9");
  EXPECT_TRUE(ListNvidiaDeviceNodes(dir.path()).empty());

  if (::mknod((dir.path() + "/nvidia0").c_str(), S_IFCHR | 0600, makedev(195, 0)) != 0) {
    GTEST_SKIP() << "mknod of a character device not permitted here (" << std::strerror(errno)
                 << "); needs root with CAP_MKNOD";
  }
  ASSERT_EQ(::mknod((dir.path() + "/nvidia3").c_str(), S_IFCHR | 0600, makedev(195, 3)), 0);
  ASSERT_EQ(::mknod((dir.path() + "/nvidiactl2").c_str(), S_IFCHR | 0600, makedev(195, 255)), 0);
  ASSERT_EQ(::mknod((dir.path() + "/nvidia12").c_str(), S_IFCHR | 0600, makedev(511, 12)), 0);

  auto nodes = ListNvidiaDeviceNodes(dir.path());
  std::map<int, std::pair<int, int>> want = {{0, {195, 0}}, {3, {195, 3}}, {12, {511, 12}}};
  EXPECT_EQ(nodes, want);
}

TEST(ListNvidiaDeviceNodesTest, MissingDirectoryIsEmpty) {
  EXPECT_TRUE(ListNvidiaDeviceNodes("/nonexistent/dev").empty());
}

std::vector<GpuDevice> FourGpus() {
  std::vector<GpuDevice> devices;
  for (int i = 0; i < 4; ++i) {
    devices.push_back(GpuDevice{.index = i, .uuid = "GPU-" + std::to_string(100 + i),
                                .model = "NVIDIA H100 80GB HBM3", .memory_bytes = 1, .minor = i});
  }
  return devices;
}

TEST(CudaVisibleDevicesTest, FencedRenumbersFromZero) {
  EXPECT_EQ(CudaVisibleDevices({2, 3}, /*fenced=*/true, FourGpus()), "0,1");
  EXPECT_EQ(CudaVisibleDevices({3}, /*fenced=*/true, FourGpus()), "0");
}

TEST(CudaVisibleDevicesTest, UnfencedUsesRealIndices) {
  EXPECT_EQ(CudaVisibleDevices({2, 5}, /*fenced=*/false, FourGpus()), "2,5");
  EXPECT_EQ(CudaVisibleDevices({1}, /*fenced=*/false, {}), "1");
}

TEST(CudaVisibleDevicesTest, UuidsWhenAsked) {
  EXPECT_EQ(CudaVisibleDevices({3, 1}, /*fenced=*/false, FourGpus(), /*use_uuids=*/true),
            "GPU-103,GPU-101");
  // UUIDs name the same GPUs whether or not the others are fenced off.
  EXPECT_EQ(CudaVisibleDevices({3, 1}, /*fenced=*/true, FourGpus(), /*use_uuids=*/true),
            "GPU-103,GPU-101");
  // An index discovery did not report falls back to the index.
  EXPECT_EQ(CudaVisibleDevices({0, 9}, /*fenced=*/false, FourGpus(), /*use_uuids=*/true),
            "GPU-100,9");
}

TEST(CudaVisibleDevicesTest, NothingAllocatedIsEmpty) {
  EXPECT_EQ(CudaVisibleDevices({}, /*fenced=*/true, FourGpus()), "");
  EXPECT_EQ(CudaVisibleDevices({}, /*fenced=*/false, FourGpus(), /*use_uuids=*/true), "");
}

}  // namespace
}  // namespace weft::agent
