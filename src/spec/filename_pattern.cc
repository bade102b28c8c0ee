// ExpandFilenamePattern: sbatch's %-patterns for --output/--error file names.

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <fmt/format.h>

#include "spec/job_spec_parser.h"

namespace weft::spec {
namespace {

// What Slurm prints for %a outside an array job (its NO_VAL), so copied scripts behave alike.
constexpr std::int64_t kNoArrayIndex = 4294967294;

std::string Padded(std::int64_t value, int width) {
  return fmt::format("{:0{}}", value, width);
}

// A name inside a pattern Slurm expands again: its own '%' doubled.
std::string EscapePercent(std::string_view s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

}  // namespace

std::string ExpandFilenamePattern(std::string_view pattern, const FilenameContext& context,
                                  PatternScope scope) {
  const bool slurm_expands = scope == PatternScope::kJobFields;
  std::string out;
  // Slurm: a backslash anywhere means "no substitution"; the backslashes themselves go.
  if (pattern.find('\\') != std::string_view::npos) {
    if (slurm_expands) return std::string(pattern);
    for (char c : pattern) {
      if (c != '\\') out += c;
    }
    return out;
  }
  const bool is_array = context.array_task_id >= 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    // %[width]letter: digits zero-pad numeric fields (at most 10, as in Slurm).
    size_t j = i + 1;
    int width = 0;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j]))) {
      width = std::min(10, width * 10 + (pattern[j] - '0'));
      ++j;
    }
    if (j == pattern.size()) {
      out.append(pattern.substr(i));
      break;
    }
    const char field = pattern[j];
    std::string expanded;
    bool known = true;
    switch (field) {
      case '%':
        known = j == i + 1 && !slurm_expands;  // "%%" only; "%5%" stays as written
        expanded = "%";
        break;
      case 'j':
      case 'J':
        expanded = Padded(context.job_id, width);
        break;
      case 'A':
        expanded = Padded(is_array ? context.array_job_id : context.job_id, width);
        break;
      case 'a':
        expanded = Padded(is_array ? context.array_task_id : kNoArrayIndex, width);
        break;
      case 'b':
        expanded = Padded(is_array ? context.array_task_id % 10 : kNoArrayIndex % 10, width);
        break;
      case 'n':
      case 't':
        known = !slurm_expands;
        expanded = Padded(context.node_index, width);
        break;
      case 'r':
        expanded = Padded(context.restart_count, width);
        break;
      case 'N':
        known = !slurm_expands;
        expanded = context.node_name;
        break;
      case 'u':
        known = !slurm_expands || !context.user.empty();
        expanded = slurm_expands ? EscapePercent(context.user) : context.user;
        break;
      case 'x':
        expanded = slurm_expands ? EscapePercent(context.job_name) : context.job_name;
        break;
      case 's':
        known = !slurm_expands;
        expanded = "batch";
        break;
      default:
        known = false;
    }
    if (known) {
      out += expanded;
    } else {
      out.append(pattern.substr(i, j - i + 1));  // unknown: kept as written
    }
    i = j;
  }
  return out;
}

}  // namespace weft::spec
