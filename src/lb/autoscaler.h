// How many replicas a service wants, from its load balancer's traffic. A pure class: the
// caller feeds it LbStats-derived numbers and the time (an injected clock's), and applies the
// answer. No threads, no I/O; one instance per service, used from one thread.
//
// Policy: the load wants ceil(qps / target_qps_per_replica) replicas and, when
// max_concurrent_per_replica is set, at least ceil(in-flight / it), clamped to [min, max].
// A higher count is applied once it has been wanted continuously for `upscale_delay`, a lower
// one once wanted continuously for `downscale_delay` (hysteresis: a spike or a lull shorter
// than the delay changes nothing; a need that flips direction restarts the wait). Scale from
// zero: while the current count is 0 and any request is waiting (held by the balancer) or in
// flight, it wants max(1, load) at once, whatever the delays; and while any request is in
// flight or held the load wants at least one replica (no scale to zero under it). Without autoscaling
// (target_qps_per_replica and max_concurrent_per_replica both 0) it always wants `min`.
#pragma once

#include <optional>

#include "common/clock.h"

namespace weft::lb {

struct AutoscalerConfig {
  int min_replicas = 1;
  int max_replicas = 1;
  double target_qps_per_replica = 0;  // 0 = not a criterion
  int max_concurrent_per_replica = 0;  // 0 = not a criterion
  Duration upscale_delay = std::chrono::seconds(30);
  Duration downscale_delay = std::chrono::seconds(300);
};

struct AutoscalerInput {
  double qps = 0;            // requests per second over the balancer's recent window
  long long in_flight = 0;   // requests being served or held now
  long long held = 0;        // of those: waiting for a ready replica (none is ready)
};

class Autoscaler {
 public:
  // Starts wanting `initial` (clamped to [min, max]).
  Autoscaler(AutoscalerConfig config, int initial);

  // The count wanted now. Call it regularly (each reconcile tick); decisions take effect only
  // at calls, so the delays are as precise as the calling period.
  int Update(TimePoint now, const AutoscalerInput& input);

  int desired() const { return desired_; }
  // What the load alone asks for (clamped), before hysteresis; for `weft serve status`.
  int wanted() const { return wanted_; }
  const AutoscalerConfig& config() const { return config_; }
  // A new spec (rolling update): keeps the current count, clamped to the new bounds.
  void Reconfigure(AutoscalerConfig config);

 private:
  int Clamp(int n) const;
  AutoscalerConfig config_;
  int desired_ = 0;
  int wanted_ = 0;
  std::optional<TimePoint> up_since_;    // since when a higher count is wanted
  std::optional<TimePoint> down_since_;  // since when a lower count is wanted
};

}  // namespace weft::lb
