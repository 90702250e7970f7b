// CachingStore over MemoryStore, with a CountingStore below it to see which reads reach
// the target.

#include "cache/caching_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache_test_util.h"
#include "storage/counting_store.h"
#include "storage/fault_injection_store.h"
#include "storage/memory_store.h"
#include "test_util.h"

namespace vecpuff {
namespace {

using testing::FileExists;
using testing::ReadFileBytes;
using testing::ScratchDir;
using testing::WriteFileBytes;

bool IsSegment(std::string_view key) { return key.starts_with("seg/"); }

std::string Bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

enum class Caches { kMemory, kDisk, kBoth };

// target <- counting <- caching, with the caches chosen by the parameter.
class CachingStoreTest : public ::testing::TestWithParam<Caches> {
 protected:
  void SetUp() override {
    memory_store_ = NewMemoryStore();
    counting_ = std::make_unique<CountingStore>(memory_store_.get());
    if (GetParam() != Caches::kMemory) {
      Result<std::unique_ptr<DiskCache>> d = DiskCache::Open(dir_.path(), 1 << 22);
      ASSERT_TRUE(d.ok()) << d.status().ToString();
      disk_ = std::move(d).value();
    }
    if (GetParam() != Caches::kDisk) memory_ = std::make_unique<MemoryCache>(1 << 22, 4);
    store_ = std::make_unique<CachingStore>(
        counting_.get(), CachingStoreOptions{IsSegment, disk_.get(), memory_.get()});
  }

  uint64_t target_gets() const { return counting_->counts().gets; }

  ScratchDir dir_;
  std::unique_ptr<ObjectStore> memory_store_;
  std::unique_ptr<CountingStore> counting_;
  std::unique_ptr<DiskCache> disk_;
  std::unique_ptr<MemoryCache> memory_;
  std::unique_ptr<CachingStore> store_;
};

TEST_P(CachingStoreTest, SecondGetIsServedFromCacheWithTheSameResult) {
  const std::string data = Bytes(64 * 1024, 1);
  ASSERT_TRUE(memory_store_->Put("seg/a", data).ok());
  Result<GetResult> first = store_->Get("seg/a");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(target_gets(), 1u);
  Result<GetResult> second = store_->Get("seg/a");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(target_gets(), 1u) << "a hit does not reach the target";
  EXPECT_EQ(second->data, data);
  EXPECT_EQ(second->meta.key, "seg/a");
  EXPECT_EQ(second->meta.size_bytes, data.size());
  EXPECT_EQ(second->meta.etag, first->meta.etag);
  EXPECT_EQ(second->meta.last_modified_ms, first->meta.last_modified_ms);
}

TEST_P(CachingStoreTest, EmptyObjectIsCached) {
  ASSERT_TRUE(memory_store_->Put("seg/empty", "").ok());
  ASSERT_TRUE(store_->Get("seg/empty").ok());
  Result<GetResult> r = store_->Get("seg/empty");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, "");
  EXPECT_EQ(r->meta.size_bytes, 0u);
  EXPECT_EQ(target_gets(), 1u);
}

TEST_P(CachingStoreTest, RangedReadsAreCachedSeparatelyFromWholeReads) {
  const std::string data = "0123456789abcdefghij";
  ASSERT_TRUE(memory_store_->Put("seg/r", data).ok());
  const std::optional<ByteRange> ranges[] = {
      std::nullopt,    ByteRange{2, 5},    ByteRange{2, std::nullopt},
      ByteRange{0, 5}, ByteRange{15, 100},  // cut at the end
  };
  const std::string expected[] = {data, "23456", data.substr(2), "01234", "fghij"};
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < std::size(ranges); ++i) {
      Result<GetResult> r = store_->Get("seg/r", ranges[i]);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->data, expected[i]) << "round " << round << " range " << i;
      EXPECT_EQ(r->meta.size_bytes, data.size()) << "the whole object's size, also on a hit";
      EXPECT_EQ(r->meta.key, "seg/r");
    }
    EXPECT_EQ(target_gets(), std::size(ranges)) << "each range read once, round " << round;
  }
}

TEST_P(CachingStoreTest, MutableKeysAreNeverCached) {
  ASSERT_TRUE(store_->Put("manifest", "v1").ok());
  EXPECT_EQ(store_->Get("manifest")->data, "v1");
  ASSERT_TRUE(memory_store_->Put("manifest", "v2").ok());
  EXPECT_EQ(store_->Get("manifest")->data, "v2");
  EXPECT_EQ(store_->Get("manifest", ByteRange{0, 1})->data, "v");
  EXPECT_EQ(target_gets(), 3u);
  if (disk_) {
    EXPECT_EQ(disk_->stats().entries, 0u);
  }
  if (memory_) {
    EXPECT_EQ(memory_->stats().entries, 0u);
  }
}

TEST_P(CachingStoreTest, ErrorsPassThroughAndAreNotCached) {
  Result<GetResult> missing = store_->Get("seg/later");
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  ASSERT_TRUE(memory_store_->Put("seg/later", "now here").ok());
  Result<GetResult> found = store_->Get("seg/later");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->data, "now here");
  EXPECT_EQ(target_gets(), 2u);

  Result<GetResult> bad_range = store_->Get("seg/later", ByteRange{100, 1});
  EXPECT_TRUE(bad_range.status().IsInvalidArgument()) << bad_range.status().ToString();
  EXPECT_TRUE(store_->Get("seg/later", ByteRange{100, 1}).status().IsInvalidArgument());
  EXPECT_EQ(target_gets(), 4u);
}

TEST_P(CachingStoreTest, TransientErrorIsReturnedUnchangedAndNotCached) {
  FaultInjectingStore faulty(memory_store_.get(), 1);
  CountingStore counting(&faulty);
  CachingStore store(&counting, CachingStoreOptions{IsSegment, disk_.get(), memory_.get()});
  ASSERT_TRUE(memory_store_->Put("seg/t", "data").ok());
  faulty.FailNext(StoreOp::kGet, 1, Status::Unavailable("503 SlowDown"));
  Result<GetResult> r = store.Get("seg/t");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "503 SlowDown");
  Result<GetResult> ok = store.Get("seg/t");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->data, "data");
  EXPECT_TRUE(store.Get("seg/t").ok());
  EXPECT_EQ(counting.counts().gets, 2u);
}

TEST_P(CachingStoreTest, SuccessfulPutIsWrittenThrough) {
  const std::string data = Bytes(5000, 2);
  Result<ObjectMeta> put = store_->Put("seg/w", data, PutOptions{PutMode::kCreateOnly, ""});
  ASSERT_TRUE(put.ok());
  Result<GetResult> r = store_->Get("seg/w");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, data);
  EXPECT_EQ(r->meta.etag, put->etag);
  EXPECT_EQ(r->meta.size_bytes, data.size());
  EXPECT_EQ(r->meta.key, "seg/w");
  EXPECT_EQ(target_gets(), 0u);
  // Only the whole object was cached: a range still reads the target.
  EXPECT_EQ(store_->Get("seg/w", ByteRange{1, 2})->data, data.substr(1, 2));
  EXPECT_EQ(target_gets(), 1u);
}

TEST_P(CachingStoreTest, ForgetErasesOnlyThatRange) {
  const std::string data = Bytes(100, 3);
  ASSERT_TRUE(memory_store_->Put("seg/f", data).ok());
  for (int pass = 0; pass < 2; ++pass) {
    EXPECT_EQ(store_->Get("seg/f", ByteRange{0, 10})->data, data.substr(0, 10));
    EXPECT_EQ(store_->Get("seg/f", ByteRange{10, 10})->data, data.substr(10, 10));
    EXPECT_EQ(store_->Get("seg/f")->data, data);
  }
  EXPECT_EQ(target_gets(), 3u);
  store_->Forget("seg/f", ByteRange{0, 10});
  store_->Forget("seg/f", ByteRange{0, 11});  // never read: a no-op
  store_->Forget("manifest", std::nullopt);   // not cacheable: passed on, a no-op
  EXPECT_EQ(store_->Get("seg/f", ByteRange{0, 10})->data, data.substr(0, 10));
  EXPECT_EQ(target_gets(), 4u);
  EXPECT_EQ(store_->Get("seg/f", ByteRange{10, 10})->data, data.substr(10, 10));
  EXPECT_EQ(store_->Get("seg/f")->data, data);
  EXPECT_EQ(target_gets(), 4u);
  EXPECT_TRUE(memory_store_->Get("seg/f").ok()) << "the object itself is untouched";
}

// A deleted object's whole-object entry goes with it: a Get after the delete reaches the
// target (NotFound) instead of being served from the cache.
TEST_P(CachingStoreTest, DeleteErasesTheWholeObjectEntry) {
  ASSERT_TRUE(store_->Put("seg/d1", "one").ok());
  ASSERT_TRUE(store_->Put("seg/d2", "two").ok());
  ASSERT_TRUE(store_->Put("seg/d3", "three").ok());
  EXPECT_TRUE(store_->Get("seg/d1").ok());
  EXPECT_EQ(target_gets(), 0u);
  ASSERT_TRUE(store_->Delete("seg/d1").ok());
  ASSERT_TRUE(store_->DeleteMany({"seg/d2", "seg/absent"}).ok());
  EXPECT_TRUE(store_->Get("seg/d1").status().IsNotFound());
  EXPECT_TRUE(store_->Get("seg/d2").status().IsNotFound());
  EXPECT_EQ(store_->Get("seg/d3")->data, "three");
  EXPECT_EQ(target_gets(), 2u);
}

TEST_P(CachingStoreTest, FailedPutIsNotCached) {
  ASSERT_TRUE(memory_store_->Put("seg/p", "original").ok());
  Result<ObjectMeta> lost = store_->Put("seg/p", "imposter", PutOptions{PutMode::kCreateOnly, ""});
  EXPECT_TRUE(lost.status().IsPreconditionFailed());
  EXPECT_EQ(store_->Get("seg/p")->data, "original");
  EXPECT_EQ(target_gets(), 1u);

  // An ambiguous put (performed, answered Unavailable) is not cached either.
  FaultInjectingStore faulty(memory_store_.get(), 1);
  CachingStore store(&faulty, CachingStoreOptions{IsSegment, disk_.get(), memory_.get()});
  faulty.MakeNextPutsAmbiguous(1);
  EXPECT_TRUE(store.Put("seg/amb", "x").status().IsUnavailable());
  ASSERT_TRUE(memory_store_->Delete("seg/amb").ok());
  EXPECT_TRUE(store.Get("seg/amb").status().IsNotFound());
}

TEST_P(CachingStoreTest, OtherCallsPassThrough) {
  ASSERT_TRUE(store_->Put("seg/x", "1").ok());
  EXPECT_TRUE(store_->Head("seg/x").ok());
  EXPECT_EQ(ListAll(store_.get(), "seg/")->size(), 1u);
  EXPECT_TRUE(store_->Delete("seg/x").ok());
  EXPECT_TRUE(memory_store_->Head("seg/x").status().IsNotFound());
  EXPECT_EQ(store_->Describe(), "caching(counting(" + memory_store_->Describe() + "))");
}

TEST_P(CachingStoreTest, ConcurrentReadersAndWritersFromEightThreads) {
  constexpr int kObjects = 48;
  for (int i = 0; i < kObjects; i += 2) {
    ASSERT_TRUE(memory_store_->Put("seg/" + std::to_string(i), Bytes(1000 + 53 * i, i)).ok());
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int n = 0; n < 600; ++n) {
        const int i = static_cast<int>(rng() % kObjects);
        const std::string key = "seg/" + std::to_string(i);
        const std::string data = Bytes(1000 + 53 * i, i);
        if (i % 2 == 1 && rng() % 4 == 0) {
          // Racing creators: one wins, the others lose; all of them are fine.
          (void)store_->Put(key, data, PutOptions{PutMode::kCreateOnly, ""});
          continue;
        }
        const bool ranged = rng() % 2 == 0;
        Result<GetResult> r = ranged ? store_->Get(key, ByteRange{10, 100}) : store_->Get(key);
        if (!r.ok()) {
          if (!(i % 2 == 1 && r.status().IsNotFound())) ++wrong;
          continue;
        }
        if (r->data != (ranged ? data.substr(10, 100) : data)) ++wrong;
        if (r->meta.size_bytes != data.size()) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  if (disk_) {
    EXPECT_EQ(disk_->stats().corrupt, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCaches, CachingStoreTest,
                         ::testing::Values(Caches::kMemory, Caches::kDisk, Caches::kBoth),
                         [](const ::testing::TestParamInfo<Caches>& info) {
                           switch (info.param) {
                             case Caches::kMemory:
                               return "Memory";
                             case Caches::kDisk:
                               return "Disk";
                             case Caches::kBoth:
                               return "Both";
                           }
                           return "Unknown";
                         });

// Damage to a disk entry: the read falls back to the target, returns the right bytes, and
// the entry is rewritten. Disk only, so that a memory hit cannot hide the damage.
struct DiskDamage {
  const char* name;
  std::string (*apply)(std::string bytes);
};

const DiskDamage kDiskDamages[] = {
    {"FlippedByte",
     [](std::string b) {
       b[b.size() / 2] ^= 0x40;
       return b;
     }},
    {"Truncated", [](std::string b) { return b.substr(0, b.size() - 100); }},
    {"Garbage", [](std::string b) { return Bytes(b.size(), 99); }},
    {"WrongKeyInHeader",
     // Flip one byte of the object key stored in the header (after the 24-byte header and
     // the "w:" tag); the checksum would catch it too, the key check does first.
     [](std::string b) {
       b[24 + 2 + 4] ^= 0x01;
       return b;
     }},
};

class CachingStoreDamageTest : public ::testing::TestWithParam<DiskDamage> {};

TEST_P(CachingStoreDamageTest, DamagedDiskEntryIsRefetchedFromTheTarget) {
  ScratchDir dir;
  auto target = NewMemoryStore();
  CountingStore counting(target.get());
  Result<std::unique_ptr<DiskCache>> disk = DiskCache::Open(dir.path(), 1 << 22);
  ASSERT_TRUE(disk.ok());
  CachingStore store(&counting, CachingStoreOptions{IsSegment, disk->get(), nullptr});
  const std::string data = Bytes(10000, 5);
  ASSERT_TRUE(target->Put("seg/dmg", data).ok());
  ASSERT_EQ(store.Get("seg/dmg")->data, data);
  ASSERT_EQ(counting.counts().gets, 1u);
  ASSERT_EQ((*disk)->stats().entries, 1u);

  const std::vector<std::string> files = testing::ListFiles(dir.path());
  ASSERT_EQ(files.size(), 1u);
  const std::string path = dir.path() + "/" + files[0];
  WriteFileBytes(path, GetParam().apply(ReadFileBytes(path)));

  Result<GetResult> r = store.Get("seg/dmg");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, data) << "the right bytes, from the target";
  EXPECT_EQ(r->meta.size_bytes, data.size());
  EXPECT_EQ(counting.counts().gets, 2u);
  EXPECT_EQ((*disk)->stats().corrupt, 1u);

  // Refilled: the next read is a hit of a sound entry again.
  ASSERT_TRUE(FileExists(path));
  EXPECT_EQ(store.Get("seg/dmg")->data, data);
  EXPECT_EQ(counting.counts().gets, 2u);
  EXPECT_EQ((*disk)->stats().corrupt, 1u);
}

INSTANTIATE_TEST_SUITE_P(AllDamages, CachingStoreDamageTest, ::testing::ValuesIn(kDiskDamages),
                         [](const ::testing::TestParamInfo<DiskDamage>& info) {
                           return std::string(info.param.name);
                         });

TEST(CachingStoreRestartTest, DiskEntriesSurviveARestart) {
  ScratchDir dir;
  auto target = NewMemoryStore();
  CountingStore counting(target.get());
  const std::string data = Bytes(3000, 8);
  ASSERT_TRUE(target->Put("seg/keep", data).ok());
  std::string etag;
  {
    auto disk = DiskCache::Open(dir.path(), 1 << 20);
    ASSERT_TRUE(disk.ok());
    CachingStore store(&counting, CachingStoreOptions{IsSegment, disk->get(), nullptr});
    Result<GetResult> r = store.Get("seg/keep");
    ASSERT_TRUE(r.ok());
    etag = r->meta.etag;
  }
  auto disk = DiskCache::Open(dir.path(), 1 << 20);
  ASSERT_TRUE(disk.ok());
  MemoryCache memory(1 << 20);
  CachingStore store(&counting, CachingStoreOptions{IsSegment, disk->get(), &memory});
  Result<GetResult> r = store.Get("seg/keep");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, data);
  EXPECT_EQ(r->meta.etag, etag);
  EXPECT_EQ(counting.counts().gets, 1u);
  // The disk hit filled memory: a second read does not touch the disk.
  ASSERT_TRUE(store.Get("seg/keep").ok());
  EXPECT_EQ((*disk)->stats().hits, 1u);
  EXPECT_EQ(memory.stats().hits, 1u);
}

TEST(CachingStoreOptionsTest, FillOnPutChoosesWhichPutsAreWrittenThrough) {
  auto target = NewMemoryStore();
  CountingStore counting(target.get());
  MemoryCache memory(1 << 20);
  CachingStoreOptions options{IsSegment, nullptr, &memory};
  options.fill_on_put = [](std::string_view key) { return key.ends_with("/meta"); };
  CachingStore store(&counting, options);
  ASSERT_TRUE(store.Put("seg/1/meta", "m").ok());
  ASSERT_TRUE(store.Put("seg/1/pack", "p").ok());
  EXPECT_EQ(memory.stats().entries, 1u);
  EXPECT_EQ(store.Get("seg/1/meta")->data, "m");
  EXPECT_EQ(counting.counts().gets, 0u);
  EXPECT_EQ(store.Get("seg/1/pack")->data, "p");
  EXPECT_EQ(counting.counts().gets, 1u);
  EXPECT_EQ(store.Get("seg/1/pack")->data, "p");  // reads still fill the cache
  EXPECT_EQ(counting.counts().gets, 1u);
}

TEST(CachingStoreOptionsTest, NoPredicateOrNoCachesMeansPassThrough) {
  auto target = NewMemoryStore();
  CountingStore counting(target.get());
  ASSERT_TRUE(target->Put("seg/a", "x").ok());
  MemoryCache memory(1 << 20);
  CachingStore no_predicate(&counting, CachingStoreOptions{nullptr, nullptr, &memory});
  ASSERT_TRUE(no_predicate.Get("seg/a").ok());
  ASSERT_TRUE(no_predicate.Get("seg/a").ok());
  CachingStore no_caches(&counting, CachingStoreOptions{IsSegment, nullptr, nullptr});
  ASSERT_TRUE(no_caches.Get("seg/a").ok());
  ASSERT_TRUE(no_caches.Put("seg/b", "y").ok());
  EXPECT_EQ(counting.counts().gets, 3u);
  EXPECT_EQ(memory.stats().entries, 0u);
}

}  // namespace
}  // namespace vecpuff
