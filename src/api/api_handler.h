// The REST API of DESIGN.md under /v1, plus /healthz. Parses and authenticates on the HTTP
// I/O thread, then posts each call to the controller's loop thread, which answers through
// the Responder (possibly much later, for long polls).
#pragma once

#include <string>

#include "common/event_loop.h"
#include "controller/controller.h"
#include "net/http.h"

namespace weft::api {

class ApiHandler {
 public:
  // `controller` is owned by `loop`'s thread and must outlive this handler and the server.
  ApiHandler(controller::Controller& controller, EventLoop& loop, std::string token);

  // Thread-safe; called on HTTP I/O threads.
  void Handle(net::HttpRequest request, net::Responder respond);

 private:
  void Route(net::HttpRequest& request, net::Responder& respond);

  controller::Controller& controller_;
  EventLoop& loop_;
  std::string token_;
};

// {"error": {"code": "...", "message": "..."}} with the status from the error's code.
net::HttpResponse ErrorResponse(const Error& error);

}  // namespace weft::api
