// PostingCache: decoded posting lists in memory, LRU by bytes, shared by every namespace of a
// Database. Keys are (immutable pack object key, offset), so an entry is never stale.
//
// Thread safety: safe for concurrent use. Values are shared_ptr: eviction never frees a
// posting a query is still scanning.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "index/segment_format.h"

namespace vecpuff {

class PostingCache {
 public:
  explicit PostingCache(size_t capacity_bytes) : capacity_(capacity_bytes) {}

  static std::string Key(const PostingRef& ref) {
    return ref.pack + "@" + std::to_string(ref.offset);
  }

  std::shared_ptr<const PostingData> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->value;
  }

  void Put(const std::string& key, std::shared_ptr<const PostingData> value) {
    const size_t charge = value->MemoryBytes() + key.size() + 64;
    if (charge > capacity_) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      used_ -= it->second->charge;
      lru_.erase(it->second);
      map_.erase(it);
    }
    lru_.push_front({key, std::move(value), charge});
    map_[key] = lru_.begin();
    used_ += charge;
    while (used_ > capacity_ && !lru_.empty()) {
      used_ -= lru_.back().charge;
      map_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }

  size_t used_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const PostingData> value;
    size_t charge;
  };
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Node> lru_;
  std::unordered_map<std::string, std::list<Node>::iterator> map_;
  size_t used_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace vecpuff
