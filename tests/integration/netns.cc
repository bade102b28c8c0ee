#include "netns.h"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <regex>
#include <sstream>

#include "local_cluster.h"

namespace weft::testing {
namespace {

std::string IpBinary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

std::string NsenterBinary() {
  for (const char* path : {"/usr/bin/nsenter", "/bin/nsenter", "/usr/sbin/nsenter"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// "a.b.c.d[/len]" → (address, prefix length); false when it is not one.
bool ParseNet(const std::string& text, std::uint32_t* address, int* length) {
  const auto slash = text.find('/');
  const std::string host = text.substr(0, slash);
  in_addr parsed{};
  if (::inet_pton(AF_INET, host.c_str(), &parsed) != 1) return false;
  *address = ntohl(parsed.s_addr);
  *length = slash == std::string::npos ? 32 : std::atoi(text.c_str() + slash + 1);
  return *length >= 0 && *length <= 32;
}

std::uint32_t Mask(int length) { return length == 0 ? 0 : ~std::uint32_t{0} << (32 - length); }

// Every IPv4 network the root namespace has an address on or a route to (default routes
// aside: a private subnet on a bridge does not collide with them).
std::vector<std::pair<std::uint32_t, int>> UsedNetworks() {
  std::vector<std::pair<std::uint32_t, int>> used;
  std::string text;
  RunIp({"-4", "-o", "addr", "show"}, &text);
  std::string routes;
  RunIp({"-4", "route", "show", "table", "all"}, &routes);
  text += "\n" + routes;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      std::uint32_t address;
      int length;
      if (ParseNet(word, &address, &length)) used.emplace_back(address & Mask(length), length);
    }
  }
  return used;
}

bool PidAlive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// Removes namespaces, links and bridges named by this fixture for a process that no longer
// exists (a run killed before its destructor). Names of live processes are never touched.
void RemoveLeftovers() {
  static const std::regex kName("^wp(ns|v|b)([0-9]+)(h[0-9]+|n[0-9]+)?$");
  std::string text;
  RunIp({"netns", "list"}, &text);
  std::istringstream ns_lines(text);
  std::string line;
  std::smatch m;
  while (std::getline(ns_lines, line)) {
    const std::string name = line.substr(0, line.find(' '));
    if (std::regex_match(name, m, kName) && m[1] == "ns" && !PidAlive(std::atol(m[2].str().c_str()))) {
      RunIp({"netns", "delete", name});
    }
  }
  RunIp({"-o", "link", "show"}, &text);
  std::istringstream link_lines(text);
  while (std::getline(link_lines, line)) {
    // "12: wpv123h0@if11: <...>": the name sits between the first ": " and '@' or ':'.
    const auto start = line.find(": ");
    if (start == std::string::npos) continue;
    const std::string rest = line.substr(start + 2);
    const std::string name = rest.substr(0, rest.find_first_of("@:"));
    if (std::regex_match(name, m, kName) && m[1] != "ns" && !PidAlive(std::atol(m[2].str().c_str()))) {
      RunIp({"link", "delete", name});
    }
  }
}

}  // namespace

int RunIp(const std::vector<std::string>& args, std::string* out) {
  static const std::string ip = IpBinary();
  if (ip.empty()) return 127;
  std::vector<std::string> argv{ip};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = RunProgram(argv, {}, "/");
  if (out) *out = r.out;
  return r.exit_code;
}

NetnsHosts::NetnsHosts(int hosts) : tag_(std::to_string(::getpid())) {
  if (IpBinary().empty()) {
    error_ = "no `ip` binary (iproute2)";
    return;
  }
  if (NsenterBinary().empty()) {
    error_ = "no `nsenter` binary (util-linux)";
    return;
  }
  RemoveLeftovers();
  if (!Setup(hosts)) Teardown();
}

NetnsHosts::~NetnsHosts() { Teardown(); }

std::string NetnsHosts::host_ip(int i) const { return subnet_prefix_ + std::to_string(i + 2); }

std::vector<std::string> NetnsHosts::ExecPrefix(int i) const {
  return {NsenterBinary(), "--net=/run/netns/" + namespaces_.at(i), "--"};
}

bool NetnsHosts::Setup(int hosts) {
  // A /24 in 10.0.0.0/8 that no address or route of the host overlaps, picked from the pid
  // so that concurrent runs start from different candidates.
  const auto used = UsedNetworks();
  const unsigned seed = static_cast<unsigned>(::getpid());
  for (unsigned k = 0; k < 4096 && subnet_prefix_.empty(); ++k) {
    const unsigned n = (seed * 7919u + k * 104729u) % (200u * 256u);
    const std::uint32_t net = (10u << 24) | ((n / 256 + 40) << 16) | ((n % 256) << 8);
    bool clash = false;
    for (const auto& [address, length] : used) {
      if (length == 0) continue;  // default routes
      const int common = std::min(length, 24);
      if ((address & Mask(common)) == (net & Mask(common))) clash = true;
    }
    if (!clash) {
      subnet_prefix_ = std::to_string(net >> 24) + "." + std::to_string((net >> 16) & 255) + "." +
                       std::to_string((net >> 8) & 255) + ".";
    }
  }
  if (subnet_prefix_.empty()) {
    error_ = "no free private /24 in 10.0.0.0/8";
    return false;
  }
  bridge_ip_ = subnet_prefix_ + "1";
  bridge_ = "wpb" + tag_;
  auto ip = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv{IpBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = RunProgram(argv, {}, "/");
    if (r.exit_code != 0 && error_.empty()) {
      std::string command = "ip";
      for (const auto& a : args) command += " " + a;
      error_ = "`" + command + "` failed: " + r.err;
    }
    return r.exit_code == 0;
  };
  if (!ip({"link", "add", bridge_, "type", "bridge"})) return false;
  if (!ip({"addr", "add", bridge_ip_ + "/24", "dev", bridge_})) return false;
  if (!ip({"link", "set", bridge_, "up"})) return false;
  for (int i = 0; i < hosts; ++i) {
    const std::string ns = "wpns" + tag_ + "h" + std::to_string(i);
    const std::string host_link = "wpv" + tag_ + "h" + std::to_string(i);
    const std::string ns_link = "wpv" + tag_ + "n" + std::to_string(i);
    if (!ip({"netns", "add", ns})) return false;
    namespaces_.push_back(ns);
    if (!ip({"link", "add", host_link, "type", "veth", "peer", "name", ns_link})) return false;
    host_links_.push_back(host_link);
    if (!ip({"link", "set", ns_link, "netns", ns})) return false;
    if (!ip({"link", "set", host_link, "master", bridge_})) return false;
    if (!ip({"link", "set", host_link, "up"})) return false;
    if (!ip({"-n", ns, "addr", "add", host_ip(i) + "/24", "dev", ns_link})) return false;
    if (!ip({"-n", ns, "link", "set", ns_link, "up"})) return false;
    if (!ip({"-n", ns, "link", "set", "lo", "up"})) return false;
  }
  return true;
}

void NetnsHosts::Teardown() {
  // Deleting one end of a veth pair deletes both; deleting a namespace's name frees it once
  // no process is left inside.
  for (const auto& link : host_links_) RunIp({"link", "delete", link});
  for (const auto& ns : namespaces_) RunIp({"netns", "delete", ns});
  if (!bridge_.empty()) RunIp({"link", "delete", bridge_});
  host_links_.clear();
  namespaces_.clear();
  bridge_.clear();
}

bool NetnsHosts::Cut(int i) { return RunIp({"link", "set", host_links_.at(i), "down"}) == 0; }
bool NetnsHosts::Restore(int i) { return RunIp({"link", "set", host_links_.at(i), "up"}) == 0; }

}  // namespace weft::testing
