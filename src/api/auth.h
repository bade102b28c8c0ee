// Who is calling: bearer tokens to principals. The admin token (the server's DIR/token) maps to
// the admin user, the Unix user who started the server (`weft up`); the join token (the
// server's DIR/join_token) is what agents present and is good for the agent routes only; every
// other token is a user's, created by `weft user add` and stored only as its SHA-256.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/error.h"
#include "model/user.h"

namespace weft::api {

struct Principal {
  std::string user;    // the Unix user jobs submitted with this token run as
  bool admin = false;  // sees and controls every job, manages users
  // The join token: may report nodes and watch assignments (/v1/agents/...) and nothing else;
  // `user` is empty and `admin` false. No other token may use the agent routes.
  bool agent = false;
};

// Lower-case hex SHA-256 of `text`.
std::string Sha256Hex(std::string_view text);
// A fresh random token: 64 hex characters from /dev/urandom.
Result<std::string> NewToken();
// A Unix user name as useradd accepts it: [a-z_][a-z0-9_-]*[$]?, at most 32 characters.
bool IsValidUserName(std::string_view name);

// Thread-safe: HTTP threads authenticate while the loop thread adds and revokes users.
class Authenticator {
 public:
  // An empty `join_token` admits no agent.
  Authenticator(std::string admin_token, std::string admin_user, std::string join_token = {});
  // The principal of `token`, or nullopt for an unknown or revoked one. Constant time in the
  // token's content for the admin and join tokens; user tokens are looked up by hash.
  std::optional<Principal> Authenticate(std::string_view token) const;
  // Adds the user's token, or drops it when the user is revoked.
  void Put(const model::User& user);
  const std::string& admin_user() const { return admin_user_; }

 private:
  const std::string admin_token_;
  const std::string admin_user_;
  const std::string join_token_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Principal, std::less<>> by_hash_;
};

}  // namespace weft::api
