// Test fixture: N network namespaces ("hosts") on a private Linux bridge in the root
// namespace, each joined by a veth pair, on a private /24 that collides with no address or
// route of the host. The bridge holds .1 (where a server in the root namespace listens);
// host i holds .(i+2). Cut(i)/Restore(i) take host i's link down/up (a real partition: its
// packets go nowhere, its connections hang). Names are unique per test process (pid-based);
// the destructor deletes everything the fixture created, also when the test failed, and a
// new fixture first removes what a killed earlier run (a dead pid) left behind.
#pragma once

#include <string>
#include <vector>

namespace weft::testing {

class NetnsHosts {
 public:
  // Creates the bridge and `hosts` namespaces. On failure (no CAP_NET_ADMIN, no `ip`, no
  // bridge support) `ok()` is false, `error()` says why, and nothing is left behind.
  explicit NetnsHosts(int hosts);
  ~NetnsHosts();
  NetnsHosts(const NetnsHosts&) = delete;
  NetnsHosts& operator=(const NetnsHosts&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  const std::string& bridge_ip() const { return bridge_ip_; }  // "10.a.b.1"
  std::string host_ip(int i) const;                           // "10.a.b.(i+2)"
  const std::string& ns_name(int i) const { return namespaces_.at(i); }
  // argv prefix that runs a command in host i's network namespace only (mounts, cgroups and
  // the file system stay the root namespace's, so agents keep their cgroups and work dirs).
  std::vector<std::string> ExecPrefix(int i) const;

  // Takes host i's link down (its bridge-side veth), or up again.
  bool Cut(int i);
  bool Restore(int i);

 private:
  bool Setup(int hosts);
  void Teardown();
  std::string tag_;  // "<pid>": in every name this fixture creates
  std::string bridge_, bridge_ip_, subnet_prefix_;  // subnet_prefix_ = "10.a.b."
  std::vector<std::string> namespaces_, host_links_;
  std::string error_;
};

// Runs `ip ARGS...`; returns its exit code, and its output in `out` when given.
int RunIp(const std::vector<std::string>& args, std::string* out = nullptr);

}  // namespace weft::testing
