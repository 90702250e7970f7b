// S3 HTTP client: sends signed S3 REST requests over libcurl and returns the raw responses.
//
// It knows addressing (virtual-hosted "bucket.host/key" or path-style "host/bucket/key"),
// SigV4 signing (sigv4.h: the URL is built from the same CanonicalUri() and
// CanonicalQueryString() that are signed, so what is sent is exactly what was signed),
// timeouts, and a pool of libcurl easy handles, each keeping its connection alive between
// requests. It knows nothing of objects' semantics: s3_store.h turns responses into
// ObjectStore results, and s3_error.h maps failures to Status.
//
// Thread safety: a Client is safe for concurrent use. Up to `max_connections` requests run
// at once (each on its own handle and connection); further callers wait for a free handle.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/s3/sigv4.h"

namespace vecpuff::s3 {

struct ClientOptions {
  // "http://host[:port]" or "https://host[:port]", no path (a trailing '/' is allowed).
  std::string endpoint;
  // The region requests are signed for ("us-east-1"; "auto" for R2).
  std::string region = "us-east-1";
  // Always address buckets path-style (host/bucket/key). Path-style is also used when the
  // endpoint's host is an IP address or "localhost", and for bucket names that cannot be a
  // DNS label (upper case, '_', or '.' over https, where the TLS certificate would not match).
  bool force_path_style = false;
  Credentials credentials;
  // Time to establish a connection (TCP + TLS), and for a whole request, in milliseconds.
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 60000;
  // Most requests in flight (and connections kept open) at once. At least 1.
  int max_connections = 64;
};

struct Request {
  std::string method;  // "GET", "HEAD", "PUT", "POST", "DELETE"
  std::string bucket;  // REQUIRES: non-empty
  std::string key;     // raw (not encoded); empty for a bucket-level request
  // Query parameters, not encoded; a parameter without a value ("uploads") has "".
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign and send ("Range", "If-Match", "Content-MD5", "Content-Type", ...).
  // Host, Authorization and x-amz-* signing headers are added by the client.
  HeaderList headers;
  // The request body (PUT and POST), not owned: it must stay alive until Send returns.
  std::string_view body;
};

struct Response {
  int http_status = 0;
  HeaderList headers;  // names lower-cased, values trimmed; of the final response only
  std::string body;

  // The value of the first header named `lower_name`, or nullopt.
  std::optional<std::string_view> Header(std::string_view lower_name) const;
};

// Where a request goes: the URL as sent and the Host header, both as signed.
struct Address {
  std::string url;       // "http://127.0.0.1:5000/bucket/a%20b"
  std::string host;      // "127.0.0.1:5000" or "bucket.s3.us-east-1.amazonaws.com"
  std::string raw_path;  // "/bucket/a b" (unencoded, as passed to the signer)
};

class Client {
 public:
  // Validates the options (InvalidArgument naming the problem: bad endpoint URL, scheme,
  // max_connections < 1, non-positive timeouts). Initializes libcurl once per process. No
  // network traffic. The caller owns the client.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends the request and returns the response, whatever its HTTP status (errors included;
  // see s3_error.h to map them). Fails only when no complete response arrived: then the
  // transport error is mapped by MapS3Error (Unavailable for timeouts, refused or reset
  // connections, with the endpoint in the message). `operation` names the request in error
  // messages ("GET", "ListObjectsV2", ...). Blocks while all handles are in use.
  Result<Response> Send(const Request& request, std::string_view operation);

  // The URL and Host header of a request. Pure; exposed for tests.
  Address AddressOf(const Request& request) const;

  // True if requests for `bucket` use path-style addressing.
  bool UsesPathStyle(std::string_view bucket) const;

  // The endpoint as configured, without a trailing '/': "http://127.0.0.1:5000".
  const std::string& endpoint() const { return endpoint_; }
  const ClientOptions& options() const { return options_; }

 private:
  class HandlePool;
  Client(ClientOptions options, std::string endpoint, std::string scheme, std::string authority,
         bool host_is_ip_or_localhost);

  const ClientOptions options_;
  const std::string endpoint_;   // scheme://authority
  const std::string scheme_;     // "http" or "https"
  const std::string authority_;  // "host[:port]" as the Host header carries it
  const bool host_is_ip_or_localhost_;
  std::unique_ptr<HandlePool> pool_;
};

}  // namespace vecpuff::s3
