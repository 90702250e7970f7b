// CountingStore: a decorator that counts the requests and bytes passing through it and
// tracks how many requests are in flight, for tests that assert on request patterns
// ("a cached read issues no GET") and benchmarks that report request costs.
//
// Every call is counted once when it is made, whatever its outcome, as S3 bills requests.
// bytes_written counts the payload of every Put; bytes_read counts the bytes returned by
// successful Gets.
//
// Thread safety: safe for concurrent use; counters are atomics, so a snapshot taken while
// requests run may mix counts from before and after a concurrent request.
#pragma once

#include <atomic>
#include <cstdint>

#include "storage/object_store.h"

namespace vecpuff {

class CountingStore : public ObjectStoreWrapper {
 public:
  struct Counts {
    uint64_t gets = 0;
    uint64_t puts = 0;
    uint64_t heads = 0;
    uint64_t lists = 0;
    uint64_t deletes = 0;
    uint64_t bytes_read = 0;
    uint64_t bytes_written = 0;
    int64_t in_flight = 0;       // requests in progress now
    int64_t peak_in_flight = 0;  // most requests in progress at once since the last Reset

    uint64_t requests() const { return gets + puts + heads + lists + deletes; }
  };

  // `target` must outlive this store.
  explicit CountingStore(ObjectStore* target) : ObjectStoreWrapper(target) {}

  // Defaults repeated from ObjectStore so that calls through this type compile alike.
  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Status Delete(std::string_view key) override;
  std::string Describe() const override;

  // A snapshot of the counters.
  Counts counts() const;

  // Zeroes the counters; the peak restarts from the requests in flight now.
  void Reset();

 private:
  class InFlight;

  std::atomic<uint64_t> gets_{0};
  std::atomic<uint64_t> puts_{0};
  std::atomic<uint64_t> heads_{0};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> deletes_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> peak_in_flight_{0};
};

}  // namespace vecpuff
