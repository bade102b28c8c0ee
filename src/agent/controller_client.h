// The agent's side of the controller protocol: report what the node runs, watch what it
// should run. One instance per calling thread (implementations need not be thread-safe),
// except Interrupt().
#pragma once

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/error.h"
#include "model/task.h"
#include "net/http.h"

namespace weft::agent {

class ControllerClient {
 public:
  virtual ~ControllerClient() = default;

  // POST /v1/agents/{name}/report. On success the controller has durably recorded every exit
  // in `report`; returns its current assignment version.
  virtual Result<std::int64_t> Report(const model::NodeReport& report) = 0;

  // GET /v1/agents/{name}/assignments?version=V&wait_ms=W: long poll that returns the node's
  // complete assignment set as soon as its version differs from `version`, or after `wait`.
  virtual Result<model::NodeAssignments> Watch(std::int64_t version, Duration wait) = 0;

  // Asks a call blocked in another thread to return early. Thread-safe; best effort (the HTTP
  // implementation cannot interrupt a request in flight and returns when it completes).
  virtual void Interrupt() {}
};

// Speaks the protocol over HTTP/JSON with a bearer token (net::HttpClient, one connection).
class HttpControllerClient final : public ControllerClient {
 public:
  // `token` is the server's join token; `ca_file` verifies an https server ("" = $WEFT_CA_FILE,
  // else the system's CAs).
  HttpControllerClient(std::string server_url, std::string token, std::string node_name,
                       std::string ca_file = {});

  Result<std::int64_t> Report(const model::NodeReport& report) override;
  Result<model::NodeAssignments> Watch(std::int64_t version, Duration wait) override;

 private:
  net::HttpClient http_;
  std::string node_path_;  // "/v1/agents/{name}"
};

}  // namespace weft::agent
