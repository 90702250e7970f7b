#include "storage/retrying_store.h"

#include <unistd.h>

#include <thread>
#include <utility>

namespace vecpuff {

namespace {

const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

uint64_t DefaultSeed(const void* self) {
  const uint64_t t =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const uint64_t pid = static_cast<uint64_t>(::getpid());
  const uint64_t addr = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(self));
  return t ^ (pid << 32) ^ (addr * 0x9e3779b97f4a7c15ULL);
}

}  // namespace

RetryingStore::RetryingStore(ObjectStore* target, RetryOptions options)
    : ObjectStoreWrapper(target),
      options_(std::move(options)),
      rng_(options_.jitter_seed != 0 ? options_.jitter_seed : DefaultSeed(this)) {}

std::chrono::steady_clock::time_point RetryingStore::Now() const {
  return options_.now ? options_.now() : std::chrono::steady_clock::now();
}

void RetryingStore::Sleep(std::chrono::microseconds d) const {
  if (options_.sleep) {
    options_.sleep(d);
  } else if (d.count() > 0) {
    std::this_thread::sleep_for(d);
  }
}

std::chrono::microseconds RetryingStore::Backoff(int retry) {
  const int64_t cap = options_.max_backoff.count() > 0 ? options_.max_backoff.count() : 0;
  int64_t ceiling = options_.base_backoff.count() > 0 ? options_.base_backoff.count() : 0;
  // Double per retry without overflowing: stop at the cap.
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  if (ceiling > cap) ceiling = cap;
  if (ceiling <= 0) return std::chrono::microseconds(0);
  std::lock_guard<std::mutex> lock(rng_mu_);
  return std::chrono::microseconds(
      static_cast<int64_t>(rng_() % (static_cast<uint64_t>(ceiling) + 1)));
}

template <typename Attempt>
auto RetryingStore::Run(std::string_view what, std::string_view key, Attempt attempt,
                        bool* saw_unavailable) -> decltype(attempt()) {
  const int max_attempts = options_.max_attempts > 1 ? options_.max_attempts : 1;
  const auto start = Now();
  for (int n = 1;; ++n) {
    auto result = attempt();
    if (!StatusOf(result).IsUnavailable()) return result;
    if (saw_unavailable != nullptr) *saw_unavailable = true;
    bool give_up = n >= max_attempts;
    std::chrono::microseconds delay(0);
    if (!give_up) {
      delay = Backoff(n);
      const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Now() - start);
      give_up = elapsed + delay > options_.total_budget;
    }
    if (give_up) {
      gave_up_.fetch_add(1, std::memory_order_relaxed);
      return StatusOf(result).WithContext(std::string(what) + " " + std::string(key) +
                                          ": gave up after " + std::to_string(n) + " attempts");
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    Sleep(delay);
  }
}

Result<GetResult> RetryingStore::Get(std::string_view key, std::optional<ByteRange> range) {
  return Run(
      "get", key, [&] { return target()->Get(key, range); }, nullptr);
}

Result<ObjectMeta> RetryingStore::Put(std::string_view key, std::string_view data,
                                      const PutOptions& options) {
  bool ambiguous = false;
  Result<ObjectMeta> r = Run(
      "put", key, [&] { return target()->Put(key, data, options); }, &ambiguous);
  if (ambiguous && options.mode != PutMode::kOverwrite && !r.ok() &&
      r.status().IsPreconditionFailed()) {
    return ResolveAmbiguousPut(key, data, r.status());
  }
  return r;
}

Result<ObjectMeta> RetryingStore::ResolveAmbiguousPut(std::string_view key, std::string_view data,
                                                      Status lost) {
  Result<GetResult> current = Get(key, std::nullopt);
  if (current.ok() && current->data == data) {
    ambiguous_won_.fetch_add(1, std::memory_order_relaxed);
    return std::move(current->meta);
  }
  // Unavailable: still cannot tell, say so. NotFound: whatever was there is gone, and the
  // condition we were asked to meet no longer describes the store; report the lost race.
  if (!current.ok() && !current.status().IsNotFound()) {
    return current.status().WithContext("resolving an ambiguous put of " + std::string(key));
  }
  ambiguous_lost_.fetch_add(1, std::memory_order_relaxed);
  return lost;
}

Result<ObjectMeta> RetryingStore::Head(std::string_view key) {
  return Run(
      "head", key, [&] { return target()->Head(key); }, nullptr);
}

Result<ListPage> RetryingStore::List(const ListOptions& options) {
  return Run(
      "list", options.prefix, [&] { return target()->List(options); }, nullptr);
}

Status RetryingStore::Delete(std::string_view key) {
  return Run(
      "delete", key, [&] { return target()->Delete(key); }, nullptr);
}

Status RetryingStore::DeleteMany(const std::vector<std::string>& keys) {
  const std::string what = keys.empty() ? std::string() : keys.front();
  return Run(
      "delete batch", what, [&] { return target()->DeleteMany(keys); }, nullptr);
}

std::string RetryingStore::Describe() const { return "retrying(" + target()->Describe() + ")"; }

}  // namespace vecpuff
