#include "api/api_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "net/http_status.h"
#include "api/dashboard.h"
#include "api/job_view.h"
#include "api/service_routes.h"
#include "common/strings.h"
#include "model/json.h"
#include "spec/job_spec_parser.h"

namespace weft::api {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;
using net::Responder;

namespace {

constexpr std::size_t kMaxLogChunk = 4 << 20;
constexpr Duration kMaxWait = std::chrono::seconds(60);
// The largest "since" (Unix seconds) a query may give: its microseconds must fit 64 bits.
constexpr long long kMaxUnixSeconds = 1LL << 40;

HttpResponse JsonResponse(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  // Replace invalid UTF-8 rather than throw: names and paths come from users.
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// A user may see and control only their own jobs; an admin every job.
bool MayAccess(const Principal& caller, const model::Job& job) {
  return caller.admin || job.spec.user == caller.user;
}

Error NotYours(model::JobId id) {
  return {ErrorCode::kPermissionDenied, fmt::format("job {} belongs to another user", id)};
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
  // Clamped before the conversion to microseconds, which overflows for huge values.
  const auto max_ms = std::chrono::duration_cast<std::chrono::milliseconds>(kMaxWait).count();
  return std::chrono::milliseconds(std::min<long long>(*ms, max_ms));
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

ApiHandler::ApiHandler(controller::Controller& controller, EventLoop& loop, Authenticator& auth,
                       WeftMetrics* metrics, const ClusterHistory* history)
    : controller_(controller), loop_(loop), auth_(auth), metrics_(metrics), history_(history) {}

void ApiHandler::Handle(HttpRequest request, Responder respond) {
  if (metrics_) respond = metrics_->TimeRequest(request, std::move(respond));  // metrics hook
  if (request.path == "/healthz") {
    respond(HttpResponse{200, "text/plain", "ok\n", {}});
    return;
  }
  // The dashboard's page and assets load without the token (its login form asks for it).
  if (auto page = ServeDashboard(request)) return respond(*page);
  const std::string auth = request.Header("authorization");
  const std::string_view prefix = "Bearer ";
  std::optional<Principal> caller;
  if (StartsWith(auth, prefix)) caller = auth_.Authenticate(std::string_view(auth).substr(prefix.size()));
  if (!caller) {
    respond(ErrorResponse({ErrorCode::kUnauthenticated,
                           "missing, wrong or revoked bearer token (set WEFT_TOKEN or run `weft up`)"}));
    return;
  }
  Route(request, respond, *caller);
}

void ApiHandler::Route(HttpRequest& request, Responder& respond, const Principal& caller) {
  // An empty path (a target such as "?x") has no leading '/': substr(1) would throw.
  const std::vector<std::string> parts =
      Split(std::string_view(request.path).substr(request.path.empty() ? 0 : 1), '/');
  const std::string& method = request.method;
  auto not_found = [&] {
    respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("no route for {} {}", method, request.path)}));
  };
  // The join token opens the agent routes and nothing else; the agent routes take nothing else.
  const bool agent_route = parts.size() >= 2 && parts[0] == "v1" && parts[1] == "agents";
  if (caller.agent && !agent_route) {
    return respond(ErrorResponse({ErrorCode::kPermissionDenied,
                                  fmt::format("the agent join token is accepted only on /v1/agents/ routes, not on "
                                              "{} {}; use a user or admin token (WEFT_TOKEN)",
                                              method, request.path)}));
  }
  // GET /metrics: Prometheus text format; gauges are read on the loop thread.
  if (request.path == "/metrics" && method == "GET" && metrics_) {
    loop_.Post([this, respond] {
      respond(HttpResponse{200, kMetricsContentType, metrics_->Render(controller_), {}});
    });
    return;
  }
  if (parts.size() < 2 || parts[0] != "v1") return not_found();
  const std::string& collection = parts[1];

  // /v1/services[/{name}]: inference services (service_routes.h).
  if (collection == "services" && services_) {
    return RouteServices(*services_, loop_, request, parts, respond, caller);
  }
  // POST /v1/jobs
  if (collection == "jobs" && parts.size() == 2 && method == "POST") {
    auto body = model::ParseJson(request.body);
    if (!body) return respond(ErrorResponse(body.error()));
    const json& spec_json = body->contains("spec") ? (*body)["spec"] : *body;
    auto spec = model::JobSpecFromJson(spec_json);
    if (!spec) return respond(ErrorResponse(spec.error()));
    // The job runs as whoever's token submitted it; an admin may submit for another user (as
    // root may with sbatch --uid), and the local CLI names its caller.
    if (!caller.admin || spec->user.empty()) spec->user = caller.user;
    if (!IsValidUserName(spec->user)) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument,
                                    fmt::format("user: '{}' is not a valid user name", spec->user)}));
    }
    // A client's retry of a submission carries the same key (body "idempotency_key", or the
    // Idempotency-Key header) and gets the first job back instead of a second one.
    std::string key = request.Header("idempotency-key");
    if (auto k = body->find("idempotency_key"); k != body->end() && k->is_string()) key = k->get<std::string>();
    if (key.size() > 256) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument, "idempotency_key: longer than 256 characters"}));
    }
    loop_.Post([this, spec = std::move(*spec), key = std::move(key), respond]() mutable {
      controller_.Submit(
          std::move(spec),
          [respond](Result<model::Job> job) {
            if (!job) return respond(ErrorResponse(job.error()));
            respond(JsonResponse(json{{"id", job->id}, {"job", JobSummary(*job)}}, 201));
          },
          std::move(key));
    });
    return;
  }
  // GET /v1/jobs?state=...&limit=...[&user=U][&queue=Q][&offset=O[&order=asc|desc]]
  // With `offset` (the dashboard's pages): the matching jobs in id order (`desc`: newest
  // first), rows [offset, offset+limit) of them, and "total", how many match.
  if (collection == "jobs" && parts.size() == 2 && method == "GET") {
    auto filter = ParseFilter(request);
    if (!filter) return respond(ErrorResponse(filter.error()));
    auto param = [&](const char* name) {
      auto it = request.query.find(name);
      return it == request.query.end() ? std::string() : it->second;
    };
    if (!caller.admin) {
      if (!param("user").empty() && param("user") != caller.user) {
        return respond(ErrorResponse({ErrorCode::kPermissionDenied, "only admins see other users' jobs"}));
      }
      filter->user = caller.user;
    } else {
      filter->user = param("user");
    }
    const std::string queue = param("queue");
    std::optional<std::size_t> offset;
    if (!param("offset").empty()) {
      auto o = ParseInt(param("offset"));
      if (!o || *o < 0) return respond(ErrorResponse({ErrorCode::kInvalidArgument, "offset: must be a whole number"}));
      offset = static_cast<std::size_t>(*o);
    }
    const bool newest_first = param("order") == "desc";
    loop_.Post([this, filter = std::move(*filter), queue, offset, newest_first, respond] {
      auto view = [this](const model::Job& job) {
        json summary = JobSummary(job);
        if (job.state == model::JobState::kPending) {
          const sched::PriorityFactors f = controller_.PriorityOf(job);
          summary["priority"] = f.total;
          summary["priority_factors"] = {{"age", f.age}, {"fair_share", f.fair_share}, {"short_job", f.short_job}, {"job", f.job}};
        }
        return summary;
      };
      auto in_queue = [&](const model::Job& job) {
        return queue.empty() || job.spec.queue == queue ||
               (job.spec.queue.empty() && queue == model::kDefaultQueue);
      };
      json jobs = json::array();
      if (!offset && queue.empty()) {
        controller_.ForEachJob(filter, [&](const model::Job& job) { jobs.push_back(view(job)); });
        return respond(JsonResponse(json{{"jobs", std::move(jobs)}}));
      }
      // Paged or by queue: collect matches (pointers, cheap even for 100k jobs), render only
      // the page. Without an offset, `limit` keeps its meaning: the newest `limit` jobs.
      controller::JobFilter all = filter;
      all.limit = 0;
      std::vector<const model::Job*> matches;
      controller_.ForEachJob(all, [&](const model::Job& job) {
        if (in_queue(job)) matches.push_back(&job);
      });
      if (newest_first || (!offset && filter.limit > 0)) std::reverse(matches.begin(), matches.end());
      const std::size_t first = std::min(matches.size(), offset.value_or(0));
      const std::size_t end = filter.limit == 0 ? matches.size() : std::min(matches.size(), first + filter.limit);
      for (std::size_t i = first; i < end; ++i) jobs.push_back(view(*matches[i]));
      respond(JsonResponse(json{{"jobs", std::move(jobs)}, {"total", matches.size()}, {"offset", first}}));
    });
    return;
  }
  if (collection == "jobs" && parts.size() >= 3) {
    auto id = ParseJobId(parts[2]);
    if (!id) return respond(ErrorResponse(id.error()));
    // GET /v1/jobs/{id}[?wait_ms=W]: W > 0 waits for the job to end.
    if (parts.size() == 3 && method == "GET") {
      const Duration wait = WaitParam(request);
      loop_.Post([this, id = *id, wait, respond, caller] {
        const model::Job* job = controller_.FindJob(id);
        if (job && !MayAccess(caller, *job)) return respond(ErrorResponse(NotYours(id)));
        controller_.WaitJob(id, wait, [respond](Result<model::Job> done) {
          if (!done) return respond(ErrorResponse(done.error()));
          respond(JsonResponse(JobDetail(*done)));
        });
      });
      return;
    }
    // DELETE /v1/jobs/{id} or POST /v1/jobs/{id}/cancel
    if ((parts.size() == 3 && method == "DELETE") ||
        (parts.size() == 4 && parts[3] == "cancel" && method == "POST")) {
      loop_.Post([this, id = *id, respond, caller] {
        const model::Job* target = controller_.FindJob(id);
        if (target && !MayAccess(caller, *target)) return respond(ErrorResponse(NotYours(id)));
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
      loop_.Post([this, id = *id, rank, offset, error_stream, respond, caller] {
        const model::Job* job = controller_.FindJob(id);
        if (!job) return respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("job {} does not exist", id)}));
        if (!MayAccess(caller, *job)) return respond(ErrorResponse(NotYours(id)));
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
  // POST /v1/nodes/{name}/drain {"reason": R} and /v1/nodes/{name}/resume: admins only.
  if (collection == "nodes" && parts.size() == 4 && method == "POST" &&
      (parts[3] == "drain" || parts[3] == "resume")) {
    if (!caller.admin) {
      return respond(ErrorResponse({ErrorCode::kPermissionDenied, "draining nodes needs an admin token"}));
    }
    std::string reason;
    if (parts[3] == "drain" && !request.body.empty()) {
      auto body = model::ParseJson(request.body);
      if (!body) return respond(ErrorResponse(body.error()));
      if (auto r = body->find("reason"); r != body->end() && r->is_string()) reason = r->get<std::string>();
    }
    loop_.Post([this, name = parts[2], drain = parts[3] == "drain", reason = std::move(reason), respond]() mutable {
      controller_.SetDrain(name, drain, std::move(reason), [this, name, respond](Result<model::Node> node) {
        if (!node) return respond(ErrorResponse(node.error()));
        for (const auto& status : controller_.ListNodes()) {
          if (status.node.name == name) return respond(JsonResponse(NodeView(status)));
        }
        respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("node {} does not exist", name)}));
      });
    });
    return;
  }
  // GET /v1/nodes
  if (collection == "nodes" && parts.size() == 2 && method == "GET") {
    loop_.Post([this, respond] {
      json nodes = json::array();
      for (const auto& status : controller_.ListNodes()) {
        json node = NodeView(status);
        node["gpu_jobs"] = GpuHolders(status, [this](model::JobId id) { return controller_.FindJob(id); });
        nodes.push_back(std::move(node));
      }
      // Backend pools (slurm): usable or the one-sentence reason why not.
      json pools = json::array();
      for (const auto& pool : controller_.ListPools()) {
        pools.push_back(json{{"name", pool.name},
                             {"backend", pool.backend},
                             {"available", pool.listed && pool.unavailable_reason.empty()},
                             {"reason", pool.listed ? pool.unavailable_reason : "not listed yet"}});
      }
      respond(JsonResponse(json{{"nodes", std::move(nodes)}, {"pools", std::move(pools)}}));
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
  // GET /v1/cluster/history[?since=unix_s]: allocation samples for the dashboard's chart.
  if (collection == "cluster" && parts.size() == 3 && parts[2] == "history" && method == "GET") {
    std::optional<TimePoint> since;
    if (auto it = request.query.find("since"); it != request.query.end() && !it->second.empty()) {
      auto s = ParseInt(it->second);
      if (!s || *s < 0 || *s > kMaxUnixSeconds) return respond(ErrorResponse({ErrorCode::kInvalidArgument, "since: must be a Unix time in seconds"}));
      since = FromUnixMicros(*s * 1000000);
    }
    loop_.Post([this, since, respond] {
      respond(JsonResponse(history_ ? history_->ToJson(since) : json{{"samples", json::array()}}));
    });
    return;
  }
  if (collection == "users") {
    if (!caller.admin) {
      return respond(ErrorResponse({ErrorCode::kPermissionDenied, "managing users needs an admin token"}));
    }
    return RouteUsers(request, parts, respond);
  }
  if (collection == "history" && parts.size() == 2 && method == "GET") {
    return RouteHistory(request, respond, caller);
  }
  if (collection == "agents" && !caller.agent) {
    return respond(ErrorResponse({ErrorCode::kPermissionDenied,
                                  "agent routes need the agent join token (the server's state dir/join_token), "
                                  "not a user or admin token"}));
  }
  // POST /v1/agents/{name}/report
  if (collection == "agents" && parts.size() == 4 && parts[3] == "report" && method == "POST") {
    auto body = model::ParseJson(request.body);
    if (!body) return respond(ErrorResponse(body.error()));
    auto report = model::NodeReportFromJson(*body);
    if (!report) return respond(ErrorResponse(report.error()));
    // Absurd capacities (9e18 GPUs) are refused here: the scheduler sizes per-GPU state by them.
    if (auto valid = spec::ValidateNodeReport(*report); !valid) return respond(ErrorResponse(valid.error()));
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

void ApiHandler::RouteUsers(const HttpRequest& request, const std::vector<std::string>& parts,
                            Responder& respond) {
  auto view = [](const model::User& u) {
    return json{{"name", u.name}, {"admin", u.admin}, {"revoked", u.revoked},
                {"created", static_cast<double>(ToUnixMicros(u.created)) / 1e6}};
  };
  // POST /v1/users {"name": N, "admin": bool} → the user and its token (shown only now).
  if (parts.size() == 2 && request.method == "POST") {
    auto body = model::ParseJson(request.body);
    if (!body) return respond(ErrorResponse(body.error()));
    const json& name = body->contains("name") ? (*body)["name"] : json();
    if (!name.is_string() || !IsValidUserName(name.get<std::string>())) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument,
                                    "name: must be a Unix user name (lower case letters, digits, '_' or '-')"}));
    }
    auto token = NewToken();
    if (!token) return respond(ErrorResponse(token.error()));
    model::User user;
    user.name = name.get<std::string>();
    // A non-boolean "admin" is a 400: json::value() would throw out of the handler.
    const auto admin = body->find("admin");
    if (admin != body->end() && !admin->is_boolean()) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument, "admin: must be true or false"}));
    }
    user.admin = admin != body->end() && admin->get<bool>();
    user.token_sha256 = Sha256Hex(*token);
    loop_.Post([this, user, token = *token, respond, view] {
      controller_.AddUser(user, [this, token, respond, view](Result<model::User> added) {
        if (!added) return respond(ErrorResponse(added.error()));
        auth_.Put(*added);
        json out = view(*added);
        out["token"] = token;
        respond(JsonResponse(out, 201));
      });
    });
    return;
  }
  // GET /v1/users
  if (parts.size() == 2 && request.method == "GET") {
    loop_.Post([this, respond, view] {
      json users = json::array();
      for (const auto& [name, user] : controller_.Users()) users.push_back(view(user));
      respond(JsonResponse(json{{"users", std::move(users)}}));
    });
    return;
  }
  // DELETE /v1/users/{name}: revokes the user's token.
  if (parts.size() == 3 && request.method == "DELETE") {
    loop_.Post([this, name = parts[2], respond, view] {
      controller_.RevokeUser(name, [this, respond, view](Result<model::User> revoked) {
        if (!revoked) return respond(ErrorResponse(revoked.error()));
        auth_.Put(*revoked);
        respond(JsonResponse(view(*revoked)));
      });
    });
    return;
  }
  respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("no route for {} {}", request.method, request.path)}));
}

void ApiHandler::RouteHistory(const HttpRequest& request, Responder& respond, const Principal& caller) {
  HistoryFilter filter;
  if (auto it = request.query.find("user"); it != request.query.end()) filter.user = it->second;
  if (auto it = request.query.find("queue"); it != request.query.end()) filter.queue = it->second;
  if (auto it = request.query.find("since"); it != request.query.end() && !it->second.empty()) {
    auto since = ParseInt(it->second);
    if (!since || *since < 0 || *since > kMaxUnixSeconds) {
      return respond(ErrorResponse({ErrorCode::kInvalidArgument, "since: must be a Unix time in seconds"}));
    }
    filter.since = FromUnixMicros(*since * 1000000);
  }
  if (!caller.admin) {
    if (!filter.user.empty() && filter.user != caller.user) {
      return respond(ErrorResponse({ErrorCode::kPermissionDenied, "only admins see other users' history"}));
    }
    filter.user = caller.user;
  }
  loop_.Post([this, filter = std::move(filter), respond] {
    json rows = json::array();
    controller_.ForEachJob({}, [&](const model::Job& job) {
      for (json& row : HistoryRows(job, filter, loop_.clock().Now())) rows.push_back(std::move(row));
    });
    respond(JsonResponse(json{{"attempts", std::move(rows)}}));
  });
}

}  // namespace weft::api
