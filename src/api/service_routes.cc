#include "api/service_routes.h"

#include <fmt/format.h>

#include "api/api_handler.h"
#include "model/json.h"

namespace weft::api {

using nlohmann::json;
using net::HttpRequest;
using net::HttpResponse;
using net::Responder;

namespace {

HttpResponse Json(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

double Millis(Duration d) { return static_cast<double>(d.count()) / 1000.0; }

bool MayAccess(const Principal& caller, const model::ServiceSpec& spec) {
  return caller.admin || spec.user == caller.user;
}

Error NotYours(const std::string& name) {
  return {ErrorCode::kPermissionDenied, fmt::format("service '{}' belongs to another user", name)};
}

// The body's spec, owned by the caller (an admin may name another user).
Result<model::ServiceSpec> SpecFromBody(const HttpRequest& request, const Principal& caller) {
  auto body = model::ParseJson(request.body);
  if (!body) return tl::unexpected(body.error());
  const json& spec_json = body->contains("spec") ? (*body)["spec"] : *body;
  auto spec = model::ServiceSpecFromJson(spec_json);
  if (!spec) return spec;
  if (!caller.admin || spec->user.empty()) spec->user = caller.user;
  if (!IsValidUserName(spec->user)) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("user: '{}' is not a valid user name", spec->user));
  }
  return spec;
}

}  // namespace

json ServiceStatusJson(const serve::ServiceStatus& s) {
  json replicas = json::array();
  for (const serve::ReplicaStatus& r : s.replicas) {
    replicas.push_back(json{{"job_id", r.job},
                            {"job_state", r.job_state},
                            {"generation", r.generation},
                            {"replica", r.index},
                            {"node", r.node},
                            {"host", r.host},
                            {"port", r.port},
                            {"ready", r.ready},
                            {"draining", r.draining},
                            {"in_flight", r.in_flight},
                            {"requests", r.requests},
                            {"errors", r.errors},
                            {"qps", r.qps},
                            {"latency_p50_ms", Millis(r.p50)},
                            {"latency_p99_ms", Millis(r.p99)}});
  }
  const model::ServiceSpec& spec = s.service.spec;
  return json{{"name", spec.name},
              {"user", spec.user},
              {"queue", spec.queue},
              {"state", model::ToString(s.service.state)},
              {"endpoint", s.endpoint},
              {"generation", s.service.generation},
              {"min_replicas", spec.min_replicas},
              {"max_replicas", spec.max_replicas},
              {"desired_replicas", s.desired_replicas},
              {"ready_replicas", s.ready_replicas},
              {"load_balancing", spec.load_balancing},
              {"created_us", ToUnixMicros(s.service.created)},
              {"message", s.message},
              {"traffic",
               {{"requests", s.traffic.requests},
                {"errors", s.traffic.errors},
                {"in_flight", s.traffic.in_flight},
                {"qps", s.traffic.qps},
                {"latency_p50_ms", Millis(s.traffic.p50)},
                {"latency_p99_ms", Millis(s.traffic.p99)}}},
              {"replicas", std::move(replicas)},
              {"spec", model::ServiceSpecToJson(spec)}};
}

void RouteServices(serve::ServiceManager& services, EventLoop& loop, const HttpRequest& request,
                   const std::vector<std::string>& parts, Responder& respond, const Principal& caller) {
  const std::string& method = request.method;
  if (parts.size() == 2 && method == "POST") {
    auto spec = SpecFromBody(request, caller);
    if (!spec) return respond(ErrorResponse(spec.error()));
    loop.Post([&services, spec = std::move(*spec), respond]() mutable {
      services.Create(std::move(spec), [respond](Result<serve::ServiceStatus> status) {
        if (!status) return respond(ErrorResponse(status.error()));
        respond(Json(ServiceStatusJson(*status), 201));
      });
    });
    return;
  }
  if (parts.size() == 2 && method == "GET") {
    loop.Post([&services, respond, caller] {
      json list = json::array();
      for (const serve::ServiceStatus& s : services.List()) {
        if (MayAccess(caller, s.service.spec)) list.push_back(ServiceStatusJson(s));
      }
      respond(Json(json{{"services", std::move(list)}}));
    });
    return;
  }
  if (parts.size() == 3) {
    const std::string name = parts[2];
    if (method == "GET") {
      loop.Post([&services, name, respond, caller] {
        auto status = services.Get(name);
        if (!status) return respond(ErrorResponse(status.error()));
        if (!MayAccess(caller, status->service.spec)) return respond(ErrorResponse(NotYours(name)));
        respond(Json(ServiceStatusJson(*status)));
      });
      return;
    }
    if (method == "PUT" || method == "POST") {
      auto spec = SpecFromBody(request, caller);
      if (!spec) return respond(ErrorResponse(spec.error()));
      loop.Post([&services, name, spec = std::move(*spec), respond, caller]() mutable {
        auto status = services.Get(name);
        if (!status) return respond(ErrorResponse(status.error()));
        if (!MayAccess(caller, status->service.spec)) return respond(ErrorResponse(NotYours(name)));
        services.Update(name, std::move(spec), [respond](Result<serve::ServiceStatus> updated) {
          if (!updated) return respond(ErrorResponse(updated.error()));
          respond(Json(ServiceStatusJson(*updated)));
        });
      });
      return;
    }
    if (method == "DELETE") {
      loop.Post([&services, name, respond, caller] {
        auto status = services.Get(name);
        if (!status) return respond(ErrorResponse(status.error()));
        if (!MayAccess(caller, status->service.spec)) return respond(ErrorResponse(NotYours(name)));
        services.Delete(name, [respond, name](Result<> deleted) {
          if (!deleted) return respond(ErrorResponse(deleted.error()));
          respond(Json(json{{"deleted", name}}));
        });
      });
      return;
    }
  }
  respond(ErrorResponse({ErrorCode::kNotFound, fmt::format("no route for {} {}", method, request.path)}));
}

}  // namespace weft::api
