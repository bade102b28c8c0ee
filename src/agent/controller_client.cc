#include "agent/controller_client.h"

#include <fmt/format.h>

#include "model/json.h"

namespace weft::agent {
namespace {

// Extra time the client waits beyond the server's long-poll wait.
constexpr Duration kWatchSlack = std::chrono::seconds(5);
constexpr Duration kReportTimeout = std::chrono::seconds(10);

Error StatusError(std::string_view what, const net::HttpResponse& response) {
  // The API answers {"error": {"code": ..., "message": ...}}.
  std::string message = response.body;
  if (auto parsed = model::ParseJson(response.body); parsed && parsed->is_object()) {
    if (auto it = parsed->find("error"); it != parsed->end() && it->is_object()) {
      if (auto m = it->find("message"); m != it->end() && m->is_string()) {
        message = m->get<std::string>();
      }
    }
  }
  const ErrorCode code = response.status == 401   ? ErrorCode::kUnauthenticated
                         : response.status == 403 ? ErrorCode::kPermissionDenied
                         : response.status >= 500 ? ErrorCode::kUnavailable
                                                  : ErrorCode::kFailedPrecondition;
  return Error{code, fmt::format("{}: HTTP {}: {}", what, response.status, message)};
}

}  // namespace

HttpControllerClient::HttpControllerClient(std::string server_url, std::string token,
                                           std::string node_name, std::string ca_file)
    : http_(std::move(server_url), std::move(token), net::ClientTlsOptions{std::move(ca_file)}),
      node_path_("/v1/agents/" + net::UrlEncode(node_name)) {}

Result<std::int64_t> HttpControllerClient::Report(const model::NodeReport& report) {
  const nlohmann::json body = report;
  // Invalid UTF-8 (in a label, say) is replaced rather than thrown.
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto response = http_.Post(node_path_ + "/report", text, kReportTimeout);
  if (!response) return tl::unexpected(response.error());
  if (response->status != 200) return tl::unexpected(StatusError("report", *response));
  auto parsed = model::ParseJson(response->body);
  if (!parsed) return tl::unexpected(parsed.error());
  auto it = parsed->find("version");
  if (!parsed->is_object() || it == parsed->end() || !it->is_number_integer()) {
    return Fail(ErrorCode::kInvalidArgument, "report: response has no integer 'version'");
  }
  return it->get<std::int64_t>();
}

Result<model::NodeAssignments> HttpControllerClient::Watch(std::int64_t version, Duration wait) {
  const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait).count();
  const std::string target =
      fmt::format("{}/assignments?version={}&wait_ms={}", node_path_, version, wait_ms);
  auto response = http_.Get(target, wait + kWatchSlack);
  if (!response) return tl::unexpected(response.error());
  if (response->status != 200) return tl::unexpected(StatusError("watch", *response));
  auto parsed = model::ParseJson(response->body);
  if (!parsed) return tl::unexpected(parsed.error());
  return model::NodeAssignmentsFromJson(*parsed);
}

}  // namespace weft::agent
