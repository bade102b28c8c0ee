#include "api/metrics.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "common/check.h"

namespace weft::api {
namespace {

void AppendHeader(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, EscapeHelp(help), name, type);
}

// `{a="x",b="y"}` (plus an optional extra label, e.g. le), or "" with no labels at all.
void AppendLabels(std::string& out, const std::vector<std::string>& names, const LabelValues& values,
                  std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    fmt::format_to(std::back_inserter(out), "{}=\"{}\"", names[i], EscapeLabelValue(values[i]));
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    fmt::format_to(std::back_inserter(out), "{}=\"{}\"", extra_name, extra_value);
  }
  out += '}';
}

void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const LabelValues& values, double value, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  out += name;
  AppendLabels(out, names, values, extra_name, extra_value);
  out += ' ';
  out += FormatMetricValue(value);
  out += '\n';
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::Inc(const LabelValues& labels, double amount) {
  WEFT_CHECK(labels.size() == label_names_.size());
  if (!(amount >= 0)) return;  // monotonic: negative and NaN amounts are dropped
  std::lock_guard lock(mu_);
  values_[labels] += amount;
}

double CounterFamily::Value(const LabelValues& labels) const {
  std::lock_guard lock(mu_);
  auto it = values_.find(labels);
  return it == values_.end() ? 0 : it->second;
}

void CounterFamily::Render(std::string& out) const {
  AppendHeader(out, name_, help_, "counter");
  std::lock_guard lock(mu_);
  for (const auto& [labels, value] : values_) AppendSample(out, name_, label_names_, labels, value);
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {
  for (std::size_t i = 1; i < bounds_.size(); ++i) WEFT_CHECK(bounds_[i - 1] < bounds_[i]);
  for (const std::string& label : label_names_) WEFT_CHECK(label != "le");
}

void HistogramFamily::Observe(const LabelValues& labels, double value) {
  WEFT_CHECK(labels.size() == label_names_.size());
  if (std::isnan(value)) return;
  // The first bucket whose upper bound is >= value (le is inclusive); past the end = +Inf.
  const std::size_t bucket =
      static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mu_);
  Series& s = series_[labels];
  if (s.counts.empty()) s.counts.assign(bounds_.size() + 1, 0);
  ++s.counts[bucket];
  s.sum += value;
  ++s.count;
}

void HistogramFamily::Render(std::string& out) const {
  AppendHeader(out, name_, help_, "histogram");
  const std::string bucket_name = name_ + "_bucket";
  std::lock_guard lock(mu_);
  for (const auto& [labels, s] : series_) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += s.counts[i];
      const std::string le = i < bounds_.size() ? FormatMetricValue(bounds_[i]) : "+Inf";
      AppendSample(out, bucket_name, label_names_, labels, static_cast<double>(cumulative), "le", le);
    }
    AppendSample(out, name_ + "_sum", label_names_, labels, s.sum);
    AppendSample(out, name_ + "_count", label_names_, labels, static_cast<double>(s.count));
  }
}

CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  counters_.push_back(std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(label_names)));
  return *counters_.back();
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names, std::vector<double> bounds) {
  histograms_.push_back(std::make_unique<HistogramFamily>(std::move(name), std::move(help), std::move(label_names),
                                                          std::move(bounds)));
  return *histograms_.back();
}

std::string MetricsRegistry::Render(const std::vector<GaugeFamily>& gauges) const {
  // Each family renders itself into `out`; sorted by name so the output is stable.
  std::vector<std::pair<std::string_view, std::function<void(std::string&)>>> families;
  for (const auto& c : counters_) families.emplace_back(c->name_, [&c](std::string& out) { c->Render(out); });
  for (const auto& h : histograms_) families.emplace_back(h->name_, [&h](std::string& out) { h->Render(out); });
  for (const GaugeFamily& g : gauges) {
    families.emplace_back(g.name, [&g](std::string& out) {
      AppendHeader(out, g.name, g.help, "gauge");
      std::vector<const std::pair<LabelValues, double>*> sorted;
      for (const auto& sample : g.samples) {
        WEFT_CHECK(sample.first.size() == g.label_names.size());
        sorted.push_back(&sample);
      }
      std::stable_sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
      for (const auto* sample : sorted) AppendSample(out, g.name, g.label_names, sample->first, sample->second);
    });
  }
  std::stable_sort(families.begin(), families.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [name, render] : families) render(out);
  return out;
}

}  // namespace weft::api
