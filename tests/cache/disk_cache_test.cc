// DiskCache: LRU by bytes, restarts, damage detection, a directory deleted under it, and
// concurrent use.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_test_util.h"
#include "cache/caching_store.h"
#include "test_util.h"

namespace vecpuff {
namespace {

using testing::DirBytes;
using testing::FileExists;
using testing::ListFiles;
using testing::MtimeSeconds;
using testing::ReadFileBytes;
using testing::ScratchDir;
using testing::SetMtimeSecondsAgo;
using testing::WriteFileBytes;

// The entry header size, part of the on-disk format (see disk_cache.cc).
constexpr uint64_t kHeaderBytes = 24;

// The charge of an entry: its file size.
uint64_t Charge(const std::string& key, const std::string& value) {
  return kHeaderBytes + key.size() + value.size();
}

std::unique_ptr<DiskCache> OpenOrDie(const std::string& dir, uint64_t capacity) {
  Result<std::unique_ptr<DiskCache>> r = DiskCache::Open(dir, capacity);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(DiskCacheTest, PutThenGetReturnsTheValue) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path() + "/cache", 1 << 20);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(cache->Get("a").has_value());
  const std::string value(1000, 'x');
  cache->Put("a", value);
  std::optional<std::string> got = cache->Get("a");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, value);
  cache->Put("empty", "");
  got = cache->Get("empty");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "");

  const CacheStats s = cache->stats();
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.bytes, Charge("a", value) + Charge("empty", ""));
  EXPECT_EQ(s.bytes, DirBytes(dir.path() + "/cache")) << "charge is the file size";
  EXPECT_EQ(s.corrupt, 0u);
  EXPECT_EQ(s.io_errors, 0u);
  EXPECT_EQ(cache->capacity_bytes(), 1u << 20);
}

TEST(DiskCacheTest, EraseDropsTheEntryAndItsFileOnly) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path() + "/cache", 1 << 20);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", std::string(100, 'a'));
  cache->Put("b", std::string(200, 'b'));
  const std::string path_a = cache->PathForKey("a");
  ASSERT_TRUE(FileExists(path_a));
  cache->Erase("a");
  cache->Erase("never-cached");  // a no-op
  EXPECT_FALSE(FileExists(path_a));
  EXPECT_FALSE(cache->Get("a").has_value());
  ASSERT_TRUE(cache->Get("b").has_value());
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.erased, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, Charge("b", std::string(200, 'b')));
  EXPECT_EQ(s.bytes, DirBytes(dir.path() + "/cache"));
  EXPECT_EQ(s.evictions, 0u);
}

TEST(DiskCacheTest, EvictsLeastRecentlyUsedFirst) {
  ScratchDir dir;
  const std::string v(100, 'v');
  auto cache = OpenOrDie(dir.path(), 3 * Charge("a", v));
  ASSERT_NE(cache, nullptr);
  cache->Put("a", v);
  cache->Put("b", v);
  cache->Put("c", v);
  ASSERT_TRUE(cache->Get("a").has_value());  // b is now the least recently used
  cache->Put("d", v);
  EXPECT_TRUE(cache->Get("a").has_value());
  EXPECT_FALSE(cache->Get("b").has_value());
  EXPECT_TRUE(cache->Get("c").has_value());
  EXPECT_TRUE(cache->Get("d").has_value());
  EXPECT_FALSE(FileExists(cache->PathForKey("b"))) << "an evicted entry's file is deleted";
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(ListFiles(dir.path()).size(), 3u);
}

TEST(DiskCacheTest, EvictsByBytesNotByCount) {
  ScratchDir dir;
  const std::string small(100, 's');
  // Room for four small entries.
  auto cache = OpenOrDie(dir.path(), 4 * Charge("a", small));
  ASSERT_NE(cache, nullptr);
  for (const char* k : {"a", "b", "c", "d"}) cache->Put(k, small);
  // A big entry the size of two small ones pushes out the two least recently used.
  const std::string big(2 * Charge("a", small) - Charge("B", ""), 'B');
  ASSERT_EQ(Charge("B", big), 2 * Charge("a", small));
  ASSERT_TRUE(cache->Get("a").has_value());  // order now, oldest first: b c d a
  cache->Put("B", big);
  EXPECT_FALSE(cache->Get("b").has_value());
  EXPECT_FALSE(cache->Get("c").has_value());
  EXPECT_TRUE(cache->Get("d").has_value());
  EXPECT_TRUE(cache->Get("a").has_value());
  EXPECT_TRUE(cache->Get("B").has_value());
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.bytes, 4 * Charge("a", small));
}

TEST(DiskCacheTest, CapacityIsNeverExceeded) {
  ScratchDir dir;
  constexpr uint64_t kCapacity = 64 * 1024;
  auto cache = OpenOrDie(dir.path(), kCapacity);
  ASSERT_NE(cache, nullptr);
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(rng() % 100);
    cache->Put(key, std::string(rng() % 10000, 'x'));
    const CacheStats s = cache->stats();
    ASSERT_LE(s.bytes, kCapacity);
    ASSERT_EQ(s.bytes, DirBytes(dir.path())) << "index and directory agree";
    ASSERT_EQ(s.entries, ListFiles(dir.path()).size());
  }
  EXPECT_GT(cache->stats().evictions, 0u);
}

TEST(DiskCacheTest, ValueLargerThanCapacityIsNotStored) {
  ScratchDir dir;
  const std::string v(100, 'v');
  const uint64_t capacity = 2 * Charge("a", v);
  auto cache = OpenOrDie(dir.path(), capacity);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", v);
  cache->Put("huge", std::string(capacity, 'h'));  // the header makes it too big
  EXPECT_FALSE(cache->Get("huge").has_value());
  EXPECT_TRUE(cache->Get("a").has_value()) << "nothing was evicted for it";
  EXPECT_EQ(cache->stats().evictions, 0u);
  EXPECT_EQ(ListFiles(dir.path()).size(), 1u);

  // Exactly the capacity fits, and evicts everything else.
  const std::string exact(capacity - Charge("x", ""), 'e');
  cache->Put("x", exact);
  EXPECT_TRUE(cache->Get("x").has_value());
  EXPECT_FALSE(cache->Get("a").has_value());
  EXPECT_EQ(cache->stats().bytes, capacity);
}

TEST(DiskCacheTest, ZeroCapacityStoresNothing) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path(), 0);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", "v");
  EXPECT_FALSE(cache->Get("a").has_value());
  EXPECT_TRUE(ListFiles(dir.path()).empty());
}

TEST(DiskCacheTest, RejectsEmptyAndOverlongKeys) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path(), 1 << 20);
  ASSERT_NE(cache, nullptr);
  cache->Put("", "v");
  cache->Put(std::string(70000, 'k'), "v");
  EXPECT_EQ(cache->stats().entries, 0u);
  EXPECT_TRUE(ListFiles(dir.path()).empty());
  const std::string longest(65535, 'k');
  cache->Put(longest, "v");
  EXPECT_EQ(cache->Get(longest), "v");
}

TEST(DiskCacheTest, ReputOfCachedKeyDoesNotRewriteTheFile) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path(), 1 << 20);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", "value");
  ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("a"), 100));
  const int64_t mtime = MtimeSeconds(cache->PathForKey("a"));
  cache->Put("a", "value");
  EXPECT_EQ(MtimeSeconds(cache->PathForKey("a")), mtime);
  EXPECT_EQ(cache->stats().inserts, 1u);
  // A value of another length replaces it.
  cache->Put("a", "longer value");
  EXPECT_EQ(cache->Get("a"), "longer value");
  EXPECT_EQ(cache->stats().bytes, Charge("a", "longer value"));
}

TEST(DiskCacheTest, RestartKeepsEntries) {
  ScratchDir dir;
  CacheStats before;
  {
    auto cache = OpenOrDie(dir.path(), 1 << 20);
    ASSERT_NE(cache, nullptr);
    for (int i = 0; i < 10; ++i) cache->Put("k" + std::to_string(i), std::string(100 + i, 'a'));
    before = cache->stats();
  }
  auto cache = OpenOrDie(dir.path(), 1 << 20);
  ASSERT_NE(cache, nullptr);
  const CacheStats after = cache->stats();
  EXPECT_EQ(after.entries, before.entries);
  EXPECT_EQ(after.bytes, before.bytes);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(cache->Get("k" + std::to_string(i)), std::string(100 + i, 'a'));
  }
  EXPECT_EQ(cache->stats().corrupt, 0u);
}

TEST(DiskCacheTest, RestartWithSmallerCapacityEvictsOldestByMtime) {
  ScratchDir dir;
  const std::string v(100, 'v');
  {
    auto cache = OpenOrDie(dir.path(), 1 << 20);
    ASSERT_NE(cache, nullptr);
    for (const char* k : {"a", "b", "c", "d"}) cache->Put(k, v);
    // Explicit times: files written in one clock tick may share an mtime.
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("c"), 400));
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("a"), 300));
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("d"), 200));
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("b"), 100));
  }
  auto cache = OpenOrDie(dir.path(), 2 * Charge("a", v));
  ASSERT_NE(cache, nullptr);
  EXPECT_EQ(cache->stats().entries, 2u);
  EXPECT_EQ(cache->stats().bytes, 2 * Charge("a", v));
  EXPECT_EQ(ListFiles(dir.path()).size(), 2u) << "evicted files are deleted at Open";
  EXPECT_FALSE(cache->Get("c").has_value());
  EXPECT_FALSE(cache->Get("a").has_value());
  EXPECT_TRUE(cache->Get("d").has_value());
  EXPECT_TRUE(cache->Get("b").has_value());

  // The adopted order is the LRU order: the next insertion evicts d, the older one.
  ASSERT_TRUE(cache->Get("b").has_value());
  cache->Put("e", v);
  EXPECT_FALSE(cache->Get("d").has_value());
  EXPECT_TRUE(cache->Get("b").has_value());
}

TEST(DiskCacheTest, HitRefreshesAnOldMtimeSoRestartKeepsHotEntries) {
  ScratchDir dir;
  const std::string v(100, 'v');
  {
    auto cache = OpenOrDie(dir.path(), 1 << 20);
    ASSERT_NE(cache, nullptr);
    cache->Put("hot", v);
    cache->Put("cold", v);
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("hot"), 7200));
    ASSERT_TRUE(SetMtimeSecondsAgo(cache->PathForKey("cold"), 3600));
    ASSERT_TRUE(cache->Get("hot").has_value());
  }
  auto cache = OpenOrDie(dir.path(), Charge("hot", v));
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(cache->Get("hot").has_value());
  EXPECT_FALSE(cache->Get("cold").has_value());
}

TEST(DiskCacheTest, OpenRemovesTemporariesAndDamagedEntriesButNotForeignFiles) {
  ScratchDir dir;
  std::string good_path;
  std::string other_path;
  {
    auto cache = OpenOrDie(dir.path(), 1 << 20);
    ASSERT_NE(cache, nullptr);
    cache->Put("good", "value");
    cache->Put("other", "value");
    good_path = cache->PathForKey("good");
    other_path = cache->PathForKey("other");
  }
  const std::string temp = dir.path() + "/.vpc-tmp.12345.6";
  const std::string garbage = dir.path() + "/0123456789abcdef.vpc";
  const std::string foreign = dir.path() + "/notes.txt";
  WriteFileBytes(temp, "half a write");
  WriteFileBytes(garbage, std::string(200, '\x5a'));
  WriteFileBytes(foreign, "not a cache file");
  std::filesystem::create_directory(dir.path() + "/subdir");
  // A valid entry for "other" under a name that is not its key's: a wrong key.
  const std::string misnamed = dir.path() + "/fedcba9876543210.vpc";
  WriteFileBytes(misnamed, ReadFileBytes(other_path));
  // A truncated entry.
  const std::string other_bytes = ReadFileBytes(other_path);
  WriteFileBytes(other_path, other_bytes.substr(0, other_bytes.size() - 1));

  auto cache = OpenOrDie(dir.path(), 1 << 20);
  ASSERT_NE(cache, nullptr);
  EXPECT_FALSE(FileExists(temp));
  EXPECT_FALSE(FileExists(garbage));
  EXPECT_FALSE(FileExists(misnamed));
  EXPECT_FALSE(FileExists(other_path));
  EXPECT_TRUE(FileExists(foreign)) << "files not named like ours are never deleted";
  EXPECT_TRUE(FileExists(dir.path() + "/subdir"));
  EXPECT_EQ(cache->stats().corrupt, 3u);
  EXPECT_EQ(cache->stats().entries, 1u);
  EXPECT_EQ(cache->Get("good"), "value");
  EXPECT_FALSE(cache->Get("other").has_value());
}

// Each way of damaging a file must turn a hit into a counted miss that deletes the file.
struct Damage {
  const char* name;
  // Rewrites `bytes`, the entry file of key "key" (value "value-0123456789").
  std::string (*apply)(std::string bytes, DiskCache* cache);
};

const Damage kDamages[] = {
    {"FlippedValueByte",
     [](std::string b, DiskCache*) {
       b[b.size() - 3] ^= 0x01;
       return b;
     }},
    {"FlippedKeyByte",
     [](std::string b, DiskCache*) {
       b[kHeaderBytes] ^= 0x20;
       return b;
     }},
    {"FlippedChecksumByte",
     [](std::string b, DiskCache*) {
       b[5] ^= 0x10;
       return b;
     }},
    {"FlippedLengthByte",
     [](std::string b, DiskCache*) {
       b[16] ^= 0x01;
       return b;
     }},
    {"Truncated", [](std::string b, DiskCache*) { return b.substr(0, b.size() - 5); }},
    {"TruncatedToHeader", [](std::string b, DiskCache*) { return b.substr(0, 10); }},
    {"Empty", [](std::string, DiskCache*) { return std::string(); }},
    {"Appended", [](std::string b, DiskCache*) { return b + "extra"; }},
    {"Garbage", [](std::string b, DiskCache*) { return std::string(b.size(), '\x7f'); }},
    {"WrongKeyInHeader",
     // A well-formed entry, valid checksum included, of another key of the same length
     // and value length: only the key in the header tells it apart.
     [](std::string, DiskCache* cache) {
       cache->Put("kez", "value-0123456789");
       return ReadFileBytes(cache->PathForKey("kez"));
     }},
};

class DiskCacheDamageTest : public ::testing::TestWithParam<Damage> {};

TEST_P(DiskCacheDamageTest, DamagedEntryIsAMissIsDeletedAndCounted) {
  ScratchDir dir;
  auto cache = OpenOrDie(dir.path(), 1 << 20);
  ASSERT_NE(cache, nullptr);
  const std::string value = "value-0123456789";
  cache->Put("key", value);
  ASSERT_EQ(cache->Get("key"), value);
  const std::string path = cache->PathForKey("key");
  const uint64_t bytes_before = cache->stats().bytes;

  WriteFileBytes(path, GetParam().apply(ReadFileBytes(path), cache.get()));
  const uint64_t other_bytes = cache->stats().bytes - bytes_before;  // "kez", if added

  EXPECT_FALSE(cache->Get("key").has_value());
  EXPECT_FALSE(FileExists(path)) << "the damaged file is deleted";
  CacheStats s = cache->stats();
  EXPECT_EQ(s.corrupt, 1u);
  EXPECT_EQ(s.bytes, other_bytes);
  EXPECT_FALSE(cache->Get("key").has_value());
  EXPECT_EQ(cache->stats().corrupt, 1u) << "counted once";

  cache->Put("key", value);
  EXPECT_EQ(cache->Get("key"), value) << "a fresh Put repairs it";
}

INSTANTIATE_TEST_SUITE_P(AllDamages, DiskCacheDamageTest, ::testing::ValuesIn(kDamages),
                         [](const ::testing::TestParamInfo<Damage>& info) {
                           return std::string(info.param.name);
                         });

TEST(DiskCacheTest, DirectoryDeletedWhileRunningIsRecreated) {
  ScratchDir scratch;
  const std::string dir = scratch.path() + "/cache";
  auto cache = OpenOrDie(dir, 1 << 20);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", "1");
  cache->Put("b", "2");
  std::filesystem::remove_all(dir);

  EXPECT_FALSE(cache->Get("a").has_value());
  cache->Put("c", "3");
  EXPECT_EQ(cache->Get("c"), "3");
  EXPECT_FALSE(cache->Get("b").has_value());
  const CacheStats s = cache->stats();
  EXPECT_EQ(s.entries, 1u) << "entries of the vanished directory are forgotten";
  EXPECT_EQ(s.bytes, DirBytes(dir));
  EXPECT_EQ(s.corrupt, 0u);
}

TEST(DiskCacheTest, DirectoryReplacedByAFileFailsGracefully) {
  ScratchDir scratch;
  const std::string dir = scratch.path() + "/cache";
  auto cache = OpenOrDie(dir, 1 << 20);
  ASSERT_NE(cache, nullptr);
  cache->Put("a", "1");
  std::filesystem::remove_all(dir);
  WriteFileBytes(dir, "I am a file now");

  cache->Put("b", "2");
  EXPECT_FALSE(cache->Get("a").has_value());
  EXPECT_FALSE(cache->Get("b").has_value());
  EXPECT_GE(cache->stats().io_errors, 1u);
}

TEST(DiskCacheTest, OpenFailsWhenTheDirectoryCannotBeCreated) {
  ScratchDir scratch;
  WriteFileBytes(scratch.path() + "/file", "x");
  EXPECT_FALSE(DiskCache::Open(scratch.path() + "/file/cache", 1 << 20).ok());
  EXPECT_FALSE(DiskCache::Open("", 1 << 20).ok());
}

TEST(DiskCacheTest, ConcurrentGetsAndPutsFromEightThreads) {
  ScratchDir dir;
  constexpr uint64_t kCapacity = 96 * 1024;  // well below the ~240 KiB working set
  auto cache = OpenOrDie(dir.path(), kCapacity);
  ASSERT_NE(cache, nullptr);
  auto value_of = [](int k) { return std::string(512 + 97 * k, static_cast<char>('a' + k % 26)); };
  std::atomic<int> wrong{0};
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 1500; ++i) {
        const int k = static_cast<int>(rng() % 64);
        const std::string key = "key/" + std::to_string(k);
        if (rng() % 3 == 0) {
          cache->Put(key, value_of(k));
        } else if (std::optional<std::string> v = cache->Get(key)) {
          ++hits;
          if (*v != value_of(k)) ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(hits.load(), 0);
  const CacheStats s = cache->stats();
  EXPECT_LE(s.bytes, kCapacity);
  EXPECT_EQ(s.corrupt, 0u);
  EXPECT_EQ(s.io_errors, 0u);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_EQ(s.bytes, DirBytes(dir.path())) << "no leaked or missing files";
  EXPECT_EQ(s.entries, ListFiles(dir.path()).size());
}

TEST(DiskCacheTest, TwoCachesOnOneDirectoryNeverServeWrongData) {
  // Not a supported configuration for capacity, but it must not corrupt.
  ScratchDir dir;
  auto one = OpenOrDie(dir.path(), 64 * 1024);
  auto two = OpenOrDie(dir.path(), 64 * 1024);
  ASSERT_NE(one, nullptr);
  ASSERT_NE(two, nullptr);
  auto value_of = [](int k) { return std::string(1000 + 31 * k, static_cast<char>('A' + k)); };
  std::atomic<int> wrong{0};
  auto run = [&](DiskCache* cache, int seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 2000; ++i) {
      const int k = static_cast<int>(rng() % 40);
      const std::string key = std::to_string(k);
      if (rng() % 2 == 0) {
        cache->Put(key, value_of(k));
      } else if (std::optional<std::string> v = cache->Get(key)) {
        if (*v != value_of(k)) ++wrong;
      }
    }
  };
  std::thread a(run, one.get(), 1);
  std::thread b(run, two.get(), 2);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(one->stats().corrupt + two->stats().corrupt, 0u);
}

}  // namespace
}  // namespace vecpuff
