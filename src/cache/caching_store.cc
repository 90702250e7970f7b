// CachingStore: read-through, write-through caching of immutable objects.
//
// Cache keys and cached values below are stored in the disk cache, so both are on-disk
// formats: never change them. (A change that cannot be avoided needs new prefixes or a new
// envelope version, so old entries become misses instead of being misread.)
//
// Cache key: a prefix-free range tag followed by the object key, so that no two
// (key, range) pairs share a cache key whatever bytes the object key holds:
//   "w:" + key                        the whole object
//   "r<offset>-<length>:" + key       a range, decimal; <length> is "*" for "to the end"
//
// Cached value (the envelope), little-endian:
//   u8      kEnvelopeVersion
//   u64     object size in bytes (the whole object, ObjectMeta::size_bytes)
//   u64     last_modified_ms (int64 bits)
//   u32 n, n bytes   etag
//   rest    the bytes returned (the whole object or the range)
#include "cache/caching_store.h"

#include <spdlog/spdlog.h>

#include <memory>
#include <utility>

#include "common/coding.h"

namespace vecpuff {

namespace {

constexpr uint8_t kEnvelopeVersion = 1;  // never change; see above

std::string CacheKey(std::string_view key, const std::optional<ByteRange>& range) {
  std::string out;
  if (!range.has_value()) {
    out = "w:";
  } else {
    out = "r" + std::to_string(range->offset) + "-" +
          (range->length.has_value() ? std::to_string(*range->length) : std::string("*")) + ":";
  }
  out.append(key);
  return out;
}

std::string EncodeEnvelope(const ObjectMeta& meta, std::string_view data) {
  std::string out;
  out.reserve(1 + 8 + 8 + 4 + meta.etag.size() + data.size());
  out.push_back(static_cast<char>(kEnvelopeVersion));
  PutFixed64(&out, meta.size_bytes);
  PutFixed64(&out, static_cast<uint64_t>(meta.last_modified_ms));
  PutLengthPrefixed(&out, meta.etag);
  out.append(data);
  return out;
}

// Rebuilds the GetResult a cached envelope stands for. The disk cache has verified the
// bytes, so a failure here means a format mismatch or a bug; the caller treats it as a miss.
Status DecodeEnvelope(std::string_view envelope, std::string_view key,
                      const std::optional<ByteRange>& range, GetResult* out) {
  Decoder d(envelope);
  uint8_t version;
  VECPUFF_RETURN_IF_ERROR(d.ReadU8(&version, "cache envelope version"));
  if (version != kEnvelopeVersion) {
    return Status::Corruption("unknown cache envelope version " + std::to_string(version));
  }
  uint64_t size_bytes;
  uint64_t last_modified;
  std::string_view etag;
  std::string_view data;
  VECPUFF_RETURN_IF_ERROR(d.ReadU64(&size_bytes, "object size"));
  VECPUFF_RETURN_IF_ERROR(d.ReadU64(&last_modified, "last modified"));
  VECPUFF_RETURN_IF_ERROR(d.ReadLengthPrefixed(&etag, "etag"));
  VECPUFF_RETURN_IF_ERROR(d.ReadBytes(d.remaining(), &data, "data"));
  const bool size_ok = range.has_value() ? data.size() <= size_bytes : data.size() == size_bytes;
  if (!size_ok) return Status::Corruption("cached data does not match the object size");
  out->data.assign(data);
  out->meta.key.assign(key);
  out->meta.size_bytes = size_bytes;
  out->meta.etag.assign(etag);
  out->meta.last_modified_ms = static_cast<int64_t>(last_modified);
  return Status::OK();
}

}  // namespace

CachingStore::CachingStore(ObjectStore* target, CachingStoreOptions options)
    : ObjectStoreWrapper(target), options_(std::move(options)) {}

bool CachingStore::Cacheable(std::string_view key) const {
  return (options_.disk != nullptr || options_.memory != nullptr) && options_.is_immutable &&
         options_.is_immutable(key);
}

void CachingStore::Fill(const std::string& cache_key, const ObjectMeta& meta,
                        std::string_view data) {
  auto envelope = std::make_shared<const std::string>(EncodeEnvelope(meta, data));
  if (options_.disk != nullptr) options_.disk->Put(cache_key, *envelope);
  if (options_.memory != nullptr) options_.memory->Put(cache_key, std::move(envelope));
}

Result<GetResult> CachingStore::Get(std::string_view key, std::optional<ByteRange> range) {
  if (!Cacheable(key)) return target()->Get(key, range);
  const std::string cache_key = CacheKey(key, range);

  if (options_.memory != nullptr) {
    if (std::shared_ptr<const std::string> v = options_.memory->Get(cache_key)) {
      GetResult r;
      const Status s = DecodeEnvelope(*v, key, range, &r);
      if (s.ok()) return r;
      spdlog::warn("caching store: ignoring memory cache entry for {}: {}", key, s.ToString());
    }
  }
  if (options_.disk != nullptr) {
    if (std::optional<std::string> v = options_.disk->Get(cache_key)) {
      GetResult r;
      const Status s = DecodeEnvelope(*v, key, range, &r);
      if (s.ok()) {
        if (options_.memory != nullptr) {
          options_.memory->Put(cache_key, std::make_shared<const std::string>(std::move(*v)));
        }
        return r;
      }
      spdlog::warn("caching store: ignoring disk cache entry for {}: {}", key, s.ToString());
    }
  }

  Result<GetResult> r = target()->Get(key, range);
  if (r.ok()) Fill(cache_key, r->meta, r->data);  // errors are returned, never cached
  return r;
}

Result<ObjectMeta> CachingStore::Put(std::string_view key, std::string_view data,
                                     const PutOptions& options) {
  Result<ObjectMeta> r = target()->Put(key, data, options);
  if (r.ok() && Cacheable(key) && (!options_.fill_on_put || options_.fill_on_put(key))) {
    // The object as a whole Get would return it; size from the bytes we sent.
    ObjectMeta meta = *r;
    meta.key.assign(key);
    meta.size_bytes = data.size();
    Fill(CacheKey(key, std::nullopt), meta, data);
  }
  return r;
}

void CachingStore::Erase(std::string_view key, const std::optional<ByteRange>& range) {
  if (!Cacheable(key)) return;
  const std::string cache_key = CacheKey(key, range);
  if (options_.disk != nullptr) options_.disk->Erase(cache_key);
  if (options_.memory != nullptr) options_.memory->Erase(cache_key);
}

Status CachingStore::Delete(std::string_view key) {
  Erase(key, std::nullopt);
  return target()->Delete(key);
}

Status CachingStore::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) Erase(key, std::nullopt);
  return target()->DeleteMany(keys);
}

void CachingStore::Forget(std::string_view key, std::optional<ByteRange> range) {
  Erase(key, range);
  target()->Forget(key, range);
}

std::string CachingStore::Describe() const { return "caching(" + target()->Describe() + ")"; }

}  // namespace vecpuff
