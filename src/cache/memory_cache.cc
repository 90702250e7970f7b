// MemoryCache: N independent LRU shards, each a list (recency order) plus a hash map whose
// keys are views of the keys stored in the list nodes. List nodes never move in memory
// (splice relinks them), so the views stay valid for as long as the node exists.
#include <algorithm>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/caching_store.h"
#include "common/hash.h"

namespace vecpuff {

namespace {

// Charged per entry on top of key and value: list node, hash-map node and bucket,
// shared_ptr control block and allocator slack, roughly. Keeps a flood of tiny entries
// from exceeding the budget by an unbounded factor.
constexpr uint64_t kEntryOverheadBytes = 128;

}  // namespace

struct MemoryCache::Impl {
  struct Entry {
    std::string key;
    std::shared_ptr<const std::string> value;
    uint64_t charge = 0;
  };
  using LruList = std::list<Entry>;

  struct Shard {
    std::mutex mu;
    LruList lru;                                                    // front: most recently used
    std::unordered_map<std::string_view, LruList::iterator> index;  // views of Entry::key
    uint64_t bytes = 0;
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t inserts = 0;
    uint64_t evictions = 0;
    uint64_t erased = 0;
  };

  uint64_t shard_capacity = 0;
  std::vector<Shard> shards;

  explicit Impl(uint64_t capacity, int n)
      : shard_capacity(capacity / static_cast<uint64_t>(n)), shards(static_cast<size_t>(n)) {}

  Shard& ShardFor(std::string_view key) { return shards[Checksum64(key) % shards.size()]; }
};

MemoryCache::MemoryCache(uint64_t capacity_bytes, int shards)
    : impl_(std::make_unique<Impl>(capacity_bytes, std::max(shards, 1))) {}

MemoryCache::~MemoryCache() = default;

std::shared_ptr<const std::string> MemoryCache::Get(std::string_view key) {
  Impl::Shard& shard = impl_->ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) {
    ++shard.misses;
    return nullptr;
  }
  ++shard.hits;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  return it->second->value;
}

void MemoryCache::Put(std::string_view key, std::shared_ptr<const std::string> value) {
  if (value == nullptr) return;
  const uint64_t charge = key.size() + value->size() + kEntryOverheadBytes;
  if (charge > impl_->shard_capacity) return;
  Impl::Shard& shard = impl_->ShardFor(key);
  // Released after the lock, so that freeing evicted values happens outside it.
  std::vector<std::shared_ptr<const std::string>> evicted;
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it != shard.index.end()) {
    Impl::Entry& e = *it->second;
    shard.bytes -= e.charge;
    evicted.push_back(std::move(e.value));
    e.value = std::move(value);
    e.charge = charge;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
  } else {
    shard.lru.push_front(Impl::Entry{std::string(key), std::move(value), charge});
    shard.index.emplace(shard.lru.front().key, shard.lru.begin());
  }
  shard.bytes += charge;
  ++shard.inserts;
  // The new entry fits on its own (checked above), so it is never the one evicted.
  while (shard.bytes > impl_->shard_capacity) {
    Impl::Entry& victim = shard.lru.back();
    shard.bytes -= victim.charge;
    evicted.push_back(std::move(victim.value));
    shard.index.erase(victim.key);
    shard.lru.pop_back();
    ++shard.evictions;
  }
}

void MemoryCache::Erase(std::string_view key) {
  Impl::Shard& shard = impl_->ShardFor(key);
  std::shared_ptr<const std::string> value;  // released after the lock
  std::lock_guard lock(shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return;
  const Impl::LruList::iterator entry = it->second;
  shard.bytes -= entry->charge;
  value = std::move(entry->value);
  shard.index.erase(it);
  shard.lru.erase(entry);
  ++shard.erased;
}

CacheStats MemoryCache::stats() const {
  CacheStats s;
  for (Impl::Shard& shard : impl_->shards) {
    std::lock_guard lock(shard.mu);
    s.hits += shard.hits;
    s.misses += shard.misses;
    s.inserts += shard.inserts;
    s.evictions += shard.evictions;
    s.erased += shard.erased;
    s.bytes += shard.bytes;
    s.entries += shard.lru.size();
  }
  return s;
}

}  // namespace vecpuff
