// Status and Result<T>: how every fallible VecPuff function reports failure.
//
// Functions that can fail return Status or Result<T>; both are [[nodiscard]]. No exception
// crosses a module boundary: third-party code that throws is wrapped where it is called.
// Status codes are chosen by meaning, not by origin: storage backends map their errors
// once (storage/), and the API maps Status to HTTP once (api/http_status.h).
//
// Thread safety: Status and Result are values; distinct objects may be used concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace vecpuff {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong; retrying will not help
  kNotFound,            // the object, namespace or document does not exist
  kPreconditionFailed,  // a conditional write lost (create-only found the key, etag stale)
  kCorruption,          // stored bytes fail their checksum or cannot be decoded
  kIOError,             // a local I/O error that is not known to be transient
  kUnavailable,         // transient: storage unreachable, throttled, timed out; retryable
  kResourceExhausted,   // a limit or quota was hit (backpressure)
  kPayloadTooLarge,     // a request body exceeds the configured limit
  kUnauthenticated,     // missing or wrong credentials
  kNotSupported,        // valid request for a feature this build does not have
  kAborted,             // the operation was cancelled (e.g. shutdown)
  kInternal,            // a bug: an invariant did not hold
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status PreconditionFailed(std::string msg) {
    return {StatusCode::kPreconditionFailed, std::move(msg)};
  }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status PayloadTooLarge(std::string msg) {
    return {StatusCode::kPayloadTooLarge, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  static Status NotSupported(std::string msg) {
    return {StatusCode::kNotSupported, std::move(msg)};
  }
  static Status Aborted(std::string msg) { return {StatusCode::kAborted, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsPreconditionFailed() const { return code_ == StatusCode::kPreconditionFailed; }
  bool IsUnavailable() const { return code_ == StatusCode::kUnavailable; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "NotFound: message" (or "OK").
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = Status::Internal("Result constructed from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace vecpuff

#define VECPUFF_CONCAT_INNER(a, b) a##b
#define VECPUFF_CONCAT(a, b) VECPUFF_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define VECPUFF_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::vecpuff::Status _vecpuff_status = (expr);        \
    if (!_vecpuff_status.ok()) return _vecpuff_status; \
  } while (0)

// `lhs = value of expr` (a Result<T>), or returns its Status from the enclosing function.
#define VECPUFF_ASSIGN_OR_RETURN(lhs, expr) \
  VECPUFF_ASSIGN_OR_RETURN_IMPL(VECPUFF_CONCAT(_vecpuff_result_, __LINE__), lhs, expr)
#define VECPUFF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
