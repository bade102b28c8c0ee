// Who is calling: bearer tokens to principals. The admin token (the server's DIR/token, also
// what agents join with until they get their own) maps to the admin user, the Unix user who
// started the server (`weft up`); every other token is a user's, created by `weft user add`
// and stored only as its SHA-256.
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
  bool agent = false;  // may report nodes and watch assignments (the admin token)
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
  Authenticator(std::string admin_token, std::string admin_user);
  // The principal of `token`, or nullopt for an unknown or revoked one. Constant time in the
  // token's content for the admin token; user tokens are looked up by hash.
  std::optional<Principal> Authenticate(std::string_view token) const;
  // Adds the user's token, or drops it when the user is revoked.
  void Put(const model::User& user);
  const std::string& admin_user() const { return admin_user_; }

 private:
  const std::string admin_token_;
  const std::string admin_user_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Principal, std::less<>> by_hash_;
};

}  // namespace weft::api
