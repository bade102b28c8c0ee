// How CLI commands reach the server: where it is and the token (WEFT_SERVER and WEFT_TOKEN,
// else the config `weft up` wrote), and a small JSON client over HTTP.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "net/http.h"

namespace weft::cli {

struct ClientConfig {
  std::string server;  // "http://127.0.0.1:8642"
  std::string token;
};

// $WEFT_CONFIG, else $HOME/.weft/config.json.
std::string ConfigPath();
// WEFT_SERVER / WEFT_TOKEN (or WEFT_TOKEN_FILE) override the config file's values.
Result<ClientConfig> LoadClientConfig();

// A JSON client; errors carry the server's own message ("job 42 does not exist").
class ApiClient {
 public:
  explicit ApiClient(const ClientConfig& config);
  Result<nlohmann::json> Get(std::string_view target, Duration timeout = std::chrono::seconds(30));
  Result<nlohmann::json> Post(std::string_view target, const nlohmann::json& body);
  Result<nlohmann::json> Delete(std::string_view target);
  Result<nlohmann::json> Put(std::string_view target, const nlohmann::json& body);
  // Raw access for logs (text bodies with offset headers).
  Result<net::HttpResponse> GetRaw(std::string_view target);

 private:
  Result<nlohmann::json> Decode(Result<net::HttpResponse> response);
  net::HttpClient http_;
};

// A client for the configured server, or the reason there is none.
Result<std::unique_ptr<ApiClient>> Connect();

}  // namespace weft::cli
