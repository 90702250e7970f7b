// HttpServer in-process, over stores the test controls: storage failures must reach the
// client as 503 with nothing applied.
#include "api/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cache/caching_store.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using nlohmann::json;

class Switchable : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  std::atomic<bool> down{false};
  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override {
    if (down) return Status::Unavailable("injected outage");
    return ObjectStoreWrapper::Get(key, range);
  }
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    if (down) return Status::Unavailable("injected outage");
    return ObjectStoreWrapper::Put(key, data, options);
  }
  Result<ListPage> List(const ListOptions& options) override {
    if (down) return Status::Unavailable("injected outage");
    return ObjectStoreWrapper::List(options);
  }
};

TEST(HttpServerTest, StorageOutageIsA503AndNothingIsApplied) {
  auto memory = NewMemoryStore();
  Switchable store(memory.get());
  DbOptions db_options;
  db_options.batch_window_ms = 0;
  Database db(&store, db_options);
  HttpServerOptions http;
  http.port = 0;
  http.threads = 4;
  HttpServer server(&db, http);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());

  auto write = [&](const std::string& id) {
    json body = {{"upsert_rows", {{{"id", id}, {"vector", {1, 2}}}}}};
    return c.Post("/namespaces/ns", body.dump(), "application/json");
  };
  auto ok = write("a");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;

  store.down = true;
  auto failed = write("b");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);
  json err = json::parse(failed->body);
  EXPECT_EQ(err["status"], "error");
  EXPECT_NE(err["error"].get<std::string>().find("injected outage"), std::string::npos);
  auto list = c.Get("/namespaces");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 503);
  auto query = c.Post("/namespaces/ns/query", R"({"query_vector":[1,2]})", "application/json");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 503);  // the strong-consistency check cannot reach storage

  store.down = false;
  query = c.Post("/namespaces/ns/query", R"({"query_vector":[1,2]})", "application/json");
  ASSERT_TRUE(query);
  ASSERT_EQ(query->status, 200);
  json results = json::parse(query->body)["results"];
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["id"], "a");
  server.Stop();
}

TEST(HttpServerTest, QueryFieldsAndErrorsOverHttp) {
  auto store = NewMemoryStore();
  DbOptions db_options;
  db_options.batch_window_ms = 0;
  Database db(store.get(), db_options);
  HttpServerOptions http;
  http.port = 0;
  HttpServer server(&db, http);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);
  auto w = c.Post("/namespaces/ns",
                  R"({"distance_metric":"euclidean_squared",)"
                  R"("upsert_rows":[{"id":"a","vector":[0.1,2.5e-3],"t":"x"},)"
                  R"({"id":"b","vector":[-1,1]}]})",
                  "application/json");
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 200) << w->body;
  EXPECT_EQ(json::parse(w->body),
            (json{{"upserted_count", 2}, {"patched_count", 0}, {"deleted_count", 0}}));
  EXPECT_EQ(w->get_header_value("Content-Type"), "application/json");
  // More requests on one keep-alive connection than httplib's default cap of 5.
  for (int i = 0; i < 12; ++i) {
    auto q = c.Post("/namespaces/ns/query",
                    R"({"query_vector":[0.1,2.5e-3],"top_k":1,"probes":8,"exact":true})",
                    "application/json");
    ASSERT_TRUE(q);
    ASSERT_EQ(q->status, 200) << q->body;
    EXPECT_EQ(q->body, R"({"results":[{"dist":0.0,"id":"a","t":"x","vector":[0.1,0.0025]}],)"
                       R"("total_count":1})");
  }
  auto bad =
      c.Post("/namespaces/ns/query", R"({"query_vector":[0.1,1],"probes":-1})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["error"],
            "probes: must be between 0 and 1000000 (0: the default)");
  bad = c.Post("/namespaces/ns", R"({"upsert_rows":[{"id":"c","vector":[1,2)", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"].get<std::string>().find("malformed JSON at byte"),
            std::string::npos);
  server.Stop();
}

TEST(HttpServerTest, HealthAndUnknownRoutes) {
  auto store = NewMemoryStore();
  Database db(store.get(), DbOptions{});
  HttpServerOptions http;
  http.port = 0;
  HttpServer server(&db, http);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "OK");
  auto missing = c.Delete("/namespaces/x");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["status"], "error");
  server.Stop();
}

// GET /stats: the memory cache's figures follow what queries load and compaction drops, the
// disk cache's are there when the server has one, and the route needs a key like any other.
TEST(HttpServerTest, StatsReportTheCachesAndTheHeap) {
  auto store = NewMemoryStore();
  DbOptions o;
  o.compactor_enabled = false;
  o.batch_window_ms = 0;
  Database db(store.get(), o);
  const std::string dir = ::testing::TempDir() + "/stats_disk_cache";
  std::filesystem::remove_all(dir);
  auto disk = DiskCache::Open(dir, 1 << 20);
  ASSERT_TRUE(disk.ok()) << disk.status().ToString();
  HttpServerOptions http;
  http.port = 0;
  http.api_keys = {"k"};
  http.disk_cache = disk->get();
  HttpServer server(&db, http);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());

  auto denied = c.Get("/stats");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  c.set_bearer_token_auth("k");
  auto stats = [&] {
    auto r = c.Get("/stats");
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  };
  json before = stats();
  EXPECT_EQ(before["memory_cache"]["capacity_bytes"], o.posting_cache_bytes);
  EXPECT_EQ(before["memory_cache"]["entries"], 0);
  EXPECT_EQ(before["memory_cache"]["bytes"], 0);
  EXPECT_EQ(before["disk_cache"]["capacity_bytes"], 1 << 20);
  EXPECT_EQ(before["disk_cache"]["entries"], 0);
#if defined(__SANITIZE_ADDRESS__)
  // ASan's allocator serves the process: glibc's figures would be zeros, so there are none.
  EXPECT_TRUE(before["heap"].is_null()) << before["heap"];
#else
  ASSERT_TRUE(before["heap"].is_object()) << before["heap"];
  EXPECT_GT(before["heap"]["in_use_bytes"].get<uint64_t>(), 0u);
  EXPECT_GE(before["heap"]["held_bytes"].get<uint64_t>(),
            before["heap"]["in_use_bytes"].get<uint64_t>());
#endif

  json rows = json::array();
  for (int i = 0; i < 200; ++i) {
    rows.push_back({{"id", "d" + std::to_string(i)}, {"vector", {i % 7, i % 11, 1.0}}});
  }
  auto w = c.Post("/namespaces/ns", json{{"upsert_rows", rows}}.dump(), "application/json");
  ASSERT_TRUE(w);
  ASSERT_EQ(w->status, 200) << w->body;
  ASSERT_TRUE(db.Compact("ns").ok());
  QueryRequest q;
  q.vector = {1, 2, 1};
  q.exact = true;  // reads every posting list
  ASSERT_TRUE(db.Query("ns", q).ok());
  json loaded = stats();
  EXPECT_EQ(loaded["memory_cache"]["entries"], db.posting_cache().entries());
  EXPECT_GT(loaded["memory_cache"]["entries"].get<uint64_t>(), 0u);
  EXPECT_EQ(loaded["memory_cache"]["bytes"], db.posting_cache().used_bytes());
  EXPECT_GT(loaded["memory_cache"]["misses"].get<uint64_t>(), 0u);

  // A drop leaves no posting referenced: the cache erases them all.
  ASSERT_TRUE(db.DeleteNamespace("ns").ok());
  json dropped = stats();
  EXPECT_EQ(dropped["memory_cache"]["entries"], 0);
  EXPECT_EQ(dropped["memory_cache"]["bytes"], 0);
  EXPECT_EQ(dropped["memory_cache"]["erased"], loaded["memory_cache"]["entries"]);

  // Without a disk cache the field is null.
  server.Stop();
  http.disk_cache = nullptr;
  http.api_keys.clear();
  HttpServer bare(&db, http);
  ASSERT_TRUE(bare.Start().ok());
  httplib::Client b("127.0.0.1", bare.port());
  auto r = b.Get("/stats");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_TRUE(json::parse(r->body)["disk_cache"].is_null());
  bare.Stop();
  std::filesystem::remove_all(dir);
}

// Write bodies are read by the route itself: large ones, ones sent in chunks (no
// Content-Length), ones over the limit, multipart ones and ones labelled as form data.
TEST(HttpServerTest, WriteBodiesOfEveryShape) {
  auto store = NewMemoryStore();
  DbOptions db_options;
  db_options.batch_window_ms = 0;
  db_options.compactor_enabled = false;
  Database db(store.get(), db_options);
  HttpServerOptions http;
  http.port = 0;
  http.threads = 4;
  http.max_body_bytes = 4 << 20;
  HttpServer server(&db, http);
  ASSERT_TRUE(server.Start().ok());
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);

  auto rows = [](int first, int n, int dims) {
    std::string body = R"({"upsert_rows":[)";
    for (int i = first; i < first + n; ++i) {
      if (i > first) body += ',';
      body += R"({"id":"r)" + std::to_string(i) + R"(","vector":[)";
      for (int d = 0; d < dims; ++d) body += (d ? "," : "") + std::to_string((i + d) % 256);
      body += "]}";
    }
    return body + "]}";
  };
  auto count = [&]() {
    auto md = c.Get("/namespaces/ns/metadata");
    EXPECT_TRUE(md);
    return md ? json::parse(md->body)["approx_row_count"].get<int>() : -1;
  };

  // About 1.2 MB, in one request on a keep-alive connection.
  const std::string big = rows(0, 400, 784);
  ASSERT_GT(big.size(), 1000000u);
  auto res = c.Post("/namespaces/ns", big, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["upserted_count"], 400);
  auto first = db.Query("ns", [] {
    QueryRequest q;
    q.vector.assign(784, 0);
    for (int d = 0; d < 784; ++d) q.vector[d] = static_cast<float>(d % 256);
    q.top_k = 1;
    return q;
  }());
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->hits.size(), 1u);
  EXPECT_EQ(first->hits[0].id, "r0");
  EXPECT_NEAR(first->hits[0].dist, 0.0f, 1e-5);

  // Chunked transfer encoding: no Content-Length to size the buffer by.
  const std::string chunked = rows(400, 100, 784);
  res = c.Post(
      "/namespaces/ns",
      [&](size_t offset, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(10000, chunked.size() - offset);
        sink.write(chunked.data() + offset, n);
        if (offset + n == chunked.size()) sink.done();
        return true;
      },
      "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["upserted_count"], 100);

  // Over max_body_bytes: 413 in our error shape, nothing applied, the server still serves.
  const std::string too_big = rows(1000, 1500, 784);
  ASSERT_GT(too_big.size(), size_t{4} << 20);
  httplib::Client other("127.0.0.1", server.port());
  res = other.Post("/namespaces/ns", too_big, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(json::parse(res->body)["status"], "error");
  EXPECT_NE(res->body.find("max_body_bytes"), std::string::npos) << res->body;

  // A body sent as form data (curl -d without a Content-Type) is JSON all the same, however
  // large.
  res = c.Post("/namespaces/ns", rows(500, 20, 784), "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;

  // Multipart bodies are not JSON: 400, as an empty body.
  httplib::MultipartFormDataItems items = {{"upsert_rows", rows(600, 1, 4), "", ""}};
  res = c.Post("/namespaces/ns", items);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("malformed JSON"), std::string::npos) << res->body;

  // Malformed JSON in a large body names the byte.
  std::string broken = rows(700, 300, 784);
  broken[broken.find(',', broken.size() / 2)] = 'x';
  res = c.Post("/namespaces/ns", broken, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(res->body.find("malformed JSON at byte"), std::string::npos) << res->body;

  // Queries read their body the same way: a 784-number query labelled as form data.
  std::string query = R"({"top_k":1,"include_vectors":false,"query_vector":[)";
  for (int d = 0; d < 784; ++d) query += (d ? ",0.00" : "0.00") + std::to_string(100000 + d);
  query += "]}";
  ASSERT_GT(query.size(), 8192u);  // httplib's own limit for form data
  res = c.Post("/namespaces/ns/query", query, "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["results"].size(), 1u) << res->body;

  EXPECT_EQ(count(), 520);
  server.Stop();
}

}  // namespace
}  // namespace vecpuff
