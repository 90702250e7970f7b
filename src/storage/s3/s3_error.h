// How S3 failures become Status: the one place where an HTTP status, an S3 error code (from
// the XML error body) and a libcurl transport error are mapped to the codes of
// storage/object_store.h, as leveldb's PosixError() maps errno.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace vecpuff::s3 {

// The fields of an S3 XML error body (<Error><Code>..</Code><Message>..</Message>..</Error>).
// Empty strings where the body had no such element (HEAD responses have no body at all).
struct ErrorBody {
  std::string code;        // "NoSuchKey", "SlowDown", "SignatureDoesNotMatch", ...
  std::string message;     // human-readable
  std::string request_id;  // <RequestId>, for support tickets
  // <ActualObjectSize> of an InvalidRange (416) error, "" if absent.
  std::string actual_object_size;
};

// Parses an S3 error document. Returns false (and leaves *out empty) if `xml` is not one,
// e.g. an empty body or an HTML page from a proxy. Never throws.
bool ParseErrorBody(std::string_view xml, ErrorBody* out);

// Everything known about one failed request. Either curl_code is non-zero (no complete
// HTTP response arrived) or http_status is (the server answered with an error).
struct FailedRequest {
  std::string_view operation;  // what was attempted: "GET", "PUT", "ListObjectsV2", ...
  std::string_view endpoint;   // "http://127.0.0.1:5000"
  std::string_view bucket;
  std::string_view key;  // empty for bucket-level requests
  // True for a Put with If-None-Match / If-Match (also on CompleteMultipartUpload): a 409
  // then means a concurrent conditional write was in progress, and is retryable.
  bool conditional_write = false;

  int curl_code = 0;             // a CURLcode; 0 (CURLE_OK) if a response arrived
  std::string_view curl_detail;  // curl's error buffer, may be empty

  int http_status = 0;
  ErrorBody body;
};

// The Status for a failed request, with a message that names the operation, the object,
// the HTTP status, the S3 code and message (or the transport error):
//   404 NoSuchBucket                 -> NotFound ("bucket 'b' does not exist at <endpoint>")
//   404 (NoSuchKey, NoSuchUpload, any other 404) -> NotFound
//   412 PreconditionFailed           -> PreconditionFailed
//   409 on a conditional write, or ConditionalRequestConflict / OperationAborted
//                                    -> Unavailable (retryable; re-read and retry)
//   429, 500, 502, 503, 504, SlowDown, RequestTimeout, InternalError, ServiceUnavailable
//                                    -> Unavailable
//   403 InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, ExpiredToken, ... and
//   400 ExpiredToken / InvalidToken / AuthorizationHeaderMalformed
//                                    -> Unauthenticated (naming which)
//   400 (other codes), 416 InvalidRange -> InvalidArgument
//   501 NotImplemented               -> NotSupported (e.g. conditional writes unsupported)
//   anything else                    -> IOError (with the HTTP status and the S3 code)
// Transport errors: timeouts, connection refused / reset, DNS failure, TLS handshake
// failures, partial or empty replies -> Unavailable (naming the endpoint); certificate
// verification failures and malformed URLs -> IOError / InvalidArgument.
// REQUIRES: curl_code != 0 || http_status >= 300.
Status MapS3Error(const FailedRequest& request);

}  // namespace vecpuff::s3
