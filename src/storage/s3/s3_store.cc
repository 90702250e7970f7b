#include "storage/s3/s3_store.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/s3/s3_client.h"
#include "storage/s3/s3_error.h"
#include "storage/s3/s3_xml.h"
#include "storage/store_rules.h"

namespace vecpuff {
namespace {

// S3's limits (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
constexpr size_t kMinPartBytes = size_t{5} << 20;  // all parts but the last
constexpr size_t kMaxPartBytes = size_t{5} << 30;
constexpr size_t kMaxParts = 10000;
constexpr size_t kMaxSinglePutBytes = size_t{5} << 30;
constexpr size_t kMaxKeyBytes = 1024;
constexpr size_t kDeleteBatchKeys = 1000;  // DeleteObjects takes at most 1000 keys
// Attempts per part of a multipart upload. A part is idempotent, and retrying it alone
// saves re-sending the whole object when one part hits a transient error.
constexpr int kPartAttempts = 3;

std::string Quote(std::string_view key) {
  constexpr size_t kMaxShown = 80;
  std::string out = "\"";
  out.append(key.substr(0, kMaxShown));
  if (key.size() > kMaxShown) out += "...";
  out += "\"";
  return out;
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// The object_store.h key rules as S3 has them. NUL cannot be carried in the XML of
// listings and batch deletes, and S3 rejects invalid UTF-8 with an opaque 400.
Status ValidateS3Key(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("invalid key \"\": empty");
  if (key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument("invalid key " + Quote(key) + ": longer than 1024 bytes");
  }
  if (key.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("invalid key " + Quote(key) + ": contains a NUL byte");
  }
  if (!IsValidUtf8(key)) {
    return Status::InvalidArgument("invalid key " + Quote(key) + ": not valid UTF-8");
  }
  return Status::OK();
}

std::string Base64Md5(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  unsigned char out[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "Wed, 01 May 2024 12:34:56 GMT" -> Unix millis; 0 if absent or unparsable.
int64_t HttpDateMs(std::optional<std::string_view> value) {
  if (!value.has_value()) return 0;
  const std::string s(*value);
  const time_t t = curl_getdate(s.c_str(), nullptr);
  return t < 0 ? 0 : static_cast<int64_t>(t) * 1000;
}

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// "bytes 2-5/10" -> first 2, last 5, total 10. False if malformed or the total is "*".
bool ParseContentRange(std::string_view v, uint64_t* first, uint64_t* last, uint64_t* total) {
  if (!v.starts_with("bytes ")) return false;
  v.remove_prefix(6);
  const size_t dash = v.find('-');
  const size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return false;
  }
  return ParseUint(v.substr(0, dash), first) &&
         ParseUint(v.substr(dash + 1, slash - dash - 1), last) &&
         ParseUint(v.substr(slash + 1), total) && *first <= *last && *last < *total;
}

void LogFailure(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
    case StatusCode::kPreconditionFailed:
    case StatusCode::kInvalidArgument:
      spdlog::debug("s3: {}", s.ToString());
      break;
    case StatusCode::kUnavailable:
      spdlog::info("s3: {}", s.ToString());
      break;
    default:
      spdlog::warn("s3: {}", s.ToString());
      break;
  }
}

void AddCondition(const PutOptions& options, s3::HeaderList* headers) {
  if (options.mode == PutMode::kCreateOnly) headers->emplace_back("If-None-Match", "*");
  if (options.mode == PutMode::kIfMatch) headers->emplace_back("If-Match", options.if_match_etag);
}

class S3Store final : public ObjectStore {
 public:
  S3Store(S3StoreOptions options, std::unique_ptr<s3::Client> client)
      : options_(std::move(options)), client_(std::move(client)) {}

  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override {
    return "s3://" + options_.bucket + " (" + client_->endpoint() + ")";
  }

  // One ListObjectsV2 with max-keys=1: does the bucket exist, do the credentials work?
  Status CheckBucket();

 private:
  s3::Request NewRequest(std::string method, std::string_view key) const {
    s3::Request r;
    r.method = std::move(method);
    r.bucket = options_.bucket;
    r.key = std::string(key);
    return r;
  }

  // The Status for an error response (parsing S3's XML error body), logged.
  Status Fail(std::string_view operation, std::string_view key, const s3::Response& response,
              bool conditional_write) const;
  Status FailWithCode(std::string_view operation, std::string_view key, int http_status,
                      s3::ErrorBody body, bool conditional_write) const;

  // Size, etag and time of the object, from the headers of a HEAD or GET response.
  Result<ObjectMeta> MetaFromHeaders(std::string_view key, const s3::Response& response) const;

  Result<ObjectMeta> PutMultipart(std::string_view key, std::string_view data,
                                  const PutOptions& options);
  Result<std::string> UploadPart(std::string_view key, const std::string& upload_id,
                                 size_t part_number, std::string_view body);
  void AbortUpload(std::string_view key, const std::string& upload_id);
  Status DeleteBatch(const std::vector<std::string>& keys, size_t begin, size_t end);

  const S3StoreOptions options_;
  const std::unique_ptr<s3::Client> client_;
};

Status S3Store::Fail(std::string_view operation, std::string_view key, const s3::Response& response,
                     bool conditional_write) const {
  s3::ErrorBody body;
  s3::ParseErrorBody(response.body, &body);
  if (body.request_id.empty()) {
    // HEAD errors carry no body; S3 still names the request in a header.
    if (auto id = response.Header("x-amz-request-id")) body.request_id = std::string(*id);
  }
  return FailWithCode(operation, key, response.http_status, std::move(body), conditional_write);
}

Status S3Store::FailWithCode(std::string_view operation, std::string_view key, int http_status,
                             s3::ErrorBody body, bool conditional_write) const {
  s3::FailedRequest failed;
  failed.operation = operation;
  failed.endpoint = client_->endpoint();
  failed.bucket = options_.bucket;
  failed.key = key;
  failed.conditional_write = conditional_write;
  failed.http_status = http_status;
  failed.body = std::move(body);
  Status s = s3::MapS3Error(failed);
  LogFailure(s);
  return s;
}

Result<ObjectMeta> S3Store::MetaFromHeaders(std::string_view key,
                                            const s3::Response& response) const {
  ObjectMeta meta;
  meta.key = std::string(key);
  const auto etag = response.Header("etag");
  if (!etag.has_value() || etag->empty()) {
    return Status::IOError("s3://" + options_.bucket + "/" + std::string(key) +
                           ": S3 sent no ETag; the store needs etags for conditional writes");
  }
  meta.etag = s3::NormalizeEtag(*etag);
  meta.last_modified_ms = HttpDateMs(response.Header("last-modified"));
  return meta;
}

Status S3Store::CheckBucket() {
  s3::Request req = NewRequest("GET", "");
  req.query = {{"list-type", "2"}, {"max-keys", "1"}};
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(req, "ListObjectsV2"));
  if (resp.http_status != 200) return Fail("ListObjectsV2", "", resp, false);
  return Status::OK();
}

Result<GetResult> S3Store::Get(std::string_view key, std::optional<ByteRange> range) {
  VECPUFF_RETURN_IF_ERROR(ValidateS3Key(key));
  s3::Request req = NewRequest("GET", key);
  if (range.has_value()) {
    if (range->length.has_value() && *range->length == 0) {
      return Status::InvalidArgument("empty byte range");
    }
    std::string spec = "bytes=" + std::to_string(range->offset) + "-";
    // A range whose end lies past 2^63 - 1 means "to the end" (no object is that large,
    // and servers parse the value as a signed 64-bit integer).
    constexpr uint64_t kMaxLast = std::numeric_limits<int64_t>::max();
    if (range->length.has_value() && range->offset <= kMaxLast &&
        *range->length - 1 <= kMaxLast - range->offset) {
      spec += std::to_string(range->offset + *range->length - 1);
    }
    req.headers.emplace_back("Range", std::move(spec));
  }
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(req, "GET"));

  if (resp.http_status == 416 && range.has_value()) {
    // S3 answers 416 to a range that starts past the end, and to every range of an empty
    // object; the contract returns the empty object in the second case.
    VECPUFF_ASSIGN_OR_RETURN(ObjectMeta meta, Head(key));
    if (meta.size_bytes == 0) return GetResult{std::string(), std::move(meta)};
    return Status::InvalidArgument("GET s3://" + options_.bucket + "/" + std::string(key) +
                                   ": range offset " + std::to_string(range->offset) +
                                   " is at or past the end of a " +
                                   std::to_string(meta.size_bytes) + "-byte object");
  }
  if (resp.http_status != 200 && resp.http_status != 206) return Fail("GET", key, resp, false);

  VECPUFF_ASSIGN_OR_RETURN(ObjectMeta meta, MetaFromHeaders(key, resp));
  GetResult result;
  if (resp.http_status == 206) {
    uint64_t first = 0, last = 0, total = 0;
    const auto content_range = resp.Header("content-range");
    if (!content_range.has_value() || !ParseContentRange(*content_range, &first, &last, &total) ||
        first != (range.has_value() ? range->offset : 0) || resp.body.size() != last - first + 1) {
      return Status::Unavailable("GET s3://" + options_.bucket + "/" + std::string(key) +
                                 ": partial response does not match the range asked for (" +
                                 std::string(content_range.value_or("no Content-Range")) + ", " +
                                 std::to_string(resp.body.size()) + " bytes)");
    }
    meta.size_bytes = total;
    result.data = std::move(resp.body);
  } else {
    // 200: the whole object, also when a server ignored the Range header; cut it here.
    meta.size_bytes = resp.body.size();
    uint64_t begin = 0, length = 0;
    VECPUFF_RETURN_IF_ERROR(
        storage_internal::ResolveRange(range, meta.size_bytes, &begin, &length));
    if (begin == 0 && length == resp.body.size()) {
      result.data = std::move(resp.body);
    } else {
      result.data = resp.body.substr(begin, length);
    }
  }
  result.meta = std::move(meta);
  return result;
}

Result<ObjectMeta> S3Store::Head(std::string_view key) {
  VECPUFF_RETURN_IF_ERROR(ValidateS3Key(key));
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(NewRequest("HEAD", key), "HEAD"));
  if (resp.http_status != 200) return Fail("HEAD", key, resp, false);
  VECPUFF_ASSIGN_OR_RETURN(ObjectMeta meta, MetaFromHeaders(key, resp));
  const auto length = resp.Header("content-length");
  if (!length.has_value() || !ParseUint(*length, &meta.size_bytes)) {
    return Status::IOError("HEAD s3://" + options_.bucket + "/" + std::string(key) +
                           ": S3 sent no valid Content-Length");
  }
  return meta;
}

Result<ObjectMeta> S3Store::Put(std::string_view key, std::string_view data,
                                const PutOptions& options) {
  VECPUFF_RETURN_IF_ERROR(ValidateS3Key(key));
  if (options.mode == PutMode::kIfMatch && options.if_match_etag.empty()) {
    return Status::InvalidArgument("Put " + Quote(key) + ": kIfMatch without an etag");
  }
  if (data.size() > options_.multipart_threshold_bytes) return PutMultipart(key, data, options);

  s3::Request req = NewRequest("PUT", key);
  req.body = data;
  AddCondition(options, &req.headers);
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(req, "PUT"));
  if (resp.http_status != 200) {
    return Fail("PUT", key, resp, options.mode != PutMode::kOverwrite);
  }
  VECPUFF_ASSIGN_OR_RETURN(ObjectMeta meta, MetaFromHeaders(key, resp));
  meta.size_bytes = data.size();
  if (meta.last_modified_ms == 0) meta.last_modified_ms = NowMs();
  return meta;
}

Result<ObjectMeta> S3Store::PutMultipart(std::string_view key, std::string_view data,
                                         const PutOptions& options) {
  const size_t part_bytes = options_.multipart_part_bytes;
  const size_t parts = (data.size() + part_bytes - 1) / part_bytes;
  if (parts > kMaxParts) {
    return Status::InvalidArgument("Put " + Quote(key) + ": " + std::to_string(data.size()) +
                                   " bytes need " + std::to_string(parts) +
                                   " parts of multipart_part_bytes; S3 allows 10000");
  }
  const bool conditional = options.mode != PutMode::kOverwrite;

  // Fail fast, before uploading anything, if the condition fails already. This check is
  // not atomic; the one that counts is made by CompleteMultipartUpload, which carries the
  // same condition.
  if (conditional) {
    Result<ObjectMeta> current = Head(key);
    if (options.mode == PutMode::kCreateOnly) {
      if (current.ok()) {
        return Status::PreconditionFailed("Put s3://" + options_.bucket + "/" + std::string(key) +
                                          ": create-only, but it exists");
      }
      if (!current.status().IsNotFound()) return current.status();
    } else {
      if (!current.ok()) return current.status();
      if (current->etag != s3::NormalizeEtag(options.if_match_etag)) {
        return Status::PreconditionFailed("Put s3://" + options_.bucket + "/" + std::string(key) +
                                          ": etag is " + current->etag + ", not " +
                                          options.if_match_etag);
      }
    }
  }

  s3::Request create = NewRequest("POST", key);
  create.query = {{"uploads", ""}};
  VECPUFF_ASSIGN_OR_RETURN(s3::Response created, client_->Send(create, "CreateMultipartUpload"));
  if (created.http_status != 200) return Fail("CreateMultipartUpload", key, created, false);
  VECPUFF_ASSIGN_OR_RETURN(const std::string upload_id,
                           s3::ParseInitiateMultipartUpload(created.body));

  // Upload the parts, up to multipart_concurrency at once; workers claim part numbers and
  // stop claiming after the first failure. Each slot of `etags` is written by one worker.
  std::vector<std::string> etags(parts);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status first_error;  // guarded by error_mu
  auto work = [&] {
    for (size_t i = next++; i < parts && !failed.load(); i = next++) {
      Result<std::string> etag =
          UploadPart(key, upload_id, i + 1, data.substr(i * part_bytes, part_bytes));
      if (etag.ok()) {
        etags[i] = std::move(etag).value();
        continue;
      }
      std::lock_guard<std::mutex> lock(error_mu);
      if (first_error.ok()) first_error = etag.status();
      failed = true;
    }
  };
  const size_t workers =
      std::min(parts, static_cast<size_t>(std::max(1, options_.multipart_concurrency)));
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (failed) {
    AbortUpload(key, upload_id);
    return first_error;
  }

  if (options_.before_complete_multipart_for_testing) {
    options_.before_complete_multipart_for_testing(key);
  }
  s3::Request complete = NewRequest("POST", key);
  complete.query = {{"uploadId", upload_id}};
  complete.headers.emplace_back("Content-Type", "application/xml");
  AddCondition(options, &complete.headers);
  const std::string body = s3::BuildCompleteMultipartUpload(etags);
  complete.body = body;
  Result<s3::Response> done = client_->Send(complete, "CompleteMultipartUpload");
  if (!done.ok()) {
    AbortUpload(key, upload_id);
    return done.status();
  }
  if (done->http_status != 200) {
    Status s = Fail("CompleteMultipartUpload", key, *done, conditional);
    AbortUpload(key, upload_id);
    return s;
  }
  // A 200 may still carry an error: S3 reports failures that happen after it has started
  // to answer in the body.
  Result<s3::CompleteMultipartResult> result = s3::ParseCompleteMultipartUpload(done->body);
  if (!result.ok()) {
    AbortUpload(key, upload_id);
    return Status::Unavailable(
        "CompleteMultipartUpload s3://" + options_.bucket + "/" + std::string(key) +
        ": unreadable response, outcome unknown: " + result.status().message());
  }
  if (result->is_error) {
    Status s =
        FailWithCode("CompleteMultipartUpload", key, 200,
                     s3::ErrorBody{result->error_code, result->error_message, "", ""}, conditional);
    AbortUpload(key, upload_id);
    return s;
  }
  ObjectMeta meta;
  meta.key = std::string(key);
  meta.size_bytes = data.size();
  meta.etag = result->etag;
  meta.last_modified_ms = NowMs();
  if (meta.etag.empty()) {
    // Not every server puts the etag in the result document; the object is complete, so
    // its current etag is ours unless someone overwrote it since.
    VECPUFF_ASSIGN_OR_RETURN(ObjectMeta head, Head(key));
    meta.etag = head.etag;
  }
  return meta;
}

Result<std::string> S3Store::UploadPart(std::string_view key, const std::string& upload_id,
                                        size_t part_number, std::string_view body) {
  s3::Request req = NewRequest("PUT", key);
  req.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
  req.body = body;
  Status status;
  for (int attempt = 1; attempt <= kPartAttempts; ++attempt) {
    if (attempt > 1) std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
    Result<s3::Response> resp = client_->Send(req, "UploadPart");
    if (resp.ok() && resp->http_status == 200) {
      const auto etag = resp->Header("etag");
      if (!etag.has_value() || etag->empty()) {
        return Status::IOError("UploadPart s3://" + options_.bucket + "/" + std::string(key) +
                               ": S3 sent no ETag for part " + std::to_string(part_number));
      }
      return std::string(*etag);
    }
    status = resp.ok() ? Fail("UploadPart", key, *resp, false) : resp.status();
    if (!status.IsUnavailable()) break;
  }
  return status;
}

void S3Store::AbortUpload(std::string_view key, const std::string& upload_id) {
  s3::Request req = NewRequest("DELETE", key);
  req.query = {{"uploadId", upload_id}};
  Result<s3::Response> resp = client_->Send(req, "AbortMultipartUpload");
  if (!resp.ok() || (resp->http_status != 204 && resp->http_status != 200)) {
    // Harmless but for storage costs: the parts stay until a lifecycle rule
    // (AbortIncompleteMultipartUpload) removes them.
    spdlog::warn(
        "s3: could not abort multipart upload {} of s3://{}/{}: {}", upload_id, options_.bucket,
        key, resp.ok() ? "HTTP " + std::to_string(resp->http_status) : resp.status().ToString());
  }
}

Result<ListPage> S3Store::List(const ListOptions& options) {
  storage_internal::ListBound bound;
  int max_keys = 0;
  VECPUFF_RETURN_IF_ERROR(storage_internal::PrepareList(options, &bound, &max_keys));
  s3::Request req = NewRequest("GET", "");
  // encoding-type=url: keys in the XML are percent-encoded, so keys with characters that
  // XML 1.0 cannot carry still list correctly.
  req.query = {
      {"list-type", "2"}, {"encoding-type", "url"}, {"max-keys", std::to_string(max_keys)}};
  if (!options.prefix.empty()) req.query.emplace_back("prefix", options.prefix);
  if (!options.delimiter.empty()) req.query.emplace_back("delimiter", options.delimiter);
  if (!options.start_after.empty()) req.query.emplace_back("start-after", options.start_after);
  if (!options.continuation_token.empty()) {
    req.query.emplace_back("continuation-token", options.continuation_token);
  }
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(req, "ListObjectsV2"));
  if (resp.http_status != 200) return Fail("ListObjectsV2", options.prefix, resp, false);
  VECPUFF_ASSIGN_OR_RETURN(s3::ListObjectsV2Page parsed,
                           s3::ParseListObjectsV2(resp.body, /*url_encoded=*/true));
  ListPage page;
  page.objects = std::move(parsed.objects);
  page.common_prefixes = std::move(parsed.common_prefixes);
  if (parsed.is_truncated) page.next_continuation_token = std::move(parsed.next_continuation_token);
  return page;
}

Status S3Store::Delete(std::string_view key) {
  VECPUFF_RETURN_IF_ERROR(ValidateS3Key(key));
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(NewRequest("DELETE", key), "DELETE"));
  if (resp.http_status == 204 || resp.http_status == 200) return Status::OK();
  Status s = Fail("DELETE", key, resp, false);
  // Deleting an absent key is OK (S3 itself answers 204; some compatible servers 404).
  if (s.IsNotFound()) {
    s3::ErrorBody body;
    s3::ParseErrorBody(resp.body, &body);
    if (body.code != "NoSuchBucket") return Status::OK();
  }
  return s;
}

Status S3Store::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) VECPUFF_RETURN_IF_ERROR(ValidateS3Key(key));
  for (size_t begin = 0; begin < keys.size(); begin += kDeleteBatchKeys) {
    VECPUFF_RETURN_IF_ERROR(
        DeleteBatch(keys, begin, std::min(keys.size(), begin + kDeleteBatchKeys)));
  }
  return Status::OK();
}

Status S3Store::DeleteBatch(const std::vector<std::string>& keys, size_t begin, size_t end) {
  const std::string body = s3::BuildDeleteObjects(keys, begin, end);
  s3::Request req = NewRequest("POST", "");
  req.query = {{"delete", ""}};
  req.headers.emplace_back("Content-Type", "application/xml");
  req.headers.emplace_back("Content-MD5", Base64Md5(body));
  req.body = body;
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client_->Send(req, "DeleteObjects"));
  if (resp.http_status != 200) return Fail("DeleteObjects", "", resp, false);
  VECPUFF_ASSIGN_OR_RETURN(std::vector<s3::DeleteError> errors,
                           s3::ParseDeleteObjectsErrors(resp.body));
  std::erase_if(errors, [](const s3::DeleteError& e) { return e.code == "NoSuchKey"; });
  if (errors.empty()) return Status::OK();
  // The status class is that of the first failure (SlowDown/InternalError: retry the
  // batch; AccessDenied: credentials); the message lists the first few keys.
  std::string detail =
      std::to_string(errors.size()) + " of " + std::to_string(end - begin) + " keys not deleted:";
  for (size_t i = 0; i < errors.size() && i < 5; ++i) {
    detail += " " + Quote(errors[i].key) + " (" + errors[i].code + ": " + errors[i].message + ")";
  }
  if (errors.size() > 5) detail += " ...";
  return FailWithCode("DeleteObjects", "", 200, s3::ErrorBody{errors[0].code, detail, "", ""},
                      false);
}

Status ValidateOptions(const S3StoreOptions& o) {
  if (o.bucket.empty()) return Status::InvalidArgument("S3 bucket is not configured");
  if (o.bucket.find('/') != std::string::npos) {
    return Status::InvalidArgument("S3 bucket name '" + o.bucket + "' must not contain '/'");
  }
  if (o.endpoint.empty() && o.region == "auto") {
    return Status::InvalidArgument(
        "S3 region \"auto\" (R2, Tigris) needs an explicit endpoint; AWS has no such region");
  }
  if (o.credentials.access_key_id.empty() || o.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument(
        "S3 credentials are missing: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  }
  if (o.multipart_part_bytes < kMinPartBytes || o.multipart_part_bytes > kMaxPartBytes) {
    return Status::InvalidArgument("S3 multipart_part_bytes must be between 5 MiB and 5 GiB, got " +
                                   std::to_string(o.multipart_part_bytes));
  }
  if (o.multipart_threshold_bytes == 0 || o.multipart_threshold_bytes > kMaxSinglePutBytes) {
    return Status::InvalidArgument(
        "S3 multipart_threshold_bytes must be between 1 byte and 5 GiB, got " +
        std::to_string(o.multipart_threshold_bytes));
  }
  if (o.multipart_concurrency < 1) {
    return Status::InvalidArgument("S3 multipart_concurrency must be at least 1");
  }
  return Status::OK();
}

Result<std::unique_ptr<s3::Client>> NewClient(const S3StoreOptions& o) {
  s3::ClientOptions c;
  c.endpoint = o.endpoint.empty() ? "https://s3." + o.region + ".amazonaws.com" : o.endpoint;
  c.region = o.region;
  c.force_path_style = o.force_path_style;
  c.credentials = o.credentials;
  c.connect_timeout_ms = o.connect_timeout_ms;
  c.request_timeout_ms = o.request_timeout_ms;
  c.max_connections = o.max_connections;
  return s3::Client::Create(c);
}

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenS3Store(const S3StoreOptions& options) {
  VECPUFF_RETURN_IF_ERROR(ValidateOptions(options));
  VECPUFF_ASSIGN_OR_RETURN(std::unique_ptr<s3::Client> client, NewClient(options));
  auto store = std::make_unique<S3Store>(options, std::move(client));
  Status s = store->CheckBucket();
  if (!s.ok()) return s.WithContext("cannot open S3 store " + store->Describe());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

Status CreateS3Bucket(const S3StoreOptions& options) {
  VECPUFF_RETURN_IF_ERROR(ValidateOptions(options));
  VECPUFF_ASSIGN_OR_RETURN(std::unique_ptr<s3::Client> client, NewClient(options));
  s3::Request req;
  req.method = "PUT";
  req.bucket = options.bucket;
  std::string body;
  if (options.region != "us-east-1") {
    // Outside us-east-1, S3 wants the region in the body.
    body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        options.region + "</LocationConstraint></CreateBucketConfiguration>";
    req.headers.emplace_back("Content-Type", "application/xml");
  }
  req.body = body;
  VECPUFF_ASSIGN_OR_RETURN(s3::Response resp, client->Send(req, "CreateBucket"));
  if (resp.http_status == 200) return Status::OK();
  s3::ErrorBody error;
  s3::ParseErrorBody(resp.body, &error);
  if (error.code == "BucketAlreadyOwnedByYou") return Status::OK();
  s3::FailedRequest failed;
  failed.operation = "CreateBucket";
  failed.endpoint = client->endpoint();
  failed.bucket = options.bucket;
  failed.http_status = resp.http_status;
  failed.body = std::move(error);
  return s3::MapS3Error(failed);
}

}  // namespace vecpuff
