#include "wal/wal_format.h"

#include <gtest/gtest.h>

#include <random>

namespace vecpuff {
namespace {

WalRequest SampleRequest(int n, int dims, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  WalRequest r;
  for (int i = 0; i < n; ++i) {
    WalOp up;
    up.type = WalOpType::kUpsert;
    up.id = "doc-" + std::to_string(i);
    for (int d = 0; d < dims; ++d) up.vector.push_back(u(*rng));
    up.attributes = {{"i", i}, {"tag", "t" + std::to_string(i % 3)}, {"nested", {{"a", 1.5}}}};
    r.ops.push_back(up);
  }
  WalOp patch;
  patch.type = WalOpType::kPatch;
  patch.id = "doc-0";
  patch.attributes = {{"tag", nullptr}};
  r.ops.push_back(patch);
  WalOp del;
  del.type = WalOpType::kDelete;
  del.id = "doc-1";
  r.ops.push_back(del);
  return r;
}

TEST(WalFormat, RoundTripPreservesRequestsAndOrder) {
  std::mt19937 rng(1);
  std::vector<WalRequest> requests = {SampleRequest(50, 16, &rng), SampleRequest(3, 16, &rng)};
  std::string object = FrameWalEntry(7, 123456789, 0xfeedULL, EncodeWalPayload(requests));
  auto entry = DecodeWalEntry(object, 7);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(entry->seq, 7u);
  EXPECT_EQ(entry->commit_time_ms, 123456789);
  EXPECT_EQ(entry->writer_id, 0xfeedULL);
  ASSERT_EQ(entry->requests.size(), 2u);
  for (size_t r = 0; r < requests.size(); ++r) {
    ASSERT_EQ(entry->requests[r].ops.size(), requests[r].ops.size());
    for (size_t i = 0; i < requests[r].ops.size(); ++i) {
      const WalOp& a = requests[r].ops[i];
      const WalOp& b = entry->requests[r].ops[i];
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.id, b.id);
      EXPECT_EQ(a.vector, b.vector);
      if (a.type != WalOpType::kDelete) {
        EXPECT_EQ(a.attributes, b.attributes);
      }
    }
  }
}

TEST(WalFormat, SmallPayloadIsStoredUncompressed) {
  WalRequest r;
  WalOp del;
  del.type = WalOpType::kDelete;
  del.id = "x";
  r.ops.push_back(del);
  std::string payload = EncodeWalPayload({r});
  EXPECT_EQ(static_cast<uint8_t>(payload[0]), kWalCompressionNone);
  auto entry = DecodeWalEntry(FrameWalEntry(1, 0, 0xfeedULL, payload), 1);
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->requests[0].ops[0].id, "x");
}

TEST(WalFormat, LargePayloadIsCompressed) {
  std::mt19937 rng(2);
  WalRequest r = SampleRequest(100, 8, &rng);
  std::string payload = EncodeWalPayload({r});
  EXPECT_EQ(static_cast<uint8_t>(payload[0]), kWalCompressionZstd);
}

TEST(WalFormat, EveryFlippedByteIsDetected) {
  std::mt19937 rng(3);
  std::string object =
      FrameWalEntry(3, 99, 0xfeedULL, EncodeWalPayload({SampleRequest(5, 4, &rng)}));
  for (size_t i = 0; i < object.size(); ++i) {
    std::string bad = object;
    bad[i] ^= 0x5a;
    auto entry = DecodeWalEntry(bad, 3);
    EXPECT_FALSE(entry.ok()) << "flip at byte " << i << " not detected";
    if (!entry.ok()) {
      EXPECT_TRUE(entry.status().IsCorruption()) << entry.status().ToString();
    }
  }
}

TEST(WalFormat, TruncatedObjectIsCorruption) {
  std::mt19937 rng(4);
  std::string object =
      FrameWalEntry(3, 99, 0xfeedULL, EncodeWalPayload({SampleRequest(5, 4, &rng)}));
  for (size_t len : {size_t{0}, size_t{10}, kWalHeaderSize - 1, kWalHeaderSize, object.size() / 2,
                     object.size() - 1}) {
    auto entry = DecodeWalEntry(std::string_view(object).substr(0, len), 3);
    ASSERT_FALSE(entry.ok()) << len;
    EXPECT_TRUE(entry.status().IsCorruption());
  }
}

TEST(WalFormat, MisplacedEntryIsCorruption) {
  std::string object = FrameWalEntry(5, 0, 0xfeedULL, EncodeWalPayload({}));
  auto entry = DecodeWalEntry(object, 6);
  ASSERT_FALSE(entry.ok());
  EXPECT_TRUE(entry.status().IsCorruption());
  EXPECT_NE(entry.status().message().find("expected 6"), std::string::npos);
}

TEST(WalFormat, HugeCountsInAValidChecksumAreRejectedWithoutAllocating) {
  // A payload that claims 2^32-1 requests but holds none, with a correct checksum.
  std::string payload;
  payload.push_back(static_cast<char>(kWalCompressionNone));
  std::string raw = "\xff\xff\xff\xff";
  for (int i = 0; i < 8; ++i) payload.push_back(static_cast<char>(i == 0 ? raw.size() : 0));
  payload += raw;
  auto entry = DecodeWalEntry(FrameWalEntry(1, 0, 0xfeedULL, payload), 1);
  ASSERT_FALSE(entry.ok());
  EXPECT_TRUE(entry.status().IsCorruption());
}

}  // namespace
}  // namespace vecpuff
