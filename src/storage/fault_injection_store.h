// FaultInjectingStore: a decorator that makes requests fail on purpose, to test how the
// code above the store copes with what object storage does in production (leveldb's
// FaultInjectionTestEnv, RocksDB's FaultInjectionTestFS). Faults:
//  (a) random: each request of a kind fails with a given Status with probability p, drawn
//      from a seeded generator, so a run is reproducible for a given seed and call order;
//  (b) scripted: "the next N requests of kind K fail with Status S" (FIFO, before (a));
//  (c) ambiguous writes: the Put is performed on the target, then Unavailable is returned
//      whatever the target answered, as when the response to a request that did reach S3
//      is lost (scripted, or with probability p);
//  (d) total outage: every request fails with Unavailable without reaching the target.
// A request that fails by (a), (b) or (d) never reaches the target. The decision order is
// (d), (b), (a), then (c) for puts.
//
// Thread safety: safe for concurrent use; configuration may change while requests run.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <random>

#include "storage/object_store.h"

namespace vecpuff {

// The request kinds of ObjectStore, for per-kind fault rules.
enum class StoreOp { kGet = 0, kPut, kHead, kList, kDelete };
inline constexpr int kNumStoreOps = 5;

class FaultInjectingStore : public ObjectStoreWrapper {
 public:
  // `target` must outlive this store. `seed` fixes the random faults' sequence.
  FaultInjectingStore(ObjectStore* target, uint64_t seed);

  // Defaults repeated from ObjectStore so that calls through this type compile alike.
  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Status Delete(std::string_view key) override;
  std::string Describe() const override;

  // (a) Requests of kind `op` fail with `status` with probability `probability` (clamped
  // to [0, 1]; 0 turns the rule off). REQUIRES: !status.ok() (an OK status is replaced by
  // Internal, so a misused rule is loud rather than silent).
  void SetFailureRate(StoreOp op, double probability, Status status);

  // (b) The next `count` requests of kind `op` fail with `status`; queues behind earlier
  // scripted failures of that kind. REQUIRES: !status.ok() (as above).
  void FailNext(StoreOp op, int count, Status status);

  // (c) The next `count` Puts are performed and then answered with Unavailable.
  void MakeNextPutsAmbiguous(int count);
  // (c) Each Put is, with this probability, performed and then answered with Unavailable.
  void SetAmbiguousPutRate(double probability);

  // (d) While on, every request fails with Unavailable and reaches nothing.
  void SetOutage(bool on);

  // Removes every rule and ends an outage; the counters are kept.
  void ClearFaults();

  // Counters of injected faults, since construction.
  uint64_t injected_failures(StoreOp op) const;  // by (a), (b) and (d)
  uint64_t injected_failures() const;            // all kinds
  uint64_t ambiguous_puts() const;               // by (c)

 private:
  struct Scripted {
    int remaining;
    Status status;
  };
  struct Rules {
    double probability = 0;
    Status status;
    std::deque<Scripted> scripted;
  };

  // The fault to inject into a request of kind `op` now, or OK to forward it.
  Status NextFault(StoreOp op);
  // True if this Put is to be made ambiguous.
  bool NextPutAmbiguous();
  // A uniform double in [0, 1). REQUIRES: mu_ held.
  double Uniform();

  mutable std::mutex mu_;
  std::mt19937_64 rng_;                    // guarded by mu_
  std::array<Rules, kNumStoreOps> rules_;  // guarded by mu_
  int ambiguous_next_ = 0;                 // guarded by mu_
  double ambiguous_probability_ = 0;       // guarded by mu_
  std::atomic<bool> outage_{false};
  std::array<std::atomic<uint64_t>, kNumStoreOps> injected_{};
  std::atomic<uint64_t> ambiguous_puts_{0};
};

}  // namespace vecpuff
