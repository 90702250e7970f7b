#include "db/posting_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace vecpuff {
namespace {

std::shared_ptr<const PostingData> Posting(uint32_t centroid_id, size_t floats) {
  auto p = std::make_shared<PostingData>();
  p->centroid_id = centroid_id;
  p->vectors.assign(floats, 1.0f);
  return p;
}

PostingRef Ref(const std::string& pack, uint64_t offset) { return PostingRef{pack, offset, 10, 1}; }

TEST(PostingCacheTest, HitsOnlyTheSamePackAndOffset) {
  PostingCache cache(1 << 20);
  const PostingRef a = Ref("ns/index/1/pack-0000", 0);
  cache.Put(PostingCache::Key(a), Posting(1, 10));
  auto hit = cache.Get(PostingCache::Key(a));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->centroid_id, 1u);
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("ns/index/1/pack-0000", 10))), nullptr);
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("ns/index/1/pack-0001", 0))), nullptr);
  // The key views the ref: a copy of the pack name finds the same entry.
  const std::string copy = a.pack;
  EXPECT_NE(cache.Get(PostingCache::Key(Ref(copy, 0))), nullptr);
}

TEST(PostingCacheTest, EvictsTheLeastRecentlyUsedByBytes) {
  const size_t one = Posting(0, 1000)->MemoryBytes() + 200;
  PostingCache cache(3 * one);
  for (uint32_t i = 0; i < 3; ++i) cache.Put(PostingCache::Key(Ref("p", i)), Posting(i, 1000));
  ASSERT_NE(cache.Get(PostingCache::Key(Ref("p", 0))), nullptr);  // 0 is now the most recent
  cache.Put(PostingCache::Key(Ref("p", 3)), Posting(3, 1000));    // evicts 1
  EXPECT_NE(cache.Get(PostingCache::Key(Ref("p", 0))), nullptr);
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("p", 1))), nullptr);
  EXPECT_NE(cache.Get(PostingCache::Key(Ref("p", 2))), nullptr);
  EXPECT_NE(cache.Get(PostingCache::Key(Ref("p", 3))), nullptr);
  EXPECT_LE(cache.used_bytes(), 3 * one);
}

TEST(PostingCacheTest, ReplacingAnEntryKeepsTheAccountingRight) {
  PostingCache cache(1 << 20);
  cache.Put(PostingCache::Key(Ref("p", 0)), Posting(1, 100));
  const size_t used = cache.used_bytes();
  cache.Put(PostingCache::Key(Ref("p", 0)), Posting(2, 100));
  EXPECT_EQ(cache.used_bytes(), used);
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("p", 0)))->centroid_id, 2u);
}

TEST(PostingCacheTest, EraseDropsOnlyThatEntryAndItsCharge) {
  PostingCache cache(1 << 20);
  cache.Put(PostingCache::Key(Ref("p", 0)), Posting(1, 100));
  const size_t one = cache.used_bytes();
  cache.Put(PostingCache::Key(Ref("p", 8)), Posting(2, 100));
  auto held = cache.Get(PostingCache::Key(Ref("p", 0)));
  cache.Erase(PostingCache::Key("p", 0));
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("p", 0))), nullptr);
  EXPECT_NE(cache.Get(PostingCache::Key(Ref("p", 8))), nullptr);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.used_bytes(), one);
  ASSERT_NE(held, nullptr);  // a reader keeps its copy
  EXPECT_EQ(held->centroid_id, 1u);
  // Erasing what is not cached (another offset, another pack, twice) changes nothing.
  cache.Erase(PostingCache::Key("p", 0));
  cache.Erase(PostingCache::Key("p", 16));
  cache.Erase(PostingCache::Key("q", 8));
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.used_bytes(), one);
}

TEST(PostingCacheTest, AnEntryLargerThanTheCacheIsNotKept) {
  PostingCache cache(100);
  cache.Put(PostingCache::Key(Ref("p", 0)), Posting(1, 1000));
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("p", 0))), nullptr);
  EXPECT_EQ(cache.used_bytes(), 0u);
}

TEST(PostingCacheTest, AnEvictedPostingStaysValidForItsHolder) {
  const size_t one = Posting(0, 1000)->MemoryBytes() + 200;
  PostingCache cache(one);
  cache.Put(PostingCache::Key(Ref("p", 0)), Posting(7, 1000));
  auto held = cache.Get(PostingCache::Key(Ref("p", 0)));
  cache.Put(PostingCache::Key(Ref("p", 1)), Posting(8, 1000));  // evicts the first
  EXPECT_EQ(cache.Get(PostingCache::Key(Ref("p", 0))), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->centroid_id, 7u);
  EXPECT_EQ(held->vectors.size(), 1000u);
}

}  // namespace
}  // namespace vecpuff
