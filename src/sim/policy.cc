#include "sim/policy.h"

#include <charconv>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/strings.h"

namespace weft::sim {

std::optional<PolicyChoice> ParsePolicy(std::string_view name) {
  PolicyChoice choice;
  choice.name = std::string(name);
  if (name == "easy") {
    choice.backfill = model::BackfillMode::kEasy;
  } else if (name == "conservative") {
    choice.backfill = model::BackfillMode::kConservative;
  } else if (name == "fifo") {
    choice.backfill = model::BackfillMode::kNone;
    choice.short_job_weight = 0;
  } else if (auto research = ParseResearchPolicy(name)) {
    choice.research = *research;
  } else {
    return std::nullopt;
  }
  return choice;
}

std::string_view PolicyName(model::BackfillMode backfill) {
  switch (backfill) {
    case model::BackfillMode::kNone: return "fifo";
    case model::BackfillMode::kEasy: return "easy";
    case model::BackfillMode::kConservative: return "conservative";
  }
  return "easy";
}

Result<std::map<std::string, double>> ParseQueueWeights(std::string_view text, std::string_view source) {
  std::map<std::string, double> weights;
  std::size_t line_no = 0;
  bool header = true;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    ++line_no;
    line = Trim(line);
    if (line.empty()) continue;
    if (std::exchange(header, false)) continue;  // "vc,node num"
    const std::vector<std::string> fields = Split(line, ',');
    if (fields.size() != 2) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: column {}: expected 2 columns (queue,weight), found {}", source,
                              line_no, std::min<std::size_t>(fields.size(), 2) + 1, fields.size()));
    }
    const std::string name(Trim(fields[0]));
    const std::string_view value = Trim(fields[1]);
    double weight = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), weight);
    if (name.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: column 1: the queue name is empty", source, line_no));
    }
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(weight) || weight <= 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}:{}: column 2: '{}' is not a positive weight", source, line_no, value));
    }
    weights[name] = weight;
  }
  return weights;
}

void AddTraceQueues(const Trace& trace, const std::map<std::string, double>& weights,
                    model::ClusterConfig& config) {
  std::set<std::string> names;
  for (const TraceJob& job : trace.jobs) names.insert(job.queue.empty() ? model::kDefaultQueue : job.queue);
  for (const std::string& name : names) {
    if (config.FindQueue(name)) continue;
    model::QueueConfig queue;
    queue.name = name;
    config.queues.push_back(std::move(queue));
  }
  for (model::QueueConfig& queue : config.queues) {
    if (auto w = weights.find(queue.name); w != weights.end()) queue.weight = w->second;
  }
}

}  // namespace weft::sim
