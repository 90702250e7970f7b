// limit: {"total": N, "per": {"attributes": [...], "limit": M}} through TpufService over a
// Database on an in-memory store. Every expectation is computed here by brute force from the
// documents the test wrote: rank all matching documents, keep at most M per combination of
// the attributes' values (missing counts as null), N in all. Run with the default max_top_k
// (the over-fetch rounds reach every document) and with a small one (the service must rank
// every matching document itself rather than return fewer rows).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <random>
#include <set>

#include "api/tpuf_aggregate.h"
#include "api/tpuf_service.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using nlohmann::json;

struct Doc {
  uint64_t id;
  std::array<int, 3> v;
  json attributes;  // cat, tier, price (each may be missing)
};

// 200 documents: 140 of category "a" close to the origin, 15 each of "b", "c", "d" far
// from it, 10 with no category, 5 of "e"; tier = id % 3; prices unique, missing for
// multiples of 17. Integer coordinates: euclidean_squared distances are exact in float,
// ties included (broken by id).
std::vector<Doc> Dataset() {
  std::mt19937 rng(1234);
  std::vector<int> prices(200);
  for (int i = 0; i < 200; ++i) prices[i] = 5 * i + 1;
  std::shuffle(prices.begin(), prices.end(), rng);
  std::vector<Doc> docs;
  for (uint64_t id = 1; id <= 200; ++id) {
    Doc d{id, {}, json::object()};
    const bool near = id <= 140;
    std::uniform_int_distribution<int> coord(near ? 0 : 10, near ? 3 : 20);
    for (int& x : d.v) x = coord(rng);
    if (id <= 140) {
      d.attributes["cat"] = "a";
    } else if (id <= 185) {
      d.attributes["cat"] = std::string(1, static_cast<char>('b' + (id - 141) / 15));
    } else if (id > 195) {
      d.attributes["cat"] = "e";
    }
    d.attributes["tier"] = static_cast<int>(id % 3);
    if (id % 17 != 0) d.attributes["price"] = prices[id - 1];
    docs.push_back(std::move(d));
  }
  return docs;
}

int Dist(const Doc& d, const std::array<int, 3>& q) {
  int s = 0;
  for (size_t i = 0; i < 3; ++i) s += (d.v[i] - q[i]) * (d.v[i] - q[i]);
  return s;
}

json Value(const Doc& d, const std::string& attribute) {
  if (attribute == "id") return d.id;
  auto it = d.attributes.find(attribute);
  return it == d.attributes.end() ? json(nullptr) : *it;
}

// The greedy per-key selection over a ranked list of documents.
std::vector<uint64_t> KeepPerKey(const std::vector<const Doc*>& ranked,
                                 const std::vector<std::string>& attributes, size_t per,
                                 size_t total) {
  std::map<std::string, size_t> count;
  std::vector<uint64_t> out;
  for (const Doc* d : ranked) {
    if (out.size() == total) break;
    json key = json::array();
    for (const std::string& a : attributes) key.push_back(Value(*d, a));
    if (count[key.dump()]++ < per) out.push_back(d->id);
  }
  return out;
}

std::vector<uint64_t> Ids(const json& rows) {
  std::vector<uint64_t> out;
  for (const json& r : rows) out.push_back(r["id"].get<uint64_t>());
  return out;
}

DbOptions Options(size_t max_top_k) {
  DbOptions o;
  o.compactor_enabled = false;
  o.batch_window_ms = 0;
  o.index_tuning.posting_target = 16;
  o.index_tuning.split_limit = 32;
  o.index_tuning.merge_limit = 4;
  o.index_tuning.replica_count = 2;
  o.default_probes = 2;
  o.max_top_k = max_top_k;
  return o;
}

// The parameter is the server's max_top_k.
class LimitPerTest : public ::testing::TestWithParam<size_t> {
 protected:
  LimitPerTest() : db_(store_.get(), Options(GetParam())) {}

  void SetUp() override {
    // The first 150 documents indexed, the rest in the unindexed tail.
    for (size_t part = 0; part < 2; ++part) {
      json rows = json::array();
      for (size_t i = part ? 150 : 0; i < (part ? docs_.size() : 150); ++i) {
        json row = docs_[i].attributes;
        row["id"] = docs_[i].id;
        row["vector"] = docs_[i].v;
        rows.push_back(row);
      }
      auto r = service_.Write(
          "ns", json({{"upsert_rows", rows}, {"distance_metric", "euclidean_squared"}}).dump());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (part == 0) {
        ASSERT_TRUE(db_.Compact("ns").ok());
      }
    }
  }

  json Query(const json& body) {
    auto r = service_.Query("ns", body.dump());
    EXPECT_TRUE(r.ok()) << r.status().ToString() << " for " << body.dump();
    return r.ok() ? json::parse(*r) : json();
  }
  std::string QueryError(const json& body) {
    auto r = service_.Query("ns", body.dump());
    if (r.ok()) return "OK";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    return r.status().message();
  }

  // Matching documents (tier != `skip_tier`, if given) ranked by distance to q, ties by id.
  std::vector<const Doc*> ByDistance(const std::array<int, 3>& q, int skip_tier = -1) const {
    std::vector<const Doc*> out;
    for (const Doc& d : docs_) {
      if (d.attributes["tier"] != skip_tier) out.push_back(&d);
    }
    std::sort(out.begin(), out.end(), [&](const Doc* a, const Doc* b) {
      return std::make_pair(Dist(*a, q), a->id) < std::make_pair(Dist(*b, q), b->id);
    });
    return out;
  }
  // Ranked by price descending (missing prices last), ties by id.
  std::vector<const Doc*> ByPriceDesc() const {
    std::vector<const Doc*> out;
    for (const Doc& d : docs_) out.push_back(&d);
    auto price = [](const Doc* d) {
      return d->attributes.contains("price") ? d->attributes["price"].get<int>() : -1;
    };
    std::sort(out.begin(), out.end(), [&](const Doc* a, const Doc* b) {
      if (price(a) != price(b)) return price(a) > price(b);
      return a->id < b->id;
    });
    return out;
  }
  std::vector<const Doc*> ById() const {
    std::vector<const Doc*> out;
    for (const Doc& d : docs_) out.push_back(&d);
    return out;
  }

  static json Limit(size_t total, const std::vector<std::string>& attributes, size_t per) {
    return {{"total", total}, {"per", {{"attributes", attributes}, {"limit", per}}}};
  }

  const std::vector<Doc> docs_ = Dataset();
  std::unique_ptr<ObjectStore> store_ = NewMemoryStore();
  Database db_;
  TpufService service_{&db_};
};

INSTANTIATE_TEST_SUITE_P(MaxTopK, LimitPerTest, ::testing::Values(size_t{10000}, size_t{24}),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "max_top_k_" + std::to_string(info.param);
                         });

TEST_P(LimitPerTest, KnnKeepsTheNearestPerCategoryUpToTheTotal) {
  const std::array<int, 3> q = {1, 1, 1};
  // The 140 nearest documents are all "a": rows of the other keys lie far down the ranking.
  for (auto [total, per] : {std::pair<size_t, size_t>{10, 2}, {6, 1}, {24, 5}, {3, 1}}) {
    json res = Query({{"rank_by", {"vector", "kNN", q}},
                      {"limit", Limit(total, {"cat"}, per)},
                      {"include_attributes", {"cat"}}});
    const auto want = KeepPerKey(ByDistance(q), {"cat"}, per, total);
    EXPECT_EQ(Ids(res["rows"]), want) << "total " << total << " per " << per;
    for (const json& row : res["rows"]) {
      const Doc& d = docs_[row["id"].get<uint64_t>() - 1];
      EXPECT_EQ(row["$dist"].get<double>(), Dist(d, q)) << row;
      EXPECT_EQ(row.value("cat", json(nullptr)), Value(d, "cat")) << row;
      EXPECT_FALSE(row.contains("tier")) << row;  // only what include_attributes asks for
    }
  }
  // Six keys (a..e and the missing category) at most 2 each: 12 rows exist, not 20.
  json res = Query({{"rank_by", {"vector", "kNN", q}}, {"limit", Limit(20, {"cat"}, 2)}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ByDistance(q), {"cat"}, 2, 20));
  EXPECT_EQ(res["rows"].size(), 12u);
  for (const json& row : res["rows"]) {
    EXPECT_EQ(row.size(), 2u) << row;  // id and $dist: no attributes were asked for
  }
}

TEST_P(LimitPerTest, SeveralAttributesFiltersAndOrderByAttribute) {
  const std::array<int, 3> q = {15, 15, 15};
  json res = Query({{"rank_by", {"vector", "kNN", q}},
                    {"filters", {"tier", "NotEq", 1}},
                    {"limit", Limit(20, {"cat", "tier"}, 1)}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ByDistance(q, 1), {"cat", "tier"}, 1, 20));
  EXPECT_EQ(res["rows"].size(), 12u);  // 6 categories x tiers 0 and 2

  res = Query({{"rank_by", {"price", "desc"}},
               {"limit", Limit(16, {"tier", "cat"}, 2)},
               {"include_attributes", true}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ByPriceDesc(), {"tier", "cat"}, 2, 16));
  for (const json& row : res["rows"]) EXPECT_FALSE(row.contains("$dist")) << row;

  // No rank_by: id order. A key no document has is one null key.
  res = Query({{"limit", Limit(7, {"cat"}, 3)}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ById(), {"cat"}, 3, 7));
  res = Query({{"limit", Limit(10, {"nosuch"}, 3)}, {"rank_by", {"price", "desc"}}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ByPriceDesc(), {}, 3, 3));
  // "id" makes every row its own key: the limit never binds.
  res = Query({{"rank_by", {"vector", "kNN", q}}, {"limit", Limit(9, {"id"}, 1)}});
  EXPECT_EQ(Ids(res["rows"]), KeepPerKey(ByDistance(q), {}, 9, 9));
}

TEST_P(LimitPerTest, AnnReturnsTotalRowsWheneverTheyExist) {
  const std::array<int, 3> q = {1, 2, 1};
  // (6, 1) and (20, 2) need every key (six of them), the far ones included, whatever the
  // index returned first.
  for (auto [total, per] : {std::pair<size_t, size_t>{10, 2}, {20, 2}, {6, 1}, {22, 4}}) {
    json res = Query({{"rank_by", {"vector", "ANN", q}},
                      {"limit", Limit(total, {"cat"}, per)},
                      {"include_attributes", {"cat"}}});
    const auto exact = KeepPerKey(ByDistance(q), {"cat"}, per, total);
    ASSERT_EQ(res["rows"].size(), exact.size()) << "total " << total << " per " << per;
    std::map<std::string, size_t> per_key;
    double last = -1;
    std::set<uint64_t> seen;
    for (const json& row : res["rows"]) {
      const Doc& d = docs_[row["id"].get<uint64_t>() - 1];
      EXPECT_TRUE(seen.insert(d.id).second) << row;
      EXPECT_EQ(row["$dist"].get<double>(), Dist(d, q)) << row;
      EXPECT_GE(row["$dist"].get<double>(), last) << row;
      last = row["$dist"].get<double>();
      EXPECT_LE(++per_key[Value(d, "cat").dump()], per) << row;
    }
    // As many rows as the exact answer has, and as many of each key when every key is
    // exhausted (fewer rows than the total exist).
    std::map<std::string, size_t> exact_per_key;
    for (uint64_t id : exact) ++exact_per_key[Value(docs_[id - 1], "cat").dump()];
    if (exact.size() < total || per == 1) {
      EXPECT_EQ(per_key, exact_per_key) << "total " << total << " per " << per;
    }
  }
}

TEST_P(LimitPerTest, MultiQueriesApplyEachSubQuerysLimitAndRrfFusesThem) {
  const std::array<int, 3> q = {12, 12, 12};
  const json knn = {{"rank_by", {"vector", "kNN", q}}, {"limit", Limit(6, {"cat"}, 1)}};
  const json price = {{"rank_by", {"price", "desc"}}, {"limit", Limit(8, {"tier"}, 2)}};
  const json plain = {{"top_k", 3}};
  json res = Query({{"queries", {knn, price, plain}}});
  ASSERT_EQ(res["results"].size(), 3u);
  const auto want_knn = KeepPerKey(ByDistance(q), {"cat"}, 1, 6);
  const auto want_price = KeepPerKey(ByPriceDesc(), {"tier"}, 2, 8);
  EXPECT_EQ(Ids(res["results"][0]["rows"]), want_knn);
  EXPECT_EQ(Ids(res["results"][1]["rows"]), want_price);
  EXPECT_EQ(res["results"][1]["rows"].size(), 6u);  // three tiers, two each
  EXPECT_EQ(Ids(res["results"][2]["rows"]), (std::vector<uint64_t>{1, 2, 3}));

  // RRF over the per-limited rows: score = sum of 1 / (60 + rank); as many as the largest
  // total (8); highest first, ties by id.
  res = Query({{"queries", {knn, price}}, {"rerank_by", {"RRF"}}});
  std::map<uint64_t, double> score;
  for (const auto* list : {&want_knn, &want_price}) {
    for (size_t r = 0; r < list->size(); ++r) score[(*list)[r]] += 1.0 / (60.0 + double(r + 1));
  }
  std::vector<std::pair<double, uint64_t>> fused;
  for (auto [id, s] : score) fused.emplace_back(-s, id);
  std::sort(fused.begin(), fused.end());
  fused.resize(std::min<size_t>(fused.size(), 8));
  const json& rows = res["results"][0]["rows"];
  ASSERT_EQ(rows.size(), fused.size());
  for (size_t i = 0; i < fused.size(); ++i) {
    EXPECT_EQ(rows[i]["id"].get<uint64_t>(), fused[i].second) << i;
    EXPECT_DOUBLE_EQ(rows[i]["$dist"].get<double>(), -fused[i].first) << i;
  }
}

TEST_P(LimitPerTest, InvalidLimitsAreRejectedNamingTheField) {
  auto per = [](const json& p) { return json{{"limit", {{"total", 5}, {"per", p}}}}; };
  EXPECT_EQ(QueryError(per(3)),
            "limit.per: expected an object {\"attributes\": [names], \"limit\": n}");
  EXPECT_EQ(QueryError(per({{"limit", 2}})), "limit.per.attributes: missing");
  EXPECT_EQ(QueryError(per({{"attributes", {"cat"}}})), "limit.per.limit: missing");
  EXPECT_EQ(QueryError(per({{"attributes", json::array()}, {"limit", 2}})),
            "limit.per.attributes: expected a non-empty array of attribute names");
  EXPECT_EQ(QueryError(per({{"attributes", "cat"}, {"limit", 2}})),
            "limit.per.attributes: expected a non-empty array of attribute names");
  EXPECT_EQ(QueryError(per({{"attributes", {"cat", 3}}, {"limit", 2}})),
            "limit.per.attributes[1]: expected an attribute name");
  EXPECT_EQ(QueryError(per({{"attributes", {"cat", "tier", "cat"}}, {"limit", 2}})),
            "limit.per.attributes[2]: 'cat' is already a limit.per attribute");
  EXPECT_EQ(QueryError(per({{"attributes", {"vector"}}, {"limit", 2}})),
            "limit.per.attributes[0]: the vector cannot be part of the limit key");
  for (const json& bad : {json(0), json(-1), json(1.5), json("2"), json(nullptr)}) {
    EXPECT_EQ(QueryError(per({{"attributes", {"cat"}}, {"limit", bad}})),
              "limit.per.limit: must be a positive integer")
        << bad;
  }
  EXPECT_EQ(QueryError(per({{"attributes", {"cat"}}, {"limit", 2}, {"max", 1}})),
            "limit.per.max: unknown field");
  EXPECT_EQ(QueryError({{"limit", {{"per", {{"attributes", {"cat"}}, {"limit", 2}}}}}}),
            "limit.total: missing");
  EXPECT_EQ(QueryError({{"aggregate_by", {{"n", {"Count"}}}},
                        {"group_by", {"cat"}},
                        {"limit", Limit(5, {"cat"}, 1)}}),
            "limit.per: cannot be combined with aggregate_by (it limits the rows per key; "
            "aggregations return no rows, and group_by already gives one group per key)");
  EXPECT_EQ(QueryError({{"queries", json::array({json{{"top_k", 2}},
                                                 per({{"attributes", {"cat"}}, {"limit", 0}})})}}),
            "queries[1].limit.per.limit: must be a positive integer");
  EXPECT_EQ(QueryError({{"limit", Limit(GetParam() + 1, {"cat"}, 1)}}),
            "top_k: must be between 1 and " + std::to_string(GetParam()));
  // per: null is no per-key limit.
  json res = Query({{"limit", {{"total", 2}, {"per", nullptr}}}});
  EXPECT_EQ(Ids(res["rows"]), (std::vector<uint64_t>{1, 2}));
}

TEST_P(LimitPerTest, ExplainShowsThePerKeyLimit) {
  auto plan = service_.ExplainQuery("ns", json({{"rank_by", {"vector", "ANN", {1, 1, 1}}},
                                                {"limit", Limit(5, {"cat", "tier"}, 2)}})
                                              .dump());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const std::string text = (*plan)["plan_text"].get<std::string>();
  EXPECT_NE(text.find("limit per (cat, tier): at most 2 rows per combination"), std::string::npos)
      << text;
}

// The selection itself: numbers key by value, a missing attribute and null are one key.
TEST(LimitTpufRowsPerKeyTest, KeysGroupLikeGroupBy) {
  std::vector<QueryHit> hits;
  const json values[] = {5, 5.0, nullptr, json(), "5", 6, 5u, json::array({1, 2})};
  for (size_t i = 0; i < std::size(values); ++i) {
    QueryHit h;
    h.id = "d" + std::to_string(i);
    h.attributes = json::object();
    if (i != 3) h.attributes["x"] = values[i];  // d3 lacks x (d2 has it as null)
    hits.push_back(h);
  }
  TpufPerLimit per;
  per.attributes = {"x"};
  per.limit = 1;
  std::vector<QueryHit> kept = hits;
  EXPECT_EQ(LimitTpufRowsPerKey(&kept, per, 100), 5u);
  std::vector<std::string> ids;
  for (const QueryHit& h : kept) ids.push_back(h.id);
  // 5 (d0; d1 5.0 and d6 5u are the same key), null (d2; d3), "5", 6, [1, 2].
  EXPECT_EQ(ids, (std::vector<std::string>{"d0", "d2", "d4", "d5", "d7"}));
  kept = hits;
  per.limit = 2;
  EXPECT_EQ(LimitTpufRowsPerKey(&kept, per, 4), 4u);
  ids.clear();
  for (const QueryHit& h : kept) ids.push_back(h.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"d0", "d1", "d2", "d3"}));
}

}  // namespace
}  // namespace vecpuff
