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

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_';
  });
}

}  // namespace weft::spec
