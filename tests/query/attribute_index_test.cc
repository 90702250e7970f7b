#include "query/attribute_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "filter_random.h"
#include "query/filter.h"

namespace vecpuff {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::shared_ptr<const Filter> ParseFilter(const json& filter) {
  auto f = Filter::Parse(filter);
  EXPECT_TRUE(f.ok()) << filter.dump() << ": " << f.status().ToString();
  return f.ok() ? *f : nullptr;
}

// A posting's entries: attributes and ids (1, 2, 3, ... unless given), and its index.
class Posting {
 public:
  explicit Posting(const std::vector<std::string>& attributes) {
    for (const std::string& a : attributes) {
      attributes_.push_back(json::parse(a));
      ids_.push_back(json(static_cast<uint64_t>(ids_.size() + 1)));
    }
    index_ = AttributeIndex::Build(attributes_, ids_);
  }

  // The entries the index says match `filter` (JSON text), after checking that this is what
  // Filter::Matches says entry by entry.
  std::vector<int> Matching(const std::string& filter) {
    auto f = ParseFilter(json::parse(filter));
    if (f == nullptr) return {};
    std::vector<uint8_t> mask;
    EXPECT_TRUE(index_->Matches(*f, &mask)) << filter;
    EXPECT_EQ(mask.size(), attributes_.size());
    std::vector<int> got;
    for (size_t i = 0; i < mask.size() && i < attributes_.size(); ++i) {
      EXPECT_EQ(mask[i] == 1, f->Matches(ids_[i], attributes_[i]))
          << filter << " on entry " << i << " " << attributes_[i].dump();
      if (mask[i]) got.push_back(static_cast<int>(i));
    }
    return got;
  }

  const AttributeIndex& index() const { return *index_; }

 private:
  std::vector<json> attributes_;
  std::vector<json> ids_;
  std::unique_ptr<const AttributeIndex> index_;
};

TEST(AttributeIndex, NumbersCompareByExactValue) {
  Posting p({R"({"n": 5})", R"({"n": 5.0})", R"({"n": 9007199254740993})",
             R"({"n": 9007199254740992.0})", R"({"n": -1})", R"({})", R"({"n": null})",
             R"({"n": "5"})", R"({"n": [5]})", R"({"n": 18446744073709551615})",
             R"({"n": 18446744073709551614})", R"({"n": true})"});
  EXPECT_THAT(p.Matching(R"(["n", "Eq", 5])"), ElementsAre(0, 1));
  EXPECT_THAT(p.Matching(R"(["n", "Eq", 9007199254740993])"), ElementsAre(2));
  EXPECT_THAT(p.Matching(R"(["n", "Eq", 18446744073709551614])"), ElementsAre(10));
  // Missing (absent or null) orders below every value; other kinds never order.
  EXPECT_THAT(p.Matching(R"(["n", "Lt", 5])"), ElementsAre(4, 5, 6));
  EXPECT_THAT(p.Matching(R"(["n", "Lte", 5.0])"), ElementsAre(0, 1, 4, 5, 6));
  EXPECT_THAT(p.Matching(R"(["n", "Gt", 9007199254740992])"), ElementsAre(2, 9, 10));
  EXPECT_THAT(p.Matching(R"(["n", "Gte", 9007199254740992])"), ElementsAre(2, 3, 9, 10));
  EXPECT_THAT(p.Matching(R"(["n", "NotEq", 5])"), ElementsAre(2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
  EXPECT_THAT(p.Matching(R"(["n", "In", [-1, 5.0, 1e300]])"), ElementsAre(0, 1, 4));
  EXPECT_THAT(p.Matching(R"(["n", "NotIn", [-1, 5.0]])"), ElementsAre(2, 3, 5, 6, 7, 8, 9, 10, 11));
  EXPECT_THAT(p.Matching(R"(["n", "Eq", true])"), ElementsAre(11));
}

// Extreme and nearly equal numbers in every representation, each compared with each: the
// index's number keys must order them exactly as Filter::Matches does.
TEST(AttributeIndex, NumberOrderIsExactAtTheExtremes) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<json> values = {json(INT64_MIN),
                                    json(INT64_MIN + 1),
                                    json(-9223372036854775808.0),
                                    json(-9223372036854777856.0),
                                    json(-1e300),
                                    json(-inf),
                                    json(-std::numeric_limits<double>::max()),
                                    json(-1.5),
                                    json(-1),
                                    json(-5e-324),
                                    json(-0.0),
                                    json(0),
                                    json(uint64_t{0}),
                                    json(5e-324),
                                    json(2.2250738585072009e-308),
                                    json(2.2250738585072014e-308),
                                    json(0.5),
                                    json(0.9999999999999999),
                                    json(1),
                                    json(1.0000000000000002),
                                    json(9007199254740992.0),
                                    json(uint64_t{9007199254740993}),
                                    json(int64_t{9007199254740993}),
                                    json(9007199254740994.0),
                                    json(INT64_MAX),
                                    json(9223372036854775808.0),
                                    json(uint64_t{9223372036854775808u}),
                                    json(UINT64_MAX - 1),
                                    json(UINT64_MAX),
                                    json(18446744073709551616.0),
                                    json(std::numeric_limits<double>::max()),
                                    json(inf),
                                    json(std::nan(""))};
  std::vector<json> attributes;
  for (const json& v : values) attributes.push_back(json{{"n", v}, {"a", {v, "x"}}});
  auto index = AttributeIndex::Build(attributes);
  for (const json& x : values) {
    if (x.is_number_float() && !std::isfinite(x.get<double>())) continue;  // not a filter value
    for (const char* op :
         {"Eq", "NotEq", "Lt", "Lte", "Gt", "Gte", "In", "Contains", "AnyLt", "AnyGte"}) {
      const bool list = std::string(op) == "In";
      const json fj = json::array({std::string(op).rfind("Any", 0) == 0 || op[0] == 'C' ? "a" : "n",
                                   op, list ? json::array({x, 7}) : x});
      auto f = ParseFilter(fj);
      ASSERT_NE(f, nullptr);
      std::vector<uint8_t> mask;
      ASSERT_TRUE(index->Matches(*f, &mask));
      for (size_t i = 0; i < attributes.size(); ++i) {
        EXPECT_EQ(mask[i] == 1, f->Matches(json(), attributes[i]))
            << fj.dump() << " on " << values[i].dump() << " (" << values[i].type_name() << ")";
      }
    }
  }
}

TEST(AttributeIndex, NullRules) {
  Posting p({R"({"a": 1})", R"({"a": null})", R"({})", R"({"a": "x"})", R"({"a": {"k": 1}})",
             R"({"a": []})", "null"});
  EXPECT_THAT(p.Matching(R"(["a", "Eq", null])"), ElementsAre(1, 2, 6));
  EXPECT_THAT(p.Matching(R"(["a", "NotEq", null])"), ElementsAre(0, 3, 4, 5));
  EXPECT_THAT(p.Matching(R"(["a", "Lt", null])"), IsEmpty());
  EXPECT_THAT(p.Matching(R"(["a", "Lte", null])"), ElementsAre(1, 2, 6));
  EXPECT_THAT(p.Matching(R"(["a", "Gt", null])"), ElementsAre(0, 3, 4, 5));
  EXPECT_THAT(p.Matching(R"(["a", "Gte", null])"), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(p.Matching(R"(["zz", "Eq", null])"), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(p.Matching(R"(["zz", "Lt", 3])"), ElementsAre(0, 1, 2, 3, 4, 5, 6));
  EXPECT_THAT(p.Matching(R"(["zz", "Gt", 3])"), IsEmpty());
}

TEST(AttributeIndex, DatetimesCompareAsInstants) {
  Posting p({R"({"t": "2024-03-01T00:00:00Z"})", R"({"t": "2024-03-01T01:00:00+01:00"})",
             R"({"t": "2024-02-29T23:59:59Z"})", R"({"t": "2024-03-01T00:00:00.5Z"})",
             R"({"t": "2024-03-01T00:00:00"})", R"({"t": "2024"})", R"({"t": "zzz"})"});
  EXPECT_THAT(p.Matching(R"(["t", "Eq", "2024-03-01t00:00:00.000z"])"), ElementsAre(0, 1));
  // Against a timestamp, the timestamps compare as instants and other strings bytewise.
  // ("2024-03-01T00:00:00" has no offset, so it is a plain string, below as a prefix.)
  EXPECT_THAT(p.Matching(R"(["t", "Lt", "2024-03-01T00:00:00Z"])"), ElementsAre(2, 4, 5));
  EXPECT_THAT(p.Matching(R"(["t", "Gte", "2024-03-01T00:00:00Z"])"), ElementsAre(0, 1, 3, 6));
  // Against another string, everything compares bytewise.
  EXPECT_THAT(p.Matching(R"(["t", "Lt", "2024-03-01T00:00:00"])"), ElementsAre(2, 5));
  EXPECT_THAT(p.Matching(R"(["t", "In", ["2024-03-01T00:00:00+00:00", "zzz"]])"),
              ElementsAre(0, 1, 6));
}

TEST(AttributeIndex, ArraysPerElementAndWhole) {
  Posting p({R"({"tags": ["a", "b"]})", R"({"tags": ["b", null]})", R"({"tags": []})",
             R"({"tags": "a"})", R"({})", R"({"tags": [1, 2.5]})", R"({"tags": [null]})",
             R"({"tags": [["a"]]})"});
  EXPECT_THAT(p.Matching(R"(["tags", "Contains", "b"])"), ElementsAre(0, 1));
  EXPECT_THAT(p.Matching(R"(["tags", "NotContains", "b"])"), ElementsAre(2, 3, 4, 5, 6, 7));
  EXPECT_THAT(p.Matching(R"(["tags", "ContainsAny", ["a", 2.5]])"), ElementsAre(0, 5));
  EXPECT_THAT(p.Matching(R"(["tags", "Eq", ["b", "a"]])"), IsEmpty());
  EXPECT_THAT(p.Matching(R"(["tags", "Eq", ["a", "b"]])"), ElementsAre(0));
  EXPECT_THAT(p.Matching(R"(["tags", "In", ["a", ["a", "b"]]])"), ElementsAre(0, 3));
  // A null element counts as a missing value; a missing attribute as under Lt.
  EXPECT_THAT(p.Matching(R"(["tags", "AnyLt", "b"])"), ElementsAre(0, 1, 4, 6));
  EXPECT_THAT(p.Matching(R"(["tags", "AnyGte", 2])"), ElementsAre(5));
  EXPECT_THAT(p.Matching(R"(["tags", "AnyLte", null])"), ElementsAre(1, 4, 6));
  EXPECT_THAT(p.Matching(R"(["tags", "AnyGt", null])"), ElementsAre(0, 1, 5, 7));
  EXPECT_THAT(p.Matching(R"(["tags", "AnyGte", null])"), ElementsAre(0, 1, 4, 5, 6, 7));
  EXPECT_THAT(p.Matching(R"(["tags", "Glob", "[ab]"])"), ElementsAre(0, 1, 3));
  EXPECT_THAT(p.Matching(R"(["tags", "Regex", "a"])"), ElementsAre(3));
}

TEST(AttributeIndex, PatternsAndConnectives) {
  Posting p({R"({"s": "foo", "n": 1})", R"({"s": "foobar", "n": 2})", R"({"s": "FOO", "n": 3})",
             R"({"s": "foo", "n": 4})", R"({"n": 5})"});
  EXPECT_THAT(p.Matching(R"(["s", "Glob", "foo*"])"), ElementsAre(0, 1, 3));
  EXPECT_THAT(p.Matching(R"(["s", "IGlob", "foo"])"), ElementsAre(0, 2, 3));
  EXPECT_THAT(p.Matching(R"(["s", "NotGlob", "foo"])"), ElementsAre(1, 2, 4));
  EXPECT_THAT(p.Matching(R"(["s", "Regex", "o+b"])"), ElementsAre(1));
  EXPECT_THAT(p.Matching(R"(["And", [["s", "Glob", "foo*"], ["n", "Gt", 1]]])"), ElementsAre(1, 3));
  EXPECT_THAT(p.Matching(R"(["Or", [["s", "Eq", "FOO"], ["n", "Gte", 5]]])"), ElementsAre(2, 4));
  EXPECT_THAT(p.Matching(R"(["Not", ["n", "In", [1, 2]]])"), ElementsAre(2, 3, 4));
  EXPECT_THAT(p.Matching(R"(["And", []])"), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(p.Matching(R"(["Or", []])"), IsEmpty());
  // And stops early once nothing is left, and still answers right.
  EXPECT_THAT(p.Matching(R"(["And", [["n", "Gt", 9], ["s", "Regex", "o"]]])"), IsEmpty());
}

TEST(AttributeIndex, LargeInListOnASmallPosting) {
  Posting p({R"({"n": 7})", R"({"n": 8})", R"({"n": 7.0})", R"({"s": "v500"})"});
  json numbers = json::array(), strings = json::array();
  for (int i = 0; i < 1000; i += 7) numbers.push_back(i);
  for (int i = 0; i < 1000; ++i) strings.push_back("v" + std::to_string(i));
  EXPECT_THAT(p.Matching(json::array({"n", "In", numbers}).dump()), ElementsAre(0, 2));
  EXPECT_THAT(p.Matching(json::array({"s", "In", strings}).dump()), ElementsAre(3));
  EXPECT_THAT(p.Matching(json::array({"n", "NotIn", numbers}).dump()), ElementsAre(1, 3));
}

TEST(AttributeIndex, IdFiltersUseTheIdsNotAnIdAttribute) {
  Posting p({R"({"id": 2})", R"({})", R"({})"});  // ids 1, 2, 3
  EXPECT_THAT(p.Matching(R"(["id", "Eq", 2])"), ElementsAre(1));
  EXPECT_THAT(p.Matching(R"(["id", "Lt", 3])"), ElementsAre(0, 1));
  EXPECT_THAT(p.Matching(R"(["id", "In", [3, "a"]])"), ElementsAre(2));

  const std::vector<json> attributes = {json::object(), json::object()};
  const std::vector<json> ids = {"3d7a7296-3d6a-4796-8fb0-f90406b1f621", "b"};
  auto with_ids = AttributeIndex::Build(attributes, ids);
  auto f = ParseFilter(json::parse(R"(["id", "Glob", "3d7a*"])"));
  std::vector<uint8_t> mask;
  ASSERT_TRUE(with_ids->Matches(*f, &mask));
  EXPECT_THAT(mask, ElementsAre(1, 0));

  auto without_ids = AttributeIndex::Build(attributes);
  EXPECT_FALSE(without_ids->has_ids());
  EXPECT_FALSE(without_ids->Matches(*f, &mask));
  auto g = ParseFilter(json::parse(R"(["Or", [["a", "Eq", 1], ["Not", ["id", "Eq", 1]]]])"));
  EXPECT_FALSE(without_ids->Matches(*g, &mask));
  auto h = ParseFilter(json::parse(R"(["a", "Eq", null])"));
  ASSERT_TRUE(without_ids->Matches(*h, &mask));
  EXPECT_THAT(mask, ElementsAre(1, 1));
}

TEST(AttributeIndex, EmptyPosting) {
  auto index = AttributeIndex::Build({});
  EXPECT_EQ(index->size(), 0u);
  auto f = ParseFilter(json::parse(R"(["a", "NotEq", 1])"));
  std::vector<uint8_t> mask = {1, 1};
  ASSERT_TRUE(index->Matches(*f, &mask));
  EXPECT_THAT(mask, IsEmpty());
}

TEST(AttributeIndex, MemoryBytesGrowsWithEntries) {
  std::vector<json> small, large;
  for (int i = 0; i < 1000; ++i) {
    json a = {{"n", i}, {"s", "value-" + std::to_string(i % 37)}, {"tags", {"x", i % 5}}};
    if (i < 10) small.push_back(a);
    large.push_back(a);
  }
  const size_t small_bytes = AttributeIndex::Build(small)->MemoryBytes();
  const size_t large_bytes = AttributeIndex::Build(large)->MemoryBytes();
  EXPECT_GT(small_bytes, 0u);
  // Per entry: a present entry per attribute, a number, a string, two array elements.
  EXPECT_GT(large_bytes, small_bytes + 990 * 60);
  EXPECT_LT(large_bytes, 1000 * 400u);
}

// --- Differential test against Filter::Matches --------------------------------------------

TEST(AttributeIndexDifferential, MasksAgreeWithMatchesEntryByEntry) {
  filter_random::RandomFilters gen(20240917);
  std::map<std::string, std::pair<int64_t, int64_t>> outcomes;  // op -> (matches, misses)
  int mismatches = 0;
  int64_t evaluations = 0;
  for (size_t posting_size : {0, 1, 2, 7, 40, 300}) {
    std::vector<json> attributes, ids;
    for (size_t i = 0; i < posting_size; ++i) {
      ids.push_back(gen.Id());
      // Now and then an entry whose attributes are not an object: no attributes.
      attributes.push_back(i % 97 == 5 ? json("x") : gen.Document());
    }
    auto index = AttributeIndex::Build(attributes, ids);
    auto no_ids = AttributeIndex::Build(attributes);
    ASSERT_EQ(index->size(), posting_size);
    const int filters = posting_size >= 40 ? 3000 : 1000;
    for (int k = 0; k < filters; ++k) {
      const json fj = gen.FilterJson();
      auto f = ParseFilter(fj);
      ASSERT_NE(f, nullptr);
      const std::string op =
          fj[1].is_string() && fj.size() == 3 ? fj[1].get<std::string>() : fj[0].get<std::string>();
      std::vector<uint8_t> mask, mask_no_ids;
      ASSERT_TRUE(index->Matches(*f, &mask));
      ASSERT_EQ(mask.size(), posting_size);
      const auto& names = f->attributes();
      const bool reads_id = std::find(names.begin(), names.end(), "id") != names.end();
      const bool answered = no_ids->Matches(*f, &mask_no_ids);
      EXPECT_EQ(answered, !reads_id || posting_size == 0) << fj.dump();
      if (answered) {
        EXPECT_EQ(mask_no_ids, mask) << fj.dump();
      }
      for (size_t i = 0; i < posting_size; ++i) {
        const bool want = f->Matches(ids[i], attributes[i]);
        ++evaluations;
        (want ? outcomes[op].first : outcomes[op].second)++;
        if ((mask[i] == 1) != want && ++mismatches <= 10) {
          ADD_FAILURE() << "filter " << fj.dump() << "\n  entry " << i << " of " << posting_size
                        << ", id " << ids[i].dump() << " attributes " << attributes[i].dump()
                        << "\n  index=" << int(mask[i]) << ", Matches()=" << want;
        }
        if (mask[i] > 1 && ++mismatches <= 10) ADD_FAILURE() << "mask byte " << int(mask[i]);
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  // Every operator and connective must have been seen both matching and not.
  EXPECT_EQ(outcomes.size(), 24u);
  for (const auto& [op, counts] : outcomes) {
    EXPECT_GT(counts.first, 0) << op << " never matched";
    EXPECT_GT(counts.second, 0) << op << " always matched";
  }
  std::printf("[          ] %lld entry evaluations compared\n",
              static_cast<long long>(evaluations));
}

}  // namespace
}  // namespace vecpuff
