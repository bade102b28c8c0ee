// The data plane of an inference service: an HTTP/1.1 reverse proxy over the service's ready
// replicas. Boost.Asio/Beast stay inside load_balancer.cc; including this header costs nothing.
//
// Threads: `workers` threads, each running its own io_context with its own Picker and its own
// pool of idle upstream connections; on the request path workers share only atomics (the
// backend set's version, readiness, in-flight counts) and the short per-backend stats locks.
// One acceptor (on worker 0) hands accepted sockets to the workers round-robin: that spreads
// even a few long-lived keep-alive connections evenly, where SO_REUSEPORT hashing would not.
// The control methods (SetBackends, SetReady, SetHoldWhenEmpty, SetPicker, Stats, Stop) may be
// called from any thread but the workers'.
//
// Behaviour: HTTP/1.1 keep-alive on both sides (HTTP/1.0 clients work too); the request is
// read whole (up to max_request_body_bytes) and sent with Content-Length; responses, chunked
// ones and server-sent events included, are relayed as their bytes arrive (at most 16 KiB per
// piece), never buffered whole. Hop-by-hop headers are dropped both ways. Retries: a request
// whose upstream connect fails (refused, or past connect_timeout) goes to another ready
// backend, up to `max_attempts` attempts in all; a kept-alive upstream connection that the
// replica had closed while idle is retried once on a fresh connection (not counted). Otherwise
// a request that was sent is never resent: a replica failing before its
// response starts gives 502 (504 past upstream_timeout), and one failing mid-response cuts the
// client connection at once (the client sees an incomplete response, not a hang). No ready
// backend gives 503 "no ready replica for service NAME" (after waiting up to the hold time of
// SetHoldWhenEmpty, for scale-from-zero). Stats count a request once in `total` and once per
// attempt on its backend; 5xx answers (the replica's or the balancer's) are errors.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/error.h"
#include "lb/backend_set.h"
#include "lb/lb_stats.h"

namespace weft::lb {

struct LoadBalancerOptions {
  std::string service_name = "default";  // named in 503 bodies
  std::string listen_host = "127.0.0.1";
  int port = 0;  // 0 = any free port; see LoadBalancer::port()
  int workers = 1;
  std::string picker = "round_robin";  // see MakePicker
  std::uint64_t seed = 1;              // for power_of_two; worker i uses seed + i
  int max_attempts = 3;                // upstream attempts per request, retries included
  Duration connect_timeout = std::chrono::seconds(2);
  // From the request sent to the response header, and between two reads of a response body.
  Duration upstream_timeout = std::chrono::seconds(300);
  Duration client_idle_timeout = std::chrono::seconds(60);  // keep-alive between requests
  int max_idle_upstream_per_backend = 256;  // per worker; more are closed after their response
  std::uint64_t max_request_body_bytes = 64ull << 20;
  TrafficWindow stats_window;
  const Clock* clock = nullptr;  // for stats timestamps; nullptr = the system clock
};

class LoadBalancer {
 public:
  // Binds and starts the workers. kInvalidArgument for bad options (names the field),
  // kUnavailable when the address cannot be bound. Starts with no backends.
  static Result<std::unique_ptr<LoadBalancer>> Start(LoadBalancerOptions options);
  ~LoadBalancer();  // Stop()s.
  LoadBalancer(const LoadBalancer&) = delete;
  LoadBalancer& operator=(const LoadBalancer&) = delete;

  int port() const;             // the bound port (port 0 resolved)
  std::string address() const;  // "127.0.0.1:43210"

  // Replaces the backend set (see MergeBackends for what carries over and what fails).
  // Requests in flight finish on the backend they started on; idle upstream connections to
  // removed backends are closed.
  Result<> SetBackends(const std::vector<Backend>& backends);
  // kNotFound when no backend has this id.
  Result<> SetReady(std::string_view id, bool ready);
  // While no backend is ready, a request waits up to `hold` for one before its 503.
  // 0 (the default) answers 503 at once.
  void SetHoldWhenEmpty(Duration hold);
  // Switches every worker to the policy `picker` (see MakePicker); returns once each worker
  // uses it, so requests after the call are picked by it. Requests in flight are unaffected.
  // kInvalidArgument (naming the field) for an unknown policy, and nothing changes.
  Result<> SetPicker(const std::string& picker);

  LbStats Stats() const;

  // Stops accepting, closes every connection and joins the workers. Idempotent.
  void Stop();

  class State;  // defined in load_balancer.cc

 private:
  explicit LoadBalancer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace weft::lb
