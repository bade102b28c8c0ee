// Fuzzes the REST API: ApiHandler with a real Controller on a simulated loop over an
// in-memory store (as api_handler_test.cc builds it), fed a sequence of arbitrary requests.
// Input: requests separated by "\n====\n"; each is "METHOD TARGET\nTOKEN\nBODY", where TARGET
// is a path with an optional "?k=v&..." query and TOKEN is "" (the admin token), "user" (the
// token of the last user this input created) or a literal token. The loop runs a few
// simulated seconds after each request, so submitted jobs get scheduled on reported nodes.
// Oracles: every request is answered exactly once (long polls included), with a valid status,
// and a JSON response body is valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "api/api_handler.h"
#include "common/log.h"
#include "common/simulated_event_loop.h"
#include "controller/persister.h"
#include "fuzz/fuzz_util.h"
#include "store/in_memory_kv_store.h"

namespace {

using namespace weft;
using namespace std::chrono_literals;

struct Harness {
  Harness()
      : loop(TimePoint{} + 100s),
        persister(store, loop),
        controller(loop, persister, controller::ControllerOptions{}),
        auth("secret", "admin", "join"),  // a request line "join" uses the agents' join token
        handler(controller, loop, auth) {}
  SimulatedEventLoop loop;
  store::InMemoryKvStore store;
  controller::DirectPersister persister;
  controller::Controller controller;
  api::Authenticator auth;
  api::ApiHandler handler;
};

net::HttpRequest MakeRequest(std::string_view text, const std::string& user_token) {
  net::HttpRequest request;
  std::string first = fuzz::TakeLine(text);
  const std::size_t space = first.find(' ');
  request.method = first.substr(0, space);
  request.target = space == std::string::npos ? "/" : first.substr(space + 1);
  const std::size_t question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) {
    for (const std::string& pair : fuzz::SplitOn(std::string_view(request.target).substr(question + 1), "&")) {
      const std::size_t eq = pair.find('=');
      request.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
    }
  }
  const std::string token = fuzz::TakeLine(text);
  const std::string bearer = token.empty() ? "secret" : token == "user" ? user_token : token;
  request.headers["authorization"] = "Bearer " + bearer;
  request.body = std::string(text);
  request.remote_address = "127.0.0.1";
  return request;
}

void CheckResponse(const net::HttpResponse& r) {
  if (r.status < 100 || r.status > 599) std::abort();
  if (r.content_type == "application/json" &&
      nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false).is_discarded()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  weft::SetLogLevel(weft::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Declared before the harness, which may still hold (unanswered) Responders that refer to them.
  std::string user_token;
  std::vector<int> answered;
  Harness h;
  for (const std::string& text : fuzz::SplitOn(fuzz::AsText(data, size), "\n====\n")) {
    net::HttpRequest request = MakeRequest(text, user_token);
    const bool creates_user = request.method == "POST" && request.path == "/v1/users";
    const std::size_t slot = answered.size();
    answered.push_back(0);
    h.handler.Handle(std::move(request), [&answered, slot, creates_user, &user_token](net::HttpResponse r) {
      ++answered[slot];
      CheckResponse(r);
      if (creates_user && r.status == 201) {
        user_token = nlohmann::json::parse(r.body).value("token", std::string());
      }
    });
    h.loop.RunUntil(h.loop.clock().Now() + 2s);
  }
  h.loop.RunUntil(h.loop.clock().Now() + 120s);  // past every long poll's wait
  for (int n : answered) {
    if (n != 1) std::abort();
  }
  return 0;
}
