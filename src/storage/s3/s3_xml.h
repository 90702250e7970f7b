// The XML documents of the S3 API that the S3 store reads and writes: ListObjectsV2 results,
// multipart upload requests and results, DeleteObjects requests and results. Parsing is
// strict about structure (a document of the wrong shape is an error, never a silent empty
// result) and lenient about elements it does not use.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "storage/object_store.h"

namespace vecpuff::s3 {

// Decodes the percent-encoding of a ListObjectsV2 response sent with encoding-type=url.
// '+' decodes to a space: AWS encodes spaces as '+' (and '+' as %2B), moto as %20; both
// decode correctly this way. InvalidArgument on a malformed escape.
Result<std::string> UrlDecode(std::string_view s);

// Etags are kept as S3 sends them in ETag headers: in double quotes. A bare etag (as some
// servers put in XML) is quoted; a quoted or weak ("W/...") one is returned unchanged. So
// Put, Head, Get and List all return the same string for one version, and If-Match gets
// back exactly what S3 gave out.
std::string NormalizeEtag(std::string_view etag);

// Parses an RFC 3339 / ISO 8601 UTC timestamp ("2024-05-01T12:34:56.000Z") into Unix millis;
// 0 if it cannot be parsed (the value is informational only).
int64_t ParseIso8601Ms(std::string_view s);

// One page of a ListObjectsV2 response (with encoding-type=url: keys and prefixes are
// decoded). Corruption if the document is not a ListBucketResult.
struct ListObjectsV2Page {
  std::vector<ObjectMeta> objects;
  std::vector<std::string> common_prefixes;
  bool is_truncated = false;
  std::string next_continuation_token;
};
Result<ListObjectsV2Page> ParseListObjectsV2(std::string_view xml, bool url_encoded);

// The UploadId of an InitiateMultipartUploadResult. Corruption if missing.
Result<std::string> ParseInitiateMultipartUpload(std::string_view xml);

// The body of CompleteMultipartUpload: the parts, by number (1-based, ascending) and etag.
std::string BuildCompleteMultipartUpload(const std::vector<std::string>& part_etags);

// Result of CompleteMultipartUpload. S3 may answer 200 and still report an error in the
// body (the upload failed while the response was streaming): then is_error is set and
// `error_code` / `error_message` hold it.
struct CompleteMultipartResult {
  bool is_error = false;
  std::string error_code;
  std::string error_message;
  std::string etag;  // normalized (NormalizeEtag)
};
Result<CompleteMultipartResult> ParseCompleteMultipartUpload(std::string_view xml);

// The body of DeleteObjects (POST ?delete) for up to 1000 keys, in quiet mode (only
// failures are reported back).
std::string BuildDeleteObjects(const std::vector<std::string>& keys, size_t begin, size_t end);

// A key that DeleteObjects failed to delete, with S3's error code and message.
struct DeleteError {
  std::string key;
  std::string code;
  std::string message;
};
// The per-key failures of a DeleteObjects result (empty if every key was deleted).
Result<std::vector<DeleteError>> ParseDeleteObjectsErrors(std::string_view xml);

}  // namespace vecpuff::s3
