// queue, history, show, nodes: read-only views, as tables or `-o json`.
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

int HistoryCommand(bool as_json, int limit) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto jobs = (*client)->Get(fmt::format(
      "/v1/jobs?state=COMPLETED,FAILED,CANCELLED,TIMEOUT,OOM_KILLED,NODE_FAIL,PREEMPTED&limit={}", limit));
  if (!jobs) return ReportError(jobs.error());
  if (as_json) return PrintJson(*jobs);
  std::vector<std::vector<std::string>> rows;
  for (const json& job : (*jobs)["jobs"]) {
    rows.push_back({std::to_string(job.value("id", 0LL)), job.value("name", ""), job.value("user", ""),
                    job.value("state", ""), fmt::format("{}:{}", job.value("exit_code", 0), job.value("exit_signal", 0)),
                    Elapsed(job), std::to_string(job.value("num_nodes", 1)), NodeList(job)});
  }
  std::fputs(RenderTable({"JOBID", "NAME", "USER", "STATE", "EXITCODE", "ELAPSED", "NODES", "NODELIST"}, rows).c_str(),
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
  if (!j.value("preemption_reason", "").empty()) line("Preemption", j.value("preemption_reason", ""));
  line("WorkDir", j.value("work_dir", ""));
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
        }
      }
      line(fmt::format("Rank{}", r), detail);
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
                    std::to_string(n["jobs"].size()), n.value("address", ""), labels.empty() ? "-" : labels});
  }
  std::fputs(RenderTable({"NODE", "STATE", "POOL", "CPUS(A/T)", "MEM(A/T)", "GPUS(A/T)", "JOBS", "ADDRESS", "LABELS"},
                         rows).c_str(),
             stdout);
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
