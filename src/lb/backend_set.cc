#include "lb/backend_set.h"

#include <arpa/inet.h>

#include <set>

namespace weft::lb {

namespace {

// The numeric address for `host`, or "" when it is neither an IP literal nor "localhost".
std::string NumericAddress(const std::string& host) {
  if (host == "localhost") return "127.0.0.1";
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return host;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) return host;
  return "";
}

}  // namespace

Result<std::shared_ptr<const BackendSet>> MergeBackends(const BackendSet& old,
                                                        const std::vector<Backend>& backends,
                                                        std::uint64_t& next_serial,
                                                        TrafficWindow window) {
  std::set<std::string> ids;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    const Backend& b = backends[i];
    const std::string where = "backends[" + std::to_string(i) + "]";
    if (b.id.empty()) return Fail(ErrorCode::kInvalidArgument, where + ".id: must not be empty");
    if (!ids.insert(b.id).second) {
      return Fail(ErrorCode::kInvalidArgument, where + ".id: duplicate id \"" + b.id + "\"");
    }
    if (NumericAddress(b.host).empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ".host: \"" + b.host + "\" is not an IP address or localhost");
    }
    if (b.port < 1 || b.port > 65535) {
      return Fail(ErrorCode::kInvalidArgument,
                  where + ".port: " + std::to_string(b.port) + " is outside 1..65535");
    }
  }
  auto out = std::make_shared<BackendSet>();
  out->entries.reserve(backends.size());
  for (const Backend& b : backends) {
    std::shared_ptr<BackendEntry> kept;
    for (const auto& e : old.entries) {
      if (e->backend.id == b.id && e->backend.host == b.host && e->backend.port == b.port) {
        kept = e;
        break;
      }
    }
    if (kept) {
      kept->ready.store(b.ready);
      out->entries.push_back(std::move(kept));
    } else {
      out->entries.push_back(
          std::make_shared<BackendEntry>(b, NumericAddress(b.host), next_serial++, window));
    }
  }
  return std::shared_ptr<const BackendSet>(std::move(out));
}

}  // namespace weft::lb
