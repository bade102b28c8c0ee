// Plain HTTP/1.1 types and the server/client used by the controller, the agents and the CLI.
// Boost.Beast stays inside this folder's .cc files: including this header costs nothing.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace weft::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent: "/v1/jobs?state=PENDING"
  std::string path;    // target without the query, percent-decoded: "/v1/jobs"
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;  // peer IP as text

  // Header value by lower-case name, or "".
  std::string Header(std::string_view lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// Sends the response for one request. Call exactly once, from any thread; it is cheap to copy.
using Responder = std::function<void(HttpResponse)>;
// Called on a server I/O thread for each request. It may respond at once or keep the
// Responder and respond later (long polls): the connection waits, other connections do not.
using Handler = std::function<void(HttpRequest, Responder)>;

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // "127.0.0.1:43210": the address actually bound (port 0 resolved).
  virtual std::string address() const = 0;
  // Stops accepting and closes connections; pending Responders become no-ops. Idempotent.
  virtual void Stop() = 0;
};

// Binds `listen_address` ("host:port", port 0 = any free port) and serves on `threads` I/O
// threads. Fails with kUnavailable when the address cannot be bound.
Result<std::unique_ptr<HttpServer>> StartHttpServer(const std::string& listen_address,
                                                    Handler handler, int threads = 1);

// A blocking client over one keep-alive connection. Not thread-safe: one per thread.
class HttpClient {
 public:
  // `base_url` is "http://host:port"; `token`, when set, goes in "Authorization: Bearer".
  HttpClient(std::string base_url, std::string token);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any status is a successful Result; kUnavailable when the server cannot be reached,
  // kDeadlineExceeded past `timeout`. A request on a stale kept-alive connection is retried
  // once on a fresh connection when nothing of the response had arrived.
  Result<HttpResponse> Request(std::string_view method, std::string_view target,
                               std::string_view body = {},
                               Duration timeout = std::chrono::seconds(30));
  Result<HttpResponse> Get(std::string_view target, Duration timeout = std::chrono::seconds(30)) {
    return Request("GET", target, {}, timeout);
  }
  Result<HttpResponse> Post(std::string_view target, std::string_view body,
                            Duration timeout = std::chrono::seconds(30)) {
    return Request("POST", target, body, timeout);
  }
  const std::string& base_url() const { return base_url_; }

 private:
  class Connection;
  std::string base_url_;
  std::string token_;
  std::string host_;
  std::string port_;
  std::unique_ptr<Connection> connection_;
};

// Percent-encodes a query value.
std::string UrlEncode(std::string_view value);

}  // namespace weft::net
