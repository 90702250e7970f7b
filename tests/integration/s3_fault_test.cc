// The server on S3 behind a fault-injecting proxy: transient 503s and dropped connections
// (before and after the request reached S3) are retried and invisible to clients; a total
// outage gives clients 503s, the server stays up, and nothing acknowledged is lost.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fault_proxy.h"
#include "server_process.h"
#include "storage/s3/s3_store.h"
#include "test_util.h"

namespace vecpuff::testing {
namespace {

using nlohmann::json;

class S3FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = S3TestEndpoint();
    ASSERT_FALSE(endpoint_.empty())
        << "VECPUFF_TEST_S3_ENDPOINT is not set: run the tests under scripts/with_moto.sh "
           "(make test does)";
    bucket_ = UniqueBucketName();
    ASSERT_TRUE(CreateBucket(endpoint_, bucket_));
    // endpoint_ is http://127.0.0.1:PORT
    const int upstream_port = std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1));
    proxy_ = std::make_unique<FaultProxy>("127.0.0.1", upstream_port);
    ASSERT_TRUE(proxy_->Start());
  }
  void TearDown() override {
    if (HasFailure()) {
      // By path: the servers of a test may be gone by now; their logs are not.
      for (const std::string& log : server_logs_) {
        std::cerr << "---- server log " << log << " ----\n" << ReadWholeFile(log);
      }
    }
  }
  std::unique_ptr<ServerProcess> NewServer(bool through_proxy, const std::string& config) {
    std::string endpoint =
        through_proxy ? "http://127.0.0.1:" + std::to_string(proxy_->port()) : endpoint_;
    auto s = std::make_unique<ServerProcess>(dir_.path() + "/unused", dir_.path(), config,
                                             S3Env(endpoint, bucket_));
    server_logs_.push_back(s->log_path());
    return s;
  }

  ScratchDir dir_;
  std::string endpoint_, bucket_;
  std::unique_ptr<FaultProxy> proxy_;
  std::vector<std::string> server_logs_;  // of every server the test made
};

json Rows(const std::string& prefix, int n, int value) {
  json rows = json::array();
  for (int i = 0; i < n; ++i) {
    rows.push_back(
        {{"id", prefix + "-" + std::to_string(i)}, {"vector", {1.0, float(i)}}, {"v", value}});
  }
  return rows;
}

std::map<std::string, int> AllValues(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  auto res = c.Post(
      "/namespaces/faults/query",
      json{{"query_vector", {1.0, 1.0}}, {"top_k", 10000}, {"include_vectors", false}}.dump(),
      "application/json");
  std::map<std::string, int> out;
  if (!res || res->status != 200) {
    ADD_FAILURE() << "query failed: " << (res ? res->body : "no response");
    return out;
  }
  const json body = json::parse(res->body);
  for (const json& r : body["results"]) {
    out[r["id"].get<std::string>()] = r["v"].get<int>();
  }
  return out;
}

TEST_F(S3FaultTest, ManyObjectsAreFetchedConcurrentlyOverPooledConnections) {
  S3StoreOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(proxy_->port());
  o.bucket = bucket_;
  o.credentials = {"testing", "testing", ""};
  o.max_connections = 16;
  auto store = OpenS3Store(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::vector<std::string> keys;
  for (int i = 0; i < 32; ++i) {
    keys.push_back("parallel/" + std::to_string(i));
    ASSERT_TRUE((*store)->Put(keys.back(), "object " + std::to_string(i)).ok());
  }
  // Each request now takes 100 ms at the "remote" end; 16 at a time must be in flight.
  proxy_->SetDelayMs(100);
  std::vector<Result<GetResult>> got = ParallelGet(store->get(), keys, 16);
  ASSERT_EQ(got.size(), keys.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status().ToString();
    EXPECT_EQ(got[i]->data, "object " + std::to_string(i));
  }
  EXPECT_GE(proxy_->peak_active(), 8) << "requests were not sent concurrently";
}

TEST_F(S3FaultTest, StartupStopsWithAMessageForAMissingBucketOrAnUnreachableEndpoint) {
  auto missing = std::make_unique<ServerProcess>(dir_.path() + "/unused", dir_.path(), "",
                                                 S3Env(endpoint_, "no-such-bucket-here"));
  server_logs_.push_back(missing->log_path());
  EXPECT_FALSE(missing->Start());
  EXPECT_NE(missing->Log().find("no-such-bucket-here"), std::string::npos) << missing->Log();
  EXPECT_NE(missing->Log().find("bucket"), std::string::npos);

  auto unreachable = std::make_unique<ServerProcess>(
      dir_.path() + "/unused", dir_.path(),
      "[storage]\nretry_max_attempts = 2\nretry_budget_ms = 500\nconnect_timeout_ms = 500\n",
      S3Env("http://127.0.0.1:1", bucket_));
  server_logs_.push_back(unreachable->log_path());
  EXPECT_FALSE(unreachable->Start());
  EXPECT_NE(unreachable->Log().find("127.0.0.1:1"), std::string::npos) << unreachable->Log();
}

TEST_F(S3FaultTest, TransientFaultsAreRetriedAndInvisibleToClients) {
  // Generous retries: ~20% of requests fail, some after S3 already applied them.
  auto server = NewServer(true,
                          "[storage]\nretry_max_attempts = 12\nretry_base_backoff_ms = 2\n"
                          "retry_max_backoff_ms = 50\nretry_budget_ms = 20000\n"
                          "[batching]\nwindow_ms = 2\n");
  ASSERT_TRUE(server->Start());
  proxy_->SetFaults(/*p_503=*/0.1, /*p_drop_before=*/0.05, /*p_drop_after=*/0.05);

  constexpr int kWriters = 4, kRequests = 25, kRows = 3;
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", server->port());
      c.set_read_timeout(60, 0);
      for (int r = 0; r < kRequests; ++r) {
        json body = {{"upsert_rows", Rows("w" + std::to_string(w) + "r" + std::to_string(r), kRows,
                                          w * 1000 + r)}};
        auto res = c.Post("/namespaces/faults", body.dump(), "application/json");
        if (res && res->status == 200) {
          ++ok;
        } else {
          ++failed;
          ADD_FAILURE() << "write failed: " << (res ? res->body : "no response");
        }
        // Strong reads go to S3 too (the freshness probe) and must ride out faults as well.
        auto md = c.Get("/namespaces/faults/metadata");
        if (!md || md->status != 200) {
          ++failed;
          ADD_FAILURE() << "metadata failed: " << (md ? md->body : "no response");
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kWriters * kRequests);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(proxy_->injected(), 15u) << "the proxy injected too few faults to mean anything";
  EXPECT_GT(proxy_->dropped_after(), 0u);
  proxy_->SetFaults(0, 0, 0);

  // A second server, straight to S3, sees every acknowledged row exactly as written.
  auto direct = NewServer(false, "");
  ASSERT_TRUE(direct->Start());
  auto values = AllValues(direct->port());
  EXPECT_EQ(values.size(), size_t{kWriters * kRequests * kRows});
  for (int w = 0; w < kWriters; ++w) {
    for (int r = 0; r < kRequests; ++r) {
      for (int i = 0; i < kRows; ++i) {
        std::string id =
            "w" + std::to_string(w) + "r" + std::to_string(r) + "-" + std::to_string(i);
        auto it = values.find(id);
        ASSERT_NE(it, values.end()) << id;
        EXPECT_EQ(it->second, w * 1000 + r);
      }
    }
  }
  std::cerr << "proxy: " << proxy_->requests() << " requests, " << proxy_->injected()
            << " faults injected (" << proxy_->dropped_after() << " after S3 applied them)\n";
}

// Slow and stalled storage: every request is delayed, and some are read by the "store" and
// never answered. The S3 client's request timeout turns a stall into a retry, so clients
// see only added latency; nothing acknowledged is lost.
TEST_F(S3FaultTest, StallsAndDelaysCostLatencyNotCorrectness) {
  auto server = NewServer(true,
                          "[storage]\nrequest_timeout_ms = 1000\nretry_max_attempts = 12\n"
                          "retry_base_backoff_ms = 2\nretry_max_backoff_ms = 50\n"
                          "retry_budget_ms = 30000\n[batching]\nwindow_ms = 2\n");
  ASSERT_TRUE(server->Start());
  proxy_->SetDelayMs(10);
  proxy_->SetFaults(/*p_503=*/0.05, /*p_drop_before=*/0.03, /*p_drop_after=*/0.03);
  proxy_->SetStalls(/*p_stall=*/0.1, /*stall_ms=*/3000);

  constexpr int kWriters = 3, kRequests = 12, kRows = 2;
  std::atomic<int> failed{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", server->port());
      c.set_read_timeout(120, 0);
      for (int r = 0; r < kRequests; ++r) {
        json body = {{"upsert_rows", Rows("s" + std::to_string(w) + "r" + std::to_string(r), kRows,
                                          w * 1000 + r)}};
        const auto start = std::chrono::steady_clock::now();
        auto res = c.Post("/namespaces/faults", body.dump(), "application/json");
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        if (!res || res->status != 200) {
          ++failed;
          ADD_FAILURE() << "write failed: " << (res ? res->body : "no response");
        }
        std::lock_guard<std::mutex> lock(mu);
        latencies_ms.push_back(ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(proxy_->stalled(), 0u) << "no stall was injected";
  proxy_->SetStalls(0, 0);
  proxy_->SetFaults(0, 0, 0);
  proxy_->SetDelayMs(0);

  auto direct = NewServer(false, "");
  ASSERT_TRUE(direct->Start());
  auto values = AllValues(direct->port());
  EXPECT_EQ(values.size(), size_t{kWriters * kRequests * kRows});
  for (int w = 0; w < kWriters; ++w) {
    for (int r = 0; r < kRequests; ++r) {
      const std::string id = "s" + std::to_string(w) + "r" + std::to_string(r) + "-0";
      auto it = values.find(id);
      ASSERT_NE(it, values.end()) << id;
      EXPECT_EQ(it->second, w * 1000 + r);
    }
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::cerr << "stalls: " << proxy_->stalled() << " of " << proxy_->requests()
            << " store requests (" << proxy_->injected() << " faults in all); write latency p50 "
            << latencies_ms[latencies_ms.size() / 2] << " ms, max " << latencies_ms.back()
            << " ms\n";
}

TEST_F(S3FaultTest, OutageGives503sAndLosesNothingAcknowledged) {
  auto server = NewServer(true,
                          "[storage]\nretry_max_attempts = 4\nretry_base_backoff_ms = 5\n"
                          "retry_max_backoff_ms = 50\nretry_budget_ms = 1000\n");
  ASSERT_TRUE(server->Start());
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(30, 0);
  auto post = [&](const std::string& prefix, int value) {
    return c.Post("/namespaces/faults", json{{"upsert_rows", Rows(prefix, 2, value)}}.dump(),
                  "application/json");
  };
  auto before = post("before", 1);
  ASSERT_TRUE(before);
  ASSERT_EQ(before->status, 200) << before->body;

  proxy_->SetOutage(true);
  for (int i = 0; i < 3; ++i) {
    auto res = post("during" + std::to_string(i), 2);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503) << res->body;
    EXPECT_EQ(json::parse(res->body)["status"], "error");
  }
  auto q = c.Post("/namespaces/faults/query", R"({"query_vector":[1,1]})", "application/json");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 503);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);  // the server itself stays up

  // Memory stays bounded during the outage: nothing refused is kept. 8 clients send writes of
  // about 100 KB and strong queries, all refused. After a first round (which sizes the
  // allocator's per-thread arenas), the rest must not add more than a fraction of what
  // keeping the refused bodies would cost.
  const std::string big = json{{"upsert_rows", Rows("big", 2000, 7)}}.dump();
  auto load = [&](int rounds) {
    std::vector<std::thread> clients;
    std::atomic<int> unexpected{0};
    for (int t = 0; t < 8; ++t) {
      clients.emplace_back([&] {
        httplib::Client client("127.0.0.1", server->port());
        client.set_read_timeout(30, 0);
        for (int i = 0; i < rounds; ++i) {
          auto w = client.Post("/namespaces/faults", big, "application/json");
          auto r = client.Post("/namespaces/faults/query", R"({"query_vector":[1,1]})",
                               "application/json");
          if (!w || w->status != 503 || !r || r->status != 503) ++unexpected;
        }
      });
    }
    for (auto& t : clients) t.join();
    return unexpected.load();
  };
  EXPECT_EQ(load(5), 0);
  const long rss_warm = ResidentKib(server->pid());
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 5;  // RSS is not checked under ASan (below): behaviour only
#else
  constexpr int kRounds = 40;
#endif
  EXPECT_EQ(load(kRounds), 0);
  const long rss_after = ResidentKib(server->pid());
  ASSERT_GT(rss_warm, 0);
  ASSERT_GT(rss_after, 0);
  const long kept_if_leaked_kib = static_cast<long>(big.size()) * 8 * kRounds / 1024;
  std::cerr << "outage: RSS " << rss_warm / 1024 << " MiB after the first round, "
            << rss_after / 1024 << " MiB after " << 8 * kRounds << " more refused writes of "
            << big.size() / 1024 << " KiB (keeping them would add " << kept_if_leaked_kib / 1024
            << " MiB)\n";
#if defined(__SANITIZE_ADDRESS__)
  // Under ASan the server keeps freed memory in quarantine (256 MB by default), so its RSS
  // says nothing about what it keeps: the bound is checked in the release build.
  (void)kept_if_leaked_kib;
#else
  EXPECT_LT(rss_after - rss_warm, kept_if_leaked_kib / 4);
#endif

  proxy_->SetOutage(false);
  auto after = post("after", 3);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->status, 200) << after->body;
  auto values = AllValues(server->port());
  EXPECT_EQ(values.count("before-0"), 1u);
  EXPECT_EQ(values.count("before-1"), 1u);
  EXPECT_EQ(values.count("after-0"), 1u);
  EXPECT_EQ(values.count("during0-0"), 0u);  // failed writes are not visible
  EXPECT_EQ(values.size(), 4u);
}

}  // namespace
}  // namespace vecpuff::testing
