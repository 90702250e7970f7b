// PostingCache: decoded posting lists in memory, LRU by bytes, shared by every namespace of a
// Database. Keys are (immutable pack object key, offset), so an entry is never stale; the map
// is keyed by their 64-bit hash, verified against the full key on every hit. An entry can
// become dead, though: a compaction that rewrites a posting leaves its old part referenced by
// no index. Namespaces Erase those when they install the index that dropped them, so the cache
// holds the live postings rather than filling up with superseded ones.
//
// Thread safety: safe for concurrent use. Values are shared_ptr: eviction never frees a
// posting a query is still scanning.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/hash.h"
#include "index/segment_format.h"

namespace vecpuff {

class PostingCache {
 public:
  // A posting's identity: its pack object (immutable) and its offset in it. It views the
  // ref's pack key, so it is built per lookup without copying.
  struct Key {
    explicit Key(const PostingRef& ref) : pack(ref.pack), offset(ref.offset) {}
    Key(std::string_view pack_key, uint64_t pack_offset) : pack(pack_key), offset(pack_offset) {}
    std::string_view pack;
    uint64_t offset;
    // The map's key; entries also keep the full key, so a collision is only a miss.
    uint64_t Hash() const { return Checksum64(pack) ^ (offset * 0x9E3779B97F4A7C15ull); }
  };

  struct Stats {
    size_t capacity_bytes = 0;
    size_t bytes = 0;  // the charge of every entry held
    size_t entries = 0;
    uint64_t hits = 0, misses = 0;
    uint64_t evictions = 0;  // by the LRU, for room
    uint64_t erased = 0;     // dropped because no index references them any more
  };

  explicit PostingCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  std::shared_ptr<const PostingData> Get(const Key& key) {
    const uint64_t h = key.Hash();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(h);
    if (it == map_.end() || it->second->offset != key.offset || it->second->pack != key.pack) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->value;
  }

  void Put(const Key& key, std::shared_ptr<const PostingData> value) {
    const size_t charge = value->MemoryBytes() + key.pack.size() + 96;
    if (charge > capacity_) return;
    const uint64_t h = key.Hash();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(h);
    if (it != map_.end()) RemoveLocked(it);  // the same posting, or one whose key collides
    lru_.push_front({h, std::string(key.pack), key.offset, std::move(value), charge});
    map_[h] = lru_.begin();
    used_ += charge;
    while (used_ > capacity_ && !lru_.empty()) {
      used_ -= lru_.back().charge;
      map_.erase(lru_.back().hash);
      lru_.pop_back();
      ++evictions_;
    }
  }

  // Drops the entry of `key`, if cached (a reader holding it keeps its copy).
  void Erase(const Key& key) {
    const uint64_t h = key.Hash();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(h);
    if (it == map_.end() || it->second->offset != key.offset || it->second->pack != key.pack) {
      return;
    }
    RemoveLocked(it);
    ++erased_;
  }

  size_t used_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }
  size_t entries() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return Stats{capacity_, used_, map_.size(), hits_, misses_, evictions_, erased_};
  }

 private:
  struct Node {
    uint64_t hash;
    std::string pack;
    uint64_t offset;
    std::shared_ptr<const PostingData> value;
    size_t charge;
  };
  using Map = std::unordered_map<uint64_t, std::list<Node>::iterator>;
  // REQUIRES: mu_ held. Drops the entry `it` and its charge.
  void RemoveLocked(Map::iterator it) {
    used_ -= it->second->charge;
    lru_.erase(it->second);
    map_.erase(it);
  }

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Node> lru_;
  Map map_;
  size_t used_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0, erased_ = 0;
};

}  // namespace vecpuff
