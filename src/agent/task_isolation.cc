#include "agent/task_isolation.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"

namespace weft::agent {
namespace {

// The owner's identity, from the node's own user database (as Slurm's slurmd resolves it).
struct Owner {
  Credentials credentials;
  std::string home;
  std::string shell;
};

Result<Owner> LookUpOwner(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  const int rc = ::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return Fail(ErrorCode::kFailedPrecondition, fmt::format("user '{}' does not exist on this node", user));
  }
  Owner owner;
  owner.credentials.uid = pw.pw_uid;
  owner.credentials.gid = pw.pw_gid;
  owner.home = pw.pw_dir ? pw.pw_dir : "/";
  owner.shell = pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh";
  int count = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  if (::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<std::size_t>(count));
    ::getgrouplist(user.c_str(), pw.pw_gid, groups.data(), &count);
  }
  groups.resize(static_cast<std::size_t>(std::max(count, 0)));
  owner.credentials.groups = std::move(groups);
  return owner;
}

// Replaces or adds NAME=value in a launch environment.
void SetEnv(std::vector<std::string>& env, const std::string& name, const std::string& value) {
  const std::string prefix = name + "=";
  for (std::string& entry : env) {
    if (entry.starts_with(prefix)) {
      entry = prefix + value;
      return;
    }
  }
  env.push_back(prefix + value);
}

// Creates the output file `path` for the owner when it does not exist yet, as it would be had
// the owner opened it. An existing path is left alone whoever owns it (it may be /dev/null, or
// another user's file: never hand over what the agent did not create).
void CreateOutputFor(const std::string& path, const Credentials& c) {
  if (path.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;  // exists (left alone), or the launch reports why it cannot be opened
  [[maybe_unused]] const int rc = ::fchown(fd, c.uid, c.gid);
  ::close(fd);
}

// Hands the agent's own per-task file or directory (the script and its folder, which the agent
// just wrote) to the owner. Anything else is left alone.
void GiveAgentFileTo(const std::string& path, const Credentials& c) {
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return;
  if (st.st_uid != ::geteuid() || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) return;
  [[maybe_unused]] const int rc = ::lchown(path.c_str(), c.uid, c.gid);
}

std::vector<int> OnlineCores() {
  std::vector<int> cores;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return cores;
  for (int i = 0; i < CPU_SETSIZE; ++i) {
    if (CPU_ISSET(i, &set)) cores.push_back(i);
  }
  return cores;
}

std::string CpuList(const std::vector<int>& cores) {
  std::string out;
  for (int c : cores) out += (out.empty() ? "" : ",") + std::to_string(c);
  return out;
}

}  // namespace

// Recycles or removes ended tasks' cgroups on a thread of its own. The driver is safe to call for
// different cgroups from different threads (cgroup_driver.h); the loop thread never touches a
// cgroup once it has handed it over.
class TaskIsolation::Janitor {
 public:
  explicit Janitor(CgroupDriver& driver) : driver_(driver), thread_([this] { Run(); }) {}
  ~Janitor() { Stop(std::chrono::seconds(5)); }

  // Queues `name` unless it is queued or being removed already.
  void Add(const std::string& name) {
    std::lock_guard lock(mu_);
    if (!known_.insert(name).second) return;
    queue_.push_back(Item{name, 0});
    wake_.notify_one();
  }

  // Lets the thread finish what is queued for up to `patience`, then stops it.
  void Stop(Duration patience) {
    {
      std::unique_lock lock(mu_);
      if (!thread_.joinable()) return;
      idle_.wait_for(lock, patience, [&] { return queue_.empty() && !busy_; });
      stopping_ = true;
      wake_.notify_one();
    }
    thread_.join();
  }

 private:
  struct Item {
    std::string name;
    int tries = 0;
  };
  static constexpr int kMaxTries = 50;  // × kRetryDelay: ten seconds of lingering processes
  static constexpr auto kRetryDelay = std::chrono::milliseconds(200);

  void Run() {
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      Item item = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      // Parked for the next task where the host allows it (the cheap path), else removed.
      Result<> removed = driver_.KillAll(item.name) ? driver_.Recycle(item.name)
                                                     : Fail(ErrorCode::kFailedPrecondition, "processes remain");
      if (!removed) removed = driver_.Remove(item.name);
      lock.lock();
      busy_ = false;
      if (!removed && ++item.tries < kMaxTries) {
        wake_.wait_for(lock, kRetryDelay, [&] { return stopping_; });
        queue_.push_back(std::move(item));
      } else {
        if (!removed) {
          Log(LogLevel::kWarn, "giving up removing cgroup {}: {}", driver_.Describe(item.name),
              removed.error().message);
        }
        known_.erase(item.name);
      }
      if (queue_.empty()) idle_.notify_all();
    }
  }

  CgroupDriver& driver_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Item> queue_;
  std::set<std::string> known_;  // queued or in progress
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

Result<std::unique_ptr<TaskIsolation>> TaskIsolation::Create(IsolationConfig config, const std::string& base_name) {
  std::unique_ptr<CgroupDriver> driver;
  if (config.cgroups) {
    CgroupOptions options;
    options.base_name = base_name;
    options.node_cpus = config.node_cpus;
    options.parent = config.cgroup_parent;
    auto detected = DetectCgroupDriver(options);
    if (!detected) return tl::unexpected(detected.error());
    driver = std::move(*detected);
    const IsolationSupport& s = driver->Support();
    Log(LogLevel::kInfo, "isolation: cgroup {} enforcing{}{}{}{}{}", driver->Version(), s.memory ? " memory" : "",
        s.cpu ? " cpu" : "", s.pids ? " pids" : "", s.cpuset ? " cpuset" : "", s.devices ? " devices" : "");
    for (const std::string& problem : s.problems) Log(LogLevel::kWarn, "isolation: {}", problem);
  } else {
    Log(LogLevel::kWarn, "isolation: off (--isolation off): tasks run without cgroup limits");
  }
  if (!config.run_as_owner) {
    Log(LogLevel::kWarn, "isolation: the agent does not run as root; every task runs as {}",
        ::getpwuid(::geteuid()) ? ::getpwuid(::geteuid())->pw_name : std::to_string(::geteuid()));
  }
  return std::make_unique<TaskIsolation>(std::move(config), std::move(driver));
}

TaskIsolation::~TaskIsolation() { Close(); }

TaskIsolation::TaskIsolation(IsolationConfig config, std::unique_ptr<CgroupDriver> driver)
    : config_(std::move(config)), driver_(std::move(driver)) {
  if (HasCgroups()) janitor_ = std::make_unique<Janitor>(*driver_);
  // Cores are pinned only where the node offers no more CPUs than the host has: with more
  // (fake capacity) two tasks' "whole CPUs" could not be distinct cores.
  std::vector<int> online = OnlineCores();
  if (driver_ && driver_->Support().cpuset && config_.node_cpus > 0 &&
      config_.node_cpus <= static_cast<int>(online.size())) {
    cores_.assign(online.begin(), online.begin() + config_.node_cpus);
  }
}

std::string TaskIsolation::CgroupName(const model::TaskKey& key) { return "task-" + model::ToString(key); }

model::NodeIsolation TaskIsolation::Describe() const {
  model::NodeIsolation out;
  out.user = config_.run_as_owner;
  if (!driver_ || driver_->Version() == "none") return out;
  const IsolationSupport& s = driver_->Support();
  out.cgroup = std::string(driver_->Version());
  out.memory = s.memory;
  out.cpu = s.cpu;
  out.pids = s.pids && config_.pids_limit > 0;
  out.cpuset = !cores_.empty();
  out.devices = s.devices;
  return out;
}

std::string TaskIsolation::PickCores(const model::TaskKey& key, std::int64_t cpu_milli) {
  // Whole CPUs get cores of their own (Slurm's ConstrainCores); fractions share, capped by
  // bandwidth alone.
  if (cores_.empty() || cpu_milli <= 0 || cpu_milli % 1000 != 0) return "";
  const auto want = static_cast<std::size_t>(cpu_milli / 1000);
  std::set<int> taken;
  for (const auto& [k, cores] : pinned_) taken.insert(cores.begin(), cores.end());
  std::vector<int> mine;
  for (int core : cores_) {
    if (mine.size() == want) break;
    if (taken.count(core) == 0) mine.push_back(core);
  }
  if (mine.size() < want) return "";  // an adopted task may hold cores we do not know of
  pinned_[key] = mine;
  return CpuList(mine);
}

std::vector<DeviceId> TaskIsolation::DeniedGpus(const std::vector<int>& allocated) const {
  std::vector<DeviceId> denied;
  const std::map<int, std::pair<int, int>> nodes = ListNvidiaDeviceNodes(config_.dev_dir);
  for (const GpuDevice& gpu : config_.gpus) {
    if (std::find(allocated.begin(), allocated.end(), gpu.index) != allocated.end()) continue;
    auto it = nodes.find(gpu.minor);
    if (it != nodes.end()) denied.push_back(DeviceId{'c', it->second.first, it->second.second});
  }
  return denied;
}

Result<CgroupPlacement> TaskIsolation::Prepare(const model::TaskAssignment& assignment, const std::string& script,
                                               LaunchSpec& spec) {
  const model::TaskKey& key = assignment.key;
  if (config_.run_as_owner) {
    if (assignment.user.empty()) {
      return Fail(ErrorCode::kFailedPrecondition, "the job has no owner, and the agent never runs a job as root "
                                                  "unless root owns it");
    }
    auto owner = LookUpOwner(assignment.user);
    if (!owner) return tl::unexpected(owner.error());
    SetEnv(spec.env, "HOME", owner->home);
    SetEnv(spec.env, "USER", assignment.user);
    SetEnv(spec.env, "LOGNAME", assignment.user);
    SetEnv(spec.env, "SHELL", owner->shell);
    // The task's own directory and script (written by the agent) and its output files
    // become the owner's, as they would be had the owner started it.
    if (!script.empty()) {
      GiveAgentFileTo(script.substr(0, script.rfind('/')), owner->credentials);
      GiveAgentFileTo(script, owner->credentials);
    }
    CreateOutputFor(spec.stdout_path, owner->credentials);
    CreateOutputFor(spec.stderr_path, owner->credentials);
    spec.credentials = owner->credentials;
  }

  // GPUs: real ones are fenced where the devices controller exists (the task sees its own,
  // renumbered from 0, as Slurm's ConstrainDevices does), else named by their real indices.
  const bool real_gpus = !config_.gpus.empty() && !assignment.gpu_ids.empty();
  CgroupLimits limits;
  if (real_gpus) {
    const bool fenced = driver_ && driver_->Support().devices;
    if (fenced) limits.denied_devices = DeniedGpus(assignment.gpu_ids);
    SetEnv(spec.env, "CUDA_VISIBLE_DEVICES", CudaVisibleDevices(assignment.gpu_ids, fenced, config_.gpus));
    SetEnv(spec.env, "CUDA_DEVICE_ORDER", "PCI_BUS_ID");  // CUDA numbers GPUs as NVML does
    task_gpus_[key] = assignment.gpu_ids;
  }
  if (!driver_ || driver_->Version() == "none") return CgroupPlacement{};

  if (assignment.resources.memory_bytes > 0) limits.memory_bytes = assignment.resources.memory_bytes;
  if (assignment.resources.cpu_milli > 0) limits.cpus = static_cast<double>(assignment.resources.cpu_milli) / 1000.0;
  if (config_.pids_limit > 0) limits.pids_max = config_.pids_limit;
  limits.cpuset_cpus = PickCores(key, assignment.resources.cpu_milli);
  const std::string name = CgroupName(key);
  if (auto created = driver_->Create(name, limits); !created) {
    pinned_.erase(key);
    return Fail(ErrorCode::kUnavailable, fmt::format("cannot create the task's cgroup: {}", created.error().message));
  }
  auto placement = driver_->Placement(name);
  if (!placement) {
    [[maybe_unused]] auto removed = driver_->Remove(name);
    pinned_.erase(key);
    return tl::unexpected(placement.error());
  }
  if (limits.memory_bytes && driver_->Support().memory) memory_limits_[key] = *limits.memory_bytes;
  return std::move(*placement);
}

std::optional<model::TaskUsage> TaskIsolation::Usage(const model::TaskKey& key) {
  model::TaskUsage usage;
  bool measured = false;
  if (driver_ && driver_->Version() != "none") {
    const std::string name = CgroupName(key);
    std::optional<CgroupUsage> counters;
    if (driver_->Exists(name)) {
      if (auto read = driver_->Usage(name)) {
        counters = *read;
        last_usage_[key] = *read;
      }
    } else if (auto it = last_usage_.find(key); it != last_usage_.end()) {
      counters = it->second;
    }
    if (counters) {
      measured = true;
      usage.cpu_usec = static_cast<std::int64_t>(counters->cpu_seconds * 1e6);
      usage.memory_peak_bytes = counters->memory_peak_bytes;
      usage.memory_current_bytes = counters->memory_current_bytes;
    }
    if (auto it = memory_limits_.find(key); it != memory_limits_.end()) usage.memory_limit_bytes = it->second;
  }
  if (auto gpus = task_gpus_.find(key); gpus != task_gpus_.end() && config_.gpu_library) {
    GpuSamples& samples = gpu_samples_[key];
    for (int index : gpus->second) {
      if (auto percent = config_.gpu_library->Utilization(index)) {
        samples.sum += *percent;
        ++samples.count;
      }
    }
    if (samples.count > 0) {
      usage.gpu_utilization = static_cast<int>(samples.sum / samples.count);
      measured = true;
    }
  }
  if (!measured) return std::nullopt;
  return usage;
}

bool TaskIsolation::OomKilled(const model::TaskKey& key) const {
  // From the counters Usage() read last (the supervisor reads them at the task's end).
  auto it = last_usage_.find(key);
  return it != last_usage_.end() && it->second.oom_kills > 0;
}

void TaskIsolation::Signal(const model::TaskKey& key, int signal) const {
  if (!driver_ || driver_->Version() == "none") return;
  for (pid_t pid : driver_->Pids(CgroupName(key))) ::kill(pid, signal);
}

void TaskIsolation::Cleanup(const model::TaskKey& key) {
  pinned_.erase(key);
  task_gpus_.erase(key);
  gpu_samples_.erase(key);
  memory_limits_.erase(key);
  last_usage_.erase(key);
  if (janitor_) janitor_->Add(CgroupName(key));
}

void TaskIsolation::CollectLeftovers(const std::set<model::TaskKey>& keep) {
  if (!janitor_) return;
  std::set<std::string> wanted;
  for (const model::TaskKey& key : keep) wanted.insert(CgroupName(key));
  for (const std::string& name : driver_->List()) {
    if (wanted.count(name) == 0) janitor_->Add(name);  // queued at most once
  }
}

void TaskIsolation::Close() {
  if (!janitor_) return;
  janitor_->Stop(std::chrono::seconds(5));
  janitor_.reset();
  driver_->DrainPool();
  // A task that ended before its sweep ran left an empty cgroup: nothing to adopt there, so it
  // goes. Cgroups with processes stay for the next agent to adopt (a restart, not a stop).
  for (const std::string& name : driver_->List()) {
    if (driver_->Pids(name).empty()) [[maybe_unused]] auto removed = driver_->Remove(name);
  }
  if (driver_->List().empty()) [[maybe_unused]] auto removed = driver_->RemoveBase();
}

}  // namespace weft::agent
