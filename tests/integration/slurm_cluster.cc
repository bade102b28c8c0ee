#include "slurm_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace weft::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kSlurmctld = "/usr/sbin/slurmctld";
constexpr const char* kSlurmd = "/usr/sbin/slurmd";
constexpr const char* kMunged = "/usr/sbin/munged";
constexpr const char* kMungekey = "/usr/sbin/mungekey";

bool Executable(const char* path) { return ::access(path, X_OK) == 0; }

// `count` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held while chosen).
std::vector<int> FreePorts(int count) {
  std::vector<int> fds, ports;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      if (fd >= 0) ::close(fd);
      continue;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

// Polls `condition` every 50 ms until it holds or `timeout` passes.
template <class F>
bool Poll(F condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// True while `pid` (our child) has not exited; reaps it when it has.
bool ChildAlive(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

}  // namespace

std::string SlurmCluster::MissingReason() {
  for (const char* path : {kSlurmctld, kSlurmd, kMunged, kMungekey, "/usr/bin/sbatch", "/usr/bin/squeue",
                           "/usr/bin/sinfo", "/usr/bin/scancel", "/usr/bin/scontrol"}) {
    if (!Executable(path)) {
      return std::string(path) +
             " is missing: install slurm-wlm and munge (scripts/setup.sh) to run the Slurm tests";
    }
  }
  return {};
}

SlurmCluster::SlurmCluster(Options options) : options_(options) {
  Start();
  if (!error_.empty()) Stop();
}

SlurmCluster::~SlurmCluster() { Stop(); }

std::vector<std::string> SlurmCluster::node_names() const {
  std::vector<std::string> names;
  for (int i = 1; i <= options_.nodes; ++i) names.push_back("n" + std::to_string(i));
  return names;
}

backend::CommandOutcome SlurmCluster::Command(std::vector<std::string> argv) const {
  backend::CommandSpec spec;
  argv[0] = "/usr/bin/" + argv[0];
  spec.argv = std::move(argv);
  spec.env = {{"SLURM_CONF", conf_}, {"PATH", "/usr/bin:/bin"}, {"LC_ALL", "C"}};
  spec.timeout = std::chrono::seconds(30);
  return backend::RunCommand(spec);
}

pid_t SlurmCluster::Spawn(const std::string& name, const std::vector<std::string>& argv) {
  const std::string log = dir_ + "/log/" + name + ".out";
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();  // own session: no signal of the test's terminal reaches it
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (pid > 0) daemons_.emplace_back(name, pid);
  return pid;
}

void SlurmCluster::Start() {
  std::string tmpl = fs::temp_directory_path().string() + "/weft-slurm-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  for (const char* sub : {"etc", "log", "run", "state", "spool", "dev", "munge", "work"}) {
    fs::create_directories(dir_ + "/" + sub);
  }
  // munged: the socket's directory must be world-executable, the key 0600.
  ::chmod(dir_.c_str(), 0755);
  ::chmod((dir_ + "/munge").c_str(), 0755);
  ::chmod((dir_ + "/work").c_str(), 0777);
  conf_ = dir_ + "/etc/slurm.conf";
  work_dir_ = dir_ + "/work";
  munge_socket_ = dir_ + "/munge/munge.socket";
  for (int i = 0; i < options_.gpus_per_node; ++i) {
    // slurmd wants character devices for GRES files: /dev/null stands in for a GPU.
    fs::create_symlink("/dev/null", dir_ + "/dev/nvidia" + std::to_string(i));
  }

  const std::string key = dir_ + "/munge/munge.key";
  backend::CommandSpec mk;
  mk.argv = {kMungekey, "-c", "-k", key};
  mk.timeout = std::chrono::seconds(30);
  if (const auto o = backend::RunCommand(mk); !o.ok()) {
    error_ = "mungekey failed: " + o.err;
    return;
  }
  ::chmod(key.c_str(), 0600);
  Spawn("munged", {kMunged, "-F", "--socket=" + munge_socket_, "--key-file=" + key,
                   "--pid-file=" + dir_ + "/run/munged.pid", "--log-file=" + dir_ + "/log/munged.log",
                   "--seed-file=" + dir_ + "/munge/munged.seed", "--num-threads=4"});
  if (!Poll([&] { return fs::exists(munge_socket_); }, std::chrono::seconds(15))) {
    error_ = "munged did not create its socket; see " + dir_ + "/log/munged.out";
    return;
  }

  const std::vector<int> ports = FreePorts(options_.nodes + 1);
  if (static_cast<int>(ports.size()) != options_.nodes + 1) {
    error_ = "no free ports on 127.0.0.1";
    return;
  }
  std::ostringstream c;
  c << "ClusterName=weft-test\n"
    << "SlurmctldHost=localhost\n"
    << "SlurmctldPort=" << ports[0] << "\n"
    << "SlurmUser=root\nSlurmdUser=root\n"
    << "AuthType=auth/munge\nCredType=cred/munge\n"
    << "AuthInfo=socket=" << munge_socket_ << "\n"
    << "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny\n"
    << "StateSaveLocation=" << dir_ << "/state\n"
    << "SlurmdSpoolDir=" << dir_ << "/spool/%n\n"
    << "SlurmctldPidFile=" << dir_ << "/run/slurmctld.pid\n"
    << "SlurmdPidFile=" << dir_ << "/run/slurmd-%n.pid\n"
    << "SlurmctldLogFile=" << dir_ << "/log/slurmctld.log\n"
    << "SlurmdLogFile=" << dir_ << "/log/slurmd-%n.log\n"
    << "SlurmctldDebug=error\nSlurmdDebug=error\n"
    << "SlurmdParameters=config_overrides\n"
    << "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
    << "JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n"
    << "JobCompType=jobcomp/none\nMpiDefault=none\nSwitchType=switch/none\n"
    << "SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU\n"
    << "SchedulerType=sched/backfill\n"
    // start.sh's measured settings: jobs start within about a second.
    << "SchedulerParameters=batch_sched_delay=0,sched_min_interval=10000,default_queue_depth=1000\n"
    << "Epilog=/bin/true\n"
    << "PriorityType=priority/basic\n"
    << "MinJobAge=300\n"  // finished jobs stay visible to squeue (there is no accounting)
    << "MessageTimeout=10\nReturnToService=2\nInactiveLimit=0\nKillWait=2\nMailProg=/bin/true\n"
    << "GresTypes=gpu\n"
    << "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n";
  for (int i = 1; i <= options_.nodes; ++i) {
    c << "NodeName=n" << i << " NodeHostname=localhost NodeAddr=127.0.0.1 Port=" << ports[i]
      << " CPUs=" << options_.cpus_per_node << " RealMemory=" << options_.memory_mb_per_node;
    if (options_.gpus_per_node > 0) c << " Gres=gpu:" << options_.gpus_per_node;
    c << " State=UNKNOWN\n";
  }
  std::ofstream(conf_) << c.str();
  std::ofstream gres(dir_ + "/etc/gres.conf");
  gres << "AutoDetect=off\n";
  if (options_.gpus_per_node > 0) {
    gres << "NodeName=n[1-" << options_.nodes << "] Name=gpu File=" << dir_ << "/dev/nvidia[0-"
         << options_.gpus_per_node - 1 << "]\n";
  }
  gres.close();
  std::ofstream(dir_ + "/etc/cgroup.conf") << "CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n";

  Spawn("slurmctld", {kSlurmctld, "-D", "-c", "-i", "-f", conf_});
  for (int i = 1; i <= options_.nodes; ++i) {
    const std::string name = "n" + std::to_string(i);
    fs::create_directories(dir_ + "/spool/" + name);
    Spawn("slurmd-" + name, {kSlurmd, "-D", "-N", name, "-f", conf_});
  }
  std::string last;
  const bool idle = Poll(
      [&] {
        for (const auto& [name, pid] : daemons_) {
          if (!ChildAlive(pid)) {
            error_ = name + " exited; see " + dir_ + "/log";
            return true;
          }
        }
        const auto o = Command({"sinfo", "-h", "-N", "-t", "idle", "-o", "%N"});
        last = o.out + o.err;
        int count = 0;
        std::istringstream lines(o.out);
        for (std::string line; std::getline(lines, line);) count += !line.empty();
        return o.ok() && count >= options_.nodes;
      },
      std::chrono::seconds(60));
  if (error_.empty() && !idle) error_ = "nodes did not become idle within 60 s: " + last;
}

void SlurmCluster::Stop() {
  if (daemons_.empty()) {
    if (!dir_.empty() && !std::getenv("WEFT_KEEP_SLURM_DIR")) fs::remove_all(dir_);
    return;
  }
  // Jobs first: their slurmstepd outlive slurmd.
  const auto jobs = Command({"squeue", "-h", "-o", "%A"});
  if (jobs.ok() && !jobs.out.empty()) {
    std::vector<std::string> argv{"scancel", "--full", "--quiet"};
    std::istringstream lines(jobs.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) argv.push_back(line);
    }
    Command(argv);
    Poll(
        [&] {
          const auto o = Command({"squeue", "-h", "-o", "%i", "-t", "PD,CF,R,CG,S"});
          return !o.ok() || o.out.empty();
        },
        std::chrono::seconds(15));
  }
  // Then the daemons, newest first: TERM, KILL after 10 s; they are our children, so waitpid.
  for (auto it = daemons_.rbegin(); it != daemons_.rend(); ++it) {
    const pid_t pid = it->second;
    if (!ChildAlive(pid)) continue;
    ::kill(pid, SIGTERM);
    if (!Poll([&] { return !ChildAlive(pid); }, std::chrono::seconds(10))) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  daemons_.clear();
  if (!std::getenv("WEFT_KEEP_SLURM_DIR")) fs::remove_all(dir_);
}

}  // namespace weft::testing
