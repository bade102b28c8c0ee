// Admin commands through the admin API: `weft user add|list|revoke` (users and their tokens)
// and `weft node drain|resume`.
#include <cstdio>

#include <fmt/format.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/table.h"

namespace weft::cli {

using nlohmann::json;

int UserAddCommand(const std::string& name, bool admin) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto user = (*client)->Post("/v1/users", json{{"name", name}, {"admin", admin}});
  if (!user) return ReportError(user.error());
  // The token is shown once: only its hash is stored.
  std::printf("%s\n", (*user)["token"].get<std::string>().c_str());
  std::fprintf(stderr, "user %s created%s; give them this token (WEFT_TOKEN); it is not shown again\n",
               name.c_str(), admin ? " (admin)" : "");
  return 0;
}

int UserListCommand(bool as_json) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto users = (*client)->Get("/v1/users");
  if (!users) return ReportError(users.error());
  if (as_json) {
    std::printf("%s\n", users->dump(2).c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& u : (*users)["users"]) {
    rows.push_back({u.value("name", ""), u.value("admin", false) ? "yes" : "no",
                    u.value("revoked", false) ? "revoked" : "active"});
  }
  std::fputs(RenderTable({"USER", "ADMIN", "STATE"}, rows).c_str(), stdout);
  return 0;
}

int UserRevokeCommand(const std::string& name) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  auto user = (*client)->Delete("/v1/users/" + name);
  if (!user) return ReportError(user.error());
  std::printf("revoked %s\n", name.c_str());
  return 0;
}

int NodeDrainCommand(const std::string& name, bool drain, const std::string& reason) {
  auto client = Connect();
  if (!client) return ReportError(client.error());
  const std::string target = "/v1/nodes/" + name + (drain ? "/drain" : "/resume");
  auto node = (*client)->Post(target, drain ? json{{"reason", reason}} : json::object());
  if (!node) return ReportError(node.error());
  std::printf("%s %s\n", name.c_str(), (*node).value("state", "").c_str());
  return 0;
}

}  // namespace weft::cli
