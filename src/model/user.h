// A user of the API: a name (the Unix user its jobs run as), whether it is an admin, and the
// SHA-256 of its bearer token (the token itself is shown once, at creation, and never stored).
#pragma once

#include <string>

#include "common/clock.h"

namespace weft::model {

struct User {
  std::string name;
  bool admin = false;
  std::string token_sha256;  // lower-case hex
  TimePoint created{};
  bool revoked = false;  // kept, so the name's history stays readable; its token no longer works
  bool operator==(const User&) const = default;
};

}  // namespace weft::model
