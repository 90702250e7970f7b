// HttpServer in-process, over stores the test controls: storage failures must reach the
// client as 503 with nothing applied.
#include "api/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace vecpuff
