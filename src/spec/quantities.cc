#include "spec/quantities.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "common/strings.h"
#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

constexpr long long kMaxSigned = 1'000'000'000;

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c) != 0;
  });
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Digits only, at most 12 of them, so the value fits comfortably in int64 for any unit.
std::optional<std::int64_t> ParseDigits(std::string_view s) {
  if (!IsDigits(s) || s.size() > 12) return std::nullopt;
  return ParseInt(s);
}

Error InvalidArgument(std::string message) {
  return Error{ErrorCode::kInvalidArgument, std::move(message)};
}

}  // namespace

Result<std::optional<Duration>> ParseTimeLimit(std::string_view text) {
  const std::string_view t = Trim(text);
  const auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not a time limit (examples: 90, 1:30:00, 2-12:00:00, 48h, "
                            "UNLIMITED)",
                            text));
  };
  if (t.empty()) return bad();
  const std::string lower = Lower(t);
  if (lower == "unlimited" || lower == "infinite") return std::optional<Duration>();

  std::int64_t seconds = 0;
  const char unit = lower.back();
  if (unit == 's' || unit == 'm' || unit == 'h' || unit == 'd') {
    // "90s", "30m", "48h", "2d".
    const auto n = ParseDigits(t.substr(0, t.size() - 1));
    if (!n) return bad();
    const std::int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 86400;
    seconds = *n * scale;
  } else {
    // Slurm: [days-]hours[:minutes[:seconds]] when a day count is present, otherwise
    // minutes, minutes:seconds or hours:minutes:seconds.
    std::string_view clock = t;
    std::int64_t days = 0;
    const bool has_days = t.find('-') != std::string_view::npos;
    if (has_days) {
      const auto dash = t.find('-');
      const auto d = ParseDigits(t.substr(0, dash));
      if (!d) return bad();
      days = *d;
      clock = t.substr(dash + 1);
    }
    const std::vector<std::string> parts = Split(clock, ':');
    if (parts.size() > 3) return bad();
    std::int64_t values[3] = {0, 0, 0};
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto v = ParseDigits(parts[i]);
      if (!v) return bad();
      values[i] = *v;
    }
    std::int64_t hours = 0, minutes = 0, secs = 0;
    if (has_days) {
      hours = values[0];
      minutes = values[1];
      secs = values[2];
    } else if (parts.size() == 1) {
      minutes = values[0];
    } else if (parts.size() == 2) {
      minutes = values[0];
      secs = values[1];
    } else {
      hours = values[0];
      minutes = values[1];
      secs = values[2];
    }
    seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs;
  }
  // About 3,000 years: anything longer is a typo, and the bound keeps microseconds in range.
  constexpr std::int64_t kMaxSeconds = 100'000'000'000;
  if (seconds > kMaxSeconds) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("'{}' is too long a time limit", text));
  }
  // Slurm: a limit of zero means no limit.
  if (seconds == 0) return std::optional<Duration>();
  return std::optional<Duration>(std::chrono::seconds(seconds));
}

Result<std::int64_t> ParseMemory(std::string_view text) {
  const std::string_view t = Trim(text);
  const auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("'{}' is not a size (examples: 4G, 512M)", text));
  };
  size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits]))) ++digits;
  const auto n = ParseDigits(t.substr(0, digits));
  if (!n) return bad();
  const std::string suffix = Lower(t.substr(digits));
  int shift = 20;  // a bare number is mebibytes
  if (!suffix.empty()) {
    static constexpr std::string_view kUnits = "kmgtp";
    const auto unit = kUnits.find(suffix[0]);
    const std::string_view rest = std::string_view(suffix).substr(1);
    if (unit == std::string_view::npos || !(rest.empty() || rest == "b" || rest == "i" ||
                                            rest == "ib")) {
      return bad();
    }
    shift = 10 * (static_cast<int>(unit) + 1);
  }
  if (*n > (std::numeric_limits<std::int64_t>::max() >> shift)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("'{}' is too large a size", text));
  }
  return *n << shift;
}

Result<int> ParseCount(std::string_view label, std::string_view text) {
  const auto n = ParseDigits(Trim(text));
  if (!n) {
    return tl::unexpected(InvalidArgument(
        fmt::format("{}: '{}' is not a count (a whole number such as 1 or 8)", label, text)));
  }
  if (*n > kMaxCount) {
    return tl::unexpected(InvalidArgument(
        fmt::format("{}: {} is too large (at most {})", label, *n, kMaxCount)));
  }
  return static_cast<int>(*n);
}

Result<int> ParseSignedInt(std::string_view label, std::string_view text) {
  const std::string_view t = Trim(text);
  const auto n = t.size() <= 12 ? ParseInt(t) : std::nullopt;
  if (!n) {
    return tl::unexpected(InvalidArgument(
        fmt::format("{}: '{}' is not a whole number (examples: 10, -5)", label, text)));
  }
  if (*n > kMaxSigned || *n < -kMaxSigned) {
    return tl::unexpected(InvalidArgument(
        fmt::format("{}: {} is out of range (at most {} either way)", label, *n, kMaxSigned)));
  }
  return static_cast<int>(*n);
}

Result<bool> ParseBool(std::string_view label, std::string_view text) {
  const std::string t = Lower(Trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return tl::unexpected(
      InvalidArgument(fmt::format("{}: '{}' is not true or false", label, text)));
}

Result<GpuRequest> ParseGpuRequest(std::string_view label, std::string_view text) {
  const std::string_view t = Trim(text);
  const auto colon = t.rfind(':');
  const std::string_view model = colon == std::string_view::npos ? "" : t.substr(0, colon);
  const std::string_view count = colon == std::string_view::npos ? t : t.substr(colon + 1);
  if (!IsDigits(count) || (colon != std::string_view::npos && model.empty()) ||
      model.find(':') != std::string_view::npos) {
    return tl::unexpected(InvalidArgument(fmt::format(
        "{}: '{}' is not a GPU count (examples: 8, H100:8)", label, text)));
  }
  auto n = ParseCount(label, count);
  if (!n) return tl::unexpected(n.error());
  return GpuRequest{std::string(model), *n};
}

Result<GpuRequest> ParseGres(std::string_view label, std::string_view text) {
  std::optional<GpuRequest> gpu;
  for (const std::string& entry : Split(Trim(text), ',')) {
    const std::vector<std::string> parts = Split(Trim(entry), ':');
    std::string name = parts[0];
    if (StartsWith(name, "gres/")) name = name.substr(5);  // TRES spelling: gres/gpu:2
    if (name != "gpu") {
      return tl::unexpected(InvalidArgument(fmt::format(
          "{}: only GPUs can be requested, not '{}' (example: --gres=gpu:a100:2)", label,
          name.empty() ? entry : name)));
    }
    if (gpu) {
      return tl::unexpected(
          InvalidArgument(fmt::format("{}: '{}' names gpu more than once", label, text)));
    }
    GpuRequest request{"", 1};
    if (parts.size() > 3) {
      return tl::unexpected(InvalidArgument(fmt::format(
          "{}: '{}' is not a GPU request (examples: gpu:2, gpu:a100:2)", label, text)));
    }
    if (parts.size() >= 2) {
      // gpu:N, gpu:type or gpu:type:N; a lone number is the count.
      const std::string& last = parts.back();
      if (IsDigits(last)) {
        auto n = ParseCount(label, last);
        if (!n) return tl::unexpected(n.error());
        request.count = *n;
        if (parts.size() == 3) request.model = parts[1];
      } else if (parts.size() == 2) {
        request.model = last;
      } else {
        return tl::unexpected(InvalidArgument(fmt::format(
            "{}: '{}' is not a GPU request (examples: gpu:2, gpu:a100:2)", label, text)));
      }
      if (parts.size() >= 2 && request.model.empty() && !IsDigits(parts[1])) {
        return tl::unexpected(InvalidArgument(fmt::format(
            "{}: '{}' is not a GPU request (examples: gpu:2, gpu:a100:2)", label, text)));
      }
    }
    gpu = request;
  }
  return *gpu;
}

Result<model::SignalSpec> ParseSignalSpec(std::string_view label, std::string_view text) {
  auto bad = [&] {
    return tl::unexpected(InvalidArgument(fmt::format(
        "{}: '{}' is not [{{R|B}}:]SIG[@SECS] (examples: USR1, B:USR1@90, 10@120)", label, text)));
  };
  // POSIX signal names on Linux, without the SIG prefix.
  static constexpr std::pair<std::string_view, int> kNames[] = {
      {"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},    {"TRAP", 5},    {"ABRT", 6},
      {"BUS", 7},   {"FPE", 8},   {"KILL", 9},  {"USR1", 10},  {"SEGV", 11},   {"USR2", 12},
      {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}, {"STKFLT", 16}, {"CHLD", 17},  {"CONT", 18},
      {"STOP", 19}, {"TSTP", 20}, {"TTIN", 21}, {"TTOU", 22},  {"URG", 23},    {"XCPU", 24},
      {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27}, {"WINCH", 28}, {"IO", 29},   {"POLL", 29},
      {"PWR", 30},  {"SYS", 31}};
  model::SignalSpec out;
  std::string_view t = Trim(text);
  if (const auto colon = t.find(':'); colon != std::string_view::npos) {
    const std::string_view flags = t.substr(0, colon);
    if (flags.empty()) return bad();
    for (char c : flags) {
      if (c == 'B') {
        out.batch_only = true;
      } else if (c != 'R') {
        return bad();
      }
    }
    t = t.substr(colon + 1);
  }
  std::string_view sig = t;
  if (const auto at = t.find('@'); at != std::string_view::npos) {
    sig = t.substr(0, at);
    const auto secs = ParseDigits(t.substr(at + 1));
    if (!secs || *secs > 65535) return bad();
    out.before = std::chrono::seconds(*secs);
  }
  if (sig.empty()) return bad();
  if (std::isdigit(static_cast<unsigned char>(sig[0]))) {
    const auto n = ParseDigits(sig);
    if (!n || *n < 1 || *n > 64) return bad();
    out.signal = static_cast<int>(*n);
    return out;
  }
  std::string name(sig);
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (StartsWith(name, "SIG")) name = name.substr(3);
  for (const auto& [known, number] : kNames) {
    if (name == known) {
      out.signal = number;
      return out;
    }
  }
  return bad();
}

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_';
  });
}

Result<model::ArraySpec> ParseArraySpec(std::string_view label, std::string_view text) {
  const std::string_view t = Trim(text);
  const auto bad = [&](std::string_view part) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' is not an index list (examples: 0-99%8, 1,3,5-7, 0-15:4)",
                            label, part));
  };
  model::ArraySpec out;
  std::string_view list = t;
  if (const auto pct = t.find('%'); pct != std::string_view::npos) {
    list = t.substr(0, pct);
    const auto n = ParseDigits(t.substr(pct + 1));
    if (!n || *n < 1 || *n > kMaxCount) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: the limit after '%' in '{}' must be a count of at least 1",
                              label, text));
    }
    out.max_running = static_cast<int>(*n);
  }
  if (list.empty()) return bad(text);
  long long total = 0;
  for (const std::string& raw : Split(list, ',')) {
    const std::string_view item = Trim(raw);
    model::ArrayRange range;
    std::string_view bounds = item;
    if (const auto colon = item.find(':'); colon != std::string_view::npos) {
      bounds = item.substr(0, colon);
      const auto step = ParseDigits(item.substr(colon + 1));
      if (!step || *step < 1 || *step > kMaxArrayIndex) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: the step in '{}' must be a count of at least 1", label, item));
      }
      range.step = static_cast<int>(*step);
    }
    const auto dash = bounds.find('-');
    const auto first = ParseDigits(bounds.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : ParseDigits(bounds.substr(dash + 1));
    if (!first || !last || (dash == std::string_view::npos && range.step != 1)) return bad(item);
    if (*first > kMaxArrayIndex || *last > kMaxArrayIndex) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' goes above the largest index, {}", label, item,
                              kMaxArrayIndex));
    }
    if (*first > *last) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' has its first index above its last", label, item));
    }
    range.first = static_cast<int>(*first);
    range.last = static_cast<int>(*last);
    total += (range.last - range.first) / range.step + 1;
    if (total > kMaxArrayTasks) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' asks for more than {} tasks", label, text, kMaxArrayTasks));
    }
    out.ranges.push_back(range);
  }
  return out;
}

Result<model::Dependency> ParseDependency(std::string_view label, std::string_view text) {
  const std::string_view t = Trim(text);
  const bool has_and = t.find(',') != std::string_view::npos;
  const bool has_or = t.find('?') != std::string_view::npos;
  if (has_and && has_or) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("{}: '{}' mixes ',' (all) and '?' (any); use one of them", label,
                            text));
  }
  model::Dependency out;
  out.any = has_or;
  for (const std::string& raw : Split(t, has_or ? '?' : ',')) {
    const std::string_view item = Trim(raw);
    const std::vector<std::string> parts = Split(item, ':');
    const auto type = model::ParseDependencyType(Lower(Trim(parts.front())));
    if (!type) {
      return Fail(ErrorCode::kInvalidArgument,
                  fmt::format("{}: '{}' is not a dependency (types: after, afterany, afterok, "
                              "afternotok, singleton)",
                              label, item));
    }
    model::DependencyTerm term;
    term.type = *type;
    if (*type == model::DependencyType::kSingleton) {
      if (parts.size() > 1) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: 'singleton' takes no job ids", label));
      }
    } else {
      if (parts.size() < 2) {
        return Fail(ErrorCode::kInvalidArgument,
                    fmt::format("{}: '{}' names no job (example: afterok:12)", label, item));
      }
      for (std::size_t i = 1; i < parts.size(); ++i) {
        const std::string_view id_text = Trim(parts[i]);
        const auto id = ParseDigits(id_text);
        if (!id || *id < 1) {
          return Fail(ErrorCode::kInvalidArgument,
                      fmt::format("{}: '{}' in '{}' is not a job id", label, id_text, item));
        }
        term.jobs.push_back(*id);
      }
    }
    out.terms.push_back(std::move(term));
  }
  return out;
}

}  // namespace weft::spec
