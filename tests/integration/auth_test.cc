// The server's front door, end to end: API keys (401 before anything is read), body limits
// applied before parsing (413), backpressure (429 with Retry-After until compaction catches
// up), refusing a non-loopback address without keys, and graceful shutdown on SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "server_process.h"
#include "test_util.h"

namespace vecpuff::testing {
namespace {

using nlohmann::json;

constexpr const char* kKey = "vp-test-key-7f3a91c2";
constexpr const char* kOtherKey = "vp-test-key-other-55";

json Rows(const std::string& prefix, int n, int dims = 2) {
  json rows = json::array();
  for (int i = 0; i < n; ++i) {
    rows.push_back({{"id", prefix + "-" + std::to_string(i)},
                    {"vector", std::vector<float>(dims, 0.5f + i)},
                    {"n", i}});
  }
  return rows;
}

// Sends `request` (raw bytes) on a fresh loopback connection, half-closes nothing, and
// returns what the server answers before closing or before `timeout_s` passes.
std::string RawExchange(int port, const std::string& request, int timeout_s = 20) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    reply.append(buf, n);
    // One response is enough: stop once its headers and (short) body have arrived.
    if (reply.find("\r\n\r\n") != std::string::npos && reply.find("}") != std::string::npos) {
      break;
    }
  }
  close(fd);
  return reply;
}

class FrontDoorTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& log : logs_) {
        std::cerr << "---- server log " << log << " ----\n" << ReadWholeFile(log);
      }
    }
  }
  std::unique_ptr<ServerProcess> NewServer(const std::string& config,
                                           std::vector<std::string> env = {}) {
    auto s = std::make_unique<ServerProcess>(dir_.path() + "/store", dir_.path(), config,
                                             std::move(env));
    logs_.push_back(s->log_path());
    return s;
  }
  ScratchDir dir_;
  std::vector<std::string> logs_;
};

TEST_F(FrontDoorTest, ApiKeysAreRequiredOnEveryRouteButHealth) {
  // One key from the environment, one from a key file.
  const std::string key_file = dir_.path() + "/keys.txt";
  std::ofstream(key_file) << "# keys\n" << kOtherKey << "\n";
  auto server = NewServer("[auth]\napi_keys_file = \"" + key_file + "\"\n",
                          {std::string("VECPUFF_API_KEYS=") + kKey});
  ASSERT_TRUE(server->Start());
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(30, 0);

  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  const std::string write = json{{"upsert_rows", Rows("a", 3)}}.dump();
  struct Attempt {
    std::string name;
    httplib::Headers headers;
  };
  const std::vector<Attempt> refused = {
      {"no header", {}},
      {"wrong key", {{"Authorization", "Bearer not-the-key"}}},
      {"key prefix", {{"Authorization", std::string("Bearer ") + std::string(kKey).substr(0, 10)}}},
      {"other scheme", {{"Authorization", std::string("Basic ") + kKey}}},
      {"bare key", {{"Authorization", kKey}}},
  };
  for (const Attempt& a : refused) {
    SCOPED_TRACE(a.name);
    const std::vector<std::function<httplib::Result()>> requests = {
        [&] { return c.Get("/namespaces", a.headers); },
        [&] { return c.Get("/v1/namespaces", a.headers); },
        [&] { return c.Post("/namespaces/ns", a.headers, write, "application/json"); },
        [&] {
          return c.Post("/v2/namespaces/ns", a.headers, R"({"upsert_rows":[]})",
                        "application/json");
        },
        [&] {
          return c.Post("/v2/namespaces/ns/query", a.headers, R"({"rank_by":["id","asc"]})",
                        "application/json");
        },
        [&] { return c.Delete("/v2/namespaces/ns", a.headers); },
        [&] { return c.Get("/no/such/route", a.headers); },
    };
    for (const auto& request : requests) {
      httplib::Result res = request();
      ASSERT_TRUE(res);
      EXPECT_EQ(res->status, 401) << res->body;
      EXPECT_EQ(res->get_header_value("WWW-Authenticate"), "Bearer");
      json body = json::parse(res->body, nullptr, false);
      EXPECT_EQ(body["status"], "error");
      EXPECT_FALSE(body["error"].get<std::string>().empty());
    }
  }
  // Nothing was written by the refused requests.
  for (const char* key : {kKey, kOtherKey}) {
    httplib::Headers ok = {{"Authorization", std::string("Bearer ") + key}};
    auto list = c.Get("/namespaces", ok);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->status, 200) << list->body;
    EXPECT_EQ(json::parse(list->body)["namespaces"].size(), 0u) << list->body;
  }
  httplib::Headers ok = {{"Authorization", std::string("Bearer ") + kKey}};
  auto res = c.Post("/namespaces/ns", ok, write, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  res = c.Post("/v2/namespaces/ns/query", {{"Authorization", std::string("Bearer ") + kOtherKey}},
               R"({"rank_by":["id","asc"],"top_k":10})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["rows"].size(), 3u) << res->body;

  // The keys never reach the log; the log says keys are required.
  server->Stop();
  const std::string log = server->Log();
  EXPECT_EQ(log.find(kKey), std::string::npos);
  EXPECT_EQ(log.find(kOtherKey), std::string::npos);
  EXPECT_NE(log.find("API keys required: 2 key(s)"), std::string::npos) << log;
}

TEST_F(FrontDoorTest, WithoutKeysTheLogSaysLoopbackOnly) {
  auto server = NewServer("");
  ASSERT_TRUE(server->Start());
  httplib::Client c("127.0.0.1", server->port());
  auto res = c.Get("/namespaces");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  server->Stop();
  EXPECT_NE(server->Log().find("accepting anonymous requests on a loopback address only"),
            std::string::npos)
      << server->Log();
}

TEST_F(FrontDoorTest, ANonLoopbackAddressWithoutKeysStopsStartup) {
  // Validation fails before anything is bound, so no non-loopback socket is ever opened.
  const std::string log = dir_.path() + "/refused.log";
  const std::string cmd = std::string(VECPUFF_BINARY) + " --host 0.0.0.0 --port " +
                          std::to_string(FreeLoopbackPort()) + " --data-dir " + dir_.path() +
                          "/store > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  const std::string text = ReadWholeFile(log);
  EXPECT_NE(text.find("is not a loopback address and no API keys are configured"),
            std::string::npos)
      << text;
}

TEST_F(FrontDoorTest, BodyLimitsApplyBeforeTheBodyIsRead) {
  auto server = NewServer("[server]\nmax_body_bytes = 4096\nread_timeout_ms = 20000\n",
                          {std::string("VECPUFF_API_KEYS=") + kKey});
  ASSERT_TRUE(server->Start());
  const std::string auth = std::string("Authorization: Bearer ") + kKey + "\r\n";
  // A huge Content-Length and no body: the answer comes at once, not after the read timeout
  // (the body is never awaited), and the connection is closed.
  for (const std::string length : {"1000000000000", "99999999999999999999999999", "8193"}) {
    SCOPED_TRACE(length);
    const auto start = std::chrono::steady_clock::now();
    std::string reply =
        RawExchange(server->port(),
                    "POST /v2/namespaces/big HTTP/1.1\r\nHost: x\r\n" + auth +
                        "Content-Type: application/json\r\nContent-Length: " + length + "\r\n\r\n");
    EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
    EXPECT_NE(reply.find("max_body_bytes"), std::string::npos) << reply;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
  }
  // Without a key the same request is a 401: credentials are checked first.
  std::string reply = RawExchange(
      server->port(),
      "POST /v2/namespaces/big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 401", 0), 0u) << reply;
  // A chunked body is cut off once it passes the limit.
  std::string chunked = "POST /v2/namespaces/big HTTP/1.1\r\nHost: x\r\n" + auth +
                        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 10; ++i) chunked += "400\r\n" + std::string(1024, ' ') + "\r\n";
  chunked += "0\r\n\r\n";
  reply = RawExchange(server->port(), chunked);
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply;
  // Nothing was created, and the server still serves.
  httplib::Client c("127.0.0.1", server->port());
  auto list = c.Get("/v1/namespaces", {{"Authorization", std::string("Bearer ") + kKey}});
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(json::parse(list->body)["namespaces"].size(), 0u) << list->body;
}

TEST_F(FrontDoorTest, BackpressureGives429WithRetryAfterUntilIndexingCatchesUp) {
  // Any backlog triggers indexing, but the compactor only looks every 2 s, so a burst of
  // writes outruns it: the backlog limit (20 KB) is crossed between two passes.
  auto server = NewServer(
      "[batching]\nwindow_ms = 0\n"
      "[indexing]\nunindexed_bytes_trigger = 1\nmax_unindexed_bytes = 20000\n"
      "[compactor]\ninterval_ms = 2000\n");
  ASSERT_TRUE(server->Start());
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(30, 0);
  std::set<std::string> acked, refused;
  std::string retry_after, throttled_body;
  for (int i = 0; i < 200 && throttled_body.empty(); ++i) {
    const std::string prefix = "b" + std::to_string(i);
    auto res = c.Post("/v2/namespaces/bp", json{{"upsert_rows", Rows(prefix, 20, 64)}}.dump(),
                      "application/json");
    ASSERT_TRUE(res);
    if (res->status == 200) {
      acked.insert(prefix);
    } else {
      ASSERT_EQ(res->status, 429) << res->body;
      refused.insert(prefix);
      retry_after = res->get_header_value("Retry-After");
      throttled_body = res->body;
    }
  }
  ASSERT_FALSE(throttled_body.empty()) << "200 writes never crossed the backlog limit";
  EXPECT_EQ(retry_after, "2");
  json body = json::parse(throttled_body);
  EXPECT_EQ(body["status"], "error");
  EXPECT_NE(body["error"].get<std::string>().find("unindexed bytes"), std::string::npos);

  // Once the compactor indexes the backlog, writes are accepted again.
  bool recovered = false;
  for (int i = 0; i < 300 && !recovered; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::string prefix = "r" + std::to_string(i);
    auto res = c.Post("/v2/namespaces/bp", json{{"upsert_rows", Rows(prefix, 1, 64)}}.dump(),
                      "application/json");
    ASSERT_TRUE(res);
    if (res->status == 200) {
      recovered = true;
      acked.insert(prefix);
    } else {
      ASSERT_EQ(res->status, 429) << res->body;
      refused.insert(prefix);
    }
  }
  ASSERT_TRUE(recovered) << "writes were still refused 30 s later";
  // Acknowledged writes are all there; refused ones left nothing.
  auto q = c.Post("/v2/namespaces/bp/query", R"({"rank_by":["id","asc"],"top_k":10000})",
                  "application/json");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->status, 200) << q->body;
  std::set<std::string> seen;
  const json result = json::parse(q->body);
  for (const json& row : result["rows"]) {
    std::string id = row["id"];
    seen.insert(id.substr(0, id.find('-')));
  }
  EXPECT_EQ(seen, acked) << q->body.substr(0, 2000);
}

TEST_F(FrontDoorTest, SigtermFinishesPendingBatchesThenExits) {
  // A long batch window: the writes below are all waiting in an open batch when SIGTERM
  // arrives, and must still be made durable and acknowledged before the process exits.
  auto server = NewServer("[batching]\nwindow_ms = 3000\n");
  ASSERT_TRUE(server->Start());
  const int port = server->port();
  constexpr int kWriters = 4;
  std::atomic<int> acked{0};
  std::vector<std::chrono::steady_clock::time_point> answered(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(60, 0);
      auto res =
          c.Post("/namespaces/term", json{{"upsert_rows", Rows("w" + std::to_string(w), 5)}}.dump(),
                 "application/json");
      answered[w] = std::chrono::steady_clock::now();
      if (res && res->status == 200) ++acked;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto term_sent = std::chrono::steady_clock::now();
  EXPECT_EQ(server->Stop(), 0);  // SIGTERM, then wait for the exit
  for (auto& t : writers) t.join();
  EXPECT_EQ(acked.load(), kWriters);
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_GT(answered[w], term_sent) << "writer " << w << " was answered before SIGTERM";
  }
  // Stopped: nothing listens any more.
  httplib::Client probe("127.0.0.1", port);
  EXPECT_FALSE(probe.Get("/health"));

  auto restarted = NewServer("");
  ASSERT_TRUE(restarted->Start());
  httplib::Client c("127.0.0.1", restarted->port());
  auto md = c.Get("/namespaces/term/metadata");
  ASSERT_TRUE(md);
  ASSERT_EQ(md->status, 200) << md->body;
  EXPECT_EQ(json::parse(md->body)["approx_row_count"], kWriters * 5);
}

}  // namespace
}  // namespace vecpuff::testing
