#include "agent/gpu_discovery.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/log.h"

namespace weft::agent {

// The slice of nvml.h this file needs, declared here: no NVIDIA header is installed at build
// time. These layouts and signatures are NVML's stable C ABI.
namespace {

using nvmlReturn_t = int;  // an enum in nvml.h, int-sized
constexpr nvmlReturn_t NVML_SUCCESS = 0;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;  // opaque
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};
struct nvmlUtilization_t {
  unsigned int gpu;
  unsigned int memory;
};
// NVML_DEVICE_UUID_V2_BUFFER_SIZE and NVML_DEVICE_NAME_V2_BUFFER_SIZE are both 96.
constexpr unsigned int kNvmlStringBufferSize = 96;

}  // namespace

struct GpuDiscovery::Api {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*get_count)(unsigned int*) = nullptr;
  nvmlReturn_t (*get_handle_by_index)(unsigned int, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*get_uuid)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*get_name)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*get_memory_info)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*get_minor_number)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*get_utilization_rates)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;  // optional

  std::string ErrorText(nvmlReturn_t code) const {
    const char* text = error_string != nullptr ? error_string(code) : nullptr;
    if (text == nullptr || *text == '\0') return fmt::format("NVML error {}", code);
    return fmt::format("{} (NVML error {})", text, code);
  }
};

namespace {

// dlerror() text usually starts with the file name ("libx.so: cannot open shared object
// file..."); drop that prefix so the message names the library once.
std::string DlErrorWithout(const std::string& library) {
  const char* raw = ::dlerror();
  std::string text = raw != nullptr ? raw : "unknown dlopen error";
  const std::string prefix = library + ": ";
  if (text.starts_with(prefix)) text.erase(0, prefix.size());
  return text;
}

template <class Fn>
bool Resolve(void* handle, const char* name, Fn& out) {
  void* symbol = ::dlsym(handle, name);
  if (symbol == nullptr) return false;
  out = reinterpret_cast<Fn>(symbol);
  return true;
}

}  // namespace

GpuDiscovery::GpuDiscovery(std::string library, void* handle, std::unique_ptr<Api> api)
    : library_(std::move(library)), handle_(handle), api_(std::move(api)) {}

GpuDiscovery::~GpuDiscovery() {
  if (api_ != nullptr && api_->shutdown != nullptr) {
    if (nvmlReturn_t rc = api_->shutdown(); rc != NVML_SUCCESS) {
      Log(LogLevel::kDebug, "nvmlShutdown: {}", api_->ErrorText(rc));
    }
  }
  if (handle_ != nullptr) ::dlclose(handle_);
}

Result<std::unique_ptr<GpuDiscovery>> GpuDiscovery::Open(const std::string& library) {
  std::string path = library;
  if (path.empty()) {
    const char* env = std::getenv("WEFT_NVML_LIBRARY");
    path = env != nullptr && *env != '\0' ? env : kDefaultLibrary;
  }
  ::dlerror();  // clear any stale error
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Fail(ErrorCode::kNotFound,
                fmt::format("NVML not found ({}: {}); no GPUs discovered", path, DlErrorWithout(path)));
  }

  auto api = std::make_unique<Api>();
  struct Required {
    const char* name;
    bool ok;
  };
  const Required required[] = {
      {"nvmlInit_v2", Resolve(handle, "nvmlInit_v2", api->init)},
      {"nvmlShutdown", Resolve(handle, "nvmlShutdown", api->shutdown)},
      {"nvmlDeviceGetCount_v2", Resolve(handle, "nvmlDeviceGetCount_v2", api->get_count)},
      {"nvmlDeviceGetHandleByIndex_v2",
       Resolve(handle, "nvmlDeviceGetHandleByIndex_v2", api->get_handle_by_index)},
      {"nvmlDeviceGetUUID", Resolve(handle, "nvmlDeviceGetUUID", api->get_uuid)},
      {"nvmlDeviceGetName", Resolve(handle, "nvmlDeviceGetName", api->get_name)},
      {"nvmlDeviceGetMemoryInfo", Resolve(handle, "nvmlDeviceGetMemoryInfo", api->get_memory_info)},
      {"nvmlDeviceGetMinorNumber",
       Resolve(handle, "nvmlDeviceGetMinorNumber", api->get_minor_number)},
      {"nvmlDeviceGetUtilizationRates",
       Resolve(handle, "nvmlDeviceGetUtilizationRates", api->get_utilization_rates)},
  };
  Resolve(handle, "nvmlErrorString", api->error_string);  // optional
  for (const Required& r : required) {
    if (!r.ok) {
      ::dlclose(handle);
      return Fail(ErrorCode::kFailedPrecondition,
                  fmt::format("NVML library {} lacks symbol {}; no GPUs discovered", path, r.name));
    }
  }

  if (nvmlReturn_t rc = api->init(); rc != NVML_SUCCESS) {
    std::string text = api->ErrorText(rc);  // before dlclose unmaps nvmlErrorString
    ::dlclose(handle);
    return Fail(ErrorCode::kUnavailable,
                fmt::format("NVML init failed ({}): {}; no GPUs discovered", path, text));
  }
  return std::unique_ptr<GpuDiscovery>(new GpuDiscovery(std::move(path), handle, std::move(api)));
}

std::unique_ptr<GpuDiscovery> GpuDiscovery::OpenOrLog(const std::string& library) {
  auto opened = Open(library);
  if (opened) return std::move(*opened);
  Log(opened.error().code == ErrorCode::kNotFound ? LogLevel::kInfo : LogLevel::kWarn, "{}",
      opened.error().message);
  return nullptr;
}

Result<std::vector<GpuDevice>> GpuDiscovery::Devices() const {
  unsigned int count = 0;
  if (nvmlReturn_t rc = api_->get_count(&count); rc != NVML_SUCCESS) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("NVML could not count GPUs: {}", api_->ErrorText(rc)));
  }
  std::vector<GpuDevice> devices;
  devices.reserve(count);
  for (unsigned int i = 0; i < count; ++i) {
    nvmlDevice_t device = nullptr;
    if (nvmlReturn_t rc = api_->get_handle_by_index(i, &device); rc != NVML_SUCCESS) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("NVML could not open GPU {}: {}", i, api_->ErrorText(rc)));
    }
    GpuDevice gpu;
    gpu.index = static_cast<int>(i);

    char buffer[kNvmlStringBufferSize] = {};
    if (nvmlReturn_t rc = api_->get_uuid(device, buffer, sizeof buffer); rc != NVML_SUCCESS) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("NVML could not read the UUID of GPU {}: {}", i, api_->ErrorText(rc)));
    }
    gpu.uuid.assign(buffer, ::strnlen(buffer, sizeof buffer));

    std::memset(buffer, 0, sizeof buffer);
    if (nvmlReturn_t rc = api_->get_name(device, buffer, sizeof buffer); rc != NVML_SUCCESS) {
      return Fail(ErrorCode::kUnavailable,
                  fmt::format("NVML could not read the name of GPU {}: {}", i, api_->ErrorText(rc)));
    }
    gpu.model.assign(buffer, ::strnlen(buffer, sizeof buffer));

    nvmlMemory_t memory{};
    if (nvmlReturn_t rc = api_->get_memory_info(device, &memory); rc == NVML_SUCCESS) {
      gpu.memory_bytes = static_cast<std::int64_t>(memory.total);
    } else {
      Log(LogLevel::kDebug, "NVML memory of GPU {}: {}", i, api_->ErrorText(rc));
    }

    unsigned int minor = 0;
    if (nvmlReturn_t rc = api_->get_minor_number(device, &minor); rc == NVML_SUCCESS) {
      gpu.minor = static_cast<int>(minor);
    } else {
      Log(LogLevel::kDebug, "NVML minor number of GPU {}: {}", i, api_->ErrorText(rc));
    }
    devices.push_back(std::move(gpu));
  }
  return devices;
}

std::optional<int> GpuDiscovery::Utilization(int index) const {
  if (index < 0) return std::nullopt;
  nvmlDevice_t device = nullptr;
  if (api_->get_handle_by_index(static_cast<unsigned int>(index), &device) != NVML_SUCCESS) {
    return std::nullopt;
  }
  nvmlUtilization_t rates{};
  if (api_->get_utilization_rates(device, &rates) != NVML_SUCCESS) return std::nullopt;
  return static_cast<int>(std::min(rates.gpu, 100u));
}

std::map<int, std::pair<int, int>> ListNvidiaDeviceNodes(const std::string& dev_dir) {
  std::map<int, std::pair<int, int>> nodes;
  DIR* dir = ::opendir(dev_dir.c_str());
  if (dir == nullptr) return nodes;
  constexpr std::string_view kPrefix = "nvidia";
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (!name.starts_with(kPrefix) || name.size() == kPrefix.size() || name.size() > kPrefix.size() + 6) {
      continue;
    }
    std::string_view digits = name.substr(kPrefix.size());
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    struct stat st{};
    if (::stat((dev_dir + "/" + std::string(name)).c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) {
      continue;
    }
    nodes[std::stoi(std::string(digits))] = {static_cast<int>(major(st.st_rdev)),
                                             static_cast<int>(minor(st.st_rdev))};
  }
  ::closedir(dir);
  return nodes;
}

std::string CudaVisibleDevices(const std::vector<int>& allocated, bool fenced,
                               const std::vector<GpuDevice>& devices, bool use_uuids) {
  std::vector<std::string> parts;
  parts.reserve(allocated.size());
  for (std::size_t i = 0; i < allocated.size(); ++i) {
    const int index = allocated[i];
    if (use_uuids) {
      auto it = std::find_if(devices.begin(), devices.end(),
                             [index](const GpuDevice& d) { return d.index == index; });
      parts.push_back(it != devices.end() && !it->uuid.empty() ? it->uuid : std::to_string(index));
    } else if (fenced) {
      parts.push_back(std::to_string(i));
    } else {
      parts.push_back(std::to_string(index));
    }
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

}  // namespace weft::agent
