// The backends (service replicas) a LoadBalancer sends traffic to, published to the proxy
// workers as immutable snapshots. Readiness and in-flight counts are atomics inside each
// entry, so SetReady and request accounting never republish the set.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "lb/lb_stats.h"

namespace weft::lb {

// One replica as the controller sees it.
struct Backend {
  std::string id;    // unique within the service, e.g. the replica's task name
  std::string host;  // IPv4 or IPv6 literal, or "localhost"
  int port = 0;
  bool ready = false;  // passes its readiness probe; only ready backends get traffic
};

// A backend plus its live state. Shared by the snapshots that list it and by requests in
// flight on it; everything mutable is atomic or guarded inside TrafficStats.
struct BackendEntry {
  BackendEntry(Backend b, std::string ip_address, std::uint64_t entry_serial, TrafficWindow w)
      : backend(std::move(b)), ip(std::move(ip_address)), serial(entry_serial), stats(w) {
    ready.store(backend.ready);
  }

  const Backend backend;     // as configured; `backend.ready` is the initial value only
  const std::string ip;      // numeric address to connect to
  const std::uint64_t serial;  // unique per entry for the balancer's life: keys idle pools
  std::atomic<bool> ready{false};
  std::atomic<std::int64_t> in_flight{0};
  TrafficStats stats;
};

struct BackendSet {
  std::vector<std::shared_ptr<BackendEntry>> entries;  // in the order given to SetBackends
};

// Builds the set that replaces `old` with `backends`. An entry whose id, host and port are
// unchanged is kept (with its stats and in-flight count) and takes the new `ready`; the others
// are new. Fails with kInvalidArgument naming the field for an empty or duplicate id, a host
// that is not an IP literal or "localhost", or a port outside 1..65535. `next_serial` is
// advanced for each new entry.
Result<std::shared_ptr<const BackendSet>> MergeBackends(const BackendSet& old,
                                                        const std::vector<Backend>& backends,
                                                        std::uint64_t& next_serial,
                                                        TrafficWindow window);

}  // namespace weft::lb
