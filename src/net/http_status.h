// The one table that maps Weft's error codes to HTTP statuses (the API's replies), and back
// (clients reading them).
#pragma once

#include "common/error.h"

namespace weft::net {

int HttpStatusFor(ErrorCode code);
// Inverse for clients reading an error response; unknown statuses map to kInternal.
ErrorCode ErrorCodeForStatus(int status);

}  // namespace weft::net
