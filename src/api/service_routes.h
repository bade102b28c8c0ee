// REST routes of inference services (`weft serve`), served by ApiHandler once a
// serve::ServiceManager is attached:
//   POST   /v1/services         body: the spec as model::ServiceSpecToJson writes it → 201
//   GET    /v1/services         {"services": [status...]}
//   GET    /v1/services/{name}  status: endpoint, desired/ready counts, traffic, replicas
//   PUT    /v1/services/{name}  rolling update to the body's spec (POST is accepted too)
//   DELETE /v1/services/{name}
// Owners see and control their own services, admins every one. Called on an HTTP I/O thread;
// everything touching the manager is posted to the loop thread.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/auth.h"
#include "common/event_loop.h"
#include "net/http.h"
#include "serve/service_manager.h"

namespace weft::api {

void RouteServices(serve::ServiceManager& services, EventLoop& loop, const net::HttpRequest& request,
                   const std::vector<std::string>& parts, net::Responder& respond, const Principal& caller);

// The JSON of one service's status (field names are part of the API: `weft serve -o json`).
nlohmann::json ServiceStatusJson(const serve::ServiceStatus& status);

}  // namespace weft::api
