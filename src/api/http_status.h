// The one place where a Status becomes an HTTP response code and error body.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "common/status.h"

namespace vecpuff {

// InvalidArgument 400, Unauthenticated 401, NotFound 404, PreconditionFailed 409,
// PayloadTooLarge 413, ResourceExhausted 429, NotSupported 501, Unavailable and IOError 503,
// Corruption, Aborted and Internal 500.
int HttpStatusFor(const Status& status);

// {"status":"error","error":"<message>"}
std::string ErrorBody(const std::string& message);

}  // namespace vecpuff
