#include "cli/client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/json.h"
#include "net/http_status.h"

namespace weft::cli {

std::string ConfigPath() {
  if (const char* path = std::getenv("WEFT_CONFIG"); path && *path) return path;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.weft/config.json";
}

namespace {
std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return std::string(Trim(line));
}
}  // namespace

Result<ClientConfig> LoadClientConfig() {
  ClientConfig config;
  std::ifstream in(ConfigPath());
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    auto json = model::ParseJson(text.str());
    if (json && json->is_object()) {
      config.server = json->value("server", "");
      config.token = json->value("token", "");
    }
  }
  if (const char* server = std::getenv("WEFT_SERVER"); server && *server) config.server = server;
  if (const char* file = std::getenv("WEFT_TOKEN_FILE"); file && *file) config.token = ReadFirstLine(file);
  if (const char* token = std::getenv("WEFT_TOKEN"); token && *token) config.token = token;
  if (config.server.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "no Weft server configured: run `weft up` or set WEFT_SERVER and WEFT_TOKEN");
  }
  if (!StartsWith(config.server, "http://") && !StartsWith(config.server, "https://")) {
    config.server = "http://" + config.server;
  }
  return config;
}

ApiClient::ApiClient(const ClientConfig& config) : http_(config.server, config.token) {}

Result<nlohmann::json> ApiClient::Decode(Result<net::HttpResponse> response) {
  if (!response) return tl::unexpected(response.error());
  auto json = model::ParseJson(response->body);
  if (response->status >= 400) {
    std::string message = fmt::format("server answered {}", response->status);
    if (json && json->contains("error")) message = (*json)["error"].value("message", message);
    return Fail(net::ErrorCodeForStatus(response->status), message);
  }
  if (!json) return Fail(ErrorCode::kInternal, "server answered with malformed JSON");
  return *json;
}

Result<nlohmann::json> ApiClient::Get(std::string_view target, Duration timeout) {
  return Decode(http_.Get(target, timeout));
}

Result<nlohmann::json> ApiClient::Post(std::string_view target, const nlohmann::json& body) {
  return Decode(http_.Post(target, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

Result<nlohmann::json> ApiClient::Delete(std::string_view target) {
  return Decode(http_.Request("DELETE", target));
}

Result<nlohmann::json> ApiClient::Put(std::string_view target, const nlohmann::json& body) {
  return Decode(http_.Request("PUT", target, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
}

Result<std::unique_ptr<ApiClient>> Connect() {
  auto config = LoadClientConfig();
  if (!config) return tl::unexpected(config.error());
  return std::make_unique<ApiClient>(*config);
}

Result<net::HttpResponse> ApiClient::GetRaw(std::string_view target) { return http_.Get(target); }

}  // namespace weft::cli
