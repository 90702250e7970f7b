#include "api/http_status.h"

#include <nlohmann/json.hpp>

namespace vecpuff {

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kPreconditionFailed:
      return 409;
    case StatusCode::kPayloadTooLarge:
      return 413;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kNotSupported:
      return 501;
    case StatusCode::kUnavailable:
    case StatusCode::kIOError:
      return 503;
    case StatusCode::kCorruption:
    case StatusCode::kAborted:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

std::string ErrorBody(const std::string& message) {
  nlohmann::json body = {{"status", "error"}, {"error", message}};
  // Messages may quote input bytes; never let invalid UTF-8 make serialization throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace vecpuff
