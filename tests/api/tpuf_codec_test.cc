#include "api/tpuf_codec.h"

#include <gtest/gtest.h>

#include <cstring>

#include "db/doc_key.h"
#include "query/filter.h"

namespace vecpuff {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& body) {
  auto r = ParseTpufWrite(body, 64);
  return r.ok() ? "OK" : r.status().message();
}

std::string QueryErrorOf(const json& body) {
  auto r = ParseTpufQuery(body, "", true);
  return r.ok() ? "OK" : r.status().message();
}

std::string F32Base64(const std::vector<float>& v) {
  std::string bytes(v.size() * 4, '\0');
  std::memcpy(bytes.data(), v.data(), bytes.size());  // little-endian host
  return EncodeBase64(bytes);
}

TEST(TpufCodecTest, Base64RoundTripsAndRejectsGarbage) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto back = DecodeBase64(EncodeBase64(s), "v");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(EncodeBase64("abc"), "YWJj");
  EXPECT_EQ(EncodeBase64("ab"), "YWI=");
  EXPECT_FALSE(DecodeBase64("YWI", "v").ok());
  EXPECT_FALSE(DecodeBase64("Y=Ij", "v").ok());
  EXPECT_FALSE(DecodeBase64("YW*j", "v").ok());
}

TEST(TpufCodecTest, WriteRowsColumnsAndIds) {
  json body = {
      {"distance_metric", "euclidean_squared"},
      {"upsert_rows",
       {{{"id", 7}, {"vector", {1.0, 2.0}}, {"name", "a"}, {"tags", {"x", "y"}}, {"gone", nullptr}},
        {{"id", "0E8F3B2A-1C4D-4E5F-8A9B-0C1D2E3F4A5B"}, {"vector", F32Base64({0.5f, -1.5f})}}}},
      {"upsert_columns",
       {{"id", {"s1", "s2"}}, {"vector", {{3.0, 4.0}, {5.0, 6.0}}}, {"n", {1, nullptr}}}},
      {"patch_columns", {{"id", {7}}, {"name", {nullptr}}}},
      {"deletes", {8, "s3"}},
      {"return_affected_ids", true}};
  auto w = ParseTpufWrite(body, 64);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->distance_metric, DistanceMetric::kEuclideanSquared);
  EXPECT_TRUE(w->return_affected_ids);
  // Columns come before rows (each in its given order), as documented.
  ASSERT_EQ(w->upsert_rows.size(), 4u);
  EXPECT_EQ(w->upsert_rows[0].id, "s1");
  EXPECT_EQ(w->upsert_rows[0].attributes, (json{{"n", 1}}));
  EXPECT_EQ(w->upsert_rows[1].attributes, json::object());  // null cell: no value
  EXPECT_EQ(w->upsert_rows[2].id, U64Key(7));
  EXPECT_EQ(w->upsert_rows[2].vector, (std::vector<float>{1, 2}));
  EXPECT_EQ(w->upsert_rows[2].attributes, (json{{"name", "a"}, {"tags", {"x", "y"}}}));
  EXPECT_EQ(DocKeyToJson(w->upsert_rows[3].id), "0e8f3b2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b");
  EXPECT_EQ(w->upsert_rows[3].vector, (std::vector<float>{0.5f, -1.5f}));
  ASSERT_EQ(w->patch_rows.size(), 1u);
  EXPECT_EQ(w->patch_rows[0].attributes, (json{{"name", nullptr}}));  // a patch removes it
  EXPECT_EQ(w->deletes, (std::vector<std::string>{U64Key(8), "s3"}));
}

TEST(TpufCodecTest, F16VectorsWhenTheSchemaSaysSo) {
  // 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800 (little-endian).
  const std::string bytes("\x00\x3C\x00\xC0\x00\x38", 6);
  json body = {{"schema", {{"vector", {{"type", "[3]f16"}}}}},
               {"upsert_rows", {{{"id", 1}, {"vector", EncodeBase64(bytes)}}}}};
  auto w = ParseTpufWrite(body, 64);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->upsert_rows[0].vector, (std::vector<float>{1.0f, -2.0f, 0.5f}));
  // Without the schema the same bytes are not a whole number of f32s.
  EXPECT_NE(ErrorOf({{"upsert_rows", {{{"id", 1}, {"vector", EncodeBase64(bytes)}}}}})
                .find("not a whole number of f32 values"),
            std::string::npos);
}

TEST(TpufCodecTest, WriteErrorsNameTheField) {
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"vector", {1}}}}}}), "upsert_rows[0].id: missing");
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", 1}}}}}).rfind("upsert_rows[0].vector: missing", 0),
            0u);
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", 1}, {"vector", {1, "x"}}}}}}),
            "upsert_rows[0].vector[1]: expected a number, got a string");
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", -3}, {"vector", {1}}}}}}),
            "upsert_rows[0].id: an integer id must be between 0 and 2^64-1");
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", 1}, {"vector", {1}}, {"$x", 1}}}}}),
            "upsert_rows[0].$x: attribute names starting with '$' are reserved");
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", 1}, {"vector", {1}}, {"o", {{"a", 1}}}}}}}),
            "upsert_rows[0].o: object attributes are not supported (use scalars or arrays)");
  EXPECT_EQ(ErrorOf({{"upsert_columns", {{"id", {1, 2}}, {"vector", {{1}}}}}}),
            "upsert_columns.vector: has 1 values for 2 ids");
  EXPECT_EQ(ErrorOf({{"patch_rows", {{{"id", 1}, {"vector", {1}}}}}}),
            "patch_rows[0].vector: a patch cannot change the vector");
  EXPECT_EQ(ErrorOf({{"distance_metric", "dot"}}),
            "distance_metric: must be 'cosine_distance' or 'euclidean_squared', got 'dot'");
  EXPECT_EQ(ErrorOf({{"upsertrows", json::array()}}), "unknown field 'upsertrows'");
  EXPECT_EQ(ErrorOf({{"upsert_rows", {{{"id", 1}, {"vector", "YWJ"}}}}})
                .rfind("upsert_rows[0].vector: not valid base64", 0),
            0u);
}

TEST(TpufCodecTest, QueryForms) {
  auto ann = ParseTpufQuery({{"rank_by", {"vector", "ANN", {1, 2}}},
                             {"top_k", 5},
                             {"include_attributes", {"a", "vector"}},
                             {"consistency", {{"level", "eventual"}}},
                             {"vector_encoding", "base64"}},
                            "", true);
  ASSERT_TRUE(ann.ok()) << ann.status().ToString();
  EXPECT_EQ(ann->request.vector, (std::vector<float>{1, 2}));
  EXPECT_FALSE(ann->request.exact);
  EXPECT_EQ(ann->request.top_k, 5u);
  EXPECT_TRUE(ann->request.include_vectors);
  EXPECT_TRUE(ann->request.include_attributes);
  EXPECT_EQ(ann->request.consistency, Consistency::kEventual);
  EXPECT_TRUE(ann->format.base64);

  auto knn =
      ParseTpufQuery({{"rank_by", {"vector", "kNN", {1}}}, {"limit", {{"total", 3}}}}, "", true);
  ASSERT_TRUE(knn.ok());
  EXPECT_TRUE(knn->request.exact);
  EXPECT_EQ(knn->request.top_k, 3u);
  EXPECT_FALSE(knn->request.include_attributes);  // only ids by default
  EXPECT_FALSE(knn->request.include_vectors);

  auto attr = ParseTpufQuery(
      {{"rank_by", json::array({{"ts", "desc"}, {"id", "asc"}})}, {"filters", {"a", "Eq", 1}}}, "",
      true);
  ASSERT_TRUE(attr.ok()) << attr.status().ToString();
  ASSERT_EQ(attr->request.order_by.size(), 2u);
  EXPECT_TRUE(attr->request.order_by[0].descending);
  EXPECT_EQ(attr->request.order_by[1].attribute, "id");
  ASSERT_NE(attr->request.filter, nullptr);
  EXPECT_TRUE(attr->request.filter->Matches(1, {{"a", 1}}));

  auto excl = ParseTpufQuery({{"rank_by", {"ts", "asc"}}, {"exclude_attributes", {"b"}}}, "", true);
  ASSERT_TRUE(excl.ok());
  EXPECT_TRUE(excl->format.all);
  EXPECT_FALSE(excl->format.Includes("b"));
  EXPECT_TRUE(excl->format.Includes("c"));
}

TEST(TpufCodecTest, QueryErrors) {
  EXPECT_EQ(QueryErrorOf({{"rank_by", {"text", "ANN", {1}}}}),
            "rank_by: only the attribute 'vector' holds vectors, not 'text'");
  EXPECT_EQ(QueryErrorOf({{"rank_by", {"vector", "ANN", {{1}, {2}}}}}),
            "rank_by[2]: multiple vectors per query are not supported");
  EXPECT_EQ(
      QueryErrorOf({{"rank_by", {"text", "BM25", "hello"}}})
          .rfind("rank_by: ranking by 'BM25' (full-text and sparse search) is not supported", 0),
      0u);
  EXPECT_EQ(QueryErrorOf({{"top_k", 0}}), "top_k: must be a positive integer");
  EXPECT_EQ(QueryErrorOf({{"top_k", 2}, {"limit", 2}}), "top_k: give top_k or limit, not both");
  EXPECT_EQ(QueryErrorOf({{"consistency", {{"level", "weak"}}}}),
            "consistency.level: must be 'strong' or 'eventual'");
  EXPECT_EQ(QueryErrorOf({{"topk", 1}}), "topk: unknown field");
  EXPECT_EQ(QueryErrorOf({{"filters", {"a", "Eqq", 1}}}).rfind("filters", 0), 0u);
  // Sub-queries name their position; consistency belongs to the whole multi-query.
  auto sub = ParseTpufQuery({{"consistency", {{"level", "strong"}}}}, "queries[3]", false);
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().message(), "queries[3].consistency: unknown field");
}

TEST(TpufCodecTest, RowsCarryIdDistAndTheChosenAttributes) {
  QueryResult r;
  QueryHit h;
  h.id = U64Key(42);
  h.dist = 0.5f;
  h.vector = {1.0f, 2.5f};
  h.attributes = {{"a", 1}, {"b", "x"}, {"gone", nullptr}};
  r.hits.push_back(h);
  TpufRowFormat all;
  all.all = true;
  std::string out;
  AppendTpufRows(r, all, &out);
  EXPECT_EQ(json::parse(out),
            json::parse(R"([{"id":42,"$dist":0.5,"vector":[1.0,2.5],"a":1,"b":"x"}])"));
  TpufRowFormat some;
  some.include = {"b"};
  some.base64 = true;
  out.clear();
  AppendTpufRows(r, some, &out);
  EXPECT_EQ(json::parse(out), json::parse(R"([{"id":42,"$dist":0.5,"b":"x"}])"));
  some.include.push_back("vector");
  out.clear();
  AppendTpufRows(r, some, &out);
  EXPECT_EQ(json::parse(out)[0]["vector"], F32Base64({1.0f, 2.5f}));
  r.ranked_by_vector = false;
  out.clear();
  AppendTpufRows(r, TpufRowFormat{}, &out);
  EXPECT_EQ(json::parse(out), json::parse(R"([{"id":42}])"));
}

}  // namespace
}  // namespace vecpuff
