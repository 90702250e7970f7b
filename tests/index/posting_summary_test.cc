#include "index/posting_summary.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {
namespace {

using json = nlohmann::json;

SummaryNumber Int(int64_t i) {
  SummaryNumber n;
  n.kind = SummaryNumber::Kind::kInt;
  n.i = i;
  return n;
}
SummaryNumber Uint(uint64_t u) {
  SummaryNumber n;
  n.kind = SummaryNumber::Kind::kUint;
  n.u = u;
  return n;
}
SummaryNumber Float(double d) {
  SummaryNumber n;
  n.kind = SummaryNumber::Kind::kFloat;
  n.d = d;
  return n;
}

std::vector<json> MixedDocs() {
  return {
      json::parse(R"({"n": 5, "s": "b", "tags": ["x", "y"], "flag": true})"),
      json::parse(R"({"n": -3, "s": "a", "tags": [1, null], "o": {"k": 1}})"),
      json::parse(R"({"n": 2.5, "s": null, "flag": false})"),
      json::parse(R"({"n": 18446744073709551615})"),
      json("not an object"),
  };
}

TEST(PostingSummaryTest, SummarizesValuesPerAttribute) {
  const PostingSummary s = SummarizePosting(MixedDocs());
  EXPECT_EQ(s.num_entries, 5u);
  EXPECT_TRUE(s.complete);
  ASSERT_EQ(s.attributes.size(), 5u);  // flag, n, o, s, tags

  const AttributeSummary* n = s.Find("n");
  ASSERT_NE(n, nullptr);
  EXPECT_TRUE(n->has_missing);
  EXPECT_TRUE(n->scalars.has_numbers);
  EXPECT_EQ(n->scalars.num_min, Int(-3));
  EXPECT_EQ(n->scalars.num_max, Uint(18446744073709551615ULL));
  EXPECT_TRUE(n->scalars.exact);
  EXPECT_EQ(n->scalars.numbers.size(), 4u);
  EXPECT_FALSE(n->has_arrays);

  const AttributeSummary* str = s.Find("s");
  ASSERT_NE(str, nullptr);
  EXPECT_TRUE(str->has_missing);  // null counts as missing
  EXPECT_EQ(str->scalars.str_min, "a");
  EXPECT_EQ(str->scalars.str_max, "b");
  EXPECT_FALSE(str->scalars.str_max_truncated);

  const AttributeSummary* tags = s.Find("tags");
  ASSERT_NE(tags, nullptr);
  EXPECT_TRUE(tags->has_arrays);
  EXPECT_FALSE(tags->scalars.Any());
  EXPECT_TRUE(tags->elements.has_null);
  EXPECT_TRUE(tags->elements.has_numbers);
  EXPECT_TRUE(tags->elements.has_strings);

  const AttributeSummary* flag = s.Find("flag");
  ASSERT_NE(flag, nullptr);
  EXPECT_TRUE(flag->scalars.has_true);
  EXPECT_TRUE(flag->scalars.has_false);

  EXPECT_TRUE(s.Find("o")->scalars.has_other);
  EXPECT_EQ(s.Find("zz"), nullptr);
}

TEST(PostingSummaryTest, AllNullAttributeIsLeftOut) {
  const PostingSummary s = SummarizePosting({json::parse(R"({"a": null, "b": 1})")});
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(s.Find("a"), nullptr);  // absent from a complete summary: missing everywhere
  EXPECT_NE(s.Find("b"), nullptr);
}

TEST(PostingSummaryTest, NumbersStayExact) {
  // 2^53 + 1 and 2^53 differ, though both round to the same double.
  const PostingSummary s = SummarizePosting(
      {json::parse(R"({"n": 9007199254740993})"), json::parse(R"({"n": 9007199254740992.0})")});
  const AttributeSummary* n = s.Find("n");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->scalars.num_min, Float(9007199254740992.0));
  EXPECT_EQ(n->scalars.num_max, Uint(9007199254740993ULL));
  EXPECT_EQ(CompareSummaryNumbers(Int(-1), Uint(0)), -1);
  EXPECT_EQ(CompareSummaryNumbers(Float(5.0), Int(5)), 0);
  EXPECT_EQ(CompareSummaryNumbers(Float(1e300), Uint(UINT64_MAX)), 1);
}

TEST(PostingSummaryTest, LongStringsCutMinAndFlagMax) {
  const std::string long_z(100, 'z');
  const std::string long_a(100, 'a');
  const PostingSummary s =
      SummarizePosting({json{{"s", long_z}}, json{{"s", long_a}}, json{{"s", "m"}}});
  const ValueSummary& v = s.Find("s")->scalars;
  EXPECT_EQ(v.str_min, long_a.substr(0, kMaxSummaryStringBytes));
  EXPECT_EQ(v.str_max, long_z.substr(0, kMaxSummaryStringBytes));
  EXPECT_TRUE(v.str_max_truncated);
  EXPECT_FALSE(v.exact);  // a long string cannot be held exactly
  EXPECT_TRUE(v.strings.empty());

  // A short maximum stays exact even when a longer string shares its cut.
  const std::string cut(kMaxSummaryStringBytes, 'q');
  const PostingSummary t = SummarizePosting({json{{"s", cut}}});
  EXPECT_FALSE(t.Find("s")->scalars.str_max_truncated);
  const PostingSummary u = SummarizePosting({json{{"s", cut}}, json{{"s", cut + "r"}}});
  EXPECT_TRUE(u.Find("s")->scalars.str_max_truncated);
}

TEST(PostingSummaryTest, ExactSetIsDroppedWhenLarge) {
  std::vector<json> docs;
  for (int i = 0; i < 10; ++i) docs.push_back(json{{"n", i}});
  EXPECT_TRUE(SummarizePosting(docs).Find("n")->scalars.exact);
  for (int i = 10; i < 40; ++i) docs.push_back(json{{"n", i}});
  const PostingSummary large = SummarizePosting(docs);
  const ValueSummary& v = large.Find("n")->scalars;
  EXPECT_FALSE(v.exact);
  EXPECT_TRUE(v.numbers.empty());
  EXPECT_EQ(v.num_min, Int(0));
  EXPECT_EQ(v.num_max, Int(39));
}

TEST(PostingSummaryTest, TooManyAttributesMakesItIncomplete) {
  std::vector<json> docs;
  for (int i = 0; i < 50; ++i) {
    json d = json::object();
    d["common"] = i;
    d["rare" + std::to_string(i)] = "x";
    docs.push_back(d);
  }
  const PostingSummary s = SummarizePosting(docs);
  EXPECT_FALSE(s.complete);
  EXPECT_EQ(s.attributes.size(), kMaxSummaryAttributes);
  EXPECT_NE(s.Find("common"), nullptr);  // the most frequent attribute is kept
  for (size_t i = 1; i < s.attributes.size(); ++i) {
    EXPECT_LT(s.attributes[i - 1].name, s.attributes[i].name);
  }
}

TEST(PostingSummaryTest, EncodingStaysWithinBudget) {
  // Worst case: the most attributes, long names, many long distinct strings per attribute.
  std::vector<json> docs;
  for (int d = 0; d < 20; ++d) {
    json doc = json::object();
    for (int a = 0; a < 40; ++a) {
      const std::string name = std::string(kMaxSummaryNameBytes - 3, 'a') + std::to_string(100 + a);
      doc[name] = std::string(kMaxSummaryStringBytes - 2, 'a' + static_cast<char>(d)) +
                  std::to_string(10 + d);
      doc["arr" + std::to_string(a)] = json::array({d, std::to_string(d), 2.5 * d});
    }
    docs.push_back(doc);
  }
  const PostingSummary s = SummarizePosting(docs);
  const std::string bytes = EncodePostingSummary(s);
  EXPECT_LE(bytes.size(), kMaxSummaryEncodedBytes);
  EXPECT_FALSE(s.complete);
  EXPECT_FALSE(s.attributes.empty());
  auto back = DecodePostingSummary(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_GT(s.MemoryBytes(), sizeof(PostingSummary));
}

TEST(PostingSummaryTest, RoundTrips) {
  for (const auto& docs : {MixedDocs(), std::vector<json>{}, std::vector<json>{json::object()}}) {
    const PostingSummary s = SummarizePosting(docs);
    auto back = DecodePostingSummary(EncodePostingSummary(s));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, s);
  }
}

TEST(PostingSummaryTest, RandomRoundTrips) {
  std::mt19937_64 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::vector<json> pool = {nullptr,
                                  true,
                                  false,
                                  0,
                                  -7,
                                  42u,
                                  3.5,
                                  -0.0,
                                  1e300,
                                  "",
                                  "a",
                                  "é",
                                  std::string(80, 'x'),
                                  json::object(),
                                  json::array({1, "b", nullptr, json::array()})};
  for (int iter = 0; iter < 300; ++iter) {
    std::vector<json> docs;
    for (size_t i = pick(12); i > 0; --i) {
      json d = json::object();
      for (size_t a = pick(6); a > 0; --a)
        d["k" + std::to_string(pick(8))] = pool[pick(pool.size())];
      docs.push_back(d);
    }
    const PostingSummary s = SummarizePosting(docs);
    auto back = DecodePostingSummary(EncodePostingSummary(s));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, s);
  }
}

TEST(PostingSummaryTest, TruncationIsCorruption) {
  const std::string bytes = EncodePostingSummary(SummarizePosting(MixedDocs()));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = DecodePostingSummary(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(r.status().IsCorruption()) << n;
  }
  auto r = DecodePostingSummary(bytes + "x");  // trailing bytes
  EXPECT_TRUE(r.status().IsCorruption());
}

TEST(PostingSummaryTest, FlippedBytesAreCorruption) {
  const std::string bytes = EncodePostingSummary(SummarizePosting(MixedDocs()));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      auto r = DecodePostingSummary(bad);
      ASSERT_FALSE(r.ok()) << i << " " << bit;
      EXPECT_TRUE(r.status().IsCorruption());
    }
  }
}

// Checksummed garbage: the structure checks alone must reject it without crashing or
// allocating much. Re-frames random bodies with a valid header and checksum.
TEST(PostingSummaryTest, RandomBodiesWithValidFramingNeverCrash) {
  const std::string good = EncodePostingSummary(SummarizePosting(MixedDocs()));
  const std::string body = good.substr(5, good.size() - 13);
  std::mt19937_64 rng(11);
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string b = body;
    if (iter % 2 == 0) {
      for (auto& c : b) c = static_cast<char>(rng());
    } else {
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] = static_cast<char>(rng());
      b.resize(rng() % (b.size() + 1));
    }
    std::string framed;
    framed.push_back(1);  // version
    PutFixed32(&framed, static_cast<uint32_t>(b.size()));
    framed += b;
    auto wrong = DecodePostingSummary(framed + std::string(8, '\0'));
    EXPECT_TRUE(wrong.status().IsCorruption());
    PutFixed64(&framed, Checksum64(framed));
    auto r = DecodePostingSummary(framed);
    if (r.ok()) {
      ++accepted;
      // Whatever decodes re-encodes to the same bytes.
      EXPECT_EQ(EncodePostingSummary(*r), framed);
    } else {
      EXPECT_TRUE(r.status().IsCorruption());
    }
  }
  SUCCEED() << accepted;
}

}  // namespace
}  // namespace vecpuff
