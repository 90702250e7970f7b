// RetryingStore: a decorator that retries requests that fail with Unavailable (throttling,
// timeouts, 5xx), with capped exponential backoff and full jitter, bounded both by a number
// of attempts and by a total time budget. No other status is retried: InvalidArgument,
// NotFound, PreconditionFailed, Corruption, IOError and the rest are returned at once.
//
// Conditional puts need care, because an Unavailable answer is ambiguous: the write may
// have been applied and only the response lost. If a kCreateOnly or kIfMatch Put got
// Unavailable on some attempt and PreconditionFailed on a later one, the store reads the
// object and compares its bytes with what was sent: equal means the earlier attempt won,
// and the Put succeeds with the current metadata; different means another writer won, and
// the Put fails with PreconditionFailed. The comparison cannot tell our bytes from an
// identical write by someone else, so callers whose conditional writes must be told apart
// (a WAL entry, a manifest) put something unique to the writer in the bytes (a writer id,
// a sequence number, a nonce). If a later writer has already replaced our version, the
// ambiguity cannot be resolved and PreconditionFailed is returned although our write did
// happen; callers re-read and decide, as after any lost race.
//
// Thread safety: safe for concurrent use; requests retry independently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>

#include "storage/object_store.h"

namespace vecpuff {

struct RetryOptions {
  // Attempts per request, the first included. Values below 1 mean 1. Default 6.
  int max_attempts = 6;

  // Before retry n (n = 1, 2, ...) the store sleeps a uniformly random time in
  // [0, min(max_backoff, base_backoff * 2^(n-1))] ("full jitter", which spreads the
  // retries of many clients hit by one outage). Defaults 10 ms and 1 s.
  std::chrono::microseconds base_backoff{10'000};
  std::chrono::microseconds max_backoff{1'000'000};

  // A retry is not started if its backoff would end more than this long after the first
  // attempt began; the last Unavailable is returned instead. Bounds how long a request
  // can take when storage is down (plus the time of the attempts themselves). Default 10 s.
  std::chrono::microseconds total_budget{10'000'000};

  // Seed of the jitter. 0 (the default) derives one from the clock, the pid and the
  // store's address, so that processes do not back off in lockstep.
  uint64_t jitter_seed = 0;

  // Test hooks: a clock and a sleep to use instead of std::chrono::steady_clock and
  // std::this_thread::sleep_for (e.g. a fake clock that advances when slept on). They are
  // called from every thread that uses the store, so they must be thread-safe.
  std::function<std::chrono::steady_clock::time_point()> now;
  std::function<void(std::chrono::microseconds)> sleep;
};

class RetryingStore : public ObjectStoreWrapper {
 public:
  // `target` must outlive this store.
  RetryingStore(ObjectStore* target, RetryOptions options);

  // Each returns the target's answer; Unavailable only after giving up on retries (the
  // message then says how many attempts were made).
  // Defaults repeated from ObjectStore so that calls through this type compile alike.
  Result<GetResult> Get(std::string_view key,
                        std::optional<ByteRange> range = std::nullopt) override;
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options = {}) override;
  Result<ObjectMeta> Head(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Status Delete(std::string_view key) override;
  // Deletes are idempotent, so a batch is simply retried whole.
  Status DeleteMany(const std::vector<std::string>& keys) override;
  std::string Describe() const override;

  const RetryOptions& options() const { return options_; }

  // Counters since construction.
  uint64_t retries() const { return retries_.load(std::memory_order_relaxed); }
  uint64_t gave_up() const { return gave_up_.load(std::memory_order_relaxed); }
  // Conditional puts whose ambiguous attempt turned out to have won (returned as success).
  uint64_t ambiguous_puts_won() const { return ambiguous_won_.load(std::memory_order_relaxed); }
  // Conditional puts whose ambiguous attempt turned out to have lost (PreconditionFailed).
  uint64_t ambiguous_puts_lost() const { return ambiguous_lost_.load(std::memory_order_relaxed); }

 private:
  // Runs `attempt` until it returns something other than Unavailable or the attempts or
  // the budget run out. Sets *saw_unavailable if any attempt returned Unavailable.
  template <typename Attempt>
  auto Run(std::string_view what, std::string_view key, Attempt attempt, bool* saw_unavailable)
      -> decltype(attempt());

  // After an ambiguous attempt and a later PreconditionFailed (`lost`): did we win?
  Result<ObjectMeta> ResolveAmbiguousPut(std::string_view key, std::string_view data, Status lost);

  std::chrono::steady_clock::time_point Now() const;
  void Sleep(std::chrono::microseconds d) const;
  std::chrono::microseconds Backoff(int retry);

  const RetryOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // guarded by rng_mu_
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> gave_up_{0};
  std::atomic<uint64_t> ambiguous_won_{0};
  std::atomic<uint64_t> ambiguous_lost_{0};
};

}  // namespace vecpuff
