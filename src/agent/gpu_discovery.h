// GPU discovery for `weft agent --gpus auto`: NVML (libnvidia-ml.so.1) loaded with dlopen at
// run time, so the agent has no link-time dependency on NVIDIA libraries and runs unchanged on
// nodes without a driver (Open fails with one sentence; OpenOrLog logs it once and yields no
// GPUs). Reports each GPU's NVML index, UUID, model name, total memory and device minor number
// (the N of /dev/nvidiaN, which device fencing denies to tasks not holding that GPU), and
// samples instantaneous utilisation for accounting.
//
// Also two pure helpers: the /dev/nvidiaN character devices of a node (their major:minor, for
// the devices cgroup) and the CUDA_VISIBLE_DEVICES value for a task's allocated GPUs.
//
// Threading: Open on any thread; Devices and Utilization are thread-safe (NVML itself is, and
// the object holds no mutable state). Destroying the object while another thread uses it is
// the caller's bug. No NVIDIA header is included: the few NVML types are declared in the .cc.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace weft::agent {

struct GpuDevice {
  int index = 0;                  // NVML index
  std::string uuid;               // "GPU-..."
  std::string model;              // nvmlDeviceGetName, e.g. "NVIDIA H100 80GB HBM3"
  std::int64_t memory_bytes = 0;  // total; 0 when NVML cannot say
  int minor = -1;                 // nvmlDeviceGetMinorNumber: /dev/nvidia<minor>; -1 unknown
};

class GpuDiscovery {  // owns the dlopen handle; thread-safe after Open
 public:
  // The library Open loads when neither its argument nor WEFT_NVML_LIBRARY names one.
  static constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";

  // Loads `library` (default "libnvidia-ml.so.1"; env WEFT_NVML_LIBRARY overrides when
  // `library` is empty) with dlopen, resolves the NVML entry points and calls nvmlInit_v2.
  // Errors, each one sentence:
  //   kNotFound            "NVML not found (<library>: <dlerror>); no GPUs discovered"
  //   kFailedPrecondition  the library lacks a required NVML symbol
  //   kUnavailable         "NVML init failed (<library>): <nvmlErrorString> (NVML error N);
  //                        no GPUs discovered"
  static Result<std::unique_ptr<GpuDiscovery>> Open(const std::string& library = "");

  // Open, logging a failure as one line (info: no NVML library, as on a node without GPUs;
  // warning: any other failure) and returning null: what `--gpus auto` wants.
  static std::unique_ptr<GpuDiscovery> OpenOrLog(const std::string& library = "");

  ~GpuDiscovery();  // nvmlShutdown + dlclose
  GpuDiscovery(const GpuDiscovery&) = delete;
  GpuDiscovery& operator=(const GpuDiscovery&) = delete;

  // Every GPU NVML reports, by index. Fails if the count, a handle, a UUID or a name cannot be
  // read; an unreadable memory size or minor number leaves 0 / -1 (logged at debug).
  Result<std::vector<GpuDevice>> Devices() const;

  // Instantaneous GPU utilisation percent (0-100) of NVML index `index`; nullopt when NVML does
  // not support it for that device, or on any error (unknown index included).
  std::optional<int> Utilization(int index) const;

  // The library actually loaded (after the default and WEFT_NVML_LIBRARY were applied).
  const std::string& library() const { return library_; }

 private:
  struct Api;  // resolved NVML entry points (defined in the .cc)

  GpuDiscovery(std::string library, void* handle, std::unique_ptr<Api> api);

  std::string library_;
  void* handle_ = nullptr;  // from dlopen
  std::unique_ptr<Api> api_;
};

// The /dev/nvidiaN character devices under `dev_dir` (default "/dev"), by N (the NVML minor
// number): N -> (major, minor) of the device node, used to deny other GPUs to a task. Only
// names "nvidia" + digits that stat() as character devices count (nvidiactl, nvidia-uvm,
// regular files and unreadable entries are skipped). Empty if `dev_dir` cannot be read.
std::map<int, std::pair<int, int>> ListNvidiaDeviceNodes(const std::string& dev_dir = "/dev");

// CUDA_VISIBLE_DEVICES value for a task given its allocated GPU NVML indices, in their order:
//   use_uuids           -> the allocated GPUs' UUIDs "GPU-a,GPU-b" (valid fenced or not; an
//                          index missing from `devices` is written as the index itself);
//   fenced (devices cgroup denies the others) -> renumbered "0,1,...,n-1" (as Slurm with
//                          ConstrainDevices: CUDA sees only the allowed GPUs);
//   not fenced          -> the real indices "2,5".
// Empty when nothing is allocated.
std::string CudaVisibleDevices(const std::vector<int>& allocated, bool fenced,
                               const std::vector<GpuDevice>& devices, bool use_uuids = false);

}  // namespace weft::agent
