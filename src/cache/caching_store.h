// Caches for immutable objects: a bounded local disk cache and a bounded in-memory LRU, and
// CachingStore, an ObjectStore decorator that serves reads of immutable keys from them.
//
// Index objects (posting packs, index metas) are written once with create-only puts and never
// modified, so a cached copy keyed by (object key, byte range) can never be stale: nothing
// is ever invalidated, only evicted. Mutable keys (the manifest, WAL probes) bypass the
// caches entirely; the caller decides which keys are immutable.
//
// Thread safety: every class here is safe for concurrent use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/object_store.h"

namespace vecpuff {

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t inserts = 0;
  uint64_t evictions = 0;
  uint64_t corrupt = 0;  // entries found damaged (checksum, size, header) and dropped
  uint64_t bytes = 0;    // bytes held now
  uint64_t entries = 0;  // entries held now
};

// A directory of cache files, LRU by bytes. Each entry is one file holding a header (magic,
// format version, key, value length, XXH64 of key and value) and the value. Files are
// written to a temporary name and renamed, so a crash leaves either the old state or the
// new entry, never a torn one. Open() scans the directory and adopts valid files (so the
// cache survives restarts), deletes temporaries and anything that does not parse, and
// evicts down to capacity. Every Get() verifies the checksum; a damaged entry is deleted,
// counted in `corrupt` and reported as a miss, so it is re-fetched and never served.
class DiskCache {
 public:
  // Creates `dir` if needed. IOError if it cannot be created or read.
  static Result<std::unique_ptr<DiskCache>> Open(const std::string& dir, uint64_t capacity_bytes);
  ~DiskCache();

  std::optional<std::string> Get(std::string_view key);
  // Best effort: an I/O failure is logged and counted, never returned (the cache is an
  // optimisation). A value larger than the capacity is not stored.
  void Put(std::string_view key, std::string_view value);
  CacheStats stats() const;
  uint64_t capacity_bytes() const;

 private:
  DiskCache();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An in-memory LRU of immutable byte strings, bounded by their total size, sharded to keep
// lock contention low. Values are shared_ptr, so eviction never frees a value a reader
// still holds.
class MemoryCache {
 public:
  explicit MemoryCache(uint64_t capacity_bytes, int shards = 16);
  ~MemoryCache();

  std::shared_ptr<const std::string> Get(std::string_view key);
  void Put(std::string_view key, std::shared_ptr<const std::string> value);
  CacheStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CachingStoreOptions {
  // Reads of keys for which this returns true are cached; all other calls pass through.
  std::function<bool(std::string_view key)> is_immutable;
  DiskCache* disk = nullptr;      // optional, not owned
  MemoryCache* memory = nullptr;  // optional, not owned
};

// Get(key, range) of an immutable key looks in memory, then on disk, then reads the target
// and fills both. The cache key is the object key plus the exact range requested. Puts of
// immutable keys are written through to the caches after the target accepted them (so the
// writer's own process is warm at once). Everything else is forwarded unchanged.
class CachingStore : public ObjectStoreWrapper {
 public:
  CachingStore(ObjectStore* target, CachingStoreOptions options);

  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  std::string Describe() const override;

 private:
  CachingStoreOptions options_;
};

}  // namespace vecpuff
