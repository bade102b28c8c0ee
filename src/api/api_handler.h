// The REST API of DESIGN.md under /v1, plus /healthz, /metrics and the dashboard's files. Parses and authenticates on
// the HTTP I/O thread, then posts each call to the controller's loop thread, which answers
// through the Responder (possibly much later, for long polls).
#pragma once

#include <string>
#include <vector>

#include "api/auth.h"
#include "api/cluster_history.h"
#include "api/metrics_catalog.h"
#include "common/event_loop.h"
#include "controller/controller.h"
#include "net/http.h"

namespace weft::serve {
class ServiceManager;
}  // namespace weft::serve

namespace weft::api {

class ApiHandler {
 public:
  // `controller` is owned by `loop`'s thread and must outlive this handler and the server;
  // so must `auth`, which the handler keeps in step with the users it adds and revokes.
  // `metrics` (optional, must outlive the handler): serves GET /metrics and times every call;
  // null = no /metrics route (404) and no timing. `history` (optional, loop thread only, must
  // outlive the handler): serves GET /v1/cluster/history; null = an empty history.
  ApiHandler(controller::Controller& controller, EventLoop& loop, Authenticator& auth,
             WeftMetrics* metrics = nullptr, const ClusterHistory* history = nullptr);

  // Thread-safe; called on HTTP I/O threads.
  void Handle(net::HttpRequest request, net::Responder respond);
  // Serves /v1/services through `services` (loop thread only, must outlive the handler);
  // without it those routes answer 404. Call before serving.
  void SetServices(serve::ServiceManager* services) { services_ = services; }

 private:
  void Route(net::HttpRequest& request, net::Responder& respond, const Principal& caller);
  // /v1/users[/{name}]: admins only.
  void RouteUsers(const net::HttpRequest& request, const std::vector<std::string>& parts,
                  net::Responder& respond);
  // GET /v1/history: attempts of jobs, filtered (a user sees their own only).
  void RouteHistory(const net::HttpRequest& request, net::Responder& respond, const Principal& caller);

  controller::Controller& controller_;
  EventLoop& loop_;
  Authenticator& auth_;
  WeftMetrics* metrics_;  // may be null
  const ClusterHistory* history_;  // may be null
  serve::ServiceManager* services_ = nullptr;  // may be null
};

// {"error": {"code": "...", "message": "..."}} with the status from the error's code.
net::HttpResponse ErrorResponse(const Error& error);

}  // namespace weft::api
