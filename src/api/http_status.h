// The one table that maps Weft's error codes to HTTP statuses, and back for clients.
#pragma once

#include "common/error.h"

namespace weft::api {

int HttpStatusFor(ErrorCode code);
// Inverse for clients reading an error response; unknown statuses map to kInternal.
ErrorCode ErrorCodeForStatus(int status);

}  // namespace weft::api
