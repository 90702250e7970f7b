// The turbopuffer v2 query features beyond ranking, through TpufService over a Database on
// an in-memory store: aggregate_by / group_by, multi-queries with rerank_by RRF,
// explain_query and _debug/recall. Expected values are worked out by hand (or by brute
// force over the data the test wrote), never taken from the server.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "api/tpuf_aggregate.h"
#include "api/tpuf_service.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using nlohmann::json;

DbOptions Options(uint32_t probes, float prune_ratio) {
  DbOptions o;
  o.compactor_enabled = false;
  o.batch_window_ms = 0;
  o.index_tuning.posting_target = 32;
  o.index_tuning.split_limit = 64;
  o.index_tuning.merge_limit = 6;
  o.index_tuning.replica_count = 2;
  o.default_probes = probes;
  o.prune_ratio = prune_ratio;
  return o;
}

class TpufFeaturesTest : public ::testing::Test {
 protected:
  explicit TpufFeaturesTest(uint32_t probes = 4, float prune_ratio = 4.0f)
      : db_(store_.get(), Options(probes, prune_ratio)) {}

  void Write(const json& body) {
    auto r = service_.Write("ns", body.dump());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  json Query(const json& body) {
    auto r = service_.Query("ns", body.dump());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? json::parse(*r) : json();
  }
  std::string QueryError(const json& body) {
    auto r = service_.Query("ns", body.dump());
    if (r.ok()) return "OK";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    return r.status().message();
  }

  std::unique_ptr<ObjectStore> store_ = NewMemoryStore();
  Database db_;
  TpufService service_{&db_};
};

// Ten products: category a/b/c (none for 10), integer prices (none for 9), float weights.
class AggregationTest : public TpufFeaturesTest {
 protected:
  void SetUp() override {
    json rows = json::array();
    const char* cats[] = {"a", "b", "c"};
    for (int i = 1; i <= 10; ++i) {
      json row = {{"id", i}, {"vector", {i, 1}}, {"weight", 0.5 * i}, {"big", 0}};
      if (i != 10) row["category"] = cats[i % 3];  // 1:b 2:c 3:a 4:b 5:c 6:a 7:b 8:c 9:a
      if (i != 9) row["price"] = 10 * i;
      if (i <= 3) row["big"] = json(uint64_t{1} << 62);
      rows.push_back(row);
    }
    Write({{"upsert_rows", rows}, {"distance_metric", "euclidean_squared"}});
  }
};

TEST_F(AggregationTest, CountAndSumOverTheMatchingDocuments) {
  json res = Query({{"aggregate_by",
                     {{"n", {"Count"}},
                      {"priced", {"Count", "price"}},
                      {"total", {"Sum", "price"}},
                      {"weights", {"Sum", "weight"}},
                      {"big", {"Sum", "big"}}}}});
  EXPECT_FALSE(res.contains("rows"));
  EXPECT_FALSE(res.contains("aggregation_groups"));
  const json& a = res["aggregations"];
  EXPECT_EQ(a["n"], 10);
  EXPECT_EQ(a["priced"], 9);  // document 9 has no price
  EXPECT_EQ(a["total"], 10 * (55 - 9));
  EXPECT_TRUE(a["total"].is_number_integer());
  EXPECT_DOUBLE_EQ(a["weights"].get<double>(), 27.5);
  EXPECT_TRUE(a["weights"].is_number_float());
  // 3 * 2^62 exceeds INT64_MAX: an exact unsigned sum, not a rounded double.
  EXPECT_TRUE(a["big"].is_number_unsigned());
  EXPECT_EQ(a["big"].get<uint64_t>(), 3 * (uint64_t{1} << 62));
  EXPECT_TRUE(res["performance"].is_object());
  EXPECT_TRUE(res["billing"].is_object());

  json filtered = Query({{"aggregate_by", {{"n", {"Count"}}, {"total", {"Sum", "price"}}}},
                         {"filters", {"price", "Lt", 45}}});
  // Lt matches a missing value (query/filter.h): document 9, counted but with nothing to sum.
  EXPECT_EQ(filtered["aggregations"], (json{{"n", 5}, {"total", 100}}));
  // Missing attribute: the Eq null filter and a Count that skips it.
  json missing = Query({{"aggregate_by", {{"n", {"Count"}}, {"c", {"Count", "category"}}}},
                        {"filters", {"category", "Eq", nullptr}}});
  EXPECT_EQ(missing["aggregations"], (json{{"n", 1}, {"c", 0}}));
  // Nothing matches: counts and sums are 0.
  json none = Query({{"aggregate_by", {{"n", {"Count"}}, {"total", {"Sum", "price"}}}},
                     {"filters", {"price", "Gt", 1000}}});
  EXPECT_EQ(none["aggregations"], (json{{"n", 0}, {"total", 0}}));
}

TEST_F(AggregationTest, IntegerSumsStayExactBeyondDoublePrecision) {
  // 2^53 + 1 is not a double: three of them sum to 27021597764222979 exactly.
  const int64_t v = (int64_t{1} << 53) + 1;
  Write({{"upsert_rows",
          {{{"id", 101}, {"vector", {0, 0}}, {"x", v}},
           {{"id", 102}, {"vector", {0, 0}}, {"x", v}},
           {{"id", 103}, {"vector", {0, 0}}, {"x", v}},
           {{"id", 104}, {"vector", {0, 0}}, {"x", -1}}}}});
  json res = Query({{"aggregate_by", {{"s", {"Sum", "x"}}}}});
  ASSERT_TRUE(res["aggregations"]["s"].is_number_integer());
  EXPECT_EQ(res["aggregations"]["s"].get<int64_t>(), 3 * v - 1);
}

TEST_F(AggregationTest, GroupByGivesOneGroupPerValueInKeyOrder) {
  json res = Query({{"aggregate_by", {{"n", {"Count"}}, {"total", {"Sum", "price"}}}},
                    {"group_by", {"category"}}});
  EXPECT_FALSE(res.contains("aggregations"));
  // Missing category (document 10) is a group of its own, first; prices: a 30+60 (9 has
  // none), b 10+40+70, c 20+50+80.
  EXPECT_EQ(res["aggregation_groups"], json::parse(R"([{"category":null,"n":1,"total":100},
                            {"category":"a","n":3,"total":90},
                            {"category":"b","n":3,"total":120},
                            {"category":"c","n":3,"total":150}])"));
  // top_k bounds the groups: the first ones in key order.
  json two = Query({{"aggregate_by", {{"n", {"Count"}}}},
                    {"group_by", {"category"}},
                    {"filters", {"category", "NotEq", nullptr}},
                    {"top_k", 2}});
  EXPECT_EQ(two["aggregation_groups"],
            json::parse(R"([{"category":"a","n":3},{"category":"b","n":3}])"));
  // Two attributes: one group per combination; numbers in numeric order.
  json pairs = Query({{"aggregate_by", {{"n", {"Count"}}}},
                      {"group_by", {"category", "big"}},
                      {"filters", {"id", "Lte", 6}},
                      {"limit", 10}});
  EXPECT_EQ(pairs["aggregation_groups"], json::parse(R"([
      {"category":"a","big":0,"n":1},
      {"category":"a","big":4611686018427387904,"n":1},
      {"category":"b","big":0,"n":1},
      {"category":"b","big":4611686018427387904,"n":1},
      {"category":"c","big":0,"n":1},
      {"category":"c","big":4611686018427387904,"n":1}])"));
}

TEST_F(AggregationTest, AggregationErrorsNameTheField) {
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Count"}}}}, {"rank_by", {"id", "asc"}}})
                .rfind("rank_by: cannot be combined with aggregate_by", 0),
            0u);
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Count"}}}}, {"include_attributes", true}})
                .rfind("include_attributes: cannot be combined with aggregate_by", 0),
            0u);
  EXPECT_EQ(QueryError({{"group_by", {"category"}}}), "group_by: requires aggregate_by");
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Count"}}}}, {"top_k", 3}}).rfind("top_k: ", 0),
            0u);
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Avg", "price"}}}}}),
            "aggregate_by.n: unknown aggregate function 'Avg' (Count and Sum are supported)");
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Sum"}}}}}),
            "aggregate_by.n: expected [\"Sum\", attribute]");
  EXPECT_EQ(QueryError({{"aggregate_by", json::object()}}).rfind("aggregate_by: expected", 0), 0u);
  EXPECT_EQ(QueryError({{"aggregate_by", {{"category", {"Count"}}}}, {"group_by", {"category"}}}),
            "aggregate_by.category: the name is also a group_by attribute");
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Count"}}}},
                        {"group_by", {{{"u", {"ForEachUnique", "tags"}}}}}})
                .rfind("group_by[0]: group functions", 0),
            0u);
  EXPECT_EQ(QueryError({{"aggregate_by", {{"s", {"Sum", "category"}}}}}),
            "aggregate_by.s: [\"Sum\", \"category\"] needs numbers, but document 1 has a string");
  EXPECT_EQ(
      QueryError({{"queries", {{{"aggregate_by", {{"n", {"Count"}}}}}}}, {"rerank_by", {"RRF"}}})
          .rfind("queries[0].aggregate_by: ", 0),
      0u);
}

TEST(TpufAggregateTest, GroupsKeepTheSmallestKeysWhateverTheOrderOfDocuments) {
  QueryResult docs;
  std::mt19937 rng(3);
  std::vector<int> values;
  for (int i = 0; i < 500; ++i) values.push_back(i % 50);
  std::shuffle(values.begin(), values.end(), rng);
  for (size_t i = 0; i < values.size(); ++i) {
    QueryHit hit;
    hit.id = "d" + std::to_string(i);
    hit.attributes = {{"g", values[i]}, {"v", 1}};
    docs.hits.push_back(hit);
  }
  auto groups = ComputeTpufAggregations(
      docs, {{"n", TpufAggregate::Kind::kCount, ""}, {"s", TpufAggregate::Kind::kSum, "v"}}, {"g"},
      5);
  ASSERT_TRUE(groups.ok()) << groups.status().ToString();
  ASSERT_EQ(groups->size(), 5u);
  for (int g = 0; g < 5; ++g) {
    EXPECT_EQ((*groups)[g], (json{{"g", g}, {"n", 10}, {"s", 10}})) << g;
  }
}

// Five documents with attributes a (descending 5..1 by id) and b.
class RrfTest : public TpufFeaturesTest {
 protected:
  void SetUp() override {
    json rows = json::array();
    const int b[] = {2, 9, 1, 8, 3};  // by b asc: 3, 1, 5, 4, 2
    for (int i = 1; i <= 5; ++i) {
      rows.push_back({{"id", i}, {"vector", {i, 0}}, {"a", 6 - i}, {"b", b[i - 1]}});
    }
    Write({{"upsert_rows", rows}, {"distance_metric", "euclidean_squared"}});
  }
  // q1: [1, 2, 3]; q2: [3, 1, 5].
  json Queries() {
    return {{{"rank_by", {"a", "desc"}}, {"top_k", 3}, {"include_attributes", {"a"}}},
            {{"rank_by", {"b", "asc"}}, {"top_k", 3}, {"include_attributes", {"b"}}}};
  }
  static std::vector<std::pair<int, double>> Rows(const json& res) {
    EXPECT_EQ(res["results"].size(), 1u);
    std::vector<std::pair<int, double>> out;
    for (const json& r : res["results"][0]["rows"]) {
      out.emplace_back(r["id"].get<int>(), r["$dist"].get<double>());
    }
    return out;
  }
};

TEST_F(RrfTest, FusesByReciprocalRankWithTheDefaultConstant) {
  json res = Query({{"queries", Queries()}, {"rerank_by", {"RRF"}}});
  // k = 60: 1 -> 1/61 + 1/62, 3 -> 1/63 + 1/61, 2 -> 1/62, 5 -> 1/63; the first 3 (top_k).
  auto rows = Rows(res);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].first, 1);
  EXPECT_DOUBLE_EQ(rows[0].second, 1.0 / 61 + 1.0 / 62);
  EXPECT_EQ(rows[1].first, 3);
  EXPECT_DOUBLE_EQ(rows[1].second, 1.0 / 61 + 1.0 / 63);
  EXPECT_EQ(rows[2].first, 2);
  EXPECT_DOUBLE_EQ(rows[2].second, 1.0 / 62);
  // A fused row carries what its sub-queries returned: 1 was in both (a and b), 2 in q1.
  const json& r = res["results"][0]["rows"];
  EXPECT_EQ(r[0]["a"], 5);
  EXPECT_EQ(r[0]["b"], 2);
  EXPECT_EQ(r[2]["a"], 4);
  EXPECT_FALSE(r[2].contains("b"));
  EXPECT_TRUE(res["performance"].is_object());
}

TEST_F(RrfTest, HonoursRankConstantAndWeights) {
  json queries = Queries();
  queries[1]["top_k"] = 4;  // q2: [3, 1, 5, 4]; the fused list holds 4 (the largest top_k)
  json res = Query(
      {{"queries", queries}, {"rerank_by", {"RRF", {{"rank_constant", 1}, {"weights", {1, 3}}}}}});
  // 1 -> 1/2 + 3/3, 2 -> 1/3, 3 -> 1/4 + 3/2, 5 -> 3/4, 4 -> 3/5.
  auto rows = Rows(res);
  ASSERT_EQ(rows.size(), 4u);
  const std::vector<std::pair<int, double>> want = {{3, 1.75}, {1, 1.5}, {5, 0.75}, {4, 0.6}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(rows[i].first, want[i].first) << i;
    EXPECT_DOUBLE_EQ(rows[i].second, want[i].second) << i;
  }
}

TEST_F(RrfTest, RerankErrorsAndPlainMultiQueries) {
  EXPECT_EQ(QueryError({{"queries", Queries()}, {"rerank_by", {"RRF", {{"weights", {1}}}}}}),
            "rerank_by[1].weights: expected one weight per sub-query (2)");
  EXPECT_EQ(QueryError({{"queries", Queries()}, {"rerank_by", {"RRF", {{"rank_constant", 0}}}}}),
            "rerank_by[1].rank_constant: must be a number above 0");
  EXPECT_EQ(QueryError({{"queries", Queries()}, {"rerank_by", {"RRF", {{"weights", {1, -1}}}}}}),
            "rerank_by[1].weights[1]: must be a number above 0");
  EXPECT_EQ(QueryError({{"queries", Queries()}, {"rerank_by", {"Max"}}}),
            "rerank_by: unknown reranking 'Max' (RRF is supported)");
  // Without rerank_by: one result per sub-query, aggregations included.
  json queries = Queries();
  queries.push_back({{"aggregate_by", {{"n", {"Count"}}}}, {"filters", {"a", "Gte", 3}}});
  json res = Query({{"queries", queries}});
  ASSERT_EQ(res["results"].size(), 3u);
  EXPECT_EQ(res["results"][0]["rows"],
            json::parse(R"([{"id":1,"a":5},{"id":2,"a":4},{"id":3,"a":3}])"));
  EXPECT_EQ(res["results"][1]["rows"],
            json::parse(R"([{"id":3,"b":1},{"id":1,"b":2},{"id":5,"b":3}])"));
  EXPECT_EQ(res["results"][2], json::parse(R"({"aggregations":{"n":3}})"));
}

TEST_F(RrfTest, ExplainDescribesThePlanWithoutRunningIt) {
  auto ann = service_.ExplainQuery(
      "ns", R"({"rank_by":["vector","ANN",[1,2]],"top_k":7,"filters":["a","Eq",3]})");
  ASSERT_TRUE(ann.ok()) << ann.status().ToString();
  const std::string text = (*ann)["plan_text"].get<std::string>();
  EXPECT_NE(text.find("top 7 by euclidean_squared"), std::string::npos) << text;
  EXPECT_NE(text.find("ANN"), std::string::npos) << text;
  EXPECT_NE(text.find("[\"a\",\"Eq\",3]"), std::string::npos) << text;
  EXPECT_NE(text.find("index: empty"), std::string::npos) << text;  // nothing indexed yet
  ASSERT_TRUE(db_.Compact("ns").ok());
  auto indexed = service_.ExplainQuery("ns", R"({"rank_by":["vector","ANN",[1,2]]})");
  ASSERT_TRUE(indexed.ok());
  EXPECT_NE((*indexed)["plan_text"].get<std::string>().find("the (up to) 4 posting lists"),
            std::string::npos)
      << (*indexed)["plan_text"];
  auto knn = service_.ExplainQuery("ns", R"({"rank_by":["vector","kNN",[1,2]]})");
  ASSERT_TRUE(knn.ok());
  EXPECT_NE((*knn)["plan_text"].get<std::string>().find("every posting list scanned"),
            std::string::npos);
  auto agg = service_.ExplainQuery(
      "ns", R"({"aggregate_by":{"n":["Count"],"s":["Sum","a"]},"group_by":["b"]})");
  ASSERT_TRUE(agg.ok());
  EXPECT_NE(
      (*agg)["plan_text"].get<std::string>().find("n = Count(*), s = Sum(a) per group of (b)"),
      std::string::npos)
      << (*agg)["plan_text"];
  auto order = service_.ExplainQuery("ns", R"({"rank_by":["a","desc"],"top_k":2})");
  ASSERT_TRUE(order.ok());
  EXPECT_NE((*order)["plan_text"].get<std::string>().find("top 2 by a desc, then id"),
            std::string::npos);

  auto wrong_dims = service_.ExplainQuery("ns", R"({"rank_by":["vector","ANN",[1,2,3]]})");
  ASSERT_FALSE(wrong_dims.ok());
  EXPECT_EQ(wrong_dims.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_.ExplainQuery("nope", "{}").status().code(), StatusCode::kNotFound);
}

// 2000 uniformly random vectors in 16 dimensions, indexed, plus a tail of 100.
class RecallTest : public TpufFeaturesTest {
 protected:
  explicit RecallTest(uint32_t probes = 1, float prune_ratio = 4.0f)
      : TpufFeaturesTest(probes, prune_ratio) {}
  void SetUp() override {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(-1, 1);
    auto write = [&](int from, int to) {
      json rows = json::array();
      for (int i = from; i < to; ++i) {
        std::vector<float> v(16);
        for (float& x : v) x = u(rng);
        vectors_[i] = v;
        rows.push_back({{"id", i}, {"vector", v}, {"even", i % 2 == 0}});
      }
      Write({{"upsert_rows", rows}, {"distance_metric", "euclidean_squared"}});
    };
    write(0, 2000);
    ASSERT_TRUE(db_.Compact("ns").ok());
    write(2000, 2100);
  }
  json Recall(const json& body) {
    auto r = service_.Recall("ns", body.dump());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }
  // The ids of the k nearest documents to q (that `keep` accepts), by brute force.
  std::vector<int> Nearest(const std::vector<float>& q, size_t k, bool (*keep)(int)) {
    std::vector<std::pair<float, int>> all;
    for (const auto& [id, v] : vectors_) {
      if (!keep(id)) continue;
      float d = 0;
      for (size_t j = 0; j < v.size(); ++j) d += (q[j] - v[j]) * (q[j] - v[j]);
      all.emplace_back(d, id);
    }
    std::sort(all.begin(), all.end());
    std::vector<int> out;
    for (size_t i = 0; i < k && i < all.size(); ++i) out.push_back(all[i].second);
    return out;
  }

  std::map<int, std::vector<float>> vectors_;
};

TEST_F(RecallTest, OneProbeMissesNeighboursAndGroundTruthIsExact) {
  json res = Recall({{"num", 20}, {"top_k", 10}, {"include_ground_truth", true}});
  const double recall = res["avg_recall"].get<double>();
  // One posting list of ~32 out of ~60: well below 1, above the query's own document.
  EXPECT_LT(recall, 0.95);
  EXPECT_GE(recall, 0.1);
  EXPECT_DOUBLE_EQ(res["avg_exhaustive_count"].get<double>(), 10.0);
  EXPECT_GT(res["avg_ann_count"].get<double>(), 0.0);
  EXPECT_LE(res["avg_ann_count"].get<double>(), 10.0);
  ASSERT_EQ(res["ground_truth"].size(), 20u);
  std::set<std::vector<float>> seen;
  for (const json& g : res["ground_truth"]) {
    const std::vector<float> q = g["query_vector"].get<std::vector<float>>();
    seen.insert(q);
    std::vector<int> ids;
    for (const json& row : g["nearest_neighbors"]) {
      ids.push_back(row["id"].get<int>());
      ASSERT_TRUE(row.contains("$dist"));
      EXPECT_EQ(row["vector"].get<std::vector<float>>(), vectors_[row["id"].get<int>()]);
    }
    EXPECT_EQ(ids, Nearest(q, 10, [](int) { return true; }));
    EXPECT_EQ(ids[0], [&] {  // the query is a document's own vector
      for (const auto& [id, v] : vectors_) {
        if (v == q) return id;
      }
      return -1;
    }());
  }
  EXPECT_EQ(seen.size(), 20u);
  // The same namespace gives the same sample.
  json again = Recall({{"num", 20}, {"top_k", 10}, {"include_ground_truth", true}});
  EXPECT_EQ(again, res);
  EXPECT_FALSE(Recall({{"num", 3}}).contains("ground_truth"));
}

TEST_F(RecallTest, FiltersRankByAndLimits) {
  json res = Recall({{"num", 5},
                     {"top_k", 4},
                     {"filters", {"even", "Eq", true}},
                     {"include_ground_truth", true}});
  EXPECT_DOUBLE_EQ(res["avg_exhaustive_count"].get<double>(), 4.0);
  for (const json& g : res["ground_truth"]) {
    std::vector<int> ids;
    for (const json& row : g["nearest_neighbors"]) ids.push_back(row["id"].get<int>());
    EXPECT_EQ(ids, Nearest(g["query_vector"].get<std::vector<float>>(), 4,
                           [](int id) { return id % 2 == 0; }));
  }
  std::vector<float> q(16, 0.25f);
  json one = Recall({{"rank_by", {"vector", "ANN", q}}, {"include_ground_truth", true}});
  ASSERT_EQ(one["ground_truth"].size(), 1u);
  EXPECT_EQ(one["ground_truth"][0]["query_vector"].get<std::vector<float>>(), q);

  auto error = [&](const json& body) {
    auto r = service_.Recall("ns", body.dump());
    return r.ok() ? std::string("OK") : r.status().message();
  };
  EXPECT_EQ(error({{"rank_by", {"vector", "ANN", q}}, {"num", 2}}),
            "num: must be 1 (or absent) when rank_by gives the query");
  EXPECT_EQ(error({{"num", 1001}}), "num: must be an integer from 1 to 1000");
  EXPECT_EQ(error({{"num", 0}}), "num: must be an integer from 1 to 1000");
  EXPECT_EQ(error({{"top_k", "ten"}}), "top_k: must be an integer from 1 to 10000");
  EXPECT_EQ(error({{"rank_by", {"a", "asc"}}}).rfind("rank_by: recall is measured", 0), 0u);
  EXPECT_EQ(error({{"queries", json::array()}}), "queries: unknown field");
  EXPECT_EQ(service_.Recall("nope", "{}").status().code(), StatusCode::kNotFound);
}

// Probes beyond the number of posting lists, no pruning: ANN scans every one, like kNN.
class ExhaustiveRecallTest : public RecallTest {
 protected:
  ExhaustiveRecallTest() : RecallTest(100000, 0) {}
};

TEST_F(ExhaustiveRecallTest, EveryPostingScannedGivesRecallOne) {
  json res = Recall({});  // defaults: 25 queries, top 10
  EXPECT_DOUBLE_EQ(res["avg_recall"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(res["avg_ann_count"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(res["avg_exhaustive_count"].get<double>(), 10.0);
}

}  // namespace
}  // namespace vecpuff
