// `weft agent`: flags → AgentConfig → Agent, until SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "agent/gpu_discovery.h"
#include "common/log.h"
#include "common/strings.h"
#include "spec/job_spec_parser.h"

namespace {

// The local address this host uses to reach `server_url`: what peers should dial.
std::string LocalAddressTowards(const std::string& server_url) {
  std::string host = server_url.substr(server_url.find("://") == std::string::npos ? 0 : server_url.find("://") + 3);
  std::string port = "80";
  if (auto colon = host.rfind(':'); colon != std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) return "127.0.0.1";
  std::string out = "127.0.0.1";
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof(local);
    char text[INET_ADDRSTRLEN] = {};
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        inet_ntop(AF_INET, &local.sin_addr, text, sizeof(text))) {
      out = text;
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(res);
  return out;
}

}  // namespace

int AgentMain(int argc, char** argv) {
  CLI::App app{"weft agent: runs the tasks the controller assigns to this node"};
  weft::agent::AgentConfig config;
  std::string token_file, memory, gpus = "0", labels, address;
  int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  double heartbeat_s = 2, kill_wait_s = 5, fence_after_s = 20;
  std::string isolation = "on", nvml_library;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  config.name = host;
  std::string join_token, join_token_file, legacy_token;
  app.add_option("--server", config.server_url, "controller URL, http://host:port or https://host:port")->required();
  app.add_option("--join-token", join_token, "the server's join token (its state dir/join_token; env WEFT_JOIN_TOKEN)");
  app.add_option("--join-token-file", join_token_file, "file holding the server's join token");
  // The flags agents used before the join token existed; they now carry the join token too.
  app.add_option("--token-file", token_file, "same as --join-token-file");
  app.add_option("--token", legacy_token, "same as --join-token");
  app.add_option("--ca-file", config.ca_file,
                 "CA certificates (PEM) that sign an https server's certificate (env WEFT_CA_FILE; default: the "
                 "system's)");
  app.add_option("--name", config.name, "node name (default: host name)");
  app.add_option("--cpus", cpus, "CPUs this node offers");
  app.add_option("--memory", memory, "memory this node offers (default: all)");
  app.add_option("--gpus", gpus, "GPU slots: a count, or auto");
  app.add_option("--labels", labels, "k=v,... (zone, rack, switch, pool)");
  app.add_option("--work-dir", config.work_dir, "agent state (default /tmp/weft-agent-NAME)");
  app.add_option("--address", address, "address peers use to reach this node");
  app.add_option("--heartbeat", heartbeat_s, "seconds between reports");
  app.add_option("--kill-wait", kill_wait_s, "seconds between SIGTERM and SIGKILL");
  app.add_option("--fence-after", fence_after_s,
                 "seconds without reaching the controller before every task is killed (keep it below the "
                 "server's --node-timeout; 0: never)");
  app.add_option("--isolation", isolation, "on: every task in its own cgroup with limits; off: none")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_option("--cgroup-parent", config.isolation.cgroup_parent,
                 "cgroup path to nest task cgroups under (default: the agent's own cgroup)");
  app.add_option("--pids-limit", config.isolation.pids_limit, "most processes per task (0: no limit)");
  app.add_option("--nvml-library", nvml_library, "NVML library for --gpus auto (default libnvidia-ml.so.1)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "weft agent: %s\n", message.c_str());
    return 2;
  };
  // The join token: a flag, else a file named by a flag, else WEFT_JOIN_TOKEN. The server
  // refuses the admin and user tokens on the agent routes (403), so only the join token works.
  const auto read_token_file = [&](const std::string& path) -> bool {
    std::ifstream in(path);
    if (!in) return false;
    std::getline(in, config.token);
    return true;
  };
  if (!join_token.empty()) {
    config.token = join_token;
  } else if (!legacy_token.empty()) {
    config.token = legacy_token;
  } else if (!join_token_file.empty()) {
    if (!read_token_file(join_token_file)) {
      return fail("--join-token-file: cannot read '" + join_token_file + "'");
    }
  } else if (!token_file.empty()) {
    if (!read_token_file(token_file)) return fail("--token-file: cannot read '" + token_file + "'");
  } else if (const char* env = std::getenv("WEFT_JOIN_TOKEN"); env && *env) {
    config.token = env;
  }
  while (!config.token.empty() && (config.token.back() == '\r' || config.token.back() == ' ')) config.token.pop_back();
  if (config.token.empty()) {
    return fail("--join-token: required (the server's state dir/join_token; or --join-token-file FILE, or "
                "WEFT_JOIN_TOKEN)");
  }
  if (config.ca_file.empty()) {
    if (const char* env = std::getenv("WEFT_CA_FILE"); env && *env) config.ca_file = env;
  }
  if (cpus < 1) return fail("--cpus: must be at least 1");
  config.capacity.cpu_milli = cpus * 1000LL;
  if (memory.empty()) {
    config.capacity.memory_bytes = static_cast<std::int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  } else {
    auto bytes = weft::spec::ParseMemory(memory);
    if (!bytes) return fail("--memory: " + bytes.error().message);
    config.capacity.memory_bytes = *bytes;
  }
  if (gpus == "auto") {
    // NVML, loaded at run time: no driver means no GPUs (one log line), not a failure.
    std::shared_ptr<weft::agent::GpuDiscovery> nvml = weft::agent::GpuDiscovery::OpenOrLog(nvml_library);
    std::vector<weft::agent::GpuDevice> devices;
    if (nvml) {
      auto found = nvml->Devices();
      if (!found) return fail("--gpus auto: " + found.error().message);
      devices = std::move(*found);
    }
    config.capacity.gpus = static_cast<std::int64_t>(devices.size());
    for (const auto& d : devices) {
      config.gpus.push_back(weft::model::GpuInfo{d.index, d.uuid, d.model, d.memory_bytes});
      weft::Log(weft::LogLevel::kInfo, "GPU {}: {} {} ({} MiB, /dev/nvidia{})", d.index, d.model, d.uuid,
                d.memory_bytes >> 20, d.minor);
    }
    if (!devices.empty()) config.gpu_model = devices.front().model;
    config.isolation.gpus = std::move(devices);
    config.isolation.gpu_library = std::move(nvml);
  } else {
    auto n = weft::ParseInt(gpus);
    if (!n || *n < 0) return fail("--gpus: '" + gpus + "' is not a count or 'auto'");
    config.capacity.gpus = *n;
  }
  if (!labels.empty()) {
    for (const std::string& pair : weft::Split(labels, ',')) {
      const auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0) return fail("--labels: '" + pair + "' is not key=value");
      config.labels[pair.substr(0, eq)] = pair.substr(eq + 1);
    }
  }
  if (config.work_dir.empty()) config.work_dir = "/tmp/weft-agent-" + config.name;
  config.address = address.empty() ? LocalAddressTowards(config.server_url) : address;
  config.heartbeat_interval = std::chrono::microseconds(static_cast<long long>(heartbeat_s * 1e6));
  config.fence_after = std::chrono::microseconds(static_cast<long long>(fence_after_s * 1e6));
  config.kill_wait = std::chrono::microseconds(static_cast<long long>(kill_wait_s * 1e6));
  if (config.isolation.pids_limit < 0) return fail("--pids-limit: must be 0 or more");
  if (fence_after_s < 0) return fail("--fence-after: must be 0 (never) or more seconds");
  config.isolation.cgroups = isolation == "on";
  config.isolation.run_as_owner = ::geteuid() == 0;  // only root can switch users
  config.isolation.node_cpus = cpus;

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  weft::agent::Agent agent(config);
  if (auto started = agent.Start(); !started) return fail(started.error().message);
  weft::Log(weft::LogLevel::kInfo, "weft agent {} serving {} ({} cpus, {} gpus)", config.name, config.server_url, cpus,
            config.capacity.gpus);
  int sig = 0;
  sigwait(&stop, &sig);
  agent.Stop();
  return 0;
}
