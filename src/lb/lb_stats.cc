#include "lb/lb_stats.h"

#include <algorithm>

namespace weft::lb {

namespace {

std::int64_t UnixSecond(TimePoint t) { return ToUnixMicros(t) / 1'000'000; }

// Nearest-rank percentile of sorted-in-place `v`; REQUIRES: !v.empty().
Duration Percentile(std::vector<Duration>& v, double q) {
  std::size_t rank = static_cast<std::size_t>(q * static_cast<double>(v.size()));
  if (rank >= v.size()) rank = v.size() - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank), v.end());
  return v[rank];
}

}  // namespace

void TrafficStats::Record(TimePoint finished, Duration latency, bool is_error) {
  const std::int64_t second = UnixSecond(finished);
  std::lock_guard lock(mu_);
  ++requests_;
  if (is_error) ++errors_;
  if (samples_.size() < kMaxSamples) {
    samples_.push_back({finished, latency});
  } else {
    samples_[next_sample_] = {finished, latency};
    next_sample_ = (next_sample_ + 1) % kMaxSamples;
  }
  SecondBucket& bucket = buckets_[static_cast<std::size_t>(second) % buckets_.size()];
  if (bucket.second != second) bucket = {second, 0};
  ++bucket.count;
}

TrafficSummary TrafficStats::Summarize(TimePoint now) const {
  TrafficSummary out;
  std::vector<Duration> latencies;
  const int qps_seconds = std::clamp(window_.qps_window_seconds, 1, 60);
  const std::int64_t now_second = UnixSecond(now);
  std::int64_t recent = 0;
  {
    std::lock_guard lock(mu_);
    out.requests = requests_;
    out.errors = errors_;
    latencies.reserve(samples_.size());
    for (const Sample& s : samples_) {
      if (s.finished + window_.latency_window >= now) latencies.push_back(s.latency);
    }
    for (const SecondBucket& b : buckets_) {
      if (b.second > now_second - qps_seconds && b.second <= now_second) recent += b.count;
    }
  }
  out.qps = static_cast<double>(recent) / qps_seconds;
  out.latency_samples = static_cast<std::int64_t>(latencies.size());
  if (!latencies.empty()) {
    out.p50 = Percentile(latencies, 0.50);
    out.p99 = Percentile(latencies, 0.99);
  }
  return out;
}

}  // namespace weft::lb
