// ObjectStore: the seam between VecPuff and object storage (S3 or a local directory).
//
// VecPuff's only durable state lives behind this interface. Its semantics are those of S3
// with conditional writes, and every implementation must provide exactly them:
//  - Objects are immutable byte strings addressed by key; a Put replaces the whole object
//    atomically: a reader sees the old object or the new one, never a mix or a prefix.
//  - Every object version has an etag, an opaque string that changes whenever the object is
//    replaced with different bytes (S3's may repeat for identical bytes). Etags are
//    compared only for equality.
//  - Put in mode kCreateOnly (S3 `If-None-Match: *`) succeeds only if the key is absent; of
//    several concurrent creators exactly one wins, the others get PreconditionFailed.
//  - Put in mode kIfMatch (S3 `If-Match: <etag>`) replaces the object only if its current
//    etag equals `if_match_etag`: PreconditionFailed if it differs, NotFound if the key is
//    absent. This is the compare-and-swap that manifests are updated with.
//  - A successful Put is durable: the bytes survive a crash of the process and the machine.
//  - List is strongly consistent: an object whose Put returned before List was called is
//    listed. Keys are listed in ascending byte order.
//
// Keys are non-empty UTF-8 strings of at most 1024 bytes. Keys are '/'-separated paths;
// implementations may reject keys with empty, "." or ".." segments (InvalidArgument); the
// local and memory stores apply the rules in storage/store_rules.h.
//
// Errors (one meaning each, whatever the backend):
//  NotFound            the key does not exist (Get, Head, Put kIfMatch)
//  PreconditionFailed  a conditional Put lost
//  InvalidArgument     bad key or range
//  Unavailable         transient; the caller may retry (throttling, timeouts, 5xx). On a
//                      Put the outcome is unknown: the write may have happened.
//  IOError / Corruption  anything else
//
// Thread safety: implementations are safe for concurrent use by many threads, and the
// local-directory store also across processes sharing the directory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

struct ObjectMeta {
  std::string key;
  uint64_t size_bytes = 0;       // size of the whole object
  std::string etag;              // opaque version tag
  int64_t last_modified_ms = 0;  // Unix millis; informational only
};

// A byte range of an object: `length` bytes from `offset` (to the end if nullopt). A range
// that starts at or past the end of a non-empty object is InvalidArgument; a range that
// runs past the end is cut at the end (as S3 does).
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

struct GetResult {
  std::string data;  // the requested bytes (the whole object, or the range)
  ObjectMeta meta;   // meta.size_bytes is the size of the whole object
};

enum class PutMode {
  kOverwrite,   // unconditional
  kCreateOnly,  // If-None-Match: *
  kIfMatch,     // If-Match: if_match_etag
};

struct PutOptions {
  PutMode mode = PutMode::kOverwrite;
  std::string if_match_etag;  // REQUIRES: non-empty when mode == kIfMatch
};

struct ListOptions {
  std::string prefix;       // only keys that start with this
  std::string start_after;  // only keys strictly greater than this
  // With a non-empty delimiter, keys that contain it after the prefix are rolled up into
  // common_prefixes (prefix + everything up to and including the first delimiter), as S3
  // does. Only "/" need be supported.
  std::string delimiter;
  std::string continuation_token;  // from a previous page's next_continuation_token
  int max_keys = 1000;             // upper bound on objects + common prefixes per page
};

struct ListPage {
  std::vector<ObjectMeta> objects;           // ascending by key
  std::vector<std::string> common_prefixes;  // ascending
  std::string next_continuation_token;       // empty when this is the last page
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Reads the object (or a range of it). NotFound if absent.
  virtual Result<GetResult> Get(std::string_view key,
                                std::optional<ByteRange> range = std::nullopt) = 0;

  // Writes the whole object, durably, under the given condition; returns the new version's
  // metadata (with its etag).
  virtual Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                                 const PutOptions& options = {}) = 0;

  // Metadata of the current version. NotFound if absent.
  virtual Result<ObjectMeta> Head(std::string_view key) = 0;

  // One page of keys. Pass the returned next_continuation_token to get the next page.
  virtual Result<ListPage> List(const ListOptions& options) = 0;

  // Deletes the object. Deleting an absent key is OK (as in S3).
  virtual Status Delete(std::string_view key) = 0;

  // Deletes several objects; absent keys are OK. The default calls Delete for each; S3
  // overrides it with batch DeleteObjects (1000 keys a request). On error some keys may
  // have been deleted.
  virtual Status DeleteMany(const std::vector<std::string>& keys);

  // A hint: the caller will not read (key, range) again, though the object may remain. A
  // cache in front of the store may drop its copy; the stored object is never touched.
  // The default does nothing.
  virtual void Forget(std::string_view key, std::optional<ByteRange> range) {
    (void)key;
    (void)range;
  }

  // A short human-readable description for logs, e.g. "local:/var/lib/vecpuff".
  virtual std::string Describe() const = 0;
};

// Lists every key under `prefix` (all pages), ascending. Convenience for tests and tools;
// the engine pages explicitly where a namespace may be large.
Result<std::vector<ObjectMeta>> ListAll(ObjectStore* store, std::string_view prefix,
                                        std::string_view start_after = {});

// Reads several whole objects concurrently, with at most `max_concurrency` requests in
// flight; results are in the order of `keys`, each its own Result (NotFound for an absent
// key). Used where a query or a replay needs many objects: the cost is one round trip per
// max_concurrency objects instead of one per object.
std::vector<Result<GetResult>> ParallelGet(ObjectStore* store, const std::vector<std::string>& keys,
                                           size_t max_concurrency = 16);

// One read of ParallelGetRanges: a whole object or a byte range of it.
struct GetRequest {
  std::string key;
  std::optional<ByteRange> range;
};
std::vector<Result<GetResult>> ParallelGetRanges(ObjectStore* store,
                                                 const std::vector<GetRequest>& requests,
                                                 size_t max_concurrency = 16);

// Forwards every call to a target store it does not own. Decorators (retry, fault and
// latency injection, request counting) derive from it and override what they change, as
// leveldb's EnvWrapper does.
class ObjectStoreWrapper : public ObjectStore {
 public:
  explicit ObjectStoreWrapper(ObjectStore* target) : target_(target) {}

  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override {
    return target_->Get(key, range);
  }
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override {
    return target_->Put(key, data, options);
  }
  Result<ObjectMeta> Head(std::string_view key) override { return target_->Head(key); }
  Result<ListPage> List(const ListOptions& options) override { return target_->List(options); }
  Status Delete(std::string_view key) override { return target_->Delete(key); }
  Status DeleteMany(const std::vector<std::string>& keys) override {
    return target_->DeleteMany(keys);
  }
  void Forget(std::string_view key, std::optional<ByteRange> range) override {
    target_->Forget(key, range);
  }
  std::string Describe() const override { return target_->Describe(); }

  ObjectStore* target() const { return target_; }

 private:
  ObjectStore* target_;
};

}  // namespace vecpuff
