// AWS Signature Version 4 for S3 requests (header signing), as specified in
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html.
//
// The signer is pure: it takes the request's parts and a timestamp and returns the headers
// to add. The S3 client (s3_client.h) builds the URL from the same CanonicalUri() and
// CanonicalQueryString() it signs, so what is sent is exactly what was signed.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vecpuff::s3 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional (temporary credentials); sent as x-amz-security-token
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// "UNSIGNED-PAYLOAD" may be passed as payload_sha256 for bodies not hashed up front.
constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// SHA-256 of the empty string, hex.
constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SigningRequest {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // Host header value: "bucket.s3.amazonaws.com", "127.0.0.1:5000"
  // The path NOT yet URI-encoded, starting with '/': "/bucket/a b+c/ü" (path-style) or
  // "/a b+c/ü" (virtual-hosted). Encoded by CanonicalUri().
  std::string raw_path;
  // Query parameters NOT yet encoded, in any order; a parameter without a value (e.g.
  // "uploads", "delete") has an empty value.
  std::vector<std::pair<std::string, std::string>> query;
  // Further headers to sign (any case; e.g. "Range", "If-None-Match", "Content-MD5",
  // "Content-Type"). host, x-amz-date, x-amz-content-sha256 and x-amz-security-token are
  // added by the signer and must not be listed here.
  HeaderList headers;
  std::string payload_sha256;  // lowercase hex SHA-256 of the body, or kUnsignedPayload
};

// RFC 3986 percent-encoding as AWS specifies it: unreserved characters (A-Z a-z 0-9 - . _ ~)
// are kept, everything else is %XX with upper-case hex; '/' is kept iff !encode_slash.
std::string UriEncode(std::string_view s, bool encode_slash);

// The encoded path as sent on the wire and signed (S3: encoded once, '/' kept).
std::string CanonicalUri(std::string_view raw_path);

// "a=1&b=&c=x%2Fy": names and values encoded, sorted by encoded name then value.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view data);

// The headers to add to the request: "Authorization", "x-amz-date",
// "x-amz-content-sha256" and, with a session token, "x-amz-security-token".
// `service` is "s3".
HeaderList SignRequest(const SigningRequest& request, const Credentials& credentials,
                       std::string_view region, std::string_view service,
                       std::chrono::system_clock::time_point now);

// For tests: the intermediate strings of the signature, to compare with AWS's examples.
struct SigningDebug {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
};
SigningDebug SignRequestDebug(const SigningRequest& request, const Credentials& credentials,
                              std::string_view region, std::string_view service,
                              std::chrono::system_clock::time_point now);

}  // namespace vecpuff::s3
