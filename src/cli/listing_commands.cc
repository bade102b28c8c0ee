// queue, history, show, nodes: read-only views, as tables or `-o json`.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "common/strings.h"
#include "model/resources.h"

namespace weft::cli {

using nlohmann::json;

namespace {

double NowSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

std::string Elapsed(const json& job) {
  if (!job["start_time"].is_number()) return "0:00";
  const double end = job["end_time"].is_number() ? job["end_time"].get<double>() : NowSeconds();
  return FormatElapsed(static_cast<long long>(end - job["start_time"].get<double>()));
}

std::string NodeList(const json& job) {
  std::vector<std::string> nodes;
  for (const auto& n : job["nodes"]) nodes.push_back(n.get<std::string>());
  return Join(nodes, ",");
}

std::string TimeText(const json& value) {
  if (!value.is_number()) return "-";
  const std::time_t t = static_cast<std::time_t>(value.get<double>());
  std::tm tm{};
  ::localtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int PrintJson(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  return 0;
}

std::string ResourcesText(const json& r) {
  const long long milli = r.value("cpu_milli", 0LL);
  return fmt::format("cpus={} mem={} gpus={}", milli % 1000 == 0 ? std::to_string(milli / 1000) : fmt::format("{:.2f}", milli / 1000.0),
                     model::FormatMemory(r.value("memory_bytes", 0LL)), r.value("gpus", 0LL));
}

}  // namespace

int QueueCommand(bool as_json, bool all) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto jobs = (*client)->Get(all ? "/v1/jobs" : "/v1/jobs?state=PENDING,RUNNING");
  if (!jobs) return ReportError(jobs.error());
  if (as_json) return PrintJson(*jobs);
  std::vector<std::vector<std::string>> rows;
  for (const json& job : (*jobs)["jobs"]) {
    const std::string state = job.value("state", "");
    // START_TIME as squeue --start: the reservation's expected start while pending (N/A
    // without one), the actual start once running.
    const json start = job.value(state == "PENDING" ? "expected_start" : "start_time", json());
    rows.push_back({std::to_string(job.value("id", 0LL)), job.value("name", ""), job.value("user", ""), state,
                    Elapsed(job), start.is_number() ? TimeText(start) : "N/A", std::to_string(job.value("num_nodes", 1)),
                    state == "PENDING" ? "(" + job.value("reason", "") + ")" : NodeList(job)});
  }
  std::fputs(
      RenderTable({"JOBID", "NAME", "USER", "STATE", "TIME", "START_TIME", "NODES", "NODELIST(REASON)"}, rows).c_str(),
      stdout);
  return 0;
}

// "90s", "90m", "2h", "7d" → seconds; nullopt for anything else.
std::optional<long long> ParseSpanSeconds(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const long long scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : 0;
  if (scale == 0) return std::nullopt;
  auto n = ParseInt(text.substr(0, text.size() - 1));
  if (!n || *n < 0) return std::nullopt;
  return *n * scale;
}

// sacct -S: "2026-12-01", "2026-12-01T10:30[:00]" (local time) or a span back from now
// ("90m", "2h", "7d"). Returns Unix seconds.
Result<long long> ParseSince(const std::string& text) {
  if (auto span = ParseSpanSeconds(text)) return static_cast<long long>(NowSeconds()) - *span;
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  char tail = 0;
  const int n = std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  if (n != 3 && n != 5 && n != 6) {
    return Fail(ErrorCode::kInvalidArgument,
                fmt::format("--since: '{}' is neither a date (2026-12-01[T10:30[:00]]) nor a span (2h, 7d)", text));
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  tm.tm_isdst = -1;
  const std::time_t t = std::mktime(&tm);
  if (t == -1 || mo < 1 || mo > 12 || d < 1 || d > 31) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("--since: '{}' is not a valid date", text));
  }
  return static_cast<long long>(t);
}

std::string CpuText(double seconds) {
  return seconds < 60 ? fmt::format("{:.2f}s", seconds) : FormatElapsed(static_cast<long long>(seconds));
}

int HistoryCommand(const HistoryOptions& options) {
  std::string query;
  auto add = [&](const char* key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + value;
  };
  if (!options.user.empty()) add("user", options.user);
  if (!options.queue.empty()) add("queue", options.queue);
  if (!options.since.empty()) {
    auto since = ParseSince(options.since);
    if (!since) return ReportError(since.error(), 2);
    add("since", std::to_string(std::max(0LL, *since)));
  }
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto history = (*client)->Get("/v1/history" + query);
  if (!history) return ReportError(history.error());
  json& attempts = (*history)["attempts"];
  // Newest first, at most `limit` rows (by end, running ones first).
  std::vector<json> rows_json(attempts.begin(), attempts.end());
  std::stable_sort(rows_json.begin(), rows_json.end(), [](const json& a, const json& b) {
    const double ea = a["end_time"].is_number() ? a["end_time"].get<double>() : 1e18;
    const double eb = b["end_time"].is_number() ? b["end_time"].get<double>() : 1e18;
    return ea > eb;
  });
  if (options.limit > 0 && rows_json.size() > static_cast<std::size_t>(options.limit)) rows_json.resize(options.limit);
  if (options.json) return PrintJson(json{{"attempts", rows_json}});
  std::vector<std::vector<std::string>> rows;
  for (const json& a : rows_json) {
    const long long limit_bytes = a.value("memory_limit_bytes", 0LL);
    rows.push_back({std::to_string(a.value("job_id", 0LL)), std::to_string(a.value("attempt", 0)), a.value("name", ""),
                    a.value("user", ""), a.value("queue", ""), a.value("state", ""),
                    fmt::format("{}:{}", a.value("exit_code", 0), a.value("exit_signal", 0)), TimeText(a["start_time"]),
                    FormatElapsed(static_cast<long long>(a.value("elapsed_s", 0.0))), CpuText(a.value("cpu_s", 0.0)),
                    model::FormatMemory(a.value("memory_peak_bytes", 0LL)),
                    limit_bytes > 0 ? model::FormatMemory(limit_bytes) : "-",
                    fmt::format("{:.0f}", a.value("gpu_s", 0.0)),
                    a["gpu_utilization"].is_number() ? fmt::format("{}%", a["gpu_utilization"].get<int>()) : "-",
                    NodeList(a)});
  }
  std::fputs(RenderTable({"JOBID", "ATTEMPT", "NAME", "USER", "QUEUE", "STATE", "EXITCODE", "START", "ELAPSED",
                          "CPUTIME", "MAXMEM", "MEMLIMIT", "GPU_S", "GPU_UTIL", "NODELIST"},
                         rows).c_str(),
             stdout);
  return 0;
}

int ShowCommand(long long id, bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto job = (*client)->Get(fmt::format("/v1/jobs/{}", id));
  if (!job) return ReportError(job.error());
  if (as_json) return PrintJson(*job);
  const json& j = *job;
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<14} {}\n", key, value); };
  line("JobId", std::to_string(j.value("id", 0LL)));
  line("Name", j.value("name", ""));
  line("User", j.value("user", ""));
  line("State", j.value("state", ""));
  line("Reason", j.value("reason", ""));
  line("ExitCode", fmt::format("{}:{}", j.value("exit_code", 0), j.value("exit_signal", 0)));
  line("Priority", std::to_string(j.value("priority", 0)));
  line("Queue", j.value("queue", "").empty() ? "default" : j.value("queue", ""));
  line("NumNodes", std::to_string(j.value("num_nodes", 1)));
  line("PerNode", ResourcesText(j["resources"]));
  line("TimeLimit", j["time_limit_s"].is_number() ? FormatElapsed(j["time_limit_s"].get<long long>()) : "UNLIMITED");
  line("SubmitTime", TimeText(j["submit_time"]));
  // A pending job's StartTime is its reservation's expected start, as in scontrol.
  line("StartTime",
       TimeText(j.value(j.value("state", "") == "PENDING" ? "expected_start" : "start_time", json())));
  line("EndTime", TimeText(j["end_time"]));
  line("RunTime", Elapsed(j));
  line("Restarts", std::to_string(j.value("restart_count", 0)));
  if (!j.value("backend_pool", "").empty()) {
    line("Pool", j.value("backend_pool", ""));
    line("SlurmJobId", j.value("backend_id", "").empty() ? "(not yet submitted)" : j.value("backend_id", ""));
  }
  if (!j.value("preemption_reason", "").empty()) line("Preemption", j.value("preemption_reason", ""));
  if (!j.value("node_failure", "").empty()) line("NodeFailure", j.value("node_failure", ""));
  line("WorkDir", j.value("work_dir", ""));
  if (j["usage"].is_object()) {
    const json& u = j["usage"];
    const long long limit_bytes = u.value("memory_limit_bytes", 0LL);
    std::string usage = fmt::format("cpu={} mem={} peak={} limit={}", CpuText(u.value("cpu_s", 0.0)),
                                    model::FormatMemory(u.value("memory_current_bytes", 0LL)),
                                    model::FormatMemory(u.value("memory_peak_bytes", 0LL)),
                                    limit_bytes > 0 ? model::FormatMemory(limit_bytes) : "none");
    if (u["gpu_utilization"].is_number()) usage += fmt::format(" gpu_util={}%", u["gpu_utilization"].get<int>());
    line("Usage", usage);
  }
  if (j.contains("ranks")) {
    for (std::size_t r = 0; r < j["ranks"].size(); ++r) {
      const json& rank = j["ranks"][r];
      std::string gpus;
      for (const auto& g : rank["gpu_ids"]) gpus += (gpus.empty() ? "" : ",") + std::to_string(g.get<int>());
      std::string detail = fmt::format("node={} gpus=[{}]", rank.value("node", ""), gpus);
      if (rank.contains("task")) {
        const json& task = rank["task"];
        detail += fmt::format(" phase={} output={}", task.value("phase", ""), task.value("output_path", ""));
        if (task["exit"].is_object()) {
          detail += fmt::format(" exit={}:{}", task["exit"].value("exit_code", 0), task["exit"].value("signal", 0));
          if (task["exit"].value("oom_killed", false)) detail += " oom_killed";
        }
        if (task.contains("usage") && task["usage"].is_object()) {
          const json& u = task["usage"];
          detail += fmt::format(" peak_mem={}", model::FormatMemory(u.value("memory_peak_bytes", 0LL)));
          if (u.value("memory_limit_bytes", 0LL) > 0) {
            detail += fmt::format(" mem_limit={}", model::FormatMemory(u.value("memory_limit_bytes", 0LL)));
          }
        }
      }
      line(fmt::format("Rank{}", r), detail);
    }
  }
  if (j.contains("attempts")) {
    for (const json& a : j["attempts"]) {
      line(fmt::format("Attempt{}", a.value("attempt", 0)),
           fmt::format("state={} exit={}:{} start={} elapsed={} nodes={} cpu={} peak_mem={}", a.value("state", ""),
                       a.value("exit_code", 0), a.value("exit_signal", 0), TimeText(a["start_time"]),
                       FormatElapsed(static_cast<long long>(a.value("elapsed_s", 0.0))), NodeList(a),
                       CpuText(a.value("cpu_s", 0.0)), model::FormatMemory(a.value("memory_peak_bytes", 0LL))) +
               (a.value("reason", "").empty() ? "" : " reason=" + a.value("reason", "")));
    }
  }
  std::fputs(out.c_str(), stdout);
  return 0;
}

int NodesCommand(bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto nodes = (*client)->Get("/v1/nodes");
  if (!nodes) return ReportError(nodes.error());
  if (as_json) return PrintJson(*nodes);
  std::vector<std::vector<std::string>> rows;
  for (const json& n : (*nodes)["nodes"]) {
    const json& cap = n["capacity"];
    const json& used = n["allocated"];
    std::string labels;
    for (const auto& [k, v] : n["labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
    rows.push_back({n.value("name", ""), n.value("state", ""), n.value("pool", ""),
                    fmt::format("{}/{}", used.value("cpu_milli", 0LL) / 1000, cap.value("cpu_milli", 0LL) / 1000),
                    fmt::format("{}/{}", model::FormatMemory(used.value("memory_bytes", 0LL)),
                                model::FormatMemory(cap.value("memory_bytes", 0LL))),
                    fmt::format("{}/{}{}", used.value("gpus", 0LL), cap.value("gpus", 0LL),
                                n.value("gpu_model", "").empty() ? "" : " " + n.value("gpu_model", "")),
                    std::to_string(n["jobs"].size()), n.value("address", ""), labels.empty() ? "-" : labels,
                    n.value("isolation", "none")});
    // Real GPUs, one line each under their node: index, UUID, model, memory.
    for (const json& g : n.value("gpus", json::array())) {
      rows.push_back({fmt::format("  gpu{}", g.value("index", 0)), g.value("uuid", ""), "", "",
                      model::FormatMemory(g.value("memory_bytes", 0LL)), g.value("model", ""), "", "", "", ""});
    }
  }
  std::fputs(RenderTable({"NODE", "STATE", "POOL", "CPUS(A/T)", "MEM(A/T)", "GPUS(A/T)", "JOBS", "ADDRESS", "LABELS",
                          "ISOLATION"},
                         rows).c_str(),
             stdout);
  // A backend pool that cannot be used says why, under the table.
  for (const json& p : nodes->value("pools", json::array())) {
    if (!p.value("available", true)) {
      std::printf("pool %s (%s) unavailable: %s\n", p.value("name", "").c_str(), p.value("backend", "").c_str(),
                  p.value("reason", "").c_str());
    }
  }
  return 0;
}

int QueuesCommand(bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto queues = (*client)->Get("/v1/queues");
  if (!queues) return ReportError(queues.error());
  if (as_json) return PrintJson(*queues);
  // "used/quota" per resource; "-" where the queue has no quota for it.
  auto cell = [](const json& used, const json& quota, const json& borrowed, const char* key, bool memory) {
    auto text = [&](long long v) { return memory ? model::FormatMemory(v) : std::to_string(v); };
    long long u = used.value(key, 0LL);
    if (std::string(key) == "cpu_milli") u /= 1000;
    std::string out = text(u);
    if (quota[key].is_number()) {
      long long q = quota[key].get<long long>();
      if (std::string(key) == "cpu_milli") q /= 1000;
      out += "/" + text(q);
    }
    long long b = borrowed.value(key, 0LL);
    if (std::string(key) == "cpu_milli") b /= 1000;
    if (b > 0) out += "(+" + text(b) + ")";
    return out;
  };
  std::vector<std::vector<std::string>> rows;
  for (const json& q : (*queues)["queues"]) {
    const json& used = q["usage"];
    const json& quota = q["quota"];
    const json& borrowed = q["borrowed"];
    const json& demand = q["pending_demand"];
    rows.push_back({q.value("name", ""), q.value("cohort", "").empty() ? "-" : q.value("cohort", ""),
                    fmt::format("{:g}", q.value("weight", 1.0)), cell(used, quota, borrowed, "gpus", false),
                    cell(used, quota, borrowed, "cpu_milli", false), cell(used, quota, borrowed, "memory_bytes", true),
                    std::to_string(q.value("running_jobs", 0)), std::to_string(q.value("pending_jobs", 0)),
                    fmt::format("gpus={} cpus={}", demand.value("gpus", 0LL), demand.value("cpu_milli", 0LL) / 1000)});
  }
  std::fputs(RenderTable({"QUEUE", "COHORT", "WEIGHT", "GPUS(U/Q)", "CPUS(U/Q)", "MEM(U/Q)", "RUNNING", "PENDING",
                          "PENDING_DEMAND"},
                         rows).c_str(),
             stdout);
  return 0;
}

}  // namespace weft::cli
