// `weft server`: opens the durable state, restores the controller, serves the REST API and
// runs until SIGTERM or SIGINT.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "model/queue.h"
#include "net/http.h"

namespace weft::api {

struct ServerOptions {
  std::string listen = "127.0.0.1:8642";  // port 0 picks a free port (see DIR/address)
  std::string state_dir;                   // weft.db, token and join_token (0600), address
  int http_threads = 2;
  // The user the admin token stands for (its jobs run as it); "" = whoever runs the server.
  std::string admin_user;
  model::ClusterConfig config = DefaultConfig();  // queues and scheduler settings
  Duration node_timeout = std::chrono::seconds(30);    // an agent silent longer is DOWN
  Duration history_interval = std::chrono::seconds(10);  // allocation samples (/v1/cluster/history)
  // Certificate and key: HTTPS only (address file says https://...); both empty: plain HTTP.
  net::ServerTlsOptions tls;
  // On SIGTERM/SIGINT: how long requests in flight may take to be answered before their
  // connections are closed (long polls are answered at once).
  Duration shutdown_grace = std::chrono::seconds(10);
  static model::ClusterConfig DefaultConfig() {
    model::ClusterConfig c;
    c.queues.push_back(model::DefaultQueue());
    return c;
  }
};

// Blocks until a stop signal (SIGTERM or SIGINT), then stops gracefully: stops accepting,
// answers long polls with 503, lets other requests in flight finish within `shutdown_grace`,
// makes everything the store was handed durable, and returns success. Files in state_dir: `token` and `join_token` (created on first
// start, mode 0600), `weft.db` (SQLite, WAL) and `address` ("http://host:port", written once
// serving; "https://host:port" with TLS).
Result<> RunServer(const ServerOptions& options);

// Reads DIR/token (the admin token), creating it with a fresh random token (mode 0600) when
// absent.
Result<std::string> LoadOrCreateToken(const std::string& state_dir);
// Reads DIR/join_token (what agents join with; good on /v1/agents/... only), creating it the
// same way. Kept across restarts so running agents keep their token.
Result<std::string> LoadOrCreateJoinToken(const std::string& state_dir);

}  // namespace weft::api
