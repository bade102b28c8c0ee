// A fake libnvidia-ml for gpu_discovery_test: the NVML entry points GpuDiscovery resolves,
// built as a shared library (weft_fake_nvml) and loaded with dlopen like the real one.
// Behaviour, read from the environment at each call:
//   FAKE_NVML_GPUS=N        number of GPUs (default 2)
//   FAKE_NVML_INIT_FAIL=1   nvmlInit_v2 returns NVML_ERROR_DRIVER_NOT_LOADED (9)
//   FAKE_NVML_UTIL=a,b,...  utilisation percent per index (default 37,80,...); -1 = not supported
// GPU i is "GPU-fa4e0000-0000-0000-0000-00000000000i", "NVIDIA H100 80GB HBM3", 80 GiB, and
// minor number i + 4 (deliberately unlike its index). fake_nvml_init_count() exposes the
// init/shutdown balance to tests.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr int kSuccess = 0;
constexpr int kUninitialized = 1;
constexpr int kInvalidArgument = 2;
constexpr int kNotSupported = 3;
constexpr int kInsufficientSize = 7;
constexpr int kDriverNotLoaded = 9;

struct FakeDevice {
  int index;
};
// Each handle knows its index from the start: handing one out writes nothing, so concurrent
// callers (as with the real, thread-safe NVML) share no mutable state.
constexpr std::array<FakeDevice, 64> MakeDevices() {
  std::array<FakeDevice, 64> devices{};
  for (int i = 0; i < 64; ++i) devices[static_cast<std::size_t>(i)].index = i;
  return devices;
}
std::array<FakeDevice, 64> g_devices = MakeDevices();
int g_init_count = 0;

int GpuCount() {
  const char* env = std::getenv("FAKE_NVML_GPUS");
  int n = env != nullptr ? std::atoi(env) : 2;
  return n < 0 ? 0 : (n > 64 ? 64 : n);
}

bool Valid(const void* device) {
  if (g_init_count <= 0 || device == nullptr) return false;
  const auto* d = static_cast<const FakeDevice*>(device);
  return d >= g_devices.data() && d < g_devices.data() + GpuCount();
}

int CopyOut(const std::string& text, char* out, unsigned int length) {
  if (out == nullptr || text.size() + 1 > length) return kInsufficientSize;
  std::memcpy(out, text.c_str(), text.size() + 1);
  return kSuccess;
}

int Utilisation(int index) {
  const char* env = std::getenv("FAKE_NVML_UTIL");
  std::string list = env != nullptr ? env : "37,80";
  int i = 0;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (i == index) return std::atoi(list.substr(start, end - start).c_str());
    ++i;
    start = end + 1;
  }
  return 10 * index;
}

}  // namespace

struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};

extern "C" {

int fake_nvml_init_count() { return g_init_count; }

int nvmlInit_v2() {
  const char* fail = std::getenv("FAKE_NVML_INIT_FAIL");
  if (fail != nullptr && std::strcmp(fail, "1") == 0) return kDriverNotLoaded;
  ++g_init_count;
  return kSuccess;
}

int nvmlShutdown() {
  if (g_init_count <= 0) return kUninitialized;
  --g_init_count;
  return kSuccess;
}

const char* nvmlErrorString(int result) {
  switch (result) {
    case kSuccess: return "Success";
    case kUninitialized: return "Uninitialized";
    case kInvalidArgument: return "Invalid Argument";
    case kNotSupported: return "Not Supported";
    case kInsufficientSize: return "Insufficient Size";
    case kDriverNotLoaded: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}

int nvmlDeviceGetCount_v2(unsigned int* count) {
  if (g_init_count <= 0) return kUninitialized;
  if (count == nullptr) return kInvalidArgument;
  *count = static_cast<unsigned int>(GpuCount());
  return kSuccess;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (g_init_count <= 0) return kUninitialized;
  if (device == nullptr || index >= static_cast<unsigned int>(GpuCount())) return kInvalidArgument;
  *device = &g_devices[index];
  return kSuccess;
}

int nvmlDeviceGetUUID(void* device, char* uuid, unsigned int length) {
  if (!Valid(device)) return kInvalidArgument;
  char text[64];
  std::snprintf(text, sizeof text, "GPU-fa4e0000-0000-0000-0000-%012d",
                static_cast<FakeDevice*>(device)->index);
  return CopyOut(text, uuid, length);
}

int nvmlDeviceGetName(void* device, char* name, unsigned int length) {
  if (!Valid(device)) return kInvalidArgument;
  return CopyOut("NVIDIA H100 80GB HBM3", name, length);
}

int nvmlDeviceGetMemoryInfo(void* device, nvmlMemory_t* memory) {
  if (!Valid(device) || memory == nullptr) return kInvalidArgument;
  memory->total = 80ULL << 30;
  memory->used = 1ULL << 30;
  memory->free = memory->total - memory->used;
  return kSuccess;
}

int nvmlDeviceGetMinorNumber(void* device, unsigned int* minor) {
  if (!Valid(device) || minor == nullptr) return kInvalidArgument;
  *minor = static_cast<unsigned int>(static_cast<FakeDevice*>(device)->index + 4);
  return kSuccess;
}

int nvmlDeviceGetUtilizationRates(void* device, nvmlUtilization_t* rates) {
  if (!Valid(device) || rates == nullptr) return kInvalidArgument;
  int percent = Utilisation(static_cast<FakeDevice*>(device)->index);
  if (percent < 0) return kNotSupported;
  rates->gpu = static_cast<unsigned int>(percent);
  rates->memory = 5;
  return kSuccess;
}

}  // extern "C"
