#include "api/api_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/http_status.h"
#include "api/job_view.h"
#include "common/strings.h"
#include "model/json.h"

namespace weft::api {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;
using net::Responder;

namespace {

constexpr std::size_t kMaxLogChunk = 4 << 20;
constexpr Duration kMaxWait = std::chrono::seconds(60);

HttpResponse JsonResponse(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  // Replace invalid UTF-8 rather than throw: names and paths come from users.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Result<model::JobId> ParseJobId(const std::string& text) {
  auto id = ParseInt(text);
  if (!id || *id <= 0) return Fail(ErrorCode::kInvalidArgument, fmt::format("'{}' is not a job id", text));
  return *id;
}

Duration WaitParam(const HttpRequest& request) {
  auto it = request.query.find("wait_ms");
  if (it == request.query.end()) return Duration::zero();
  auto ms = ParseInt(it->second);
  if (!ms || *ms < 0) return Duration::zero();
  return std::min<Duration>(std::chrono::milliseconds(*ms), kMaxWait);
}

Result<controller::JobFilter> ParseFilter(const HttpRequest& request) {
  controller::JobFilter filter;
  if (auto it = request.query.find("state"); it != request.query.end() && !it->second.empty()) {
    for (const std::string& name : Split(it->second, ',')) {
      auto state = model::ParseJobState(name);
      if (!state) return Fail(ErrorCode::kInvalidArgument, fmt::format("state: unknown job state '{}'", name));
      filter.states.insert(*state);
    }
  }
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    auto limit = ParseInt(it->second);
    if (!limit || *limit < 0) return Fail(ErrorCode::kInvalidArgument, "limit: must be a whole number");
    filter.limit = static_cast<std::size_t>(*limit);
  }
  return filter;
}

// Reads up to kMaxLogChunk bytes of `path` from `offset`. A missing file reads as empty.
std::string ReadChunk(const std::string& path, std::int64_t offset, bool* missing) {
  std::string data;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *missing = true;
    return data;
  }
  data.resize(kMaxLogChunk);
  const ssize_t n = ::pread(fd, data.data(), data.size(), offset);
  ::close(fd);
  data.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return data;
}

}  // namespace

HttpResponse ErrorResponse(const Error& error) {
  return JsonResponse(json{{"error", {{"code", ToString(error.code)}, {"message", error.message}}}},
                      net::HttpStatusFor(error.code));
}

ApiHandler::ApiHandler(controller::Controller& controller, EventLoop& loop, std::string token)
    : controller_(controller), loop_(loop), token_(std::move(token)) {}

void ApiHandler::Handle(HttpRequest request, Responder respond) {
  if (request.path == "/healthz") {
    respond(HttpResponse{200, "text/plain", "ok\n", {}});
    return;
  }
  const std::string auth = request.Header("authorization");
  const std::string_view prefix = "Bearer ";
  if (!StartsWith(auth, prefix) || !ConstantTimeEquals(std::string_view(auth).substr(prefix.size()), token_)) {
    respond(ErrorResponse({ErrorCode::kUnauthenticated,
                           "missing or wrong bearer token (set WEFT_TOKEN or run `weft up`)"}));
    return;
  }
  Route(request, respond);
}

void ApiHandler::Route(HttpRequest& request, Responder& respond) {
  const std::vector<std::string> parts = Split(std::string_view(request.path).substr(1), '/');
  const std::string& method = request.method;
  auto not_found = [&] {
    respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("no route for {} {}", method, request.path)}));
  };
  if (parts.size() < 2 || parts[0] != "v1") return not_found();
  const std::string& collection = parts[1];

  // POST /v1/jobs
  if (collection == "jobs" && parts.size() == 2 && method == "POST") {
    auto body = model::ParseJson(request.body);
    if (!body) return respond(ErrorResponse(body.error()));
    const json& spec_json = body->contains("spec") ? (*body)["spec"] : *body;
    auto spec = model::JobSpecFromJson(spec_json);
    if (!spec) return respond(ErrorResponse(spec.error()));
    loop_.Post([this, spec = std::move(*spec), respond]() mutable {
      controller_.Submit(std::move(spec), [respond](Result<model::Job> job) {
        if (!job) return respond(ErrorResponse(job.error()));
        respond(JsonResponse(json{{"id", job->id}, {"job", JobSummary(*job)}}, 201));
      });
    });
    return;
  }
  // GET /v1/jobs?state=...&limit=...
  if (collection == "jobs" && parts.size() == 2 && method == "GET") {
    auto filter = ParseFilter(request);
    if (!filter) return respond(ErrorResponse(filter.error()));
    loop_.Post([this, filter = std::move(*filter), respond] {
      json jobs = json::array();
      controller_.ForEachJob(filter, [&](const model::Job& job) {
        json summary = JobSummary(job);
        if (job.state == model::JobState::kPending) {
          const sched::PriorityFactors f = controller_.PriorityOf(job);
          summary["priority"] = f.total;
          summary["priority_factors"] = {{"age", f.age}, {"fair_share", f.fair_share}, {"short_job", f.short_job}, {"job", f.job}};
        }
        jobs.push_back(std::move(summary));
      });
      respond(JsonResponse(json{{"jobs", std::move(jobs)}}));
    });
    return;
  }
  if (collection == "jobs" && parts.size() >= 3) {
    auto id = ParseJobId(parts[2]);
    if (!id) return respond(ErrorResponse(id.error()));
    // GET /v1/jobs/{id}[?wait_ms=W]: W > 0 waits for the job to end.
    if (parts.size() == 3 && method == "GET") {
      const Duration wait = WaitParam(request);
      loop_.Post([this, id = *id, wait, respond] {
        controller_.WaitJob(id, wait, [respond](Result<model::Job> job) {
          if (!job) return respond(ErrorResponse(job.error()));
          respond(JsonResponse(JobDetail(*job)));
        });
      });
      return;
    }
    // DELETE /v1/jobs/{id} or POST /v1/jobs/{id}/cancel
    if ((parts.size() == 3 && method == "DELETE") ||
        (parts.size() == 4 && parts[3] == "cancel" && method == "POST")) {
      loop_.Post([this, id = *id, respond] {
        controller_.Cancel(id, [respond](Result<model::Job> job) {
          if (!job) return respond(ErrorResponse(job.error()));
          respond(JsonResponse(JobSummary(*job)));
        });
      });
      return;
    }
    // GET /v1/jobs/{id}/logs?rank=R&offset=O&stream=output|error → the file's bytes.
    if (parts.size() == 4 && parts[3] == "logs" && method == "GET") {
      const long long rank = ParseInt(request.query.count("rank") ? request.query.at("rank") : "0").value_or(-1);
      const long long offset = ParseInt(request.query.count("offset") ? request.query.at("offset") : "0").value_or(-1);
      const bool error_stream = request.query.count("stream") && request.query.at("stream") == "error";
      if (rank < 0 || offset < 0) {
        return respond(ErrorResponse({ErrorCode::kInvalidArgument, "rank and offset must be whole numbers"}));
      }
      loop_.Post([this, id = *id, rank, offset, error_stream, respond] {
        const model::Job* job = controller_.FindJob(id);
        if (!job) return respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("job {} does not exist", id)}));
        if (job->state == model::JobState::kPending || rank >= static_cast<long long>(job->tasks.size())) {
          if (job->state != model::JobState::kPending) {
            return respond(ErrorResponse({ErrorCode::kInvalidArgument,
                                          fmt::format("rank: job {} has ranks 0 to {}", id, job->tasks.size() - 1)}));
          }
          HttpResponse r{200, "text/plain", "", {{"X-Weft-Offset", std::to_string(offset)}, {"X-Weft-Done", "0"}}};
          return respond(std::move(r));
        }
        const model::TaskRecord& task = job->tasks[rank];
        const std::string& path = error_stream && !task.error_path.empty() ? task.error_path : task.output_path;
        // "Done" is decided before reading, so a reader that sees done=1 has all the bytes.
        const bool done = model::IsFinal(job->state) && task.phase == model::TaskPhase::kExited;
        bool missing = false;
        std::string data = ReadChunk(path, offset, &missing);
        HttpResponse r;
        r.content_type = "text/plain";
        r.headers = {{"X-Weft-Offset", std::to_string(offset + static_cast<long long>(data.size()))},
                     {"X-Weft-Done", done && data.size() < kMaxLogChunk ? "1" : "0"},
                     {"X-Weft-Path", path}};
        r.body = std::move(data);
        respond(std::move(r));
      });
      return;
    }
    return not_found();
  }
  // GET /v1/nodes
  if (collection == "nodes" && parts.size() == 2 && method == "GET") {
    loop_.Post([this, respond] {
      json nodes = json::array();
      for (const auto& status : controller_.ListNodes()) nodes.push_back(NodeView(status));
      respond(JsonResponse(json{{"nodes", std::move(nodes)}}));
    });
    return;
  }
  // GET /v1/queues
  if (collection == "queues" && parts.size() == 2 && method == "GET") {
    loop_.Post([this, respond] {
      json queues = json::array();
      for (const auto& status : controller_.ListQueues()) queues.push_back(QueueView(status));
      respond(JsonResponse(json{{"queues", std::move(queues)}}));
    });
    return;
  }
  // POST /v1/agents/{name}/report
  if (collection == "agents" && parts.size() == 4 && parts[3] == "report" && method == "POST") {
    auto body = model::ParseJson(request.body);
    if (!body) return respond(ErrorResponse(body.error()));
    auto report = model::NodeReportFromJson(*body);
    if (!report) return respond(ErrorResponse(report.error()));
    if (report->name != parts[2]) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument, "name: report is for another node"}));
    }
    loop_.Post([this, report = std::move(*report), respond]() mutable {
      controller_.ReportNode(std::move(report), [respond](Result<std::int64_t> version) {
        if (!version) return respond(ErrorResponse(version.error()));
        respond(JsonResponse(json{{"version", *version}}));
      });
    });
    return;
  }
  // GET /v1/agents/{name}/assignments?version=V&wait_ms=W
  if (collection == "agents" && parts.size() == 4 && parts[3] == "assignments" && method == "GET") {
    const std::int64_t version =
        ParseInt(request.query.count("version") ? request.query.at("version") : "0").value_or(0);
    const Duration wait = WaitParam(request);
    loop_.Post([this, node = parts[2], version, wait, respond] {
      controller_.WatchNode(node, version, wait, [respond](model::NodeAssignments assignments) {
        respond(JsonResponse(json(assignments)));
      });
    });
    return;
  }
  not_found();
}

}  // namespace weft::api
