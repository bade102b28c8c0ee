#include "sim/report.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace weft::sim {
namespace {

std::string QueueName(const std::string& queue) { return queue.empty() ? "default" : queue; }

// GPU-seconds a job ran, and the span it ran over.
double RunSeconds(const JobOutcome& o) {
  return o.run_s >= 0 ? o.run_s : std::max(0.0, o.end_s - o.first_start_s);
}

double Mean(const std::vector<double>& v) {
  if (v.empty()) return 0;
  double sum = 0;
  for (double x : v) sum += x;  // in input order: the same inputs give the same bits
  return sum / static_cast<double>(v.size());
}

double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// JSON string literal (queue and trace names come from files).
std::string Quote(const std::string& s) { return nlohmann::json(s).dump(); }

// Fixed decimals; "-0.000" never appears.
std::string Fixed(double v, int decimals) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.starts_with('-') && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

}  // namespace

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  std::size_t index = static_cast<std::size_t>(q * static_cast<double>(values.size()));
  index = std::min(index, values.size() - 1);
  return values[index];
}

Report Summarize(const std::vector<JobOutcome>& outcomes, const ReportOptions& options) {
  Report r;
  r.options = options;
  r.jobs = static_cast<std::int64_t>(outcomes.size());
  std::vector<double> jct, wait;
  jct.reserve(outcomes.size());
  wait.reserve(outcomes.size());
  struct QueueSums {
    std::int64_t jobs = 0;
    double gpu_seconds = 0, jct = 0, wait = 0;
  };
  std::map<std::string, QueueSums> sums;
  double gpu_seconds = 0;
  for (const JobOutcome& o : outcomes) {
    jct.push_back(o.end_s - o.submit_s);
    wait.push_back(o.first_start_s - o.submit_s);
    r.makespan_s = std::max(r.makespan_s, o.end_s);
    const double used = RunSeconds(o) * o.num_gpus;
    gpu_seconds += used;
    QueueSums& q = sums[QueueName(o.queue)];
    ++q.jobs;
    q.gpu_seconds += used;
    q.jct += jct.back();
    q.wait += wait.back();
  }
  r.avg_jct_s = Mean(jct);
  r.median_jct_s = Percentile(jct, 0.5);
  r.p99_jct_s = Percentile(jct, 0.99);
  r.max_jct_s = Max(jct);
  r.avg_queueing_s = Mean(wait);
  r.median_queueing_s = Percentile(wait, 0.5);
  r.p99_queueing_s = Percentile(wait, 0.99);
  r.max_queueing_s = Max(wait);
  const double total_gpus = static_cast<double>(options.nodes) * options.gpus_per_node;
  if (total_gpus > 0 && r.makespan_s > 0) r.gpu_utilization = gpu_seconds / (total_gpus * r.makespan_s);

  double weight_sum = 0;
  for (const auto& [name, q] : sums) {
    auto w = options.weights.find(name);
    weight_sum += w == options.weights.end() ? 1.0 : w->second;
  }
  for (const auto& [name, q] : sums) {
    QueueSummary s;
    s.name = name;
    s.jobs = q.jobs;
    s.gpu_hours = q.gpu_seconds / 3600.0;
    s.share = gpu_seconds > 0 ? q.gpu_seconds / gpu_seconds : 0;
    auto w = options.weights.find(name);
    s.weight = w == options.weights.end() ? 1.0 : w->second;
    s.weight_share = weight_sum > 0 ? s.weight / weight_sum : 0;
    s.avg_jct_s = q.jct / static_cast<double>(q.jobs);
    s.avg_queueing_s = q.wait / static_cast<double>(q.jobs);
    r.queues.push_back(std::move(s));
  }

  if (options.share_interval_s && *options.share_interval_s > 0 && r.makespan_s > 0) {
    const double step = *options.share_interval_s;
    const std::size_t count = static_cast<std::size_t>(std::ceil(r.makespan_s / step));
    // Per interval, per queue (in report order): GPU-seconds used. A job counts over
    // [first_start, end]; a preempted one (run_s known) is scaled down to its run time.
    std::map<std::string, std::size_t> queue_index;
    for (std::size_t i = 0; i < r.queues.size(); ++i) queue_index[r.queues[i].name] = i;
    std::vector<std::vector<double>> used(count, std::vector<double>(r.queues.size(), 0.0));
    for (const JobOutcome& o : outcomes) {
      const double span = o.end_s - o.first_start_s;
      if (span <= 0) continue;
      const double scale = o.run_s >= 0 ? std::min(1.0, o.run_s / span) : 1.0;
      const std::size_t q = queue_index.at(QueueName(o.queue));
      std::size_t k = static_cast<std::size_t>(o.first_start_s / step);
      for (; k < count && static_cast<double>(k) * step < o.end_s; ++k) {
        const double lo = std::max(o.first_start_s, static_cast<double>(k) * step);
        const double hi = std::min(o.end_s, static_cast<double>(k + 1) * step);
        if (hi > lo) used[k][q] += (hi - lo) * o.num_gpus * scale;
      }
    }
    for (std::size_t k = 0; k < count; ++k) {
      ShareInterval interval;
      interval.start_s = static_cast<double>(k) * step;
      double total = 0;
      for (double u : used[k]) total += u;
      interval.gpu_hours = total / 3600.0;
      for (std::size_t q = 0; q < r.queues.size(); ++q) {
        interval.share[r.queues[q].name] = total > 0 ? used[k][q] / total : 0;
      }
      r.share_over_time.push_back(std::move(interval));
    }
  }
  return r;
}

std::string FormatText(const Report& r) {
  std::string out;
  auto line = [&](std::string_view label, const std::string& value) {
    out += fmt::format("{:<20}{}\n", label, value);
  };
  line("trace", r.options.trace);
  line("policy", r.options.policy);
  line("cluster", fmt::format("{} nodes x {} GPUs = {} GPUs", r.options.nodes, r.options.gpus_per_node,
                              static_cast<std::int64_t>(r.options.nodes) * r.options.gpus_per_node));
  line("jobs", std::to_string(r.jobs));
  out += "\n";
  out += fmt::format("{:<20}{:>16}{:>16}{:>16}{:>16}\n", "seconds", "avg", "median", "p99", "max");
  out += fmt::format("{:<20}{:>16}{:>16}{:>16}{:>16}\n", "JCT", Fixed(r.avg_jct_s, 3),
                     Fixed(r.median_jct_s, 3), Fixed(r.p99_jct_s, 3), Fixed(r.max_jct_s, 3));
  out += fmt::format("{:<20}{:>16}{:>16}{:>16}{:>16}\n", "queueing delay", Fixed(r.avg_queueing_s, 3),
                     Fixed(r.median_queueing_s, 3), Fixed(r.p99_queueing_s, 3),
                     Fixed(r.max_queueing_s, 3));
  out += "\n";
  line("makespan (s)", Fixed(r.makespan_s, 3));
  line("GPU utilization", Fixed(r.gpu_utilization, 4));
  out += "\n";
  out += fmt::format("{:<16}{:>8}{:>14}{:>9}{:>9}{:>9}{:>16}{:>16}\n", "queue", "jobs", "GPU-hours",
                     "share", "weight", "w-share", "avg JCT (s)", "avg wait (s)");
  for (const QueueSummary& q : r.queues) {
    out += fmt::format("{:<16}{:>8}{:>14}{:>9}{:>9}{:>9}{:>16}{:>16}\n", q.name, q.jobs,
                       Fixed(q.gpu_hours, 3), Fixed(q.share, 4), Fixed(q.weight, 2),
                       Fixed(q.weight_share, 4), Fixed(q.avg_jct_s, 3), Fixed(q.avg_queueing_s, 3));
  }
  if (!r.share_over_time.empty()) {
    out += "\nshare of GPU-hours per interval\n";
    out += fmt::format("{:>14}{:>14}", "start (s)", "GPU-hours");
    for (const QueueSummary& q : r.queues) out += fmt::format("{:>10}", q.name.substr(0, 9));
    out += "\n";
    for (const ShareInterval& interval : r.share_over_time) {
      out += fmt::format("{:>14}{:>14}", Fixed(interval.start_s, 0), Fixed(interval.gpu_hours, 3));
      for (const QueueSummary& q : r.queues) out += fmt::format("{:>10}", Fixed(interval.share.at(q.name), 4));
      out += "\n";
    }
  }
  return out;
}

std::string FormatJson(const Report& r) {
  std::string out = "{";
  out += fmt::format("\"trace\":{},\"policy\":{},\"nodes\":{},\"gpus_per_node\":{},\"jobs\":{},",
                     Quote(r.options.trace), Quote(r.options.policy), r.options.nodes,
                     r.options.gpus_per_node, r.jobs);
  out += fmt::format("\"avg_jct_s\":{},\"median_jct_s\":{},\"p99_jct_s\":{},\"max_jct_s\":{},",
                     Fixed(r.avg_jct_s, 3), Fixed(r.median_jct_s, 3), Fixed(r.p99_jct_s, 3),
                     Fixed(r.max_jct_s, 3));
  out += fmt::format(
      "\"avg_queueing_s\":{},\"median_queueing_s\":{},\"p99_queueing_s\":{},\"max_queueing_s\":{},",
      Fixed(r.avg_queueing_s, 3), Fixed(r.median_queueing_s, 3), Fixed(r.p99_queueing_s, 3),
      Fixed(r.max_queueing_s, 3));
  out += fmt::format("\"makespan_s\":{},\"gpu_utilization\":{},\"queues\":[", Fixed(r.makespan_s, 3),
                     Fixed(r.gpu_utilization, 6));
  for (std::size_t i = 0; i < r.queues.size(); ++i) {
    const QueueSummary& q = r.queues[i];
    out += fmt::format(
        "{}{{\"name\":{},\"jobs\":{},\"gpu_hours\":{},\"share\":{},\"weight\":{},\"weight_share\":{},"
        "\"avg_jct_s\":{},\"avg_queueing_s\":{}}}",
        i ? "," : "", Quote(q.name), q.jobs, Fixed(q.gpu_hours, 3), Fixed(q.share, 6),
        Fixed(q.weight, 6), Fixed(q.weight_share, 6), Fixed(q.avg_jct_s, 3),
        Fixed(q.avg_queueing_s, 3));
  }
  out += "]";
  if (!r.share_over_time.empty()) {
    out += ",\"share_over_time\":[";
    for (std::size_t k = 0; k < r.share_over_time.size(); ++k) {
      const ShareInterval& interval = r.share_over_time[k];
      out += fmt::format("{}{{\"start_s\":{},\"gpu_hours\":{},\"shares\":{{", k ? "," : "",
                         Fixed(interval.start_s, 3), Fixed(interval.gpu_hours, 3));
      bool first = true;
      for (const auto& [name, share] : interval.share) {
        out += fmt::format("{}{}:{}", first ? "" : ",", Quote(name), Fixed(share, 6));
        first = false;
      }
      out += "}}";
    }
    out += "]";
  }
  out += "}\n";
  return out;
}

}  // namespace weft::sim
