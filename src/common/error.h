// Errors for everything that can fail for reasons outside the program: I/O, peers, bad
// input, missing objects. Expected scheduling outcomes are verdicts, not errors.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace weft {

// Canonical codes (a subset of the gRPC/absl set). Detail goes in the message, never in
// new codes. The REST layer maps codes to HTTP statuses in one table (api/http_status.cc).
enum class ErrorCode {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kAborted,
  kResourceExhausted,
  kUnavailable,
  kDeadlineExceeded,
  kPermissionDenied,
  kUnauthenticated,
  kUnimplemented,
  kInternal,
};

std::string_view ToString(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;
};

template <class T = void>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return tl::unexpected(Error{code, std::move(message)});
}

}  // namespace weft
