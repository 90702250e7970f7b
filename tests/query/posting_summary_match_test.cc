#include "query/posting_summary_match.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "filter_random.h"

namespace vecpuff {
namespace {

using json = nlohmann::json;

std::shared_ptr<const Filter> F(const json& j) {
  auto f = Filter::Parse(j);
  EXPECT_TRUE(f.ok()) << f.status().ToString() << " " << j.dump();
  return f.ok() ? *f : nullptr;
}

bool May(const json& filter, const std::vector<json>& docs) {
  const PostingSummary s = SummarizePosting(docs);
  auto back = DecodePostingSummary(EncodePostingSummary(s));
  EXPECT_TRUE(back.ok());
  const bool r = MayMatch(*F(filter), s);
  EXPECT_EQ(r, MayMatch(*F(filter), *back));
  return r;
}

std::vector<json> NumbersZeroToTen() {
  std::vector<json> docs;
  for (int i = 0; i <= 10; ++i) docs.push_back(json{{"n", i}, {"category", i % 2 ? "a" : "b"}});
  return docs;
}

TEST(PostingSummaryMatchTest, PrunesNumberRanges) {
  const auto docs = NumbersZeroToTen();
  EXPECT_FALSE(May(json::parse(R"(["n", "Gt", 20])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Gte", 10.5])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Gte", 10])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Lt", 0])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Lte", 0])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", 11])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", 5.5])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Eq", 5.0])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "In", [-1, 12, 100]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "In", [-1, 7]])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", "5"])"), docs));  // no strings
}

TEST(PostingSummaryMatchTest, PrunesLargeRangesWithoutExactSet) {
  std::vector<json> docs;
  for (int i = 0; i < 100; ++i) docs.push_back(json{{"n", 1000 + i}});
  EXPECT_FALSE(SummarizePosting(docs).Find("n")->scalars.exact);
  EXPECT_FALSE(May(json::parse(R"(["n", "Gt", 1099])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Gt", 1098])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Lt", 1000])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Eq", 1050.5])"), docs));  // inside the range
  EXPECT_FALSE(May(json::parse(R"(["n", "In", [5, 2000]])"), docs));
}

TEST(PostingSummaryMatchTest, NumbersCompareExactly) {
  const std::vector<json> docs = {json::parse(R"({"n": 9007199254740993})")};
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", 9007199254740992.0])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Gt", 9007199254740992.0])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Gt", 9007199254740993])"), docs));
}

TEST(PostingSummaryMatchTest, PrunesCategorySets) {
  const auto docs = NumbersZeroToTen();
  EXPECT_FALSE(May(json::parse(R"(["category", "Eq", "c"])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["category", "Eq", "a"])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["category", "In", ["c", "d"]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["category", "In", ["c", "b"]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["category", "NotEq", "a"])"), docs));  // conservative
}

TEST(PostingSummaryMatchTest, NullSemantics) {
  const auto docs = NumbersZeroToTen();
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", null])"), docs));  // no entry lacks n
  EXPECT_FALSE(May(json::parse(R"(["missing", "Eq", 1])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["missing", "Eq", null])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["missing", "Lt", 1])"), docs));  // missing orders lowest
  EXPECT_FALSE(May(json::parse(R"(["missing", "Gt", 1])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["n", "Lt", null])"), docs));  // never matches
  EXPECT_FALSE(May(json::parse(R"(["n", "Lte", null])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["n", "Gt", null])"), docs));
  auto with_missing = docs;
  with_missing.push_back(json{{"n", nullptr}});
  EXPECT_TRUE(May(json::parse(R"(["n", "Eq", null])"), with_missing));
  EXPECT_TRUE(May(json::parse(R"(["n", "Lt", -5])"), with_missing));
  EXPECT_FALSE(May(json::parse(R"(["n", "Gt", 20])"), with_missing));
}

TEST(PostingSummaryMatchTest, ConnectivesAndArrays) {
  const auto docs = NumbersZeroToTen();
  EXPECT_FALSE(May(json::parse(R"(["And", [["n", "Lt", 5], ["category", "Eq", "c"]]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["Or", [["n", "Gt", 50], ["category", "Eq", "a"]]])"), docs));
  EXPECT_FALSE(May(json::parse(R"(["Or", [["n", "Gt", 50], ["category", "Eq", "c"]]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["Not", ["n", "Gt", 50]])"), docs));
  EXPECT_TRUE(May(json::parse(R"(["id", "Eq", 3])"), docs));
  const std::vector<json> tagged = {json{{"tags", {"x", "y"}}}, json{{"tags", {"z"}}}};
  EXPECT_FALSE(May(json::parse(R"(["tags", "Contains", "w"])"), tagged));
  EXPECT_TRUE(May(json::parse(R"(["tags", "Contains", "y"])"), tagged));
  EXPECT_FALSE(May(json::parse(R"(["tags", "ContainsAny", ["a", "b"]])"), tagged));
  EXPECT_FALSE(May(json::parse(R"(["tags", "Eq", "x"])"), tagged));  // arrays are not scalars
  EXPECT_FALSE(May(json::parse(R"(["tags", "AnyGt", "zz"])"), tagged));
  EXPECT_TRUE(May(json::parse(R"(["tags", "AnyGte", "z"])"), tagged));
  EXPECT_FALSE(May(json::parse(R"(["tags", "Glob", "q*"])"), tagged));
  EXPECT_TRUE(May(json::parse(R"(["tags", "Glob", "x*"])"), tagged));
  EXPECT_FALSE(May(json::parse(R"(["n", "Eq", 1])"), {}));  // no entries
}

TEST(PostingSummaryMatchTest, LongStringsStayConservative) {
  const std::string big(100, 'm');
  const std::vector<json> docs = {json{{"s", big}}, json{{"s", "b"}}};
  EXPECT_TRUE(May(json{"s", "Eq", big}, docs));
  EXPECT_TRUE(May(json{"s", "Gt", big.substr(0, 99)}, docs));
  EXPECT_TRUE(May(json{"s", "Gte", big}, docs));
  EXPECT_FALSE(May(json{"s", "Gt", "n"}, docs));
  EXPECT_FALSE(May(json{"s", "Lt", "b"}, docs));
  EXPECT_TRUE(May(json{"s", "Glob", "mmm*"}, docs));
  EXPECT_FALSE(May(json{"s", "Glob", "z*"}, docs));
}

TEST(PostingSummaryMatchTest, IncompleteSummaryKnowsNothingOfDroppedAttributes) {
  std::vector<json> docs;
  for (int i = 0; i < 40; ++i) docs.push_back(json{{"a" + std::to_string(100 + i), i}});
  const PostingSummary s = SummarizePosting(docs);
  ASSERT_FALSE(s.complete);
  int unknown = 0;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "a" + std::to_string(100 + i);
    EXPECT_TRUE(MayMatch(*F(json{name, "Eq", i}), s));
    if (s.Find(name) == nullptr) {
      ++unknown;
      EXPECT_TRUE(MayMatch(*F(json{name, "Eq", 1000}), s));
    }
  }
  EXPECT_GT(unknown, 0);
  EXPECT_TRUE(MayMatch(*F(json{"never_seen", "Eq", 1}), s));
}

// Random postings and filters: MayMatch false must mean no entry matches. Also reports how
// often it prunes postings that indeed have no match, per top-level operator.
void RunDifferential(uint64_t seed, int iterations, bool spice) {
  filter_random::RandomFilters gen(seed);
  std::mt19937_64 rng(seed * 31 + 1);
  std::map<std::string, std::pair<int, int>> stats;  // op -> (no match, pruned)
  int checked = 0;
  for (int iter = 0; iter < iterations; ++iter) {
    std::vector<json> docs;
    const size_t n = 1 + rng() % 8;
    for (size_t i = 0; i < n; ++i) {
      json d = gen.Document();
      if (spice) {
        // Long strings (cut in the summary) and many attributes (incomplete summaries).
        if (rng() % 3 == 0) d["s"] = std::string(60 + rng() % 10, "abz"[rng() % 3]) + "q";
        for (int k = static_cast<int>(rng() % 12); k > 0; --k)
          d["x" + std::to_string(rng() % 40)] = k;
      }
      docs.push_back(d);
    }
    const PostingSummary summary = SummarizePosting(docs);
    auto decoded = DecodePostingSummary(EncodePostingSummary(summary));
    ASSERT_TRUE(decoded.ok());
    ASSERT_EQ(*decoded, summary);
    for (int q = 0; q < 20; ++q) {
      json fj = gen.FilterJson();
      if (spice && rng() % 4 == 0) {
        const char* ops[] = {"Eq", "Lt", "Lte", "Gt", "Gte", "Glob"};
        std::string v(55 + rng() % 15, "abz"[rng() % 3]);
        if (rng() % 2) v += "q";
        if (rng() % 2) v += "~";
        fj = json{"s", ops[rng() % 6], v};
      }
      auto parsed = Filter::Parse(fj);
      ASSERT_TRUE(parsed.ok()) << fj.dump();
      const Filter& f = **parsed;
      bool any = false;
      for (size_t i = 0; i < docs.size(); ++i) any = any || f.Matches(json(uint64_t(i)), docs[i]);
      const bool may = MayMatch(f, summary);
      ++checked;
      if (any) {
        ASSERT_TRUE(may) << "pruned a matching posting: filter " << fj.dump() << " docs "
                         << json(docs).dump();
      } else {
        const std::string op =
            fj[1].is_string() ? fj[1].get<std::string>() : fj[0].get<std::string>();
        auto& [none, pruned] = stats[op];
        ++none;
        if (!may) ++pruned;
      }
    }
  }
  std::printf("differential (seed %llu%s): %d checks; postings without a match pruned, by op:\n",
              static_cast<unsigned long long>(seed), spice ? ", long strings + wide" : "", checked);
  for (const auto& [op, counts] : stats) {
    std::printf("  %-15s %5d / %5d (%.0f%%)\n", op.c_str(), counts.second, counts.first,
                counts.first ? 100.0 * counts.second / counts.first : 0.0);
  }
}

TEST(PostingSummaryMatchTest, DifferentialNeverPrunesAMatch) { RunDifferential(1, 3000, false); }

TEST(PostingSummaryMatchTest, DifferentialWithLongStringsAndWideDocs) {
  RunDifferential(2, 2000, true);
}

// Selective filters on clustered postings, as an IVF index produces them when attributes
// correlate with the vectors: how often is a posting skipped?
TEST(PostingSummaryMatchTest, ReportsPruningForSelectiveFilters) {
  std::mt19937_64 rng(5);
  int range_total = 0, range_pruned = 0, eq_total = 0, eq_pruned = 0;
  for (int p = 0; p < 200; ++p) {
    std::vector<json> docs;
    const int base = static_cast<int>(rng() % 1000);
    for (int i = 0; i < 50; ++i) {
      docs.push_back(json{{"price", base + static_cast<int>(rng() % 100)},
                          {"category", "c" + std::to_string(rng() % 100 / 10 + base / 100 * 10)}});
    }
    const PostingSummary s = SummarizePosting(docs);
    for (int q = 0; q < 20; ++q) {
      const int lo = static_cast<int>(rng() % 1100);
      const json range = json{"And", {{"price", "Gte", lo}, {"price", "Lt", lo + 20}}};
      const json eq = json{"category", "Eq", "c" + std::to_string(rng() % 100)};
      ++range_total;
      if (!MayMatch(*F(range), s)) ++range_pruned;
      ++eq_total;
      if (!MayMatch(*F(eq), s)) ++eq_pruned;
    }
  }
  std::printf("selective range filters: %d / %d postings pruned; equality: %d / %d\n", range_pruned,
              range_total, eq_pruned, eq_total);
  EXPECT_GT(range_pruned, range_total / 2);
  EXPECT_GT(eq_pruned, eq_total / 2);
}

}  // namespace
}  // namespace vecpuff
