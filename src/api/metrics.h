// A small metrics registry and its Prometheus text exposition (format 0.0.4).
//
// Contract:
// - A family has a name, a help text and a fixed list of label names; each series in it is
//   one list of label values (as many as the family has names; a mismatch is a programming
//   error and aborts). Names are not validated: callers pass Prometheus-style constants.
// - CounterFamily: Inc adds a non-negative amount (negative or NaN amounts are ignored, so a
//   counter never decreases). HistogramFamily: fixed, strictly increasing upper bounds given
//   at registration; the +Inf bucket is implicit; Observe adds one value.
// - Gauges are not stored: the caller computes them at scrape time (GaugeFamily, a value)
//   and passes them to Render, so they never go stale and need no locking.
// - Counter and histogram methods are thread-safe (a mutex per family); Render may run
//   concurrently with updates and sees each series consistently (a histogram's buckets,
//   _sum and _count come from one locked read).
// - Render writes every family, sorted by name, with `# HELP` and `# TYPE`; series in label
//   order; histogram buckets cumulative with `le` last; label values and help escaped as the
//   format requires. Families with no series still get their HELP/TYPE lines.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace weft::api {

using LabelValues = std::vector<std::string>;

// The Content-Type of Render's output.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  void Inc(const LabelValues& labels, double amount = 1);
  double Value(const LabelValues& labels) const;  // 0 for a series never incremented

 private:
  friend class MetricsRegistry;
  void Render(std::string& out) const;
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<LabelValues, double> values_;
};

class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds);
  void Observe(const LabelValues& labels, double value);

 private:
  friend class MetricsRegistry;
  struct Series {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; last = +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  void Render(std::string& out) const;
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<LabelValues, Series> series_;
};

// A gauge's samples as computed at one scrape.
struct GaugeFamily {
  std::string name, help;
  std::vector<std::string> label_names;
  std::vector<std::pair<LabelValues, double>> samples;
  void Set(LabelValues labels, double value) { samples.emplace_back(std::move(labels), value); }
};

class MetricsRegistry {
 public:
  // The returned references stay valid as long as the registry. Register before use, on one
  // thread (registration is not synchronised with Render).
  CounterFamily& AddCounter(std::string name, std::string help, std::vector<std::string> label_names);
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                std::vector<double> bounds);

  // The text exposition of every registered family plus `gauges`.
  std::string Render(const std::vector<GaugeFamily>& gauges = {}) const;

 private:
  std::vector<std::unique_ptr<CounterFamily>> counters_;
  std::vector<std::unique_ptr<HistogramFamily>> histograms_;
};

// Format helpers, exposed for tests.
std::string EscapeLabelValue(std::string_view value);  // \ " and newline
std::string EscapeHelp(std::string_view help);         // \ and newline
std::string FormatMetricValue(double value);           // shortest round-trip; +Inf, -Inf, NaN

}  // namespace weft::api
