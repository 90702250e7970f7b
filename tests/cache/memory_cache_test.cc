// MemoryCache: LRU by bytes per shard, shared values, concurrent use.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/caching_store.h"

namespace vecpuff {
namespace {

std::shared_ptr<const std::string> Value(size_t n, char c = 'v') {
  return std::make_shared<const std::string>(n, c);
}

// Learns the per-entry charge from the cache itself, so the tests do not depend on the
// overhead constant, only on it being fixed.
uint64_t ChargeOf(const std::string& key, size_t value_bytes) {
  MemoryCache probe(1 << 30, 1);
  probe.Put(key, Value(value_bytes));
  return probe.stats().bytes;
}

TEST(MemoryCacheTest, PutThenGet) {
  MemoryCache cache(1 << 20);
  EXPECT_EQ(cache.Get("a"), nullptr);
  auto v = Value(100);
  cache.Put("a", v);
  auto got = cache.Get("a");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, *v);
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_GE(s.bytes, 101u) << "charge covers key and value";
}

TEST(MemoryCacheTest, EraseDropsTheEntryAndItsChargeOnly) {
  MemoryCache cache(1 << 20, 1);
  auto a = Value(100, 'a');
  cache.Put("a", a);
  cache.Put("b", Value(200, 'b'));
  cache.Erase("a");
  cache.Erase("never-cached");  // a no-op
  EXPECT_EQ(cache.Get("a"), nullptr);
  ASSERT_NE(cache.Get("b"), nullptr);
  EXPECT_EQ(*a, std::string(100, 'a')) << "a reader's value outlives the erase";
  const CacheStats s = cache.stats();
  EXPECT_EQ(s.erased, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, ChargeOf("b", 200));
}

TEST(MemoryCacheTest, ChargeGrowsWithKeyAndValue) {
  EXPECT_EQ(ChargeOf("kk", 100), ChargeOf("k", 100) + 1);
  EXPECT_EQ(ChargeOf("k", 200), ChargeOf("k", 100) + 100);
}

TEST(MemoryCacheTest, EvictsLeastRecentlyUsedFirst) {
  const uint64_t charge = ChargeOf("a", 100);
  MemoryCache cache(3 * charge, 1);
  cache.Put("a", Value(100));
  cache.Put("b", Value(100));
  cache.Put("c", Value(100));
  ASSERT_NE(cache.Get("a"), nullptr);  // b is now the least recently used
  cache.Put("d", Value(100));
  EXPECT_NE(cache.Get("a"), nullptr);
  EXPECT_EQ(cache.Get("b"), nullptr);
  EXPECT_NE(cache.Get("c"), nullptr);
  EXPECT_NE(cache.Get("d"), nullptr);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().bytes, 3 * charge);
}

TEST(MemoryCacheTest, EvictsByBytesNotByCount) {
  const uint64_t small = ChargeOf("a", 100);
  MemoryCache cache(4 * small, 1);
  for (const char* k : {"a", "b", "c", "d"}) cache.Put(k, Value(100));
  ASSERT_NE(cache.Get("a"), nullptr);  // oldest first: b c d a
  // One entry charged as two small ones.
  const size_t big_value = 2 * small - ChargeOf("B", 0);
  ASSERT_EQ(ChargeOf("B", big_value), 2 * small);
  cache.Put("B", Value(big_value));
  EXPECT_EQ(cache.Get("b"), nullptr);
  EXPECT_EQ(cache.Get("c"), nullptr);
  EXPECT_NE(cache.Get("d"), nullptr);
  EXPECT_NE(cache.Get("a"), nullptr);
  EXPECT_NE(cache.Get("B"), nullptr);
  EXPECT_EQ(cache.stats().bytes, 4 * small);
}

TEST(MemoryCacheTest, CapacityIsNeverExceeded) {
  constexpr uint64_t kCapacity = 64 * 1024;
  MemoryCache cache(kCapacity, 4);
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) {
    cache.Put("k" + std::to_string(rng() % 200), Value(rng() % 5000));
    ASSERT_LE(cache.stats().bytes, kCapacity);
  }
  EXPECT_GT(cache.stats().evictions, 0u);
}

TEST(MemoryCacheTest, ValueLargerThanCapacityIsNotStored) {
  MemoryCache cache(10000, 1);
  cache.Put("a", Value(100));
  cache.Put("huge", Value(10000));  // with key and overhead, over the capacity
  EXPECT_EQ(cache.Get("huge"), nullptr);
  EXPECT_NE(cache.Get("a"), nullptr) << "nothing was evicted for it";
  EXPECT_EQ(cache.stats().evictions, 0u);
  cache.Put("null", nullptr);
  EXPECT_EQ(cache.Get("null"), nullptr);
  MemoryCache zero(0);
  zero.Put("a", Value(1));
  EXPECT_EQ(zero.Get("a"), nullptr);
}

TEST(MemoryCacheTest, ReplacingAKeyUpdatesTheCharge) {
  MemoryCache cache(1 << 20, 1);
  cache.Put("a", Value(100));
  cache.Put("a", Value(300, 'w'));
  EXPECT_EQ(*cache.Get("a"), std::string(300, 'w'));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().bytes, ChargeOf("a", 300));
}

TEST(MemoryCacheTest, EvictionDoesNotFreeAValueAReaderHolds) {
  const uint64_t charge = ChargeOf("a", 100);
  MemoryCache cache(charge, 1);
  cache.Put("a", Value(100, 'x'));
  std::shared_ptr<const std::string> held = cache.Get("a");
  cache.Put("b", Value(100));  // evicts a
  EXPECT_EQ(cache.Get("a"), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(*held, std::string(100, 'x'));
}

TEST(MemoryCacheTest, NonPositiveShardCountMeansOne) {
  MemoryCache cache(1 << 20, 0);
  cache.Put("a", Value(10));
  EXPECT_NE(cache.Get("a"), nullptr);
}

TEST(MemoryCacheTest, ConcurrentGetsAndPutsFromEightThreads) {
  constexpr uint64_t kCapacity = 128 * 1024;
  MemoryCache cache(kCapacity, 4);
  auto value_of = [](int k) { return std::string(256 + 61 * k, static_cast<char>('a' + k % 26)); };
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const int k = static_cast<int>(rng() % 128);
        const std::string key = "key/" + std::to_string(k);
        if (rng() % 4 == 0) {
          cache.Put(key, std::make_shared<const std::string>(value_of(k)));
        } else if (auto v = cache.Get(key)) {
          if (*v != value_of(k)) ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  const CacheStats s = cache.stats();
  EXPECT_LE(s.bytes, kCapacity);
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.evictions, 0u);
}

}  // namespace
}  // namespace vecpuff
