// HTTP/1.1 types and the server/client used by the controller, the agents and the CLI, over
// plain TCP or TLS (HTTPS). Boost.Beast, Asio and OpenSSL stay inside this folder's .cc files:
// including this header costs nothing.
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
  int remote_port = 0;         // peer port: tells connections apart

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

// The server's certificate and key (PEM files). Both empty: plain HTTP; both set: HTTPS only
// (TLS 1.2 or later; a plain-HTTP request on the port fails its handshake and is closed).
struct ServerTlsOptions {
  std::string cert_file;  // certificate chain, the server's own first
  std::string key_file;   // its private key
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // "127.0.0.1:43210": the address actually bound (port 0 resolved).
  virtual std::string address() const = 0;
  // "https" when serving TLS, else "http".
  virtual std::string scheme() const = 0;
  // Graceful stop: stops accepting connections at once, closes idle keep-alive connections,
  // lets every request already handed to the handler be answered and written for up to
  // `grace` (the caller answers its long polls itself first: see api/server.cc), then Stop()s.
  // Returns the number of requests still unanswered when the grace ran out. Not from an I/O
  // thread; idempotent.
  virtual int Shutdown(Duration grace) = 0;
  // Stops accepting and closes connections; pending Responders become no-ops. Idempotent.
  virtual void Stop() = 0;
};

// Binds `listen_address` ("host:port", port 0 = any free port) and serves on `threads` I/O
// threads, over TLS when `tls` is enabled. Fails with kUnavailable when the address cannot be
// bound and kInvalidArgument when the certificate or key cannot be loaded.
Result<std::unique_ptr<HttpServer>> StartHttpServer(const std::string& listen_address,
                                                    Handler handler, int threads = 1,
                                                    const ServerTlsOptions& tls = {});

// How a client verifies an https server: its certificate must chain to a CA of `ca_file` (PEM)
// and name the URL's host (DNS or IP subject alternative name). `ca_file` "" = $WEFT_CA_FILE,
// else the system's default CA paths. Ignored for http:// URLs.
struct ClientTlsOptions {
  std::string ca_file;
};

// A blocking client over one keep-alive connection. Not thread-safe: one per thread.
class HttpClient {
 public:
  // `base_url` is "http://host:port" or "https://host:port"; `token`, when set, goes in
  // "Authorization: Bearer". An https server whose certificate fails verification is an
  // error (kFailedPrecondition: not worth retrying) saying "cannot verify the server's TLS
  // certificate for HOST: why".
  HttpClient(std::string base_url, std::string token, ClientTlsOptions tls = {});
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
  // https: the TLS handshake on the freshly connected socket, checking the certificate.
  Result<> Handshake(std::chrono::steady_clock::time_point deadline);
  std::string base_url_;
  std::string token_;
  std::string host_;
  std::string port_;
  bool https_ = false;
  std::string ca_file_;  // resolved: the option, else $WEFT_CA_FILE, else "" (system paths)
  std::unique_ptr<Connection> connection_;
};

// Percent-encodes a query value.
std::string UrlEncode(std::string_view value);

}  // namespace weft::net
