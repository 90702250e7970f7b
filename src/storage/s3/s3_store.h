// S3Store: the ObjectStore of storage/object_store.h on an S3-compatible bucket (AWS S3,
// MinIO, Cloudflare R2, Tigris, moto for tests), with the contract's semantics:
//  - Get/Head/Put/Delete map to GetObject (Range for byte ranges), HeadObject, PutObject
//    and DeleteObject; List to ListObjectsV2 (with encoding-type=url); DeleteMany to
//    DeleteObjects in batches of 1000 keys.
//  - Put kCreateOnly sends If-None-Match: *, kIfMatch sends If-Match: <etag>. The store
//    therefore needs a server with conditional writes (AWS since 2024; see docs/s3.md).
//  - Objects larger than multipart_threshold_bytes are uploaded in parts (concurrently,
//    each part retried on transient errors) and the condition is sent with
//    CompleteMultipartUpload, which is when the object appears atomically. A failed upload
//    is aborted.
//  - Etags are S3's, in double quotes, identical across Put, Get, Head and List.
//  - Keys: non-empty, at most 1024 bytes, valid UTF-8 without NUL (S3's own rules); the
//    stricter local-store rules (storage/store_rules.h) do not apply.
// Failures are mapped once, in s3_error.h. Nothing here retries a whole request: wrap the
// store in RetryingStore (storage/retrying_store.h) for that.
//
// Thread safety: safe for concurrent use by many threads; up to max_connections requests
// are in flight at once. Atomicity between processes is the server's (S3 conditional
// writes are linearizable per key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/object_store.h"
#include "storage/s3/sigv4.h"

namespace vecpuff {

struct S3StoreOptions {
  // --- Where ---

  // "http://127.0.0.1:5000", "https://s3.us-east-1.amazonaws.com",
  // "https://<account>.r2.cloudflarestorage.com". Default "": AWS's endpoint for `region`,
  // https://s3.<region>.amazonaws.com. No path; a trailing '/' is allowed.
  std::string endpoint;

  // The region requests are signed for. Default "us-east-1". R2 uses "auto".
  std::string region = "us-east-1";

  // The bucket; it must exist (OpenS3Store checks). Required.
  std::string bucket;

  // Address the bucket as endpoint/bucket/key (path style) instead of bucket.endpoint/key
  // (virtual-hosted). Default false. Path style is used anyway for endpoints given as an IP
  // address or "localhost" and for bucket names that cannot be a host name label. MinIO
  // and other self-hosted servers usually need true.
  bool force_path_style = false;

  // --- Who ---

  // Access key id and secret (and a session token for temporary credentials). Required.
  // The store never reads the environment: the server fills these from AWS_ACCESS_KEY_ID,
  // AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. Never logged.
  s3::Credentials credentials;

  // --- Performance ---

  // Objects larger than this are uploaded with a multipart upload, in parts of
  // multipart_part_bytes. Defaults 64 MiB and 16 MiB. Parts must be at least 5 MiB (S3's
  // minimum for all but the last part) and an upload has at most 10000 parts, so the
  // largest object is 10000 * multipart_part_bytes. Smaller parts cost more requests;
  // larger ones retry more bytes when a part fails.
  size_t multipart_threshold_bytes = size_t{64} << 20;
  size_t multipart_part_bytes = size_t{16} << 20;

  // Parts of one upload in flight at once. Default 4. More is faster on a fast link, at
  // the cost of memory-free but connection-hungry parallelism (each takes a connection).
  int multipart_concurrency = 4;

  // Time to connect (TCP and TLS), and for a whole request (one part of a multipart
  // upload counts as a request), in milliseconds. Defaults 5000 and 60000. A short request
  // timeout turns a stalled connection into a retry sooner, but must leave time to upload
  // the largest single-request object (multipart_threshold_bytes) on a slow link.
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 60000;

  // Most requests in flight at once (and connections kept open for reuse). Default 64.
  // Callers beyond this wait for a free connection.
  int max_connections = 64;

  // --- Testing ---

  // Called with the key after the parts of a multipart upload are uploaded and just
  // before CompleteMultipartUpload, so that a test can change the object in between and
  // check that the condition is enforced when the upload completes. Default: none.
  std::function<void(std::string_view key)> before_complete_multipart_for_testing;
};

// Opens the store and checks that the bucket exists and the credentials work, with one
// ListObjectsV2 request (max-keys=1; needs s3:ListBucket). Fails with:
//   InvalidArgument  bad options (no bucket, no credentials, malformed endpoint, part size
//                    under 5 MiB, ...), naming the option
//   NotFound         the bucket does not exist (the message says so, naming it)
//   Unauthenticated  S3 rejected the credentials or the signature (naming S3's error code:
//                    InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, ...)
//   Unavailable      the endpoint cannot be reached (the message names it)
//   IOError          anything else S3 answered (with the HTTP status and S3's code)
// The caller owns the returned store.
Result<std::unique_ptr<ObjectStore>> OpenS3Store(const S3StoreOptions& options);

// Creates `options.bucket` (in `options.region`); OK if it exists and is ours already. For
// tests and tools (the server never creates buckets). Errors as for OpenS3Store.
Status CreateS3Bucket(const S3StoreOptions& options);

}  // namespace vecpuff
