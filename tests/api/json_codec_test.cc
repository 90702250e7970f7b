#include "api/json_codec.h"

#include <gtest/gtest.h>

#include "api/http_status.h"

namespace vecpuff {
namespace {

using nlohmann::json;

Result<WriteRequest> Write(std::string_view text) { return ParseWriteRequest(text); }

Result<QueryRequest> Query(std::string_view text) { return ParseQueryRequest(text); }

std::string Error(const Status& s) { return s.message(); }

TEST(JsonCodec, DecodesAFullWrite) {
  auto w = Write(R"({"distance_metric":"euclidean_squared",
      "upsert_rows":[{"id":"doc1","vector":[0.5,1,-2e3],"text":"hi","n":{"a":[1,2]}}],
      "patch_rows":[{"id":"doc2","tag":null}],
      "deletes":["doc3"]})");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->distance_metric, DistanceMetric::kEuclideanSquared);
  ASSERT_EQ(w->upsert_rows.size(), 1u);
  EXPECT_EQ(w->upsert_rows[0].id, "doc1");
  EXPECT_EQ(w->upsert_rows[0].vector, (std::vector<float>{0.5f, 1.0f, -2000.0f}));
  EXPECT_EQ(w->upsert_rows[0].attributes, (json{{"text", "hi"}, {"n", {{"a", {1, 2}}}}}));
  ASSERT_EQ(w->patch_rows.size(), 1u);
  EXPECT_EQ(w->patch_rows[0].attributes, (json{{"tag", nullptr}}));
  EXPECT_EQ(w->deletes, std::vector<std::string>{"doc3"});
}

TEST(JsonCodec, ErrorsNameThePath) {
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"id":"a","vector":[1]},{"id":"b","vector":[1,"x"]}]})")
                      .status()),
            "upsert_rows[1].vector[1]: expected a number, got a string");
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"id":5,"vector":[1]}]})").status()),
            "upsert_rows[0].id: expected a string, got a number");
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"id":"a"}]})").status()),
            "upsert_rows[0].vector: missing");
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"vector":[1]}]})").status()),
            "upsert_rows[0].id: missing");
  EXPECT_EQ(Error(Write(R"({"patch_rows":[{"id":"a","vector":[1]}]})").status()),
            "patch_rows[0].vector: a patch cannot change the vector");
  EXPECT_EQ(Error(Write(R"({"upsert_rows":{}})").status()),
            "upsert_rows: expected an array, got an object");
  EXPECT_EQ(Error(Write(R"({"upsert_rowz":[]})").status()), "unknown field 'upsert_rowz'");
  EXPECT_EQ(Error(Write(R"({"deletes":[1]})").status()),
            "deletes[0]: expected a string, got a number");
  EXPECT_NE(Error(Write(R"({"distance_metric":"dot"})").status()).find("cosine_distance"),
            std::string::npos);
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"id":"a","vector":[1],"dist":2}]})").status()),
            "upsert_rows[0].dist: 'dist' is reserved for query results");
  EXPECT_EQ(Error(Write("[]").status()), "request body: expected an object, got an array");
}

TEST(JsonCodec, NonFiniteAndOutOfRangeNumbersAreRejected) {
  // JSON has no NaN literal; the parser rejects it.
  EXPECT_TRUE(Write(R"({"upsert_rows":[{"id":"a","vector":[NaN]}]})").status().IsInvalidArgument());
  EXPECT_EQ(Error(Write(R"({"upsert_rows":[{"id":"a","vector":[1e39]}]})").status()),
            "upsert_rows[0].vector[0]: not a finite 32-bit float");
  EXPECT_TRUE(
      Write(R"({"upsert_rows":[{"id":"a","vector":[1e400]}]})").status().IsInvalidArgument());
}

TEST(JsonCodec, MalformedTruncatedDeepAndInvalidUtf8BodiesAreInvalidArgument) {
  EXPECT_TRUE(Write(R"({"upsert_rows":[{"id":"a","vector":[1,2)").status().IsInvalidArgument());
  EXPECT_TRUE(Write("").status().IsInvalidArgument());
  EXPECT_TRUE(Write("{\"upsert_rows\":[{\"id\":\"\xff\xfe\",\"vector\":[1]}]}")
                  .status()
                  .IsInvalidArgument());
  std::string deep(100000, '[');
  Status s = Write(deep).status();
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("nested deeper"), std::string::npos);
  // Brackets inside strings do not count toward depth.
  std::string brackets =
      R"({"upsert_rows":[{"id":"a","vector":[1],"s":")" + std::string(1000, '[') + R"("}]})";
  EXPECT_TRUE(Write(brackets).ok());
}

TEST(JsonCodec, QueryDefaultsAndErrors) {
  auto q = Query(R"({"query_vector":[1,2]})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->top_k, 10u);
  EXPECT_TRUE(q->include_vectors);
  EXPECT_TRUE(q->include_attributes);
  EXPECT_EQ(q->consistency, Consistency::kStrong);
  q = Query(R"({"query_vector":[1],"top_k":3,"include_vectors":false,
               "include_attributes":false,"consistency":{"level":"eventual"}})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->top_k, 3u);
  EXPECT_FALSE(q->include_vectors);
  EXPECT_FALSE(q->include_attributes);
  EXPECT_EQ(q->consistency, Consistency::kEventual);
  EXPECT_EQ(Error(Query(R"({"top_k":3})").status()), "query_vector: missing");
  EXPECT_EQ(Error(Query(R"({"query_vector":[1],"top_k":-1})").status()),
            "top_k: must be at least 1");
  EXPECT_EQ(Error(Query(R"({"query_vector":[1],"top_k":1.5})").status()),
            "top_k: expected an integer, got a number");
  EXPECT_EQ(Error(Query(R"({"query_vector":[1],"include_vectors":"yes"})").status()),
            "include_vectors: expected a boolean, got a string");
  EXPECT_EQ(Error(Query(R"({"query_vector":[1],"filters":[]})").status()),
            "unknown field 'filters'");
}

TEST(JsonCodec, EncodesResults) {
  QueryResult r;
  QueryHit h;
  h.id = "doc1";
  h.dist = 0.25f;
  h.vector = {1, 2};
  h.attributes = {{"text", "hi"}};
  r.hits.push_back(h);
  json out = json::parse(EncodeQueryResult(r));
  EXPECT_EQ(out,
            (json{{"results",
                   {{{"id", "doc1"}, {"dist", 0.25f}, {"vector", {1.0f, 2.0f}}, {"text", "hi"}}}},
                  {"total_count", 1}}));
  EXPECT_EQ(EncodeNamespaceList({"a", "b"}),
            (json{{"namespaces", {{{"id", "a"}}, {{"id", "b"}}}}}));
}

TEST(JsonCodec, FloatsAreReturnedInTheirShortestForm) {
  QueryResult r;
  QueryHit h;
  h.id = "a";
  h.dist = 0.3f;
  h.vector = {0.1f, 0.2f, 1e-7f, 3.4028235e38f};
  r.hits.push_back(h);
  EXPECT_EQ(EncodeQueryResult(r),
            R"({"results":[{"dist":0.3,"id":"a","vector":[0.1,0.2,1e-07,3.4028235e+38]}],)"
            R"("total_count":1})");
}

TEST(HttpStatus, MapsEveryCodeOnce) {
  EXPECT_EQ(HttpStatusFor(Status::InvalidArgument("")), 400);
  EXPECT_EQ(HttpStatusFor(Status::NotFound("")), 404);
  EXPECT_EQ(HttpStatusFor(Status::PayloadTooLarge("")), 413);
  EXPECT_EQ(HttpStatusFor(Status::Unavailable("")), 503);
  EXPECT_EQ(HttpStatusFor(Status::IOError("")), 503);
  EXPECT_EQ(HttpStatusFor(Status::ResourceExhausted("")), 429);
  EXPECT_EQ(HttpStatusFor(Status::Corruption("")), 500);
  EXPECT_EQ(json::parse(ErrorBody("bad \xff input")).at("status"), "error");
}

}  // namespace
}  // namespace vecpuff
