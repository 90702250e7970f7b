#include "wal/wal_format.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

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

TEST(WalFormat, DropEntriesAreVersion2AndAlone) {
  const std::string payload = EncodeWalPayload({DropNamespaceRequest()});
  auto entry = DecodeWalEntry(FrameWalEntry(4, 7, 1, payload, kWalDropFormatVersion), 4);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_TRUE(IsDropEntry(*entry));
  EXPECT_TRUE(entry->requests[0].ops[0].id.empty());
  // Version 1 readers never saw op type 4: in a version 1 entry it is corrupt.
  auto v1 = DecodeWalEntry(FrameWalEntry(4, 7, 1, payload), 4);
  ASSERT_FALSE(v1.ok());
  EXPECT_NE(v1.status().message().find("unknown WAL op type 4"), std::string::npos);
  // A drop with other ops, or beside another request, is corrupt.
  WalRequest mixed = DropNamespaceRequest();
  mixed.ops.push_back(WalOp{WalOpType::kDelete, "x", {}, nlohmann::json::object()});
  for (const std::vector<WalRequest>& requests :
       {std::vector<WalRequest>{mixed},
        std::vector<WalRequest>{DropNamespaceRequest(), DropNamespaceRequest()}}) {
    auto bad = DecodeWalEntry(
        FrameWalEntry(4, 7, 1, EncodeWalPayload(requests), kWalDropFormatVersion), 4);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("not alone"), std::string::npos);
  }
  // Ordinary entries decode the same in either version; no other version is read.
  std::mt19937 rng(3);
  auto v2 = DecodeWalEntry(
      FrameWalEntry(2, 0, 1, EncodeWalPayload({SampleRequest(3, 4, &rng)}), kWalDropFormatVersion),
      2);
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE(IsDropEntry(*v2));
  EXPECT_TRUE(
      DecodeWalEntry(FrameWalEntry(2, 0, 1, EncodeWalPayload({}), 3), 2).status().IsCorruption());
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

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// The requests of the two fixtures below, as the encoder that wrote them was given them.
std::vector<WalRequest> FixtureRequests() {
  WalRequest a;
  for (int i = 0; i < 6; ++i) {
    WalOp up;
    up.type = WalOpType::kUpsert;
    up.id = "doc-" + std::to_string(i);
    for (int d = 0; d < 8; ++d) {
      up.vector.push_back(d % 3 == 0 ? 0.0f : static_cast<float>(i * 8 + d) * 0.25f - 3.0f);
    }
    up.attributes = {{"i", i}, {"tag", "t" + std::to_string(i % 2)}};
    a.ops.push_back(up);
  }
  WalOp patch;
  patch.type = WalOpType::kPatch;
  patch.id = "doc-0";
  patch.attributes = {{"tag", nullptr}};
  a.ops.push_back(patch);
  WalRequest b;
  WalOp del;
  del.type = WalOpType::kDelete;
  del.id = "doc-1";
  b.ops.push_back(del);
  WalOp up;
  up.type = WalOpType::kUpsert;
  up.id = "x";
  up.vector = {1.5f, -0.0f};
  b.ops.push_back(up);
  return {a, b};
}

void ExpectSameRequests(const std::vector<WalRequest>& want, const std::vector<WalRequest>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < want.size(); ++r) {
    ASSERT_EQ(got[r].ops.size(), want[r].ops.size());
    for (size_t i = 0; i < want[r].ops.size(); ++i) {
      const WalOp& a = want[r].ops[i];
      const WalOp& b = got[r].ops[i];
      EXPECT_EQ(a.type, b.type);
      EXPECT_EQ(a.id, b.id);
      ASSERT_EQ(a.vector.size(), b.vector.size());
      for (size_t d = 0; d < a.vector.size(); ++d) {
        EXPECT_EQ(std::signbit(a.vector[d]), std::signbit(b.vector[d]));
        EXPECT_EQ(a.vector[d], b.vector[d]);
      }
      if (a.type != WalOpType::kDelete) {
        EXPECT_EQ(a.attributes, b.attributes);
      }
    }
  }
}

// Entries written by the encoder before it sized its output in advance, reused compression
// contexts and judged compressibility on a sample: one zstd-compressed, one stored raw.
// They must decode forever (the format is fixed), and the raw one encodes to the same bytes.
TEST(WalFormat, EntriesFromEarlierWritersStillDecode) {
  const std::string compressed = FromHex(
      "5650574c0100000029000000000000007b68e5cf8b010000e200000000000000"
      "a2f5411765fc6392efcdab896745230101e90100000000000028b52ffd60e900"
      "7d0600620a232c80c5690c7b8200991e001f42c0c09e4c0fc0fb5ccc32668cc0"
      "a4855d5a62b044847401b84c1ae43104fa7ba7f1fa1de600fed61a2cfc2e5655"
      "e6d2a88b0f465443199e3ae1172152c8a0e07712fc0e40f01108f8c536f20b79"
      "d4595dc5ef347fca1c08a77d60bffce5c2f8d47ad2ab48acd750e959def52f64"
      "b63cf8f964fcd413ea986028ffa1b51ff1bb2720c0335a0c35296022f7882ebc"
      "cb037d0d6b526ec1a364bd312ee536935f7e9bf053d816598fb21d6745146ce8"
      "5cdb71a6888287ce85fb82dcd120de09c804");
  const std::string raw = FromHex(
      "5650574c010000002a00000000000000c869e5cf8b0100003500000000000000"
      "fd5f842400e72e6befcdab8967452301002c0000000000000001000000020000"
      "00030105000000646f632d3101010100000078020000000000c03f0000008002"
      "0000007b7d");
  const std::vector<WalRequest> requests = FixtureRequests();

  auto entry = DecodeWalEntry(compressed, 41);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(static_cast<uint8_t>(compressed[kWalHeaderSize]), kWalCompressionZstd);
  EXPECT_EQ(entry->seq, 41u);
  EXPECT_EQ(entry->commit_time_ms, 1700000000123);
  EXPECT_EQ(entry->writer_id, 0x0123456789abcdefULL);
  ExpectSameRequests(requests, entry->requests);

  entry = DecodeWalEntry(raw, 42);
  ASSERT_TRUE(entry.ok()) << entry.status().ToString();
  EXPECT_EQ(static_cast<uint8_t>(raw[kWalHeaderSize]), kWalCompressionNone);
  EXPECT_EQ(entry->commit_time_ms, 1700000000456);
  ExpectSameRequests({requests[1]}, entry->requests);
  EXPECT_EQ(
      FrameWalEntry(42, 1700000000456, 0x0123456789abcdefULL, EncodeWalPayload({requests[1]})),
      raw);
}

// Large payloads of float data that barely compresses (as embeddings from models do) are
// stored uncompressed; data that compresses well is compressed. Both round-trip exactly.
TEST(WalFormat, IncompressiblePayloadsAreStoredRaw) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  auto request = [&](bool small_integers) {
    WalRequest r;
    for (int i = 0; i < 200; ++i) {
      WalOp up;
      up.type = WalOpType::kUpsert;
      up.id = "row-" + std::to_string(1000 + i);
      for (int d = 0; d < 784; ++d) {
        // Pixels (integers 0..255, half of them 0) or random floats.
        up.vector.push_back(small_integers ? (rng() % 2 ? 0.0f : static_cast<float>(rng() % 256))
                                           : u(rng));
      }
      r.ops.push_back(up);
    }
    return r;
  };
  for (bool small_integers : {false, true}) {
    const std::vector<WalRequest> requests = {request(small_integers)};
    const std::string payload = EncodeWalPayload(requests);
    const uint64_t raw_size = WalPayloadRawSize(payload);
    // Counts, then per op: types, id, dims, vector, empty attributes ("{}").
    EXPECT_EQ(raw_size, 4u + 4u + 200u * (2 + 4 + 8 + 4 + 784 * 4 + 4 + 2));
    if (small_integers) {
      EXPECT_EQ(static_cast<uint8_t>(payload[0]), kWalCompressionZstd);
      EXPECT_LT(payload.size(), raw_size / 2);
    } else {
      EXPECT_EQ(static_cast<uint8_t>(payload[0]), kWalCompressionNone);
      EXPECT_EQ(payload.size(), 9 + raw_size);
    }
    auto entry = DecodeWalEntry(FrameWalEntry(9, 1, 2, payload), 9);
    ASSERT_TRUE(entry.ok()) << entry.status().ToString();
    ExpectSameRequests(requests, entry->requests);
  }
}

// Many threads encoding at once share the pool of compression contexts.
TEST(WalFormat, ConcurrentEncodersProduceIdenticalPayloads) {
  std::mt19937 rng(6);
  const std::vector<WalRequest> requests = {SampleRequest(300, 32, &rng)};
  const std::string want = EncodeWalPayload(requests);
  EXPECT_EQ(static_cast<uint8_t>(want[0]), kWalCompressionZstd);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (EncodeWalPayload(requests) != want) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// Requests encoded one by one by their writers and joined by group commit decode exactly as
// the payload EncodeWalPayload makes of them, whatever mix of compressed and uncompressed
// parts they are.
TEST(WalFormat, JoinedRequestsDecodeLikeOnePayload) {
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> u(-1, 1);
  auto big = [&](bool compressible, int tag) {
    WalRequest r;
    for (int i = 0; i < 60; ++i) {
      WalOp up;
      up.type = WalOpType::kUpsert;
      up.id = "r" + std::to_string(tag) + "-" + std::to_string(i);
      for (int d = 0; d < 784; ++d) {
        up.vector.push_back(compressible ? static_cast<float>(rng() % 4 == 0 ? rng() % 256 : 0)
                                         : u(rng));
      }
      r.ops.push_back(up);
    }
    return r;
  };
  WalRequest small;
  WalOp del;
  del.type = WalOpType::kDelete;
  del.id = "gone";
  small.ops.push_back(del);
  const WalRequest compressible = big(true, 1), incompressible = big(false, 2);
  const WalRequest mixed = SampleRequest(40, 16, &rng);

  const std::vector<std::vector<WalRequest>> batches = {
      {small},
      {small, small},
      {compressible},
      {incompressible},
      {compressible, small, incompressible, mixed},
      {incompressible, small},
      {mixed, compressible},
  };
  for (size_t b = 0; b < batches.size(); ++b) {
    const std::vector<WalRequest>& requests = batches[b];
    std::vector<EncodedWalRequest> encoded;
    for (const WalRequest& r : requests) encoded.push_back(EncodeWalRequest(r));
    std::vector<const EncodedWalRequest*> parts;
    bool any_compressed = false;
    for (const EncodedWalRequest& e : encoded) {
      parts.push_back(&e);
      any_compressed |= e.compressed;
    }
    auto joined = JoinWalPayload(parts);
    ASSERT_TRUE(joined.ok()) << joined.status().ToString();
    const std::string single = EncodeWalPayload(requests);
    EXPECT_EQ(WalPayloadRawSize(*joined), WalPayloadRawSize(single)) << b;
    if (any_compressed) {
      EXPECT_EQ(static_cast<uint8_t>((*joined)[0]), kWalCompressionZstd) << b;
    } else {
      // Uncompressed, the join is byte for byte the single payload.
      EXPECT_EQ(*joined, single) << b;
    }
    auto entry = DecodeWalEntry(FrameWalEntry(3, 4, 5, *joined), 3);
    ASSERT_TRUE(entry.ok()) << b << ": " << entry.status().ToString();
    ExpectSameRequests(requests, entry->requests);
  }
  // What a writer decides for each kind of request.
  EXPECT_FALSE(EncodeWalRequest(small).compressed);
  EXPECT_TRUE(EncodeWalRequest(compressible).compressed);
  EXPECT_FALSE(EncodeWalRequest(incompressible).compressed);
  // A multi-frame payload cut short or with a frame damaged (checksum fixed up) is Corruption.
  std::vector<EncodedWalRequest> two = {EncodeWalRequest(compressible),
                                        EncodeWalRequest(compressible)};
  auto joined = JoinWalPayload({&two[0], &two[1]});
  ASSERT_TRUE(joined.ok());
  std::string shortened = joined->substr(0, joined->size() - 7);
  auto entry = DecodeWalEntry(FrameWalEntry(1, 0, 0, shortened), 1);
  ASSERT_FALSE(entry.ok());
  EXPECT_TRUE(entry.status().IsCorruption()) << entry.status().ToString();
}

}  // namespace
}  // namespace vecpuff
