// The index object formats (docs/segment_format.md): posting lists and index metas round
// trip exactly, and every damaged object (flipped byte, truncation, wrong magic or version,
// foreign centroid or dimensions, trailing bytes) decodes to Corruption.
#include "index/segment_format.h"

#include <gtest/gtest.h>
#include <zstd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {
namespace {

// Header offsets, as docs/segment_format.md specifies them. Written out here rather than
// taken from the implementation so that a change of layout fails these tests.
constexpr size_t kPostingCentroidAt = 8;
constexpr size_t kPostingDimsAt = 12;
constexpr size_t kPostingCountAt = 16;
constexpr size_t kPostingRawSizeAt = 24;
constexpr size_t kPostingChecksumAt = 32;
constexpr size_t kMetaKindAt = 6;
constexpr size_t kMetaGenerationAt = 8;
constexpr size_t kMetaRawSizeAt = 16;
constexpr size_t kMetaChecksumAt = 24;

PostingData MakePosting(uint32_t centroid_id, uint32_t dims, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-3, 3);
  std::uniform_int_distribution<int> byte(0, 255);
  PostingData p;
  p.centroid_id = centroid_id;
  p.dims = dims;
  for (size_t i = 0; i < n; ++i) {
    p.docnos.push_back(static_cast<uint32_t>(i * 7 + 3));
    p.versions.push_back(1000 + i * 13);
    p.norms.push_back(u(rng));
    for (uint32_t d = 0; d < dims; ++d) {
      p.codes.push_back(static_cast<uint8_t>(byte(rng)));
      p.vectors.push_back(u(rng));
    }
    p.ids.push_back("doc-" + std::to_string(i));
    p.attributes.push_back("{\"i\":" + std::to_string(i) + "}");
  }
  return p;
}

void ExpectSamePosting(const PostingData& a, const PostingData& b) {
  EXPECT_EQ(a.centroid_id, b.centroid_id);
  EXPECT_EQ(a.dims, b.dims);
  EXPECT_EQ(a.docnos, b.docnos);
  EXPECT_EQ(a.versions, b.versions);
  EXPECT_EQ(a.norms, b.norms);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.vectors, b.vectors);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.attributes, b.attributes);
}

Sq8Params MakeSq8(uint32_t dims) {
  Sq8Params s;
  for (uint32_t d = 0; d < dims; ++d) s.offset.push_back(-1.5f + 0.25f * d);
  s.scale = 0.0125f;
  return s;
}

IndexMeta MakeBaseMeta() {
  IndexMeta m;
  m.is_base = true;
  m.generation = 7;
  m.metric = DistanceMetric::kCosineDistance;
  m.dims = 3;
  m.sq8 = MakeSq8(3);
  m.centroids.push_back({4, {0.5f, -1.0f, 2.0f}, {"ns/index/a/pack-0000", 0, 120, 3}});
  m.centroids.push_back({9, {1.5f, 0.0f, -2.0f}, {"ns/index/a/pack-0000", 120, 99, 2}});
  m.docs.push_back({0, 11, 4, "alpha"});
  m.docs.push_back({1, 12, 9, "beta"});
  m.docs.push_back({2, 13, 4, "gamma"});
  m.next_centroid_id = 10;
  m.next_docno = 3;
  return m;
}

IndexMeta MakeDeltaMeta() {
  IndexMeta m;
  m.is_base = false;
  m.generation = 8;
  m.centroids.push_back({10, {0.0f, 0.0f, 1.0f}, {"ns/index/b/pack-0000", 0, 77, 1}});
  m.centroids.push_back({4, {}, {"ns/index/b/pack-0001", 1ull << 33, 64, 2}});  // moved
  m.removed_centroids = {9};
  m.docs.push_back({1, 0, 0, "beta"});  // deleted: version 0
  m.docs.push_back({3, 20, 10, "delta"});
  m.next_centroid_id = 11;
  m.next_docno = 4;
  return m;
}

// Recomputes the checksum so that a deliberately altered object reaches the check after it.
void Reseal(std::string* object, size_t checksum_at) {
  EncodeFixed64(object->data() + checksum_at, 0);
  EncodeFixed64(object->data() + checksum_at, Checksum64(*object));
}

// Replaces the body with `raw` compressed, updating the raw size and the checksum.
std::string WithRawBody(const std::string& object, size_t header_size, size_t raw_size_at,
                        size_t checksum_at, const std::string& raw) {
  std::string body(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress(body.data(), body.size(), raw.data(), raw.size(), 1);
  EXPECT_FALSE(ZSTD_isError(n));
  body.resize(n);
  std::string out = object.substr(0, header_size) + body;
  EncodeFixed64(out.data() + raw_size_at, raw.size());
  Reseal(&out, checksum_at);
  return out;
}

std::string RawBody(const std::string& object, size_t header_size, size_t raw_size_at) {
  std::string raw(DecodeFixed64(object.data() + raw_size_at), '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), object.data() + header_size,
                                   object.size() - header_size);
  EXPECT_FALSE(ZSTD_isError(n));
  EXPECT_EQ(n, raw.size());
  return raw;
}

void ExpectPostingCorrupt(std::string_view blob, uint32_t centroid_id, uint32_t dims,
                          const std::string& what) {
  auto got = DecodePosting(blob, centroid_id, dims);
  ASSERT_FALSE(got.ok()) << what;
  EXPECT_TRUE(got.status().IsCorruption()) << what << ": " << got.status().ToString();
}

void ExpectMetaCorrupt(std::string_view object, const std::string& what) {
  auto got = DecodeIndexMeta(object);
  ASSERT_FALSE(got.ok()) << what;
  EXPECT_TRUE(got.status().IsCorruption()) << what << ": " << got.status().ToString();
}

// ---------------------------------------------------------------------------------------
// Posting lists

TEST(PostingFormat, HeaderFieldsAreAtTheirDocumentedOffsets) {
  const PostingData p = MakePosting(42, 5, 3, 1);
  const std::string blob = EncodePosting(p);
  ASSERT_GE(blob.size(), kPostingHeaderSize);
  EXPECT_EQ(kPostingHeaderSize, 40u);
  EXPECT_EQ(DecodeFixed32(blob.data()), 0x4C505056u);
  EXPECT_EQ(blob.substr(0, 4), "VPPL");
  EXPECT_EQ(DecodeFixed16(blob.data() + 4), 1u);
  EXPECT_EQ(DecodeFixed16(blob.data() + 6), 0u);
  EXPECT_EQ(DecodeFixed32(blob.data() + kPostingCentroidAt), 42u);
  EXPECT_EQ(DecodeFixed32(blob.data() + kPostingDimsAt), 5u);
  EXPECT_EQ(DecodeFixed32(blob.data() + kPostingCountAt), 3u);
  EXPECT_EQ(DecodeFixed32(blob.data() + 20), 0u);
  // Body: docnos, versions, norms, codes, vectors, then length-prefixed ids and attributes.
  const std::string raw = RawBody(blob, kPostingHeaderSize, kPostingRawSizeAt);
  size_t want = 3 * (4 + 8 + 4 + 5 + 5 * 4);
  for (size_t i = 0; i < 3; ++i) want += 4 + p.ids[i].size() + 4 + p.attributes[i].size();
  ASSERT_EQ(raw.size(), want);
  EXPECT_EQ(DecodeFixed32(raw.data()), p.docnos[0]);
  EXPECT_EQ(DecodeFixed64(raw.data() + 12), p.versions[0]);
  EXPECT_EQ(static_cast<uint8_t>(raw[3 * 16]), p.codes[0]);
  const size_t ids_at = 3 * (16 + 5 + 20);
  EXPECT_EQ(DecodeFixed32(raw.data() + ids_at), p.ids[0].size());
  EXPECT_EQ(raw.substr(ids_at + 4, p.ids[0].size()), p.ids[0]);
  // The checksum covers the whole object with its own field zeroed.
  std::string copy = blob;
  EncodeFixed64(copy.data() + kPostingChecksumAt, 0);
  EXPECT_EQ(DecodeFixed64(blob.data() + kPostingChecksumAt), Checksum64(copy));
}

TEST(PostingFormat, EmptyPostingRoundTrips) {
  PostingData p;
  p.centroid_id = 3;
  p.dims = 16;
  const std::string blob = EncodePosting(p);
  auto got = DecodePosting(blob, 3, 16);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)->size(), 0u);
  ExpectSamePosting(**got, p);
}

TEST(PostingFormat, ManyEntriesRoundTrip) {
  const PostingData p = MakePosting(123456, 37, 2000, 2);
  const std::string blob = EncodePosting(p);
  auto got = DecodePosting(blob, 123456, 37);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)->size(), 2000u);
  ExpectSamePosting(**got, p);
}

TEST(PostingFormat, LongIdsUnicodeAttributesAndSpecialFloatsRoundTrip) {
  PostingData p = MakePosting(1, 2, 4, 3);
  p.ids[0] = std::string(100000, 'x');
  p.ids[1] = "";
  p.ids[2] = std::string("nul\0inside", 10);
  p.ids[3] = "\xF0\x9F\x90\x9F-\xE6\x97\xA5\xE6\x9C\xAC";  // 🐟-日本
  p.attributes[0] = "{\"name\":\"Zoë \xE2\x80\x94 caf\xC3\xA9\",\"emoji\":\"\xF0\x9F\x8E\x89\"}";
  p.attributes[1] = "{}";
  p.attributes[2] = std::string(70000, 'a');
  p.vectors[0] = -0.0f;
  p.vectors[1] = std::numeric_limits<float>::denorm_min();
  p.norms[1] = std::numeric_limits<float>::max();
  p.versions[2] = std::numeric_limits<uint64_t>::max();
  p.docnos[3] = std::numeric_limits<uint32_t>::max();
  const std::string blob = EncodePosting(p);
  auto got = DecodePosting(blob, 1, 2);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSamePosting(**got, p);
  EXPECT_TRUE(std::signbit((*got)->vectors[0]));
}

TEST(PostingFormat, EncodingIsDeterministic) {
  const PostingData p = MakePosting(5, 8, 50, 4);
  EXPECT_EQ(EncodePosting(p), EncodePosting(p));
}

TEST(PostingFormat, EveryFlippedByteIsDetected) {
  const std::string blob = EncodePosting(MakePosting(7, 3, 3, 5));
  ASSERT_TRUE(DecodePosting(blob, 7, 3).ok());
  for (size_t i = 0; i < blob.size(); ++i) {
    for (uint8_t mask : {0x01, 0x10, 0x80, 0xFF}) {
      std::string bad = blob;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      ExpectPostingCorrupt(bad, 7, 3, "byte " + std::to_string(i) + " ^ " + std::to_string(mask));
    }
  }
}

TEST(PostingFormat, EveryTruncationIsDetected) {
  const std::string blob = EncodePosting(MakePosting(7, 3, 3, 6));
  for (size_t n = 0; n < blob.size(); ++n) {
    ExpectPostingCorrupt(std::string_view(blob).substr(0, n), 7, 3,
                         "truncated to " + std::to_string(n));
  }
}

TEST(PostingFormat, WrongMagicIsCorruption) {
  std::string blob = EncodePosting(MakePosting(7, 3, 3, 7));
  EncodeFixed32(blob.data(), kIndexMetaMagic);  // another object type
  Reseal(&blob, kPostingChecksumAt);
  ExpectPostingCorrupt(blob, 7, 3, "meta magic");
  // An index meta handed to the posting decoder, and the other way round.
  ExpectPostingCorrupt(EncodeIndexMeta(MakeBaseMeta()), 7, 3, "a meta object");
  ExpectMetaCorrupt(EncodePosting(MakePosting(7, 3, 3, 7)), "a posting object");
}

TEST(PostingFormat, UnknownVersionIsCorruption) {
  for (uint16_t version : {0, 2, 0xFFFF}) {
    std::string blob = EncodePosting(MakePosting(7, 3, 3, 8));
    EncodeFixed32(blob.data() + 4, version);  // version and flags (0)
    Reseal(&blob, kPostingChecksumAt);
    ExpectPostingCorrupt(blob, 7, 3, "version " + std::to_string(version));
  }
}

TEST(PostingFormat, WrongCentroidOrDimsIsCorruption) {
  const std::string blob = EncodePosting(MakePosting(7, 3, 3, 9));
  ASSERT_TRUE(DecodePosting(blob, 7, 3).ok());
  ExpectPostingCorrupt(blob, 8, 3, "other centroid");
  ExpectPostingCorrupt(blob, 0, 3, "centroid 0");
  ExpectPostingCorrupt(blob, 7, 4, "more dims");
  ExpectPostingCorrupt(blob, 7, 2, "fewer dims");
  ExpectPostingCorrupt(blob, 7, 0, "zero dims");
}

TEST(PostingFormat, ZeroDimsInTheHeaderIsCorruption) {
  PostingData p;
  p.centroid_id = 1;
  p.dims = 0;
  ExpectPostingCorrupt(EncodePosting(p), 1, 0, "zero dims");
}

TEST(PostingFormat, HeaderCountOrSizeDisagreeingWithTheBodyIsCorruption) {
  const std::string blob = EncodePosting(MakePosting(7, 3, 3, 10));
  for (uint32_t count : {0u, 2u, 4u, 1000000u, 0xFFFFFFFFu}) {
    std::string bad = blob;
    EncodeFixed32(bad.data() + kPostingCountAt, count);
    Reseal(&bad, kPostingChecksumAt);
    ExpectPostingCorrupt(bad, 7, 3, "count " + std::to_string(count));
  }
  const uint64_t raw = DecodeFixed64(blob.data() + kPostingRawSizeAt);
  for (uint64_t size : {uint64_t{0}, raw - 1, raw + 1, uint64_t{1} << 40}) {
    std::string bad = blob;
    EncodeFixed64(bad.data() + kPostingRawSizeAt, size);
    Reseal(&bad, kPostingChecksumAt);
    ExpectPostingCorrupt(bad, 7, 3, "raw size " + std::to_string(size));
  }
}

TEST(PostingFormat, TrailingBytesAreCorruption) {
  const std::string blob = EncodePosting(MakePosting(7, 3, 3, 11));
  // After the object, checksum not updated.
  ExpectPostingCorrupt(blob + "x", 7, 3, "appended byte");
  // After the compressed frame, checksum updated.
  std::string sealed = blob + std::string(5, '\0');
  Reseal(&sealed, kPostingChecksumAt);
  ExpectPostingCorrupt(sealed, 7, 3, "bytes after the frame");
  // Inside the compressed body, after the last attribute.
  const std::string raw = RawBody(blob, kPostingHeaderSize, kPostingRawSizeAt);
  const std::string good =
      WithRawBody(blob, kPostingHeaderSize, kPostingRawSizeAt, kPostingChecksumAt, raw);
  ASSERT_TRUE(DecodePosting(good, 7, 3).ok());  // the helper itself produces valid objects
  ExpectPostingCorrupt(
      WithRawBody(blob, kPostingHeaderSize, kPostingRawSizeAt, kPostingChecksumAt, raw + "!"), 7, 3,
      "body trailing byte");
  // A body cut short inside the strings.
  ExpectPostingCorrupt(WithRawBody(blob, kPostingHeaderSize, kPostingRawSizeAt, kPostingChecksumAt,
                                   raw.substr(0, raw.size() - 1)),
                       7, 3, "body short by one byte");
}

TEST(PostingFormat, AppendFromCopiesOneEntry) {
  const PostingData src = MakePosting(1, 4, 5, 12);
  PostingData dst;
  dst.centroid_id = 2;
  dst.dims = 4;
  dst.AppendFrom(src, 3);
  dst.AppendFrom(src, 0);
  ASSERT_EQ(dst.size(), 2u);
  EXPECT_EQ(dst.docnos, (std::vector<uint32_t>{src.docnos[3], src.docnos[0]}));
  EXPECT_EQ(dst.versions, (std::vector<uint64_t>{src.versions[3], src.versions[0]}));
  EXPECT_EQ(dst.ids, (std::vector<std::string>{src.ids[3], src.ids[0]}));
  EXPECT_EQ(std::vector<float>(dst.vectors.begin(), dst.vectors.begin() + 4),
            std::vector<float>(src.vectors.begin() + 12, src.vectors.begin() + 16));
  EXPECT_EQ(std::vector<uint8_t>(dst.codes.begin() + 4, dst.codes.end()),
            std::vector<uint8_t>(src.codes.begin(), src.codes.begin() + 4));
  auto got = DecodePosting(EncodePosting(dst), 2, 4);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSamePosting(**got, dst);
}

// ---------------------------------------------------------------------------------------
// Index metas

TEST(IndexMetaFormat, HeaderFieldsAreAtTheirDocumentedOffsets) {
  const std::string base = EncodeIndexMeta(MakeBaseMeta());
  EXPECT_EQ(kIndexMetaHeaderSize, 32u);
  EXPECT_EQ(base.substr(0, 4), "VPIM");
  EXPECT_EQ(DecodeFixed16(base.data() + 4), 2u);
  EXPECT_EQ(DecodeFixed16(base.data() + kMetaKindAt), 1u);  // base
  EXPECT_EQ(DecodeFixed64(base.data() + kMetaGenerationAt), 7u);
  const std::string delta = EncodeIndexMeta(MakeDeltaMeta());
  EXPECT_EQ(DecodeFixed16(delta.data() + kMetaKindAt), 0u);  // delta
  EXPECT_EQ(DecodeFixed64(delta.data() + kMetaGenerationAt), 8u);
  // Body of a delta: counters, then centroids, removed centroids, docs.
  const std::string raw = RawBody(delta, kIndexMetaHeaderSize, kMetaRawSizeAt);
  EXPECT_EQ(DecodeFixed32(raw.data()), 11u);     // next centroid id
  EXPECT_EQ(DecodeFixed32(raw.data() + 4), 4u);  // next docno
  EXPECT_EQ(DecodeFixed32(raw.data() + 8), 2u);  // centroid count
  EXPECT_EQ(DecodeFixed32(raw.data() + 12), 10u);
  EXPECT_EQ(DecodeFixed32(raw.data() + 16), 3u);  // vector length
  std::string copy = delta;
  EncodeFixed64(copy.data() + kMetaChecksumAt, 0);
  EXPECT_EQ(DecodeFixed64(delta.data() + kMetaChecksumAt), Checksum64(copy));
}

TEST(IndexMetaFormat, BaseRoundTrips) {
  const IndexMeta m = MakeBaseMeta();
  auto got = DecodeIndexMeta(EncodeIndexMeta(m));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, m);
  EXPECT_TRUE(got->is_base);
  EXPECT_EQ(got->metric, DistanceMetric::kCosineDistance);
  EXPECT_EQ(got->sq8, m.sq8);
}

TEST(IndexMetaFormat, PostingSummariesRoundTripWithTheirRefs) {
  IndexMeta m = MakeBaseMeta();
  m.centroids[0].ref.summary = std::make_shared<const PostingSummary>(
      SummarizePosting({{{"color", "red"}, {"n", 3}}, {{"color", "blue"}}}));
  m.centroids[1].more_parts.push_back({"ns/index/a/pack-0001", 0, 10, 1});
  m.centroids[1].more_parts[0].summary =
      std::make_shared<const PostingSummary>(SummarizePosting({{{"n", -1}}}));
  auto got = DecodeIndexMeta(EncodeIndexMeta(m));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, m);
  ASSERT_NE(got->centroids[0].ref.summary, nullptr);
  EXPECT_NE(got->centroids[0].ref.summary->Find("color"), nullptr);
  EXPECT_EQ(got->centroids[1].ref.summary, nullptr);  // none: unknown, never skipped
  ASSERT_NE(got->centroids[1].more_parts[0].summary, nullptr);
  EXPECT_EQ(got->centroids[1].more_parts[0].summary->Find("color"), nullptr);
}

TEST(IndexMetaFormat, DeltaRoundTripsWithRemovedCentroidsMovesAndDeletions) {
  const IndexMeta m = MakeDeltaMeta();
  auto got = DecodeIndexMeta(EncodeIndexMeta(m));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, m);
  EXPECT_FALSE(got->is_base);
  ASSERT_EQ(got->centroids.size(), 2u);
  EXPECT_TRUE(got->centroids[1].vector.empty());
  EXPECT_EQ(got->centroids[1].ref.offset, 1ull << 33);
  EXPECT_EQ(got->removed_centroids, std::vector<uint32_t>{9});
  EXPECT_EQ(got->docs[0].version, 0u);
}

TEST(IndexMetaFormat, DeltaDoesNotStoreTheBaseOnlyFields) {
  IndexMeta m = MakeDeltaMeta();
  m.metric = DistanceMetric::kCosineDistance;
  m.dims = 3;
  m.sq8 = MakeSq8(3);
  auto got = DecodeIndexMeta(EncodeIndexMeta(m));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->dims, 0u);
  EXPECT_EQ(got->sq8.dims(), 0u);
  EXPECT_EQ(got->centroids, m.centroids);
  EXPECT_EQ(EncodeIndexMeta(m), EncodeIndexMeta(MakeDeltaMeta()));
}

TEST(IndexMetaFormat, EmptyAndLargeMetasRoundTrip) {
  IndexMeta empty;
  empty.is_base = true;
  empty.dims = 1;
  empty.sq8 = MakeSq8(1);
  auto got = DecodeIndexMeta(EncodeIndexMeta(empty));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, empty);

  IndexMeta empty_delta;
  got = DecodeIndexMeta(EncodeIndexMeta(empty_delta));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, empty_delta);

  IndexMeta big;
  big.is_base = true;
  big.generation = std::numeric_limits<uint64_t>::max();
  big.metric = DistanceMetric::kEuclideanSquared;
  big.dims = 64;
  big.sq8 = MakeSq8(64);
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1, 1);
  for (uint32_t c = 0; c < 500; ++c) {
    CentroidRecord r;
    r.id = c * 3;
    for (uint32_t d = 0; d < 64; ++d) r.vector.push_back(u(rng));
    r.ref = {"pack-" + std::to_string(c % 7), uint64_t{c} * 1000, c + 1, c};
    big.centroids.push_back(std::move(r));
  }
  for (uint32_t d = 0; d < 20000; ++d) {
    big.docs.push_back({d, uint64_t{d} + 1, d % 500 * 3, "id-\xC3\xA9-" + std::to_string(d)});
  }
  big.docs.push_back({20000, 5, 0, std::string(100000, 'L')});
  big.next_centroid_id = 1500;
  big.next_docno = 20001;
  got = DecodeIndexMeta(EncodeIndexMeta(big));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, big);
}

TEST(IndexMetaFormat, EveryFlippedByteIsDetected) {
  for (const IndexMeta& m : {MakeBaseMeta(), MakeDeltaMeta()}) {
    const std::string object = EncodeIndexMeta(m);
    ASSERT_TRUE(DecodeIndexMeta(object).ok());
    for (size_t i = 0; i < object.size(); ++i) {
      for (uint8_t mask : {0x01, 0x10, 0x80, 0xFF}) {
        std::string bad = object;
        bad[i] = static_cast<char>(bad[i] ^ mask);
        ExpectMetaCorrupt(bad, std::string(m.is_base ? "base" : "delta") + " byte " +
                                   std::to_string(i) + " ^ " + std::to_string(mask));
      }
    }
  }
}

TEST(IndexMetaFormat, EveryTruncationIsDetected) {
  for (const IndexMeta& m : {MakeBaseMeta(), MakeDeltaMeta()}) {
    const std::string object = EncodeIndexMeta(m);
    for (size_t n = 0; n < object.size(); ++n) {
      ExpectMetaCorrupt(std::string_view(object).substr(0, n), "truncated to " + std::to_string(n));
    }
  }
}

TEST(IndexMetaFormat, WrongMagicVersionOrKindIsCorruption) {
  std::string object = EncodeIndexMeta(MakeDeltaMeta());
  std::string bad = object;
  EncodeFixed32(bad.data(), kPostingMagic);
  Reseal(&bad, kMetaChecksumAt);
  ExpectMetaCorrupt(bad, "posting magic");
  for (uint16_t version : {0, 3, 0xFFFF}) {
    bad = object;
    bad[4] = static_cast<char>(version & 0xFF);
    bad[5] = static_cast<char>(version >> 8);
    Reseal(&bad, kMetaChecksumAt);
    ExpectMetaCorrupt(bad, "version " + std::to_string(version));
  }
  bad = object;
  bad[kMetaKindAt] = 2;
  Reseal(&bad, kMetaChecksumAt);
  ExpectMetaCorrupt(bad, "kind 2");
}

TEST(IndexMetaFormat, KindFlippedBetweenBaseAndDeltaIsCorruption) {
  // The body layouts differ (a base carries metric, dims and SQ8 parameters), so a resealed
  // object whose kind was changed cannot decode.
  std::string bad = EncodeIndexMeta(MakeBaseMeta());
  bad[kMetaKindAt] = 0;
  Reseal(&bad, kMetaChecksumAt);
  ExpectMetaCorrupt(bad, "base read as delta");
  bad = EncodeIndexMeta(MakeDeltaMeta());
  bad[kMetaKindAt] = 1;
  Reseal(&bad, kMetaChecksumAt);
  ExpectMetaCorrupt(bad, "delta read as base");
}

TEST(IndexMetaFormat, TrailingBytesAreCorruption) {
  for (const IndexMeta& m : {MakeBaseMeta(), MakeDeltaMeta()}) {
    const std::string object = EncodeIndexMeta(m);
    ExpectMetaCorrupt(object + "x", "appended byte");
    std::string sealed = object + std::string(3, '\7');
    Reseal(&sealed, kMetaChecksumAt);
    ExpectMetaCorrupt(sealed, "bytes after the frame");
    const std::string raw = RawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt);
    const std::string good =
        WithRawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt, kMetaChecksumAt, raw);
    ASSERT_TRUE(DecodeIndexMeta(good).ok());
    ExpectMetaCorrupt(WithRawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt, kMetaChecksumAt,
                                  raw + std::string(1, '\0')),
                      "body trailing byte");
    ExpectMetaCorrupt(WithRawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt, kMetaChecksumAt,
                                  raw.substr(0, raw.size() - 1)),
                      "body short by one byte");
  }
}

TEST(IndexMetaFormat, InvalidBodyValuesAreCorruption) {
  const std::string object = EncodeIndexMeta(MakeBaseMeta());
  const std::string raw = RawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt);
  auto with = [&](std::string r) {
    return WithRawBody(object, kIndexMetaHeaderSize, kMetaRawSizeAt, kMetaChecksumAt, r);
  };
  // Base body: u32 next centroid, u32 next docno, metric string, u32 dims, sq8 string, ...
  const size_t metric_at = 8;
  const uint32_t metric_len = DecodeFixed32(raw.data() + metric_at);
  ASSERT_EQ(raw.substr(metric_at + 4, metric_len), "cosine_distance");
  {
    std::string r = raw;
    r[metric_at + 4] = 'k';  // "kosine_distance"
    ExpectMetaCorrupt(with(r), "unknown metric");
  }
  const size_t dims_at = metric_at + 4 + metric_len;
  for (uint32_t dims : {0u, 2u, 4u, 65537u}) {
    std::string r = raw;
    EncodeFixed32(r.data() + dims_at, dims);
    ExpectMetaCorrupt(with(r), "dims " + std::to_string(dims));
  }
  {  // A centroid coordinate that is not finite.
    IndexMeta m = MakeBaseMeta();
    m.centroids[1].vector[2] = std::numeric_limits<float>::quiet_NaN();
    ExpectMetaCorrupt(EncodeIndexMeta(m), "NaN centroid");
    m.centroids[1].vector[2] = std::numeric_limits<float>::infinity();
    ExpectMetaCorrupt(EncodeIndexMeta(m), "infinite centroid");
  }
  {  // Counts far beyond the body.
    IndexMeta m = MakeDeltaMeta();
    const std::string d = EncodeIndexMeta(m);
    std::string r = RawBody(d, kIndexMetaHeaderSize, kMetaRawSizeAt);
    EncodeFixed32(r.data() + 8, 0xFFFFFFFFu);  // centroid count
    ExpectMetaCorrupt(WithRawBody(d, kIndexMetaHeaderSize, kMetaRawSizeAt, kMetaChecksumAt, r),
                      "centroid count");
  }
}

#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
size_t HeapInUse() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// The memory cache charges a decoded posting by what the heap holds for it, so that its
// capacity bounds the memory it takes: within 10% of what malloc reports in use, for postings
// shaped like the soak bench's (64-d vectors, short ids, a category and a price) and for long
// ids with nested attributes. (The estimate this replaced, 4x the JSON text for a parsed
// object, charged 78% of such a posting.) Not under ASan, whose allocator
// mallinfo2 does not see.
TEST(PostingData, MemoryBytesIsWhatTheHeapHolds) {
  for (int shape : {0, 1}) {
    SCOPED_TRACE(shape == 0 ? "soak-like" : "long ids, nested attributes");
    const size_t before = HeapInUse();
    auto p = std::make_unique<PostingData>();
    p->dims = 64;
    for (uint32_t i = 0; i < 2000; ++i) {
      p->docnos.push_back(i);
      p->versions.push_back(i + 1);
      p->norms.push_back(1.0f);
      for (uint32_t d = 0; d < p->dims; ++d) {
        p->codes.push_back(static_cast<uint8_t>(d));
        p->vectors.push_back(static_cast<float>(d));
      }
      nlohmann::json a = {{"category", "c" + std::to_string(i % 16)}, {"price", i % 1000}};
      std::string id = std::to_string(i);
      if (shape == 1) {
        id = "customer-" + std::to_string(i) + "-order-0000000000000000000000";
        a["tags"] = {"red", "a rather longer tag than sixteen bytes", i};
        a["address"] = {{"city", "Springfield"}, {"zip", 12345}};
      }
      p->ids.push_back(std::move(id));
      p->attributes.push_back(a.dump());
      p->parsed_attributes.push_back(nlohmann::json::parse(p->attributes.back()));
    }
    const size_t measured = HeapInUse() - before;
    const size_t charged = p->MemoryBytes();
    EXPECT_NEAR(static_cast<double>(charged) / static_cast<double>(measured), 1.0, 0.1)
        << "charged " << charged << " bytes, the heap holds " << measured;
  }
}
#endif

}  // namespace
}  // namespace vecpuff
