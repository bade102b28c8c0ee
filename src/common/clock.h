// Time as the system sees it. Anything whose behaviour depends on time takes a Clock (or an
// EventLoop, which has one) and never calls std::chrono::*_clock::now() itself.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace weft {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

inline std::int64_t ToUnixMicros(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromUnixMicros(std::int64_t us) { return TimePoint(Duration(us)); }
inline double ToSeconds(Duration d) { return static_cast<double>(d.count()) / 1e6; }

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

// Wall-clock time. The only place outside tests that reads the system clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
  }
};

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(TimePoint start) : now_(start) {}
  TimePoint Now() const override { return now_; }
  // Simulated time never runs backwards: an earlier `t` is ignored.
  void AdvanceTo(TimePoint t) { now_ = std::max(now_, t); }

 private:
  TimePoint now_;
};

}  // namespace weft
