#include "storage/s3/s3_error.h"

#include <curl/curl.h>

#include <pugixml.hpp>

namespace vecpuff::s3 {
namespace {

// "GET s3://bucket/key" or "ListObjectsV2 s3://bucket".
std::string Subject(const FailedRequest& r) {
  std::string s(r.operation);
  s += " s3://";
  s += r.bucket;
  if (!r.key.empty()) {
    s += "/";
    s += r.key;
  }
  return s;
}

// "HTTP 503 SlowDown: Please reduce your request rate. (request id X)".
std::string Describe(const FailedRequest& r) {
  std::string s = "HTTP " + std::to_string(r.http_status);
  if (!r.body.code.empty()) s += " " + r.body.code;
  if (!r.body.message.empty()) s += ": " + r.body.message;
  if (!r.body.request_id.empty()) s += " (request id " + r.body.request_id + ")";
  return s;
}

bool IsAuthCode(std::string_view code) {
  for (std::string_view c :
       {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken",
        "InvalidToken", "TokenRefreshRequired", "AuthorizationHeaderMalformed",
        "RequestTimeTooSkewed", "InvalidSecurity", "AccountProblem", "AllAccessDisabled",
        "MissingSecurityHeader", "InvalidPayer", "UnauthorizedAccess"}) {
    if (code == c) return true;
  }
  return false;
}

// Codes that say "try again" whatever the HTTP status they came with (RequestTimeout is a
// 400; XAmzContentSHA256Mismatch / BadDigest mean the body was damaged on the way).
bool IsTransientCode(std::string_view code) {
  for (std::string_view c : {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
                             "Throttling", "ThrottlingException", "RequestLimitExceeded",
                             "TooManyRequests", "ConditionalRequestConflict", "OperationAborted",
                             "XAmzContentSHA256Mismatch", "BadDigest", "IncompleteBody"}) {
    if (code == c) return true;
  }
  return false;
}

Status MapTransportError(const FailedRequest& r) {
  std::string what = curl_easy_strerror(static_cast<CURLcode>(r.curl_code));
  if (!r.curl_detail.empty()) {
    what += " (";
    what += r.curl_detail;
    what += ")";
  }
  const std::string prefix = Subject(r) + ": ";
  switch (static_cast<CURLcode>(r.curl_code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_AGAIN:
      return Status::Unavailable(prefix + "S3 endpoint " + std::string(r.endpoint) +
                                 " unreachable or connection lost: " + what);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Status::InvalidArgument(prefix + "bad S3 endpoint " + std::string(r.endpoint) + ": " +
                                     what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return Status::IOError(prefix + "TLS certificate of S3 endpoint " + std::string(r.endpoint) +
                             " not accepted: " + what);
    default:
      return Status::IOError(prefix + "request to S3 endpoint " + std::string(r.endpoint) +
                             " failed: " + what);
  }
}

}  // namespace

bool ParseErrorBody(std::string_view xml, ErrorBody* out) {
  *out = ErrorBody();
  if (xml.empty()) return false;
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return false;
  pugi::xml_node error = doc.child("Error");
  if (!error) return false;
  out->code = error.child_value("Code");
  out->message = error.child_value("Message");
  out->request_id = error.child_value("RequestId");
  out->actual_object_size = error.child_value("ActualObjectSize");
  return true;
}

Status MapS3Error(const FailedRequest& r) {
  if (r.curl_code != 0) return MapTransportError(r);

  const std::string msg = Subject(r) + ": " + Describe(r);
  const std::string_view code = r.body.code;
  const int http = r.http_status;

  // The S3 code is more specific than the HTTP status, so it is looked at first.
  // A missing bucket and rejected credentials are the server's misconfiguration, not the
  // absence of an object or a client's bad API key: IOError (503 to API clients), so that
  // no caller mistakes them for "no such object" (a freshness probe would read stale data)
  // and no API client is told its own credentials are wrong.
  if (code == "NoSuchBucket") {
    return Status::IOError(Subject(r) + ": bucket '" + std::string(r.bucket) +
                           "' does not exist at " + std::string(r.endpoint) + " (" + Describe(r) +
                           ")");
  }
  if (IsAuthCode(code)) {
    return Status::IOError(
        msg + " [S3 rejected the credentials or the signature: " + std::string(code) + "]");
  }
  if (IsTransientCode(code)) return Status::Unavailable(msg);
  if (code == "NotImplemented") return Status::NotSupported(msg);
  // Also by code: CompleteMultipartUpload and DeleteObjects report errors in 200 bodies.
  if (code == "NoSuchKey" || code == "NoSuchUpload") return Status::NotFound(msg);
  if (code == "PreconditionFailed") return Status::PreconditionFailed(msg);
  if (code == "InvalidRange") return Status::InvalidArgument(msg);

  switch (http) {
    case 404:
      return Status::NotFound(msg);
    case 412:
      return Status::PreconditionFailed(msg);
    case 409:
      // A conditional write that raced another conditional write on the same key: S3
      // asks the client to re-read and retry.
      if (r.conditional_write) return Status::Unavailable(msg);
      return Status::IOError(msg);
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return Status::Unavailable(msg);
    case 403:
      return Status::IOError(msg + " [S3 rejected the credentials or the signature" +
                             (code.empty() ? std::string("]") : ": " + std::string(code) + "]"));
    case 400:
    case 416:
      return Status::InvalidArgument(msg);
    case 501:
      return Status::NotSupported(msg);
    default:
      return Status::IOError(msg);
  }
}

}  // namespace vecpuff::s3
