#include "lb/autoscaler.h"

#include <algorithm>
#include <cmath>

namespace weft::lb {

Autoscaler::Autoscaler(AutoscalerConfig config, int initial) : config_(config) {
  desired_ = wanted_ = Clamp(initial);
}

int Autoscaler::Clamp(int n) const {
  return std::clamp(n, config_.min_replicas, std::max(config_.min_replicas, config_.max_replicas));
}

void Autoscaler::Reconfigure(AutoscalerConfig config) {
  config_ = config;
  desired_ = Clamp(desired_);
  wanted_ = Clamp(wanted_);
  up_since_.reset();
  down_since_.reset();
}

int Autoscaler::Update(TimePoint now, const AutoscalerInput& input) {
  const bool autoscaled = config_.target_qps_per_replica > 0 || config_.max_concurrent_per_replica > 0;
  if (!autoscaled) {
    desired_ = wanted_ = config_.min_replicas;
    return desired_;
  }
  double need = 0;
  if (config_.target_qps_per_replica > 0) {
    // A small tolerance keeps 40.0000001 qps at target 20 from asking for a third replica.
    need = std::max(need, std::ceil(input.qps / config_.target_qps_per_replica - 1e-6));
  }
  if (config_.max_concurrent_per_replica > 0) {
    need = std::max(need, std::ceil(static_cast<double>(input.in_flight) / config_.max_concurrent_per_replica));
  }
  // A request in flight or held needs a replica, whatever the rates say (before any request
  // has finished, the QPS window is still empty).
  if (input.in_flight > 0 || input.held > 0) need = std::max(need, 1.0);
  need = std::min(need, 1e6);
  wanted_ = Clamp(static_cast<int>(need));
  // Scale from zero: a request is waiting and nothing runs; delays do not apply.
  if (desired_ == 0 && (input.held > 0 || input.in_flight > 0)) {
    desired_ = std::max(1, wanted_);
    up_since_.reset();
    down_since_.reset();
    return desired_;
  }
  if (wanted_ > desired_) {
    down_since_.reset();
    if (!up_since_) up_since_ = now;
    if (now - *up_since_ >= config_.upscale_delay) {
      desired_ = wanted_;
      up_since_.reset();
    }
  } else if (wanted_ < desired_) {
    up_since_.reset();
    if (!down_since_) down_since_ = now;
    if (now - *down_since_ >= config_.downscale_delay) {
      desired_ = wanted_;
      down_since_.reset();
    }
  } else {
    up_since_.reset();
    down_since_.reset();
  }
  return desired_;
}

}  // namespace weft::lb
