#include "sim/trace_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace weft::sim {
namespace {

// Where a value came from, for messages: "philly.csv:12: column 'num_gpus' ...".
struct Cursor {
  std::string_view source;
  std::size_t line = 0;
};

tl::unexpected<Error> Invalid(const Cursor& at, std::string what) {
  return Fail(ErrorCode::kInvalidArgument, fmt::format("{}:{}: {}", at.source, at.line, what));
}

// Splits one CSV line on commas. The traces quote nothing, so neither does this.
void SplitFields(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  std::size_t begin = 0;
  for (;;) {
    const std::size_t comma = line.find(',', begin);
    if (comma == std::string_view::npos) {
      out.push_back(line.substr(begin));
      return;
    }
    out.push_back(line.substr(begin, comma - begin));
    begin = comma + 1;
  }
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<double> ToDouble(std::string_view s) {
  s = TrimSpaces(s);
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> ToInt(std::string_view s) {
  s = TrimSpaces(s);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS" (no time zone) → seconds since the epoch of that wall clock.
std::optional<std::int64_t> ParseTimestamp(std::string_view s) {
  s = TrimSpaces(s);
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) -> std::optional<std::int64_t> {
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
    }
    return ToInt(s.substr(pos, len));
  };
  const auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
             se = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  return DaysFromCivil(*y, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86400 +
         *h * 3600 + *mi * 60 + *se;
}

// The columns one format needs, by header name; each format is recognised by containing
// all of its required names.
struct FormatSpec {
  TraceFormat format;
  std::vector<std::string_view> required;
};

const std::vector<FormatSpec>& Formats() {
  static const std::vector<FormatSpec> formats = {
      {TraceFormat::kPhillyMuri,
       {"job_id", "num_gpu", "submit_time", "iterations", "model_name", "duration", "iteration_time"}},
      {TraceFormat::kPhillyPollux, {"timestamp", "duration", "num_gpus", "cluster"}},
      {TraceFormat::kItpElasticflow,
       {"job_id", "submission_time", "num_iteration", "model_name", "deadline", "num_gpu", "duration"}},
      {TraceFormat::kItpRaw, {"job_id", "submission_time", "duration", "num_gpu"}},
  };
  return formats;
}

// Reads one row's values by column name, with messages naming the line and the column.
class Row {
 public:
  Row(const Cursor& at, const std::vector<std::string_view>& header,
      const std::vector<std::string_view>& fields)
      : at_(at), header_(header), fields_(fields) {}

  Result<std::string_view> Text(std::size_t column) const { return TrimSpaces(fields_[column]); }
  Result<double> Number(std::size_t column) const {
    if (auto v = ToDouble(fields_[column])) return *v;
    return Bad(column, "is not a number");
  }
  Result<std::int64_t> Whole(std::size_t column) const {
    if (auto v = ToInt(fields_[column])) return *v;
    // "8.0" is a whole number too (pandas writes counts as floats).
    if (auto d = ToDouble(fields_[column]); d && *d == std::floor(*d) && std::abs(*d) < 9e15) {
      return static_cast<std::int64_t>(*d);
    }
    return Bad(column, "is not a whole number");
  }
  tl::unexpected<Error> Bad(std::size_t column, std::string_view problem) const {
    return Invalid(at_, fmt::format("column '{}' ({}): '{}' {}", header_[column], column + 1,
                                    TrimSpaces(fields_[column]), problem));
  }

 private:
  const Cursor& at_;
  const std::vector<std::string_view>& header_;
  const std::vector<std::string_view>& fields_;
};

std::string_view Stem(std::string_view source) {
  const std::size_t slash = source.find_last_of('/');
  if (slash != std::string_view::npos) source.remove_prefix(slash + 1);
  const std::size_t dot = source.find_last_of('.');
  if (dot != std::string_view::npos && dot > 0) source = source.substr(0, dot);
  return source;
}

}  // namespace

std::string_view ToString(TraceFormat format) {
  switch (format) {
    case TraceFormat::kPhillyMuri: return "philly-muri";
    case TraceFormat::kPhillyPollux: return "philly-pollux";
    case TraceFormat::kItpRaw: return "itp-elasticflow (raw)";
    case TraceFormat::kItpElasticflow: return "itp-elasticflow (augmented)";
  }
  return "unknown";
}

Result<Trace> ParseTrace(std::string_view text, std::string_view source) {
  Cursor at{source, 0};
  std::vector<std::string_view> header;
  std::vector<std::string_view> fields;
  std::optional<TraceFormat> format;
  std::map<std::string_view, std::size_t> column;  // header name → index
  Trace trace;
  trace.name = std::string(Stem(source));
  // Arrivals as read, before shifting: seconds (pollux: wall-clock seconds).
  std::vector<double> arrival;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++at.line;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (TrimSpaces(line).empty()) continue;
    if (!format) {
      SplitFields(line, header);
      for (std::string_view& name : header) name = TrimSpaces(name);
      for (std::size_t i = 0; i < header.size(); ++i) column.emplace(header[i], i);
      for (const FormatSpec& spec : Formats()) {
        if (std::all_of(spec.required.begin(), spec.required.end(),
                        [&](std::string_view name) { return column.count(name) > 0; })) {
          format = spec.format;
          break;
        }
      }
      if (!format) {
        return Invalid(at, fmt::format("column 1: header '{}' is none of the known trace formats "
                                       "(philly-muri, philly-pollux, itp-elasticflow)",
                                       line));
      }
      continue;
    }
    SplitFields(line, fields);
    if (fields.size() != header.size()) {
      return Invalid(at, fmt::format("column {}: expected {} columns as in the header, found {}",
                                     std::min(fields.size(), header.size()) + 1, header.size(),
                                     fields.size()));
    }
    const Row row(at, header, fields);
    TraceJob job;
    const std::int64_t row_index = static_cast<std::int64_t>(trace.jobs.size());
    std::size_t gpu_col = 0, duration_col = 0;
    double submit = 0;
    switch (*format) {
      case TraceFormat::kPhillyMuri: {
        const std::size_t id_col = column.at("job_id");
        auto id = row.Whole(id_col);
        if (!id) return tl::unexpected(id.error());
        job.id = *id;
        auto submit_ms = row.Number(column.at("submit_time"));
        if (!submit_ms) return tl::unexpected(submit_ms.error());
        submit = *submit_ms / 1000.0;
        auto iterations = row.Whole(column.at("iterations"));
        if (!iterations) return tl::unexpected(iterations.error());
        job.iterations = *iterations;
        auto itt = row.Number(column.at("iteration_time"));
        if (!itt) return tl::unexpected(itt.error());
        job.iteration_time_ms = *itt;
        job.model = std::string(*row.Text(column.at("model_name")));
        gpu_col = column.at("num_gpu");
        duration_col = column.at("duration");
        break;
      }
      case TraceFormat::kPhillyPollux: {
        job.id = row_index;
        const std::size_t ts_col = column.at("timestamp");
        const std::optional<std::int64_t> ts = ParseTimestamp(fields[ts_col]);
        if (!ts) return row.Bad(ts_col, "is not a 'YYYY-MM-DD HH:MM:SS' timestamp");
        submit = static_cast<double>(*ts);
        job.queue = std::string(*row.Text(column.at("cluster")));
        gpu_col = column.at("num_gpus");
        duration_col = column.at("duration");
        break;
      }
      case TraceFormat::kItpRaw:
      case TraceFormat::kItpElasticflow: {
        job.id = row_index;  // the UUIDs were regenerated and link to nothing
        auto s = row.Number(column.at("submission_time"));
        if (!s) return tl::unexpected(s.error());
        submit = *s;
        if (*format == TraceFormat::kItpElasticflow) {
          job.model = std::string(*row.Text(column.at("model_name")));
          auto iterations = row.Whole(column.at("num_iteration"));
          if (!iterations) return tl::unexpected(iterations.error());
          job.iterations = *iterations;
        }
        gpu_col = column.at("num_gpu");
        duration_col = column.at("duration");
        break;
      }
    }
    auto gpus = row.Whole(gpu_col);
    if (!gpus) return tl::unexpected(gpus.error());
    if (*gpus < 1 || *gpus > 1'000'000) return row.Bad(gpu_col, "is not a GPU count of at least 1");
    job.num_gpus = static_cast<int>(*gpus);
    auto duration = row.Number(duration_col);
    if (!duration) return tl::unexpected(duration.error());
    if (*duration < 0) return row.Bad(duration_col, "is a negative duration");
    job.duration_s = *format == TraceFormat::kPhillyMuri ? *duration / 1000.0 : *duration;
    trace.jobs.push_back(std::move(job));
    arrival.push_back(submit);
  }
  at.line = std::max<std::size_t>(at.line, 1);
  if (!format) return Invalid(at, "column 1: the file is empty (no header line)");
  if (trace.jobs.empty()) return Invalid(at, "column 1: the trace has a header but no jobs");
  // Sort by arrival, ties in file order, and make the first arrival 0.
  std::vector<std::size_t> order(trace.jobs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return arrival[a] < arrival[b]; });
  const double first = arrival[order.front()];
  std::vector<TraceJob> sorted;
  sorted.reserve(order.size());
  for (std::size_t i : order) {
    sorted.push_back(std::move(trace.jobs[i]));
    sorted.back().submit_s = arrival[i] - first;
  }
  trace.jobs = std::move(sorted);
  return trace;
}

Result<Trace> ReadTraceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, fmt::format("{}: cannot open the trace file", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Fail(ErrorCode::kNotFound, fmt::format("{}: cannot read the trace file", path));
  return ParseTrace(buffer.str(), path);
}

}  // namespace weft::sim
