// Caches for immutable objects: a bounded local disk cache and a bounded in-memory LRU, and
// CachingStore, an ObjectStore decorator that serves reads of immutable keys from them.
//
// Index objects (posting packs, index metas) are written once with create-only puts and never
// modified, so a cached copy keyed by (object key, byte range) can never be stale: nothing
// is ever invalidated. Entries are evicted, or erased when the caller says it will not read
// them again (ObjectStore::Forget, a delete). Mutable keys (the manifest, WAL probes) bypass
// the caches entirely; the caller decides which keys are immutable.
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
  uint64_t corrupt = 0;    // entries found damaged (checksum, size, header) and dropped
  uint64_t io_errors = 0;  // failed reads or writes (not damage); logged, never returned
  uint64_t erased = 0;     // entries dropped by Erase (not to be read again)
  uint64_t bytes = 0;      // bytes held now (the charge of every entry)
  uint64_t entries = 0;    // entries held now
};

// A directory of cache files, LRU by bytes. Each entry is one file holding a header (magic,
// format version, key, value length, XXH64 of key and value) and the value. Files are
// written to a temporary name and renamed, so a crash leaves either the old state or the
// new entry, never a torn one. Open() scans the directory and adopts valid files (so the
// cache survives restarts), deletes temporaries and entry files that do not parse, and
// evicts down to capacity. Every Get() verifies the checksum; a damaged entry is deleted,
// counted in `corrupt` and reported as a miss, so it is re-fetched and never served.
// The byte layout of an entry file is described in disk_cache.cc.
//
// An entry is charged its file size (header + key + value). Entries live in one flat
// directory under a name derived from XXH64(key); two keys with the same hash share a slot
// (the later Put wins, the header's full key tells them apart). Only files named like
// entries or temporaries are ever deleted, so a mistyped `dir` cannot wipe unrelated files.
// The directory may be deleted while the cache runs: its entries become misses and the
// next Put recreates it. Several processes sharing a directory never serve each other
// damaged data, but each enforces the capacity on its own entries only.
class DiskCache {
 public:
  // Creates `dir` (and its parents) if needed and adopts the valid entries in it, oldest
  // modification time evicted first. IOError (or the errno's code, see storage/posix_io.h)
  // if the directory cannot be created or read. Capacity 0 stores nothing.
  static Result<std::unique_ptr<DiskCache>> Open(const std::string& dir, uint64_t capacity_bytes);
  ~DiskCache();

  // The value stored under `key`, or nullopt on a miss. A damaged entry (checksum, length or
  // key mismatch) is deleted and counted in `corrupt`; an entry whose file vanished, or a
  // read error, is dropped. Neither is ever returned as data.
  std::optional<std::string> Get(std::string_view key);
  // Best effort: an I/O failure is logged and counted, never returned (the cache is an
  // optimisation). A value larger than the capacity is not stored, nor is a key longer than
  // 65535 bytes or empty. If `key` is already cached with a value of the same length, the
  // entry is only marked used: entries are immutable, and racing fills of one key should
  // not rewrite its file.
  void Put(std::string_view key, std::string_view value);
  // Drops `key` and deletes its file, if cached; counted in `erased`. Best effort.
  void Erase(std::string_view key);
  CacheStats stats() const;
  uint64_t capacity_bytes() const;
  // The path of the file that holds (or would hold) `key`. For tests and tools.
  std::string PathForKey(std::string_view key) const;

 private:
  DiskCache();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An in-memory LRU of immutable byte strings, bounded by their total size, sharded to keep
// lock contention low. Values are shared_ptr, so eviction never frees a value a reader
// still holds. An entry is charged its key and value sizes plus a fixed per-entry
// overhead. Each shard holds capacity_bytes / shards and runs its own LRU, so a value
// larger than one shard's share is not stored; use fewer shards for large values.
class MemoryCache {
 public:
  // `shards` below 1 is taken as 1.
  explicit MemoryCache(uint64_t capacity_bytes, int shards = 16);
  ~MemoryCache();

  // The cached value (shared with the cache), or nullptr on a miss.
  std::shared_ptr<const std::string> Get(std::string_view key);
  // Inserts or replaces `key`, evicting least recently used entries of its shard as needed.
  // A null value, or one too large for a shard, is not stored.
  void Put(std::string_view key, std::shared_ptr<const std::string> value);
  // Drops `key`, if cached; counted in `erased`. Readers holding its value keep it.
  void Erase(std::string_view key);
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
  // Of those, the keys a Put writes through to the caches. Null: all of them. Objects only
  // ever read by range gain nothing from a whole-object entry, which no Get would hit.
  std::function<bool(std::string_view key)> fill_on_put;
};

// Get(key, range) of an immutable key looks in memory, then on disk, then reads the target
// and fills both. The cache key is the object key plus the exact range requested. Puts of
// immutable keys (those fill_on_put accepts) are written through to the caches after the
// target accepted them (so the writer's own process is warm at once). Forget(key, range)
// erases that (key, range) from both caches; Delete and DeleteMany erase the whole-object
// entry of each key (cached ranges of a deleted object are left to Forget or eviction).
// Everything is forwarded to the target.
//
// A cached entry holds the object's metadata (total size, etag, last-modified) beside the
// bytes, so a hit returns the same GetResult the target returned. Errors from the target
// are returned unchanged and never cached. An immutable key must never be written again
// with different bytes, even after a delete: cached ranges would still be served.
// Concurrent misses of one key each read the target (no request coalescing).
class CachingStore : public ObjectStoreWrapper {
 public:
  // `target` and the caches in `options` must outlive this store. A null is_immutable
  // caches nothing.
  CachingStore(ObjectStore* target, CachingStoreOptions options);

  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Status Delete(std::string_view key) override;
  Status DeleteMany(const std::vector<std::string>& keys) override;
  void Forget(std::string_view key, std::optional<ByteRange> range) override;
  std::string Describe() const override;

 private:
  // Erases the cache key of (key, range) from both caches.
  void Erase(std::string_view key, const std::optional<ByteRange>& range);
  // Whether reads and writes of `key` go through the caches.
  bool Cacheable(std::string_view key) const;
  // Stores `data` with its metadata under `cache_key` in both caches.
  void Fill(const std::string& cache_key, const ObjectMeta& meta, std::string_view data);

  CachingStoreOptions options_;
};

}  // namespace vecpuff
