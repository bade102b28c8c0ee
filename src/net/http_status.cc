#include "net/http_status.h"

#include <array>
#include <utility>

namespace weft::net {
namespace {
constexpr std::array<std::pair<ErrorCode, int>, 13> kTable{{
    {ErrorCode::kInvalidArgument, 400},
    {ErrorCode::kInvalidArgument, 413},  // request body too large (the server's limit)
    {ErrorCode::kUnauthenticated, 401},
    {ErrorCode::kPermissionDenied, 403},
    {ErrorCode::kNotFound, 404},
    {ErrorCode::kAlreadyExists, 409},
    {ErrorCode::kAborted, 409},
    {ErrorCode::kFailedPrecondition, 412},
    {ErrorCode::kResourceExhausted, 429},
    {ErrorCode::kInternal, 500},
    {ErrorCode::kUnimplemented, 501},
    {ErrorCode::kUnavailable, 503},
    {ErrorCode::kDeadlineExceeded, 504},
}};
}  // namespace

int HttpStatusFor(ErrorCode code) {
  for (const auto& [c, status] : kTable) {
    if (c == code) return status;
  }
  return 500;
}

ErrorCode ErrorCodeForStatus(int status) {
  for (const auto& [c, s] : kTable) {
    if (s == status) return c;
  }
  return ErrorCode::kInternal;
}

}  // namespace weft::net
