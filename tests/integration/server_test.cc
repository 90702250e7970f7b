// End-to-end tests of the vecpuff binary over HTTP on loopback: the original API, its
// errors, restart recovery, SIGKILL during concurrent writes, and two processes sharing one
// data directory.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "server_process.h"
#include "test_util.h"

namespace vecpuff::testing {
namespace {

using nlohmann::json;

struct Reply {
  int status = 0;  // 0: no response (connection failed)
  json body;
  std::string text;
};

Reply Send(int port, const std::string& method, const std::string& path,
           const std::string& body = "") {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  httplib::Result res = method == "GET" ? c.Get(path) : c.Post(path, body, "application/json");
  Reply r;
  if (!res) return r;
  r.status = res->status;
  r.text = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

Reply Post(int port, const std::string& path, const json& body) {
  return Send(port, "POST", path, body.dump());
}

json Row(const std::string& id, std::vector<float> v, json attrs = json::object()) {
  attrs["id"] = id;
  attrs["vector"] = v;
  return attrs;
}

// Every document of a namespace, id -> row (top_k large enough).
std::map<std::string, json> AllDocs(int port, const std::string& ns, int dims = 2) {
  Reply r = Post(port, "/namespaces/" + ns + "/query",
                 {{"query_vector", std::vector<double>(dims, 1.0)},
                  {"top_k", 10000},
                  {"include_vectors", false}});
  std::map<std::string, json> docs;
  if (r.status != 200) {
    ADD_FAILURE() << "query failed: " << r.status << " " << r.text;
    return docs;
  }
  for (const json& row : r.body["results"]) docs[row["id"].get<std::string>()] = row;
  return docs;
}

// Every test runs against both backends: the local directory and S3 (the S3 test server).
class ServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void KillDuringWrites(const std::string& config, bool indexing = false);

  void SetUp() override {
    if (GetParam() == "s3") {
      endpoint_ = S3TestEndpoint();
      ASSERT_FALSE(endpoint_.empty())
          << "VECPUFF_TEST_S3_ENDPOINT is not set: run the tests under scripts/with_moto.sh "
             "(make test does)";
      bucket_ = UniqueBucketName();
      ASSERT_TRUE(CreateBucket(endpoint_, bucket_)) << "cannot create bucket on " << endpoint_;
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      // By path: the servers of a test may be gone by now; their logs are not.
      for (const std::string& log : server_logs_) {
        std::cerr << "---- server log " << log << " ----\n" << ReadWholeFile(log);
      }
    }
  }
  std::unique_ptr<ServerProcess> NewServer(const std::string& config = "") {
    std::vector<std::string> env;
    if (GetParam() == "s3") env = S3Env(endpoint_, bucket_);
    auto s = std::make_unique<ServerProcess>(dir_.path() + "/store", dir_.path(), config, env);
    server_logs_.push_back(s->log_path());
    return s;
  }
  ScratchDir dir_;
  std::string endpoint_, bucket_;
  std::vector<std::string> server_logs_;  // of every server the test made
};

TEST_P(ServerTest, OriginalApiRoundTrip) {
  auto server = NewServer();
  ASSERT_TRUE(server->Start());
  int port = server->port();

  Reply health = Send(port, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.text, "OK");

  Reply w = Post(port, "/namespaces/docs",
                 {{"distance_metric", "euclidean_squared"},
                  {"upsert_rows",
                   {Row("doc1", {0, 0}, {{"text", "Sample"}, {"score", 42}}),
                    Row("doc2", {1, 0}, {{"category", "tech"}}), Row("doc3", {5, 5})}}});
  ASSERT_EQ(w.status, 200) << w.text;
  EXPECT_EQ(w.body, (json{{"upserted_count", 3}, {"patched_count", 0}, {"deleted_count", 0}}));

  Reply q = Post(port, "/namespaces/docs/query", {{"query_vector", {0.1, 0}}, {"top_k", 2}});
  ASSERT_EQ(q.status, 200) << q.text;
  ASSERT_EQ(q.body["results"].size(), 2u);
  EXPECT_EQ(q.body["total_count"], 2);
  EXPECT_EQ(q.body["results"][0]["id"], "doc1");
  EXPECT_EQ(q.body["results"][0]["text"], "Sample");
  EXPECT_EQ(q.body["results"][0]["score"], 42);
  EXPECT_EQ(q.body["results"][0]["vector"], (json{0.0, 0.0}));
  EXPECT_NEAR(q.body["results"][0]["dist"].get<double>(), 0.01, 1e-6);
  EXPECT_EQ(q.body["results"][1]["id"], "doc2");

  Reply q2 =
      Post(port, "/namespaces/docs/query",
           {{"query_vector", {0, 0}}, {"include_vectors", false}, {"include_attributes", false}});
  ASSERT_EQ(q2.status, 200);
  EXPECT_EQ(q2.body["results"][0], (json{{"id", "doc1"}, {"dist", 0.0}}));

  Reply p =
      Post(port, "/namespaces/docs",
           {{"patch_rows", {{{"id", "doc2"}, {"category", "science"}}}}, {"deletes", {"doc3"}}});
  ASSERT_EQ(p.status, 200) << p.text;
  EXPECT_EQ(p.body, (json{{"upserted_count", 0}, {"patched_count", 1}, {"deleted_count", 1}}));

  for (const std::string method : {"GET", "POST"}) {
    Reply md = Send(port, method, "/namespaces/docs/metadata");
    ASSERT_EQ(md.status, 200) << md.text;
    EXPECT_EQ(md.body["approx_row_count"], 2);
    EXPECT_EQ(md.body["dimensions"], 2);
    EXPECT_EQ(md.body["distance_metric"], "euclidean_squared");
    // Just written: the background compactor has not indexed it yet.
    EXPECT_EQ(md.body["index"]["status"], "updating");
    EXPECT_GT(md.body["index"]["unindexed_bytes"].get<int64_t>(), 0);
    EXPECT_GT(md.body["created_at"].get<int64_t>(), 1600000000);
    EXPECT_GE(md.body["updated_at"].get<int64_t>(), md.body["created_at"].get<int64_t>());
  }
  // The compactor indexes the tail once it is max_age_ms old (1 s by default).
  json indexed;
  for (int i = 0; i < 150; ++i) {
    Reply md = Send(port, "GET", "/namespaces/docs/metadata");
    ASSERT_EQ(md.status, 200) << md.text;
    indexed = md.body;
    if (indexed["index"]["status"] == "up_to_date") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(indexed["index"]["status"], "up_to_date") << indexed.dump();
  EXPECT_EQ(indexed["index"]["unindexed_bytes"], 0);
  EXPECT_EQ(indexed["approx_row_count"], 2);
  // Served from the index now, with the patch and the delete applied.
  Reply q3 = Post(port, "/namespaces/docs/query",
                  {{"query_vector", {0, 0}}, {"include_vectors", false}, {"top_k", 10}});
  ASSERT_EQ(q3.status, 200) << q3.text;
  ASSERT_EQ(q3.body["results"].size(), 2u) << q3.text;
  EXPECT_EQ(q3.body["results"][0]["id"], "doc1");
  EXPECT_EQ(q3.body["results"][1]["id"], "doc2");
  EXPECT_EQ(q3.body["results"][1]["category"], "science");

  Reply list = Send(port, "GET", "/namespaces");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body, (json{{"namespaces", {{{"id", "docs"}}}}}));
}

TEST_P(ServerTest, InvalidConfigurationStopsStartupNamingTheKey) {
  auto typo = NewServer("[server]\nprot = 3001\n");
  EXPECT_FALSE(typo->Start());
  EXPECT_NE(typo->Log().find("prot"), std::string::npos) << typo->Log();
  auto bad_value = NewServer("[limits]\nmax_dimensions = -3\n");
  EXPECT_FALSE(bad_value->Start());
  EXPECT_NE(bad_value->Log().find("max_dimensions"), std::string::npos) << bad_value->Log();
}

TEST_P(ServerTest, ErrorsAreJsonWithTheRightCodeAndChangeNothing) {
  auto server = NewServer("[server]\nmax_body_bytes = 100000\n");
  ASSERT_TRUE(server->Start());
  int port = server->port();
  ASSERT_EQ(Post(port, "/namespaces/ns", {{"upsert_rows", {Row("a", {1, 2, 3})}}}).status, 200);

  auto expect_error = [&](Reply r, int code, const std::string& needle) {
    EXPECT_EQ(r.status, code) << r.text;
    EXPECT_EQ(r.body.value("status", ""), "error") << r.text;
    EXPECT_NE(r.body.value("error", "").find(needle), std::string::npos) << r.text;
  };
  expect_error(Send(port, "POST", "/namespaces/ns", "{\"upsert_rows\": [{"), 400, "malformed JSON");
  expect_error(Post(port, "/namespaces/ns", {{"upsert_rows", {Row("b", {1, 2})}}}), 400,
               "upsert_rows[0].vector: expected 3 dimensions, got 2");
  expect_error(
      Post(port, "/namespaces/ns", {{"distance_metric", "euclidean_squared"}, {"deletes", {"a"}}}),
      400, "cannot be changed");
  expect_error(Post(port, "/namespaces/ns/query", {{"query_vector", {1, 2}}}), 400,
               "query_vector: expected 3 dimensions, got 2");
  expect_error(Post(port, "/namespaces/missing/query", {{"query_vector", {1, 2}}}), 404,
               "not found");
  expect_error(Send(port, "GET", "/namespaces/missing/metadata"), 404, "not found");
  expect_error(Post(port, "/namespaces/..", {{"deletes", {"a"}}}), 400, "namespace name");
  expect_error(Post(port, "/namespaces/bad%20name", {{"deletes", {"a"}}}), 400, "namespace name");
  expect_error(Send(port, "GET", "/no/such/route"), 404, "no such route");
  std::string big =
      R"({"upsert_rows":[{"id":"x","vector":[1,2,3],"s":")" + std::string(200000, 'a') + "\"}]}";
  expect_error(Send(port, "POST", "/namespaces/ns", big), 413, "max_body_bytes");
  std::string deep(5000, '[');
  expect_error(Send(port, "POST", "/namespaces/ns", deep), 400, "nested");
  expect_error(Send(port, "POST", "/namespaces/ns", "{\"deletes\":[\"\xff\"]}"), 400,
               "malformed JSON");

  // Nothing of the rejected requests is stored, and the server is still up.
  auto docs = AllDocs(port, "ns", 3);
  EXPECT_EQ(docs.size(), 1u);
  Reply md = Send(port, "GET", "/namespaces/ns/metadata");
  EXPECT_EQ(md.body["approx_row_count"], 1);
  Reply list = Send(port, "GET", "/namespaces");
  EXPECT_EQ(list.body["namespaces"].size(), 1u);
}

TEST_P(ServerTest, RestartAndSecondProcessSeeIdenticalState) {
  auto server = NewServer();
  ASSERT_TRUE(server->Start());
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1, 1);
  for (int b = 0; b < 20; ++b) {
    json rows = json::array();
    for (int i = 0; i < 10; ++i)
      rows.push_back(Row("d" + std::to_string(b * 10 + i), {u(rng), u(rng)}, {{"b", b}}));
    ASSERT_EQ(Post(server->port(), "/namespaces/ns", {{"upsert_rows", rows}}).status, 200);
  }
  ASSERT_EQ(Post(server->port(), "/namespaces/ns", {{"deletes", {"d0", "d5"}}}).status, 200);
  json query = {{"query_vector", {0.3, -0.2}}, {"top_k", 25}};
  Reply before = Post(server->port(), "/namespaces/ns/query", query);
  Reply md_before = Send(server->port(), "GET", "/namespaces/ns/metadata");
  ASSERT_EQ(server->Stop(), 0);

  auto restarted = NewServer();
  auto second = NewServer();
  ASSERT_TRUE(restarted->Start());
  ASSERT_TRUE(second->Start());
  for (auto* s : {restarted.get(), second.get()}) {
    Reply after = Post(s->port(), "/namespaces/ns/query", query);
    ASSERT_EQ(after.status, 200);
    EXPECT_EQ(after.body, before.body);
    // The same namespace, written last at the same time. Only the indexing progress may
    // differ: a restarted server's compactor may fold the tail in at any moment.
    Reply md = Send(s->port(), "GET", "/namespaces/ns/metadata");
    json md_now = md.body, md_then = md_before.body;
    md_now.erase("index");
    md_then.erase("index");
    EXPECT_EQ(md_now, md_then);
    EXPECT_EQ(md.body["approx_row_count"], 198);
  }
}

// Writers send requests of kRowsPerRequest rows with verifiable payloads; the server is
// SIGKILLed at a random moment. After a restart every acknowledged request must be there
// with its value, and every request must be all-or-nothing.
// Writers hammer one namespace while the server is killed (SIGKILL) at random moments, a
// few times over; a restarted server must hold every acknowledged row, and every request
// must be all-or-nothing. `config` is the server's config.toml for every run.
void ServerTest::KillDuringWrites(const std::string& config, bool indexing) {
  constexpr int kWriters = 4;
  constexpr int kRowsPerRequest = 5;
  constexpr int kCycles = 3;
  std::mt19937 rng(::testing::UnitTest::GetInstance()->random_seed());
  std::map<std::string, int> acked;  // id -> request number that wrote it
  std::set<int> acked_requests;
  std::atomic<int> request_counter{0};
  std::atomic<int> refused{0};  // answered with an error
  std::mutex mu;

  for (int cycle = 0; cycle < kCycles; ++cycle) {
    auto server = NewServer(config);
    ASSERT_TRUE(server->Start());
    const int port = server->port();
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        httplib::Client c("127.0.0.1", port);
        c.set_read_timeout(10, 0);
        while (!stop) {
          int req = request_counter++;
          json rows = json::array();
          for (int i = 0; i < kRowsPerRequest; ++i) {
            // Ids repeat across requests so later requests overwrite earlier ones.
            std::string id =
                "w" + std::to_string(w) + "-" + std::to_string((req / 7) * kRowsPerRequest + i);
            rows.push_back(Row(id, {float(req), float(i)}, {{"req", req}, {"w", w}}));
          }
          auto res =
              c.Post("/namespaces/crash", json{{"upsert_rows", rows}}.dump(), "application/json");
          if (res && res->status == 200) {
            std::lock_guard<std::mutex> lock(mu);
            acked_requests.insert(req);
            for (const json& r : rows) acked[r["id"]] = req;
          } else if (!res) {
            break;  // connection reset: the server is gone
          } else {
            ++refused;
          }
        }
      });
    }
    // The kill lands at a random moment after this run has acknowledged something (a slow
    // start, e.g. under sanitizers against the S3 test server, must not leave a cycle, or
    // the whole test, with nothing acknowledged to check).
    size_t acked_before;
    {
      std::lock_guard<std::mutex> lock(mu);
      acked_before = acked_requests.size();
    }
    for (int i = 0; i < 600; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (acked_requests.size() > acked_before) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
    server->Kill();
    stop = true;
    for (auto& t : writers) t.join();
  }

  auto server = NewServer(config);
  ASSERT_TRUE(server->Start());
  auto docs = AllDocs(server->port(), "crash");
  // The index (or the tail) serves them; the exact scan must agree.
  Reply exact = Post(server->port(), "/namespaces/crash/query",
                     {{"query_vector", {1.0, 1.0}},
                      {"top_k", 10000},
                      {"exact", true},
                      {"include_vectors", false}});
  ASSERT_EQ(exact.status, 200) << exact.text;
  EXPECT_EQ(exact.body["results"].size(), docs.size());
  ASSERT_FALSE(acked.empty()) << refused << " requests were answered with an error";
  ASSERT_LT(docs.size(), 10000u);
  int lost = 0;
  for (const auto& [id, req] : acked) {
    auto it = docs.find(id);
    if (it == docs.end()) {
      ++lost;
      continue;
    }
    // A later request (acknowledged or not) may have overwritten it, never an earlier one.
    EXPECT_GE(it->second["req"].get<int>(), req) << id;
  }
  EXPECT_EQ(lost, 0) << "of " << acked.size() << " acknowledged rows";
  // All-or-nothing: if any row of a request is visible, every row of it is, holding that
  // request's value or a later one's.
  for (const auto& [id, row] : docs) {
    const int req = row["req"].get<int>();
    const int w = row["w"].get<int>();
    for (int i = 0; i < kRowsPerRequest; ++i) {
      std::string sibling =
          "w" + std::to_string(w) + "-" + std::to_string((req / 7) * kRowsPerRequest + i);
      auto it = docs.find(sibling);
      ASSERT_NE(it, docs.end()) << "request " << req << " is partially visible: " << sibling;
      EXPECT_GE(it->second["req"].get<int>(), req) << sibling;
    }
  }
  std::cerr << "acknowledged requests: " << acked_requests.size() << ", refused: " << refused
            << ", documents after recovery: " << docs.size() << "\n";
  if (indexing) {
    // Once the compactor has indexed everything, the index alone serves the same rows.
    json md;
    for (int i = 0; i < 200; ++i) {
      md = Send(server->port(), "GET", "/namespaces/crash/metadata").body;
      if (md["index"]["status"] == "up_to_date") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(md["index"]["status"], "up_to_date") << md.dump();
    EXPECT_EQ(md["index"]["indexed_row_count"], docs.size());
    auto indexed = AllDocs(server->port(), "crash");
    EXPECT_EQ(indexed.size(), docs.size());
    for (const auto& [id, row] : docs) {
      auto it = indexed.find(id);
      ASSERT_NE(it, indexed.end()) << id;
      EXPECT_EQ(it->second["req"], row["req"]) << id;
    }
  }
}

TEST_P(ServerTest, SigkillDuringConcurrentWritesLosesNoAcknowledgedWrite) {
  KillDuringWrites("[batching]\nwindow_ms = 2\n");
}

// The same with the compactor indexing and collecting garbage continuously, so kills land
// in the middle of compactions: before, during and after their commits.
TEST_P(ServerTest, SigkillDuringCompactionLosesNothing) {
  KillDuringWrites(
      "[batching]\nwindow_ms = 2\n[indexing]\nmax_age_ms = 1\n"
      "[compactor]\ninterval_ms = 20\ngc_grace_period_ms = 0\n",
      /*indexing=*/true);
}

TEST_P(ServerTest, TwoProcessesWritingOneNamespaceOnOneDirectory) {
  auto a = NewServer("[batching]\nwindow_ms = 1\n");
  auto b = NewServer("[batching]\nwindow_ms = 1\n");
  ASSERT_TRUE(a->Start());
  ASSERT_TRUE(b->Start());
  constexpr int kThreads = 6;
  constexpr int kRequests = 30;
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int port = (t % 2 ? a : b)->port();
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(60, 0);  // httplib's default, 5 s, is short on a loaded machine
      for (int i = 0; i < kRequests; ++i) {
        json body = {{"upsert_rows",
                      {Row("t" + std::to_string(t) + "-" + std::to_string(i), {float(t), float(i)}),
                       Row("shared", {1, 1}, {{"by", t * 1000 + i}})}}};
        auto res = c.Post("/namespaces/shared", body.dump(), "application/json");
        if (res && res->status == 200) ++acked;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acked.load(), kThreads * kRequests);
  auto docs_a = AllDocs(a->port(), "shared");
  auto docs_b = AllDocs(b->port(), "shared");
  EXPECT_EQ(docs_a.size(), kThreads * kRequests + 1u);
  EXPECT_EQ(docs_a, docs_b);
}

INSTANTIATE_TEST_SUITE_P(Backends, ServerTest, ::testing::Values("local", "s3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vecpuff::testing
