// LatencyInjectingStore: a decorator that makes every request take at least a given time,
// by sleeping before forwarding it, so that tests and benchmarks on a local or memory
// store can see the effect of object-storage round trips (batching, parallel fetches,
// caching).
//
// Thread safety: safe for concurrent use; concurrent requests sleep concurrently, as
// independent S3 requests would. set_latency() may be called while requests run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "storage/object_store.h"

namespace vecpuff {

class LatencyInjectingStore : public ObjectStoreWrapper {
 public:
  // `target` must outlive this store. A non-positive latency forwards without sleeping.
  LatencyInjectingStore(ObjectStore* target, std::chrono::microseconds latency)
      : ObjectStoreWrapper(target), latency_us_(latency.count()) {}

  // Defaults repeated from ObjectStore so that calls through this type compile alike.
  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Status Delete(std::string_view key) override;
  std::string Describe() const override;

  std::chrono::microseconds latency() const {
    return std::chrono::microseconds(latency_us_.load(std::memory_order_relaxed));
  }
  void set_latency(std::chrono::microseconds latency) {
    latency_us_.store(latency.count(), std::memory_order_relaxed);
  }

 private:
  void Sleep() const;

  std::atomic<int64_t> latency_us_;
};

}  // namespace vecpuff
