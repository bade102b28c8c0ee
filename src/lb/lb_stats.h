// Traffic statistics of the inference load balancer: counters, a latency summary over a
// recent window and the recent request rate, per backend and in total. The autoscaler and
// `weft serve status` read them through LoadBalancer::Stats().
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"

namespace weft::lb {

// One backend's (or the whole balancer's) numbers at one moment.
struct TrafficSummary {
  std::int64_t requests = 0;   // requests finished (answered or failed) since the start
  std::int64_t errors = 0;     // of those: 5xx answers, upstream failures, 503 for no replica
  std::int64_t in_flight = 0;  // requests being served now
  // Latency percentiles (nearest rank) over the requests that finished within the recent
  // window, at most the last TrafficStats::kMaxSamples of them; 0 when there are none.
  Duration p50{0};
  Duration p99{0};
  std::int64_t latency_samples = 0;  // how many requests the percentiles cover
  // Requests finished in the last `qps_window_seconds` whole unix seconds (the current one
  // included), divided by that many seconds.
  double qps = 0;
};

struct BackendStats {
  std::string id;
  bool ready = false;
  TrafficSummary traffic;
};

// A consistent-enough snapshot (each backend is read on its own, without a global lock).
struct LbStats {
  TrafficSummary total;               // every request the balancer answered
  std::vector<BackendStats> backends; // in the order of the last SetBackends()
};

struct TrafficWindow {
  Duration latency_window = std::chrono::seconds(60);  // percentiles cover this much time
  int qps_window_seconds = 10;                          // 1..60
};

// Records finished requests. Thread-safe: a small mutex per instance, held for O(1) on
// record and O(samples) on Summarize. Keeps at most the last kMaxSamples latencies.
class TrafficStats {
 public:
  static constexpr std::size_t kMaxSamples = 4096;

  explicit TrafficStats(TrafficWindow window = {}) : window_(window) {}

  // `finished` is when the request ended; `latency` how long it took.
  void Record(TimePoint finished, Duration latency, bool is_error);
  // `in_flight` is filled in by the caller (it lives beside the picker's counters).
  TrafficSummary Summarize(TimePoint now) const;

 private:
  struct Sample {
    TimePoint finished;
    Duration latency;
  };
  struct SecondBucket {
    std::int64_t second = -1;  // unix second this bucket counts, -1 = unused
    std::int64_t count = 0;
  };

  const TrafficWindow window_;
  mutable std::mutex mu_;
  // Guarded by mu_.
  std::int64_t requests_ = 0;
  std::int64_t errors_ = 0;
  std::vector<Sample> samples_;  // ring buffer of at most kMaxSamples
  std::size_t next_sample_ = 0;
  std::array<SecondBucket, 64> buckets_{};
};

}  // namespace weft::lb
