// The hostile-input catalogue: the real vecpuff binary, with small limits, against a
// table of malformed requests to both APIs (the original one and turbopuffer's v2). Every
// case must be answered with the right 4xx and a JSON error body, must leave the store
// (every object: name, size, contents) and the namespaces' contents unchanged, and must
// leave the server answering /health. Also: bodies larger than max_body_bytes are refused
// before they are read, and connections that send nothing (or dribble) are closed after
// read_timeout_ms while other clients are served.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "server_process.h"
#include "test_util.h"

namespace vecpuff::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Limits small enough that the catalogue can exceed each of them cheaply. The compactor is
// off so that nothing but requests changes the store. threads is kWorkers (see the
// slow-connection test).
constexpr int kWorkers = 8;
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr size_t kMaxIdBytes = 16;
constexpr int kMaxTopK = 100;
constexpr int kMaxRows = 50;

std::string Config(const std::string& cache_dir) {
  return "[server]\nthreads = " + std::to_string(kWorkers) +
         "\nread_timeout_ms = 1000\nwrite_timeout_ms = 5000\nidle_timeout_ms = 1000\n"
         "max_body_bytes = " +
         std::to_string(kMaxBodyBytes) +
         "\n[limits]\nmax_id_bytes = " + std::to_string(kMaxIdBytes) +
         "\nmax_dimensions = 64\nmax_attribute_bytes = 1024\nmax_document_bytes = 4096\n"
         "max_rows_per_request = " +
         std::to_string(kMaxRows) + "\nmax_top_k = " + std::to_string(kMaxTopK) +
         "\n[compactor]\nenabled = false\n[cache]\npath = \"" + cache_dir +
         "\"\nsize_bytes = 0\nmemory_bytes = 0\n";
}

// ---- A raw HTTP/1.1 client: the requests here are often not ones a client library sends.

struct RawReply {
  bool answered = false;  // a status line arrived
  bool closed = false;    // the server closed the connection (EOF or reset)
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
};

// A TCP connection to 127.0.0.1:port with `timeout_s` on every send and receive; -1 on
// failure.
int Connect(int port, int timeout_s = 30) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one response from `fd`: the status line, headers and a Content-Length body, or
// everything up to EOF when there is no Content-Length. Stops at the receive timeout.
RawReply ReadReply(int fd) {
  RawReply r;
  std::string in;
  char buf[16384];
  size_t header_end = std::string::npos;
  std::optional<size_t> length;
  while (true) {
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::istringstream lines(in.substr(0, header_end));
        std::string line;
        std::getline(lines, line);
        if (line.rfind("HTTP/1.", 0) == 0 && line.size() >= 12) {
          r.answered = true;
          r.status = std::atoi(line.c_str() + 9);
        }
        while (std::getline(lines, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          size_t colon = line.find(':');
          if (colon == std::string::npos) continue;
          std::string name = line.substr(0, colon);
          for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t v = line.find_first_not_of(' ', colon + 1);
          r.headers[name] = v == std::string::npos ? "" : line.substr(v);
        }
        if (r.headers.count("content-length")) {
          length = std::strtoull(r.headers["content-length"].c_str(), nullptr, 10);
        }
      }
    }
    if (header_end != std::string::npos && length && in.size() >= header_end + 4 + *length) {
      r.body = in.substr(header_end + 4, *length);
      return r;
    }
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      // 0: EOF; < 0: reset or the receive timeout (EAGAIN), which is not a close.
      r.closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      if (header_end != std::string::npos) r.body = in.substr(header_end + 4);
      return r;
    }
    in.append(buf, static_cast<size_t>(n));
  }
}

// The bytes of a request. `content_length` overrides the true length (nullopt: the body's
// size; "" leaves the header out).
std::string HttpRequest(const std::string& method, const std::string& target,
                        const std::string& body,
                        const std::optional<std::string>& content_length = std::nullopt,
                        const std::string& extra_headers = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  req += "Content-Type: application/json\r\nConnection: close\r\n";
  const std::string length = content_length ? *content_length : std::to_string(body.size());
  if (!length.empty()) req += "Content-Length: " + length + "\r\n";
  req += extra_headers;
  req += "\r\n";
  req += body;
  return req;
}

// Sends `request` on a new connection and reads the response; with `half_close`, shuts
// down the sending side first (the client is done, whatever Content-Length promised).
RawReply Exchange(int port, const std::string& request, bool half_close = false) {
  int fd = Connect(port);
  if (fd < 0) return {};
  // The server may answer (413) and close before it has read everything, so a failed send
  // is not the end: the response may be waiting.
  const bool sent = SendAll(fd, request);
  if (sent && half_close) shutdown(fd, SHUT_WR);
  RawReply r = ReadReply(fd);
  close(fd);
  return r;
}

RawReply Call(int port, const std::string& method, const std::string& target,
              const std::string& body = "") {
  return Exchange(port, HttpRequest(method, target, body,
                                    method == "GET" ? std::optional<std::string>("")
                                                    : std::optional<std::string>()));
}

// ---- The catalogue.

enum class Api { kOriginal, kTpuf };

// Case::status for a request the server cannot answer because the client has gone: the
// server closes the connection without a response (and applies nothing).
constexpr int kClosed = 0;

struct Case {
  std::string name;
  std::string method;
  std::string target;
  std::string body;
  int status;
  std::string needle;  // a substring of the error message ("" for any)
  // Raw control of the framing: Content-Length header value (nullopt: the body's length;
  // "": none), extra header lines, and whether the client half-closes after sending.
  std::optional<std::string> content_length = std::nullopt;
  std::string extra_headers = "";
  bool half_close = false;
};

std::string Nest(char open, size_t depth) { return std::string(depth, open); }

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/store", dir_.path(),
                                              Config(dir_.path() + "/cache"));
    ASSERT_TRUE(server_->Start()) << server_->Log();
    port_ = server_->port();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << server_->Log();
  }

  // Two namespaces with known documents: "orig" through the original API (string ids,
  // cosine, 3 dimensions) and "tp" through the v2 API (integer ids, euclidean, 3
  // dimensions, a declared regex-enabled string attribute).
  void Seed() {
    RawReply w = Call(port_, "POST", "/namespaces/orig", R"({"upsert_rows": [
        {"id": "o1", "vector": [1, 0, 0], "text": "first", "n": 1},
        {"id": "o2", "vector": [0, 1, 0], "text": "second", "n": 2},
        {"id": "o3", "vector": [0, 0, 1], "tags": ["a", "b"]}]})");
    ASSERT_EQ(w.status, 200) << w.body;
    RawReply t = Call(port_, "POST", "/v2/namespaces/tp", R"({
        "distance_metric": "euclidean_squared",
        "schema": {"color": {"type": "string", "regex": true}},
        "upsert_rows": [
          {"id": 1, "vector": [1, 0, 0], "color": "red", "n": 10},
          {"id": 2, "vector": [0, 1, 0], "color": "blue", "n": 20},
          {"id": 3, "vector": [0, 0, 1], "color": "red", "n": 30}]})");
    ASSERT_EQ(t.status, 200) << t.body;
    json state = State();
    ASSERT_EQ(state["orig"]["results"].size(), 3u) << state.dump();
    ASSERT_EQ(state["tp"]["rows"].size(), 3u) << state.dump();
  }

  // Every object of the local store: relative path -> "size:hash of contents".
  std::map<std::string, std::string> StoreSnapshot() const {
    namespace fs = std::filesystem;
    std::map<std::string, std::string> snapshot;
    const fs::path root = dir_.path() + "/store";
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const std::string contents = ReadWholeFile(entry.path().string());
      snapshot[fs::relative(entry.path(), root).string()] =
          std::to_string(contents.size()) + ":" +
          std::to_string(std::hash<std::string>{}(contents));
    }
    return snapshot;
  }

  // What the server says is stored: both namespaces' documents (every attribute and
  // vector), their metadata, tp's schema and the namespace lists of both APIs.
  json State() {
    auto get = [&](const std::string& method, const std::string& target,
                   const std::string& body = "") -> json {
      RawReply r = Call(port_, method, target, body);
      json j = json::parse(r.body, nullptr, false);
      return {{"status", r.status}, {"body", j}};
    };
    json s;
    json orig = get("POST", "/namespaces/orig/query",
                    R"({"query_vector": [1, 1, 1], "top_k": 100, "exact": true})");
    s["orig"] = orig["body"];
    json tp = get("POST", "/v2/namespaces/tp/query",
                  R"({"rank_by": ["id", "asc"], "top_k": 100, "include_attributes": true})");
    s["tp"] = {{"status", tp["status"]}, {"rows", tp["body"].value("rows", json())}};
    s["orig_metadata"] = get("GET", "/namespaces/orig/metadata");
    s["tp_metadata"] = get("GET", "/v2/namespaces/tp/metadata");
    s["tp_schema"] = get("GET", "/v1/namespaces/tp/schema");
    s["list"] = get("GET", "/namespaces");
    s["v1_list"] = get("GET", "/v1/namespaces");
    return s;
  }

  // Sends `c` and checks the reply, the health of the server and that nothing changed.
  void Check(const Case& c, const std::map<std::string, std::string>& store_before,
             const json& state_before) {
    SCOPED_TRACE("case " + c.name + ": " + c.method + " " + c.target.substr(0, 200));
    RawReply r =
        Exchange(port_, HttpRequest(c.method, c.target, c.body, c.content_length, c.extra_headers),
                 c.half_close);
    if (c.status == kClosed) {
      EXPECT_FALSE(r.answered) << r.status << " " << r.body.substr(0, 500);
      EXPECT_TRUE(r.closed) << "the connection was not closed";
    } else {
      CheckErrorReply(c, r);
    }
    RawReply health = Call(port_, "GET", "/health");
    ASSERT_EQ(health.status, 200) << "server no longer healthy";
    EXPECT_EQ(health.body, "OK");
    EXPECT_EQ(StoreSnapshot(), store_before) << "the store changed";
    EXPECT_EQ(State(), state_before) << "the stored documents changed";
  }

  // A 4xx of the expected code with a JSON error body.
  static void CheckErrorReply(const Case& c, RawReply r) {
    ASSERT_TRUE(r.answered) << "no response";
    EXPECT_EQ(r.status, c.status) << r.body.substr(0, 500);
    EXPECT_EQ(r.headers["content-type"].rfind("application/json", 0), 0u)
        << "Content-Type: " << r.headers["content-type"];
    json body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << "body: " << r.body.substr(0, 500);
    EXPECT_EQ(body.value("status", ""), "error") << r.body.substr(0, 500);
    ASSERT_TRUE(body.contains("error") && body["error"].is_string()) << r.body.substr(0, 500);
    const std::string error = body["error"].get<std::string>();
    EXPECT_FALSE(error.empty());
    EXPECT_NE(error.find(c.needle), std::string::npos) << "error: " << error;
  }

  void RunCatalogue(const std::vector<Case>& cases) {
    ASSERT_NO_FATAL_FAILURE(Seed());
    const auto store = StoreSnapshot();
    const json state = State();
    ASSERT_FALSE(store.empty());
    RecordProperty("cases", static_cast<int>(cases.size()));
    std::set<std::string> names;
    for (const Case& c : cases) {
      EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
      Check(c, store, state);
    }
  }

  ScratchDir dir_;
  std::unique_ptr<ServerProcess> server_;
  int port_ = 0;
};

// Cases against the original API's write route (POST /namespaces/orig).
std::vector<Case> OriginalWriteCases() {
  const std::string w = "/namespaces/orig";
  auto row = [](const std::string& fields) { return R"({"upsert_rows": [{)" + fields + "}]}"; };
  const std::string vec = R"("vector": [1, 2, 3])";
  std::vector<Case> c = {
      {"empty_body", "POST", w, "", 400, "malformed JSON"},
      {"whitespace_body", "POST", w, " \r\n\t", 400, "malformed JSON"},
      {"truncated_json", "POST", w, R"({"upsert_rows": [{"id": "x", "vector": [1, 2)", 400,
       "malformed JSON"},
      {"truncated_in_string", "POST", w, R"({"deletes": ["o1)", 400, "malformed JSON"},
      {"truncated_after_colon", "POST", w, R"({"deletes":)", 400, "malformed JSON"},
      {"not_json", "POST", w, "hello world", 400, "malformed JSON"},
      {"xml", "POST", w, "<deletes><id>o1</id></deletes>", 400, "malformed JSON"},
      {"form_encoded", "POST", w, "deletes=o1", 400, "malformed JSON"},
      {"nul_bytes", "POST", w, std::string("{\"deletes\":[\"o1\"]}\0\0", 20), 400,
       "malformed JSON"},
      {"trailing_garbage", "POST", w, R"({"deletes": ["o1"]} x)", 400, "malformed JSON"},
      {"two_objects", "POST", w, R"({"deletes": ["o1"]}{"deletes": ["o2"]})", 400,
       "malformed JSON"},
      {"trailing_comma", "POST", w, R"({"deletes": ["o1",]})", 400, "malformed JSON"},
      {"single_quotes", "POST", w, R"({'deletes': ['o1']})", 400, "malformed JSON"},
      {"unquoted_key", "POST", w, R"({deletes: ["o1"]})", 400, "malformed JSON"},
      {"comment", "POST", w, "{/* c */\"deletes\": [\"o1\"]}", 400, "malformed JSON"},
      {"control_char_in_string", "POST", w, "{\"deletes\": [\"o\x01\"]}", 400, "malformed JSON"},
      {"bad_escape", "POST", w, R"({"deletes": ["o\x31"]})", 400, "malformed JSON"},
      {"lone_surrogate_escape", "POST", w, R"({"deletes": ["\ud800"]})", 400, "surrogate"},
      {"deep_arrays_100k", "POST", w, Nest('[', 100000), 400, "nested"},
      {"deep_objects_100k", "POST", w,
       [] {
         std::string s = R"({"upsert_rows": [{"id": "x", "vector": [1, 2, 3], "a": )";
         for (int i = 0; i < 100000; ++i) s += "{\"a\":";
         return s;
       }(),
       400, "nested"},
      {"deep_attribute", "POST", w,
       R"({"upsert_rows": [{"id": "x", "vector": [1, 2, 3], "a": )" + Nest('[', 100000), 400,
       "nested"},
      {"deep_attribute_65_levels", "POST", w,
       R"({"upsert_rows": [{"id": "x", "vector": [1, 2, 3], "a": )" + Nest('[', 62) +
           std::string(62, ']') + "}]}",
       400, "nested"},
      {"top_level_array", "POST", w, R"([{"deletes": ["o1"]}])", 400, "expected an object"},
      {"top_level_string", "POST", w, R"("deletes")", 400, "expected an object"},
      {"top_level_number", "POST", w, "42", 400, "expected an object"},
      {"top_level_null", "POST", w, "null", 400, "expected an object"},
      {"empty_object", "POST", w, "{}", 400, "no upsert_rows"},
      {"unknown_field", "POST", w, R"({"upsert_row": []})", 400, "unknown field 'upsert_row'"},
      {"unknown_field_after_valid", "POST", w, R"({"deletes": ["o1"], "filters": null})", 400,
       "unknown field 'filters'"},
      {"distance_metric_number", "POST", w, R"({"distance_metric": 1, "deletes": ["o1"]})", 400,
       "distance_metric: expected a string"},
      {"distance_metric_unknown", "POST", w, R"({"distance_metric": "manhattan"})", 400,
       "distance_metric"},
      {"distance_metric_changed", "POST", w,
       R"({"distance_metric": "euclidean_squared", "deletes": ["o1"]})", 400, "cannot be changed"},
      {"upsert_rows_object", "POST", w, R"({"upsert_rows": {"id": "x"}})", 400,
       "upsert_rows: expected an array"},
      {"upsert_rows_string", "POST", w, R"({"upsert_rows": "x"})", 400, "upsert_rows"},
      {"upsert_rows_true", "POST", w, R"({"upsert_rows": true})", 400, "upsert_rows"},
      {"upsert_row_number", "POST", w, R"({"upsert_rows": [1]})", 400,
       "upsert_rows[0]: expected an object"},
      {"upsert_row_null", "POST", w, R"({"upsert_rows": [null]})", 400, "upsert_rows[0]"},
      {"patch_rows_number", "POST", w, R"({"patch_rows": 7})", 400, "patch_rows"},
      {"patch_row_array", "POST", w, R"({"patch_rows": [["o1"]]})", 400, "patch_rows[0]"},
      {"deletes_string", "POST", w, R"({"deletes": "o1"})", 400, "deletes"},
      {"deletes_object", "POST", w, R"({"deletes": {"o1": true}})", 400, "deletes"},
      {"deletes_number_id", "POST", w, R"({"deletes": [1]})", 400, "deletes[0]: expected a string"},
      {"deletes_null_id", "POST", w, R"({"deletes": ["o1", null]})", 400, "deletes[1]"},
      {"deletes_empty_id", "POST", w, R"({"deletes": [""]})", 400, "empty"},
      {"deletes_giant_id", "POST", w,
       R"({"deletes": [")" + std::string(kMaxIdBytes + 1, 'd') + R"("]})", 400, "limit"},
      {"deletes_invalid_utf8", "POST", w, "{\"deletes\": [\"\xff\"]}", 400, "UTF-8"},
      {"id_number", "POST", w, row(R"("id": 5, )" + vec), 400, "upsert_rows[0].id"},
      {"id_null", "POST", w, row(R"("id": null, )" + vec), 400, "upsert_rows[0].id"},
      {"id_object", "POST", w, row(R"("id": {"a": 1}, )" + vec), 400, "upsert_rows[0].id"},
      {"id_array", "POST", w, row(R"("id": ["o9"], )" + vec), 400, "upsert_rows[0].id"},
      {"id_missing", "POST", w, row(vec), 400, "upsert_rows[0].id: missing"},
      {"id_empty", "POST", w, row(R"("id": "", )" + vec), 400, "empty"},
      {"id_giant", "POST", w, row(R"("id": ")" + std::string(kMaxIdBytes + 1, 'g') + "\", " + vec),
       400, "limit"},
      {"id_megabyte", "POST", w, row(R"("id": ")" + std::string(900000, 'g') + "\", " + vec), 400,
       "limit"},
      {"id_invalid_utf8", "POST", w, row("\"id\": \"a\xc3\x28\", " + vec), 400, "UTF-8"},
      {"id_overlong_utf8", "POST", w, row("\"id\": \"\xc0\xaf\", " + vec), 400, "UTF-8"},
      {"id_utf8_surrogate", "POST", w, row("\"id\": \"\xed\xa0\x80\", " + vec), 400, "UTF-8"},
      {"id_beyond_unicode", "POST", w, row("\"id\": \"\xf4\x90\x80\x80\", " + vec), 400, "UTF-8"},
      {"attribute_value_invalid_utf8", "POST", w, row("\"id\": \"o9\", \"s\": \"\xfe\", " + vec),
       400, "UTF-8"},
      {"attribute_name_invalid_utf8", "POST", w, row("\"id\": \"o9\", \"\x80\": 1, " + vec), 400,
       "UTF-8"},
      {"attribute_name_empty", "POST", w, row(R"("id": "o9", "": 1, )" + vec), 400,
       "attribute names"},
      {"attribute_name_too_long", "POST", w,
       row(R"("id": "o9", ")" + std::string(129, 'a') + "\": 1, " + vec), 400, "attribute names"},
      {"attribute_too_big", "POST", w,
       row(R"("id": "o9", "s": ")" + std::string(2000, 's') + "\", " + vec), 400, "upsert_rows[0]"},
      {"attribute_huge_number", "POST", w, row(R"("id": "o9", "x": 1e400, )" + vec), 400,
       "range of a double"},
      {"attribute_huge_negative", "POST", w, row(R"("id": "o9", "x": -1e400, )" + vec), 400,
       "range of a double"},
      {"attribute_nan", "POST", w, row(R"("id": "o9", "x": NaN, )" + vec), 400, "malformed JSON"},
      {"dist_attribute", "POST", w, row(R"("id": "o9", "dist": 1, )" + vec), 400, "reserved"},
      {"vector_missing", "POST", w, row(R"("id": "o9")"), 400, "upsert_rows[0].vector: missing"},
      {"vector_string", "POST", w, row(R"("id": "o9", "vector": "AACAPw==")"), 400,
       "upsert_rows[0].vector: expected an array of numbers"},
      {"vector_null", "POST", w, row(R"("id": "o9", "vector": null)"), 400,
       "upsert_rows[0].vector"},
      {"vector_object", "POST", w, row(R"("id": "o9", "vector": {"0": 1})"), 400,
       "upsert_rows[0].vector"},
      {"vector_string_element", "POST", w, row(R"("id": "o9", "vector": [1, "2", 3])"), 400,
       "upsert_rows[0].vector[1]: expected a number, got a string"},
      {"vector_null_element", "POST", w, row(R"("id": "o9", "vector": [1, null, 3])"), 400,
       "upsert_rows[0].vector[1]"},
      {"vector_nested", "POST", w, row(R"("id": "o9", "vector": [[1], [2], [3]])"), 400,
       "upsert_rows[0].vector[0]"},
      {"vector_nan_literal", "POST", w, row(R"("id": "o9", "vector": [NaN, 0, 0])"), 400,
       "malformed JSON"},
      {"vector_infinity_literal", "POST", w, row(R"("id": "o9", "vector": [0, Infinity, 0])"), 400,
       "malformed JSON"},
      {"vector_negative_infinity", "POST", w, row(R"("id": "o9", "vector": [0, 0, -Infinity])"),
       400, "malformed JSON"},
      {"vector_nan_string", "POST", w, row(R"("id": "o9", "vector": ["NaN", 0, 0])"), 400,
       "upsert_rows[0].vector[0]"},
      {"vector_1e400", "POST", w, row(R"("id": "o9", "vector": [1e400, 0, 0])"), 400,
       "range of a double"},
      {"vector_float_overflow", "POST", w, row(R"("id": "o9", "vector": [0, 1e39, 0])"), 400,
       "upsert_rows[0].vector[1]: not a finite 32-bit float"},
      {"vector_2_pow_128", "POST", w,
       row(R"("id": "o9", "vector": [0, 0, 340282366920938463463374607431768211456])"), 400,
       "upsert_rows[0].vector[2]"},
      {"vector_too_short", "POST", w, row(R"("id": "o9", "vector": [1, 2])"), 400,
       "expected 3 dimensions, got 2"},
      {"vector_too_long", "POST", w, row(R"("id": "o9", "vector": [1, 2, 3, 4])"), 400,
       "expected 3 dimensions, got 4"},
      {"vector_empty", "POST", w, row(R"("id": "o9", "vector": [])"), 400, "upsert_rows[0].vector"},
      {"vector_over_max_dimensions", "POST", "/namespaces/fresh",
       row(R"("id": "o9", "vector": [)" +
           [] {
             std::string s = "0";
             for (int i = 1; i < 65; ++i) s += ",0";
             return s;
           }() +
           "]"),
       400, "upsert_rows[0].vector"},
      {"vector_dims_differ_in_one_request", "POST", "/namespaces/fresh",
       R"({"upsert_rows": [{"id": "a", "vector": [1, 2]}, {"id": "b", "vector": [1, 2, 3]}]})", 400,
       "upsert_rows[1].vector"},
      {"patch_with_vector", "POST", w, R"({"patch_rows": [{"id": "o1", "vector": [1, 2, 3]}]})",
       400, "patch cannot change the vector"},
      {"patch_without_id", "POST", w, R"({"patch_rows": [{"n": 5}]})", 400,
       "patch_rows[0].id: missing"},
      // Atomicity: valid rows before the bad one must not be stored either.
      {"valid_rows_then_bad_row", "POST", w,
       R"({"upsert_rows": [{"id": "o9", "vector": [1, 1, 1]}, {"id": "o1", "vector": [9, 9, 9], "n": 99},
           {"id": "o8", "vector": [1, 1]}], "deletes": ["o2"]})",
       400, "upsert_rows[2].vector"},
      {"valid_upsert_then_bad_delete", "POST", w,
       R"({"upsert_rows": [{"id": "o9", "vector": [1, 1, 1]}], "patch_rows": [{"id": "o1", "n": 5}],
           "deletes": ["o2", ""]})",
       400, "deletes[1]"},
      {"duplicate_key_last_bad", "POST", w, R"({"deletes": ["o1"], "deletes": [1]})", 400,
       "deletes[0]"},
      {"duplicate_vector_key_last_bad", "POST", w,
       R"({"upsert_rows": [{"id": "o9", "vector": [1, 2, 3], "vector": [1, 2]}]})", 400,
       "expected 3 dimensions, got 2"},
      {"too_many_rows", "POST", w,
       [] {
         std::string s = R"({"deletes": [)";
         for (int i = 0; i <= kMaxRows; ++i) s += (i ? ",\"d" : "\"d") + std::to_string(i) + "\"";
         return s + "]}";
       }(),
       400, "rows"},
  };
  return c;
}

std::vector<Case> OriginalQueryCases() {
  const std::string q = "/namespaces/orig/query";
  auto with = [](const std::string& fields) {
    return R"({"query_vector": [1, 0, 0], )" + fields + "}";
  };
  return {
      {"query_empty_body", "POST", q, "", 400, "malformed JSON"},
      {"query_truncated", "POST", q, R"({"query_vector": [1, 0,)", 400, "malformed JSON"},
      {"query_not_json", "POST", q, "query_vector=1,0,0", 400, "malformed JSON"},
      {"query_deep", "POST", q, Nest('[', 100000), 400, "nested"},
      {"query_top_level_array", "POST", q, "[1, 0, 0]", 400, "expected an object"},
      {"query_empty_object", "POST", q, "{}", 400, "query_vector: missing"},
      {"query_vector_null", "POST", q, R"({"query_vector": null})", 400, "query_vector"},
      {"query_vector_string", "POST", q, R"({"query_vector": "1,0,0"})", 400,
       "query_vector: expected an array of numbers"},
      {"query_vector_empty", "POST", q, R"({"query_vector": []})", 400, "query_vector"},
      {"query_vector_wrong_dims", "POST", q, R"({"query_vector": [1, 0]})", 400,
       "query_vector: expected 3 dimensions, got 2"},
      {"query_vector_nan", "POST", q, R"({"query_vector": [NaN, 0, 0]})", 400, "malformed JSON"},
      {"query_vector_infinity", "POST", q, R"({"query_vector": [Infinity, 0, 0]})", 400,
       "malformed JSON"},
      {"query_vector_1e400", "POST", q, R"({"query_vector": [1e400, 0, 0]})", 400,
       "range of a double"},
      {"query_vector_float_overflow", "POST", q, R"({"query_vector": [-1e39, 0, 0]})", 400,
       "query_vector[0]"},
      {"query_vector_bool_element", "POST", q, R"({"query_vector": [true, 0, 0]})", 400,
       "query_vector[0]"},
      {"top_k_string", "POST", q, with(R"("top_k": "10")"), 400, "top_k: expected an integer"},
      {"top_k_bool", "POST", q, with(R"("top_k": true)"), 400, "top_k"},
      {"top_k_fraction", "POST", q, with(R"("top_k": 1.5)"), 400, "top_k"},
      {"top_k_exponent", "POST", q, with(R"("top_k": 1e1)"), 400, "top_k"},
      {"top_k_negative", "POST", q, with(R"("top_k": -1)"), 400, "top_k"},
      {"top_k_zero", "POST", q, with(R"("top_k": 0)"), 400, "top_k"},
      {"top_k_negative_zero", "POST", q, with(R"("top_k": -0)"), 400, "top_k"},
      {"top_k_over_max", "POST", q, with(R"("top_k": )" + std::to_string(kMaxTopK + 1)), 400,
       "top_k"},
      {"top_k_2_pow_63", "POST", q, with(R"("top_k": 9223372036854775808)"), 400, "top_k"},
      {"top_k_2_pow_64", "POST", q, with(R"("top_k": 18446744073709551616)"), 400, "top_k"},
      {"top_k_1e400", "POST", q, with(R"("top_k": 1e400)"), 400, "range of a double"},
      {"top_k_min_int64", "POST", q, with(R"("top_k": -9223372036854775809)"), 400, "top_k"},
      {"probes_negative", "POST", q, with(R"("probes": -1)"), 400, "probes"},
      {"probes_too_many", "POST", q, with(R"("probes": 1000001)"), 400, "probes"},
      {"probes_fraction", "POST", q, with(R"("probes": 0.5)"), 400, "probes"},
      {"include_vectors_string", "POST", q, with(R"("include_vectors": "true")"), 400,
       "include_vectors: expected a boolean"},
      {"include_attributes_list", "POST", q, with(R"("include_attributes": ["text"])"), 400,
       "include_attributes: expected a boolean"},
      {"include_attributes_number", "POST", q, with(R"("include_attributes": 1)"), 400,
       "include_attributes"},
      {"exact_string", "POST", q, with(R"("exact": "yes")"), 400, "exact"},
      {"consistency_string", "POST", q, with(R"("consistency": "strong")"), 400, "consistency"},
      {"consistency_bad_level", "POST", q, with(R"("consistency": {"level": "weak"})"), 400,
       "consistency.level"},
      {"consistency_level_number", "POST", q, with(R"("consistency": {"level": 1})"), 400,
       "consistency.level"},
      {"consistency_unknown_member", "POST", q, with(R"("consistency": {"lvl": "strong"})"), 400,
       "consistency"},
      {"consistency_empty", "POST", q, with(R"("consistency": {})"), 400, "consistency.level"},
      {"query_unknown_field", "POST", q, with(R"("filters": ["text", "Eq", "first"])"), 400,
       "unknown field 'filters'"},
      {"query_duplicate_key_last_bad", "POST", q,
       R"({"query_vector": [1, 0, 0], "query_vector": [1, 0]})", 400, "expected 3 dimensions"},
      {"query_missing_namespace", "POST", "/namespaces/nope/query",
       R"({"query_vector": [1, 0, 0]})", 404, "not found"},
      {"metadata_missing_namespace", "GET", "/namespaces/nope/metadata", "", 404, "not found"},
      {"delete_missing_namespace", "DELETE", "/namespaces/nope", "", 404, "not found"},
  };
}

// Namespace names through every route that takes one. The body is valid, so only the
// name can be at fault.
std::vector<Case> NamespaceNameCases() {
  const std::string write = R"({"upsert_rows": [{"id": "z", "vector": [1, 2, 3]}]})";
  const std::string tpuf_write = R"({"upsert_rows": [{"id": 9, "vector": [1, 2, 3]}]})";
  const std::string query = R"({"query_vector": [1, 2, 3]})";
  const std::string schema = R"({"x": "string"})";
  struct Name {
    std::string label, segment;
    int status;
    std::string needle;
  };
  const std::vector<Name> names = {
      {"dotdot", "..", 400, "namespace name"},
      {"dot", ".", 400, "namespace name"},
      {"encoded_dotdot", "%2E%2E", 400, "namespace name"},
      // httplib decodes the path before routing: an encoded '/' splits the name, and no
      // route has that shape.
      {"encoded_slash", "a%2Fb", 404, "no such route"},
      {"encoded_dotdot_slash", "..%2Fstore", 404, "no such route"},
      {"encoded_nul", "%00", 400, "namespace name"},
      {"nul_inside", "a%00b", 400, "namespace name"},
      {"invalid_utf8", "a%FFb", 400, "namespace name"},
      {"utf8_letter", "%C3%A9", 400, "namespace name"},
      {"space", "a%20b", 400, "namespace name"},
      {"backslash", "a%5Cb", 400, "namespace name"},
      {"too_long", std::string(129, 'n'), 400, "namespace name"},
      {"very_long", std::string(4000, 'n'), 400, "namespace name"},
  };
  std::vector<Case> c;
  for (const Name& n : names) {
    c.push_back({"ns_" + n.label + "_write", "POST", "/namespaces/" + n.segment, write, n.status,
                 n.needle});
    c.push_back({"ns_" + n.label + "_query", "POST", "/namespaces/" + n.segment + "/query", query,
                 n.status, n.needle});
    c.push_back({"ns_" + n.label + "_metadata", "GET", "/namespaces/" + n.segment + "/metadata", "",
                 n.status, n.needle});
    c.push_back({"ns_" + n.label + "_delete", "DELETE", "/namespaces/" + n.segment, "", n.status,
                 n.needle});
    c.push_back({"ns_" + n.label + "_v2_write", "POST", "/v2/namespaces/" + n.segment, tpuf_write,
                 n.status, n.needle});
    c.push_back({"ns_" + n.label + "_v2_query", "POST", "/v2/namespaces/" + n.segment + "/query",
                 R"({"rank_by": ["vector", "ANN", [1, 2, 3]]})", n.status, n.needle});
    c.push_back({"ns_" + n.label + "_v2_delete", "DELETE", "/v2/namespaces/" + n.segment, "",
                 n.status, n.needle});
    c.push_back({"ns_" + n.label + "_schema_update", "POST",
                 "/v1/namespaces/" + n.segment + "/schema", schema, n.status, n.needle});
    c.push_back({"ns_" + n.label + "_schema", "GET", "/v1/namespaces/" + n.segment + "/schema", "",
                 n.status, n.needle});
  }
  // A literal '/' splits the name: no route has that shape.
  c.push_back({"ns_slash_write", "POST", "/namespaces/a/b", write, 404, "no such route"});
  c.push_back(
      {"ns_slash_v2_write", "POST", "/v2/namespaces/a/b", tpuf_write, 404, "no such route"});
  c.push_back({"ns_traversal_write", "POST", "/namespaces/../orig", write, 404, ""});
  c.push_back({"ns_empty_write", "POST", "/namespaces/", write, 404, "no such route"});
  c.push_back({"ns_empty_v2_delete", "DELETE", "/v2/namespaces/", "", 404, "no such route"});
  return c;
}

std::vector<Case> TpufWriteCases() {
  const std::string w = "/v2/namespaces/tp";
  auto row = [](const std::string& fields) { return R"({"upsert_rows": [{)" + fields + "}]}"; };
  const std::string vec = R"("vector": [1, 2, 3])";
  return {
      {"v2_empty_body", "POST", w, "", 400, "malformed JSON"},
      {"v2_truncated", "POST", w, R"({"upsert_rows": [{"id": 4, "vector": [1,)", 400,
       "malformed JSON"},
      {"v2_not_json", "POST", w, "upsert_rows", 400, "malformed JSON"},
      {"v2_deep_arrays", "POST", w, Nest('[', 100000), 400, "nested"},
      {"v2_deep_filter", "POST", w, R"({"delete_by_filter": )" + Nest('[', 100000), 400, "nested"},
      {"v2_top_level_array", "POST", w, "[]", 400, "request body"},
      {"v2_top_level_null", "POST", w, "null", 400, "request body"},
      {"v2_empty_object", "POST", w, "{}", 400, ""},
      {"v2_unknown_field", "POST", w, R"({"upsert_rowz": []})", 400, "upsert_rowz"},
      {"v2_upsert_rows_object", "POST", w, R"({"upsert_rows": {"id": 4}})", 400, "upsert_rows"},
      {"v2_upsert_rows_string", "POST", w, R"({"upsert_rows": "x"})", 400, "upsert_rows"},
      {"v2_upsert_row_number", "POST", w, R"({"upsert_rows": [4]})", 400, "upsert_rows[0]"},
      {"v2_patch_rows_number", "POST", w, R"({"patch_rows": 4})", 400, "patch_rows"},
      {"v2_deletes_object", "POST", w, R"({"deletes": {"id": 1}})", 400, "deletes"},
      {"v2_upsert_columns_array", "POST", w, R"({"upsert_columns": [1, 2]})", 400,
       "upsert_columns"},
      {"v2_upsert_columns_length_mismatch", "POST", w,
       R"({"upsert_columns": {"id": [4, 5], "vector": [[1, 2, 3]]}})", 400, "upsert_columns"},
      {"v2_upsert_columns_not_arrays", "POST", w,
       R"({"upsert_columns": {"id": 4, "vector": [1, 2, 3]}})", 400, "upsert_columns"},
      {"v2_distance_metric_number", "POST", w, R"({"distance_metric": 2, "deletes": [1]})", 400,
       "distance_metric"},
      {"v2_distance_metric_unknown", "POST", w, R"({"distance_metric": "dot", "deletes": [1]})",
       400, "distance_metric"},
      {"v2_distance_metric_changed", "POST", w,
       R"({"distance_metric": "cosine_distance", "deletes": [1]})", 400, "distance_metric"},
      {"v2_return_affected_ids_string", "POST", w,
       R"({"return_affected_ids": "yes", "deletes": [1]})", 400, "return_affected_ids"},
      {"v2_id_bool", "POST", w, row(R"("id": true, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_null", "POST", w, row(R"("id": null, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_fraction", "POST", w, row(R"("id": 1.5, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_negative", "POST", w, row(R"("id": -1, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_negative_zero_float", "POST", w, row(R"("id": -0.0, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_2_pow_64", "POST", w, row(R"("id": 18446744073709551616, )" + vec), 400,
       "upsert_rows[0]"},
      {"v2_id_1e400", "POST", w, row(R"("id": 1e400, )" + vec), 400, "range of a double"},
      {"v2_id_object", "POST", w, row(R"("id": {}, )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_array", "POST", w, row(R"("id": [4], )" + vec), 400, "upsert_rows[0]"},
      {"v2_id_missing", "POST", w, row(vec), 400, "upsert_rows[0]"},
      {"v2_id_empty_string", "POST", w, row(R"("id": "", )" + vec), 400, "empty"},
      {"v2_id_giant", "POST", w,
       row(R"("id": ")" + std::string(kMaxIdBytes + 1, 'g') + "\", " + vec), 400, "limit"},
      {"v2_id_invalid_utf8", "POST", w, row("\"id\": \"\xc3\", " + vec), 400, "UTF-8"},
      // The namespace's ids are integers; another id type is refused.
      {"v2_id_string_in_uint_namespace", "POST", w, row(R"("id": "four", )" + vec), 400, "id"},
      {"v2_id_uuid_in_uint_namespace", "POST", w,
       row(R"("id": "0b9a6c0e-5d1f-4c44-9a57-3e8f2f0b6a11", )" + vec), 400, "id"},
      {"v2_deletes_negative_id", "POST", w, R"({"deletes": [-5]})", 400, "deletes[0]"},
      {"v2_deletes_bool_id", "POST", w, R"({"deletes": [false]})", 400, "deletes[0]"},
      {"v2_deletes_giant_id", "POST", w,
       R"({"deletes": [")" + std::string(kMaxIdBytes + 1, 'g') + R"("]})", 400, "limit"},
      {"v2_vector_nan", "POST", w, row(R"("id": 4, "vector": [NaN, 0, 0])"), 400, "malformed JSON"},
      {"v2_vector_infinity", "POST", w, row(R"("id": 4, "vector": [0, -Infinity, 0])"), 400,
       "malformed JSON"},
      {"v2_vector_1e400", "POST", w, row(R"("id": 4, "vector": [0, 0, 1e400])"), 400,
       "range of a double"},
      {"v2_vector_float_overflow", "POST", w, row(R"("id": 4, "vector": [0, 0, 1e300])"), 400,
       "upsert_rows[0].vector[2]"},
      {"v2_vector_wrong_dims", "POST", w, row(R"("id": 4, "vector": [1, 2])"), 400, "dimensions"},
      {"v2_vector_empty", "POST", w, row(R"("id": 4, "vector": [])"), 400, "vector"},
      {"v2_vector_string_element", "POST", w, row(R"("id": 4, "vector": [1, "2", 3])"), 400,
       "upsert_rows[0].vector[1]"},
      {"v2_vector_object", "POST", w, row(R"("id": 4, "vector": {"a": 1})"), 400,
       "upsert_rows[0].vector"},
      {"v2_vector_missing", "POST", w, row(R"("id": 4, "color": "red")"), 400, "vector"},
      {"v2_vector_base64_invalid", "POST", w, row(R"("id": 4, "vector": "!!!!")"), 400,
       "upsert_rows[0].vector"},
      {"v2_vector_base64_wrong_length", "POST", w, row(R"("id": 4, "vector": "AACAPw==")"), 400,
       "upsert_rows[0].vector"},
      {"v2_vector_base64_nan", "POST", w, row(R"("id": 4, "vector": "AADAfwAAAAAAAAAA")"), 400,
       "upsert_rows[0].vector"},
      {"v2_attribute_type_mismatch", "POST", w, row(R"("id": 4, "color": 5, )" + vec), 400,
       "color"},
      {"v2_attribute_int_gets_string", "POST", w, row(R"("id": 4, "n": "ten", )" + vec), 400, "n"},
      {"v2_attribute_object_value", "POST", w, row(R"("id": 4, "o": {"a": 1}, )" + vec), 400,
       "upsert_rows[0]"},
      {"v2_attribute_mixed_array", "POST", w, row(R"("id": 4, "m": [1, "a"], )" + vec), 400,
       "upsert_rows[0]"},
      {"v2_attribute_dollar_name", "POST", w, row(R"("id": 4, "$dist": 1, )" + vec), 400,
       "upsert_rows[0]"},
      {"v2_attribute_name_invalid_utf8", "POST", w, row("\"id\": 4, \"\xe2\x82\": 1, " + vec), 400,
       "UTF-8"},
      {"v2_attribute_value_invalid_utf8", "POST", w,
       row("\"id\": 4, \"color\": \"\xf0\x28\x8c\x28\", " + vec), 400, "UTF-8"},
      {"v2_attribute_huge_number", "POST", w, row(R"("id": 4, "f": 1e400, )" + vec), 400,
       "range of a double"},
      {"v2_attribute_too_big", "POST", w,
       row(R"("id": 4, "color": ")" + std::string(2000, 'c') + "\", " + vec), 400,
       "upsert_rows[0]"},
      {"v2_schema_type_change", "POST", w,
       R"({"schema": {"color": "int"}, "upsert_rows": [{"id": 4, "vector": [1, 2, 3], "color": 1}]})",
       400, "color"},
      {"v2_schema_unknown_type", "POST", w,
       R"({"schema": {"z": "complex"}, "upsert_rows": [{"id": 4, "vector": [1, 2, 3]}]})", 400,
       "z"},
      {"v2_schema_empty_name", "POST", w,
       R"({"schema": {"": "string"}, "upsert_rows": [{"id": 4, "vector": [1, 2, 3]}]})", 400,
       "attribute names"},
      {"v2_schema_vector_dims_differ", "POST", w,
       R"({"schema": {"vector": {"type": "[4]f32"}}, "upsert_rows": [{"id": 4, "vector": [1, 2, 3]}]})",
       400, "upsert_rows[0].vector"},
      {"v2_schema_not_object", "POST", w,
       R"({"schema": ["z"], "upsert_rows": [{"id": 4, "vector": [1, 2, 3]}]})", 400, "schema"},
      {"v2_valid_rows_then_bad_row", "POST", w,
       R"({"upsert_rows": [{"id": 4, "vector": [1, 1, 1], "color": "new"}, {"id": 1, "vector": [9, 9, 9]},
           {"id": 5, "vector": [1, 1, 1], "color": 7}], "deletes": [2]})",
       400, "upsert_rows[2]"},
      {"v2_new_attribute_then_bad_row", "POST", w,
       R"({"upsert_rows": [{"id": 4, "vector": [1, 1, 1], "fresh": 1}, {"id": 5, "vector": [1, 1]}]})",
       400, "upsert_rows[1]"},
      {"v2_duplicate_key_last_bad", "POST", w, R"({"deletes": [1], "deletes": [-1]})", 400,
       "deletes[0]"},
      {"v2_patch_unknown_type", "POST", w, R"({"patch_rows": [{"id": 1, "color": 3}]})", 400,
       "color"},
      {"v2_delete_by_filter_unknown_operator", "POST", w,
       R"({"delete_by_filter": ["color", "Like", "red"]})", 400, "unknown operator"},
      {"v2_delete_by_filter_wrong_arity", "POST", w, R"({"delete_by_filter": ["color", "Eq"]})",
       400, "delete_by_filter"},
      {"v2_delete_by_filter_not_array", "POST", w, R"({"delete_by_filter": "color = red"})", 400,
       "delete_by_filter"},
      {"v2_delete_by_filter_bad_regex", "POST", w,
       R"({"delete_by_filter": ["color", "Regex", "(unclosed"]})", 400, "regular expression"},
      {"v2_patch_by_filter_no_patch", "POST", w,
       R"({"patch_by_filter": {"filters": ["color", "Eq", "red"]}})", 400, "patch_by_filter"},
      {"v2_patch_by_filter_type_mismatch", "POST", w,
       R"({"patch_by_filter": {"filters": ["color", "Eq", "red"], "patch": {"n": "x"}}})", 400,
       "n"},
      {"v2_upsert_condition_bad_operator", "POST", w,
       R"({"upsert_condition": ["n", "Bigger", 1], "upsert_rows": [{"id": 1, "vector": [1, 2, 3]}]})",
       400, "unknown operator"},
      {"v2_upsert_condition_bad_ref_new", "POST", w,
       R"({"upsert_condition": ["n", "Lt", {"$ref_new": 5}], "upsert_rows": [{"id": 1, "vector": [1, 2, 3]}]})",
       400, "upsert_condition"},
  };
}

std::vector<Case> TpufQueryCases() {
  const std::string q = "/v2/namespaces/tp/query";
  auto with = [](const std::string& fields) {
    return R"({"rank_by": ["vector", "ANN", [1, 0, 0]], )" + fields + "}";
  };
  return {
      {"v2q_empty_body", "POST", q, "", 400, "malformed JSON"},
      {"v2q_truncated", "POST", q, R"({"rank_by": ["vector", "ANN", [1,)", 400, "malformed JSON"},
      {"v2q_deep", "POST", q, Nest('[', 100000), 400, "nested"},
      {"v2q_deep_filters", "POST", q, R"({"filters": )" + Nest('[', 60) + "]", 400,
       "malformed JSON"},
      {"v2q_top_level_array", "POST", q, "[]", 400, ""},
      {"v2q_unknown_field", "POST", q, with(R"("query_vector": [1, 0, 0])"), 400, "query_vector"},
      {"v2q_rank_by_string", "POST", q, R"({"rank_by": "vector"})", 400, "rank_by"},
      {"v2q_rank_by_number", "POST", q, R"({"rank_by": 5})", 400, "rank_by"},
      {"v2q_rank_by_empty", "POST", q, R"({"rank_by": []})", 400, "rank_by"},
      {"v2q_rank_by_missing_vector", "POST", q, R"({"rank_by": ["vector", "ANN"]})", 400,
       "rank_by"},
      {"v2q_rank_by_unknown_method", "POST", q, R"({"rank_by": ["vector", "XYZ", [1, 0, 0]]})", 400,
       "rank_by"},
      {"v2q_rank_by_wrong_dims", "POST", q, R"({"rank_by": ["vector", "ANN", [1, 0]]})", 400,
       "dimensions"},
      {"v2q_rank_by_nan", "POST", q, R"({"rank_by": ["vector", "ANN", [NaN, 0, 0]]})", 400,
       "malformed JSON"},
      {"v2q_rank_by_1e400", "POST", q, R"({"rank_by": ["vector", "kNN", [1e400, 0, 0]]})", 400,
       "range of a double"},
      {"v2q_rank_by_float_overflow", "POST", q, R"({"rank_by": ["vector", "kNN", [1e39, 0, 0]]})",
       400, "rank_by"},
      {"v2q_rank_by_base64_garbage", "POST", q, R"({"rank_by": ["vector", "ANN", "%%%"]})", 400,
       "rank_by"},
      {"v2q_rank_by_bad_direction", "POST", q, R"({"rank_by": ["color", "sideways"]})", 400,
       "rank_by"},
      {"v2q_rank_by_attribute_number", "POST", q, R"({"rank_by": [5, "asc"]})", 400, "rank_by"},
      {"v2q_rank_by_nested_bad", "POST", q, R"({"rank_by": [["n", "desc"], ["id", 1]]})", 400,
       "rank_by"},
      {"v2q_top_k_negative", "POST", q, with(R"("top_k": -1)"), 400, "top_k"},
      {"v2q_top_k_zero", "POST", q, with(R"("top_k": 0)"), 400, "top_k"},
      {"v2q_top_k_over_max", "POST", q, with(R"("top_k": )" + std::to_string(kMaxTopK + 1)), 400,
       "top_k"},
      {"v2q_top_k_2_pow_64", "POST", q, with(R"("top_k": 18446744073709551616)"), 400, "top_k"},
      {"v2q_top_k_huge_int", "POST", q, with(R"("top_k": 9223372036854775807)"), 400, "top_k"},
      {"v2q_top_k_1e400", "POST", q, with(R"("top_k": 1e400)"), 400, "range of a double"},
      {"v2q_top_k_fraction", "POST", q, with(R"("top_k": 2.5)"), 400, "top_k"},
      {"v2q_top_k_string", "POST", q, with(R"("top_k": "5")"), 400, "top_k"},
      {"v2q_limit_negative", "POST", q, with(R"("limit": {"total": -1})"), 400, "limit"},
      {"v2q_limit_string", "POST", q, with(R"("limit": "5")"), 400, "limit"},
      {"v2q_limit_and_top_k", "POST", q, with(R"("limit": {"total": 5}, "top_k": 5)"), 400,
       "not both"},
      {"v2q_limit_per_empty", "POST", q,
       with(R"("limit": {"total": 5, "per": {"attributes": [], "limit": 1}})"), 400, "limit"},
      {"v2q_limit_per_zero", "POST", q,
       with(R"("limit": {"total": 5, "per": {"attributes": ["color"], "limit": 0}})"), 400,
       "limit"},
      {"v2q_filters_unknown_operator", "POST", q, with(R"("filters": ["color", "Like", "r"])"), 400,
       "unknown operator"},
      {"v2q_filters_wrong_arity_short", "POST", q, with(R"("filters": ["color", "Eq"])"), 400,
       "filters"},
      {"v2q_filters_wrong_arity_long", "POST", q, with(R"("filters": ["color", "Eq", "r", "b"])"),
       400, "filters"},
      {"v2q_filters_string", "POST", q, with(R"("filters": "color = red")"), 400, "filters"},
      {"v2q_filters_empty_attribute", "POST", q, with(R"("filters": ["", "Eq", 1])"), 400,
       "filters"},
      {"v2q_filters_operator_number", "POST", q, with(R"("filters": ["color", 1, "red"])"), 400,
       "filters"},
      {"v2q_filters_in_not_array", "POST", q, with(R"("filters": ["color", "In", "red"])"), 400,
       "filters"},
      {"v2q_filters_bad_regex", "POST", q, with(R"("filters": ["color", "Regex", "a(b"])"), 400,
       "regular expression"},
      {"v2q_filters_regex_not_string", "POST", q, with(R"("filters": ["color", "Regex", 5])"), 400,
       "filters"},
      {"v2q_filters_glob_invalid", "POST", q, with(R"("filters": ["color", "Glob", "[a"])"), 400,
       "filters"},
      {"v2q_filters_and_not_list", "POST", q, with(R"("filters": ["And", "color"])"), 400,
       "filters"},
      {"v2q_filters_and_bad_member", "POST", q,
       with(R"("filters": ["And", [["color", "Eq", "red"], 5]])"), 400, "filters"},
      {"v2q_filters_not_no_operand", "POST", q, with(R"("filters": ["Not"])"), 400, "filters"},
      {"v2q_filters_lt_object", "POST", q, with(R"("filters": ["n", "Lt", {"a": 1}])"), 400,
       "filters"},
      {"v2q_filters_ref_new_in_query", "POST", q,
       with(R"("filters": ["n", "Eq", {"$ref_new": "n"}])"), 400, "filters"},
      {"v2q_filters_invalid_utf8_attribute", "POST", q,
       with("\"filters\": [\"\xc3\x28\", \"Eq\", 1]"), 400, "UTF-8"},
      {"v2q_include_attributes_string", "POST", q, with(R"("include_attributes": "color")"), 400,
       "include_attributes"},
      {"v2q_include_attributes_numbers", "POST", q, with(R"("include_attributes": [1, 2])"), 400,
       "include_attributes"},
      {"v2q_exclude_attributes_bool", "POST", q, with(R"("exclude_attributes": true)"), 400,
       "exclude_attributes"},
      {"v2q_vector_encoding_unknown", "POST", q, with(R"("vector_encoding": "hex")"), 400,
       "vector_encoding"},
      {"v2q_consistency_bad", "POST", q, with(R"("consistency": {"level": "sometimes"})"), 400,
       "consistency"},
      {"v2q_distance_metric_unknown", "POST", q, with(R"("distance_metric": "hamming")"), 400,
       "distance_metric"},
      {"v2q_queries_empty", "POST", q, R"({"queries": []})", 400, "queries"},
      {"v2q_queries_too_many", "POST", q,
       [] {
         std::string s = R"({"queries": [)";
         for (int i = 0; i < 17; ++i) s += (i ? "," : "") + std::string(R"({"top_k": 1})");
         return s + "]}";
       }(),
       400, "queries"},
      {"v2q_queries_bad_member", "POST", q, R"({"queries": [{"top_k": -3}]})", 400, "queries[0]"},
      {"v2q_aggregate_by_bad", "POST", q, R"({"aggregate_by": {"c": ["Median", "n"]}})", 400,
       "aggregate_by"},
      {"v2q_missing_namespace", "POST", "/v2/namespaces/nope/query",
       R"({"rank_by": ["vector", "ANN", [1, 0, 0]]})", 404, "not found"},
      {"v2_metadata_missing_namespace", "GET", "/v2/namespaces/nope/metadata", "", 404,
       "not found"},
      {"v2_delete_missing_namespace", "DELETE", "/v2/namespaces/nope", "", 404, "not found"},
  };
}

std::vector<Case> SchemaAndListCases() {
  const std::string s = "/v1/namespaces/tp/schema";
  return {
      {"schema_empty_body", "POST", s, "", 400, "malformed JSON"},
      {"schema_not_object", "POST", s, R"(["color"])", 400, ""},
      {"schema_deep", "POST", s, Nest('{', 1) + Nest('[', 100000), 400, "malformed JSON"},
      {"schema_type_change", "POST", s, R"({"color": "int"})", 400, "color"},
      {"schema_type_change_object", "POST", s, R"({"n": {"type": "string"}})", 400, "n"},
      {"schema_unknown_type", "POST", s, R"({"x": "varchar"})", 400, "x"},
      {"schema_type_number", "POST", s, R"({"x": {"type": 5}})", 400, "x"},
      {"schema_filterable_string", "POST", s, R"({"x": {"type": "string", "filterable": "no"}})",
       400, "x"},
      {"schema_unknown_option", "POST", s, R"({"x": {"type": "string", "indexed": true}})", 400,
       "x"},
      {"schema_dollar_name", "POST", s, R"({"$x": "string"})", 400, "$x"},
      {"schema_empty_name", "POST", s, R"({"": "string"})", 400, "attribute names"},
      {"schema_invalid_utf8_name", "POST", s, "{\"\xff\": \"string\"}", 400, "UTF-8"},
      {"schema_vector_wrong_dims", "POST", s, R"({"vector": {"type": "[4]f32"}})", 400, "vector"},
      {"schema_vector_zero_dims", "POST", s, R"({"vector": {"type": "[0]f32"}})", 400, "vector"},
      {"schema_vector_word_dims", "POST", s, R"({"vector": {"type": "[abc]f32"}})", 400, "vector"},
      {"schema_vector_huge_dims", "POST", s, R"({"vector": {"type": "[18446744073709551617]f32"}})",
       400, "vector"},
      {"schema_vector_type_f64", "POST", s, R"({"vector": {"type": "[3]f64"}})", 400, "vector"},
      {"schema_id_type_change", "POST", s, R"({"id": "string"})", 400, "id"},
      {"schema_name_too_long", "POST", s, "{\"" + std::string(129, 'a') + "\": \"string\"}", 400,
       "attribute names"},
      {"schema_valid_then_bad", "POST", s, R"({"fresh": "string", "color": "int"})", 400, "color"},
      {"schema_missing_namespace", "GET", "/v1/namespaces/nope/schema", "", 404, "not found"},
      {"page_size_zero", "GET", "/v1/namespaces?page_size=0", "", 400, "page_size"},
      {"page_size_negative", "GET", "/v1/namespaces?page_size=-1", "", 400, "page_size"},
      {"page_size_over_max", "GET", "/v1/namespaces?page_size=1001", "", 400, "page_size"},
      {"page_size_word", "GET", "/v1/namespaces?page_size=ten", "", 400, "page_size"},
      {"page_size_fraction", "GET", "/v1/namespaces?page_size=1.5", "", 400, "page_size"},
      {"page_size_2_pow_64", "GET", "/v1/namespaces?page_size=18446744073709551616", "", 400,
       "page_size"},
      {"page_size_1e400", "GET", "/v1/namespaces?page_size=1e400", "", 400, "page_size"},
      {"page_size_trailing_junk", "GET", "/v1/namespaces?page_size=10abc", "", 400, "page_size"},
      {"page_size_plus", "GET", "/v1/namespaces?page_size=%2B5", "", 400, "page_size"},
      {"page_size_nul", "GET", "/v1/namespaces?page_size=5%00", "", 400, "page_size"},
  };
}

// Framing: bodies over the limit, lengths that lie, bodies that are not there.
std::vector<Case> FramingCases() {
  const std::string w = "/namespaces/orig";
  const std::string valid = R"({"deletes": ["o1"]})";
  std::vector<Case> c = {
      {"body_over_limit_sent", "POST", w,
       R"({"deletes": ["o1"], "pad": ")" + std::string(kMaxBodyBytes, 'p') + "\"}", 413,
       "max_body_bytes"},
      {"content_length_over_limit_no_body", "POST", w, "", 413, "max_body_bytes",
       std::to_string(kMaxBodyBytes + 1)},
      {"content_length_2_pow_64", "POST", w, valid, 413, "", "18446744073709551616"},
      {"content_length_huge_digits", "POST", w, valid, 413, "", "99999999999999999999999999999999"},
      {"v2_content_length_over_limit", "POST", "/v2/namespaces/tp", "", 413, "max_body_bytes",
       std::to_string(kMaxBodyBytes * 4)},
      {"query_content_length_over_limit", "POST", "/namespaces/orig/query", "", 413,
       "max_body_bytes", std::to_string(kMaxBodyBytes + 1)},
      {"schema_content_length_over_limit", "POST", "/v1/namespaces/tp/schema", "", 413,
       "max_body_bytes", std::to_string(kMaxBodyBytes + 1)},
      // The client promises more than it sends and closes its side: the body is
      // incomplete, and the truncated prefix must not be applied.
      {"content_length_longer_than_body", "POST", w, valid, kClosed, "", "200", "", true},
      {"v2_content_length_longer_than_body", "POST", "/v2/namespaces/tp", R"({"deletes": [1]})",
       kClosed, "", "100", "", true},
      {"content_length_shorter_than_body", "POST", w, valid, 400, "malformed JSON", "10"},
      {"content_length_zero_with_body", "POST", w, valid, 400, "malformed JSON", "0"},
      {"no_content_length_no_body", "POST", w, valid, 400, "", ""},
      {"chunked_truncated", "POST", w, "5\r\n{\"del", kClosed, "", "",
       "Transfer-Encoding: chunked\r\n", true},
      {"chunked_bad_size", "POST", w, "zz\r\n{}\r\n0\r\n\r\n", 400, "", "",
       "Transfer-Encoding: chunked\r\n"},
      {"chunked_over_limit", "POST", w,
       [] {
         const std::string chunk(64 * 1024, ' ');
         std::string body;
         char size[16];
         std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
         for (size_t sent = 0; sent <= kMaxBodyBytes; sent += chunk.size()) {
           body += size + chunk + "\r\n";
         }
         return body + "0\r\n\r\n";
       }(),
       413, "", "", "Transfer-Encoding: chunked\r\n"},
  };
  return c;
}

TEST_F(HostileInputTest, OriginalApiWrites) { RunCatalogue(OriginalWriteCases()); }
TEST_F(HostileInputTest, OriginalApiQueries) { RunCatalogue(OriginalQueryCases()); }
TEST_F(HostileInputTest, NamespaceNames) { RunCatalogue(NamespaceNameCases()); }
TEST_F(HostileInputTest, TurbopufferWrites) { RunCatalogue(TpufWriteCases()); }
TEST_F(HostileInputTest, TurbopufferQueries) { RunCatalogue(TpufQueryCases()); }
TEST_F(HostileInputTest, TurbopufferSchemaAndListing) { RunCatalogue(SchemaAndListCases()); }
TEST_F(HostileInputTest, Framing) { RunCatalogue(FramingCases()); }

// Whether the server has closed `fd` (EOF or reset), waiting up to `wait_ms` for it; any
// response bytes it sends first are read and dropped.
bool ClosedWithin(int fd, int wait_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return true;
  }
  return false;
}

// Connections that open and send nothing, or send a request line and then nothing more,
// hold a worker thread each (httplib serves one connection per worker) until the server
// gives up on them. With fewer of them than [server] threads, other clients are still
// served meanwhile, and every silent connection is closed once read_timeout_ms (for a
// started request) or idle_timeout_ms (for one not started) has passed. With as many as
// [server] threads or more, new connections wait in the pool's queue until a silent one
// is closed: every client stalls for up to that timeout (docs: 30 s by default).
TEST_F(HostileInputTest, SilentConnectionsAreClosedWhileOthersAreServed) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  constexpr int kSilent = kWorkers / 2;
  std::vector<int> silent;
  for (int i = 0; i < kSilent; ++i) {
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    // Half of them start a request: a partial request line or partial headers.
    if (i % 2 == 1) {
      ASSERT_TRUE(SendAll(fd, i % 4 == 1 ? "POST /namespaces/orig HTT"
                                         : "POST /namespaces/orig HTTP/1.1\r\nHost: x\r\n"));
    }
    silent.push_back(fd);
  }
  // Every silent connection has been accepted and handed to a worker by now, or is queued.
  RawReply health = Call(port_, "GET", "/health");
  EXPECT_EQ(health.status, 200);
  RawReply query = Call(port_, "POST", "/namespaces/orig/query", R"({"query_vector": [1, 0, 0]})");
  EXPECT_EQ(query.status, 200) << query.body;
  RawReply write = Call(port_, "POST", "/namespaces/orig", R"({"deletes": ["o3"]})");
  EXPECT_EQ(write.status, 200) << write.body;
  // A generous bound: the server's timeouts are 1 s.
  for (int fd : silent) {
    EXPECT_TRUE(ClosedWithin(fd, 30000)) << "a silent connection was not closed";
    close(fd);
  }
  EXPECT_EQ(Call(port_, "GET", "/health").status, 200);
}

// Connections that send a request's headers one byte at a time, each byte well within
// read_timeout_ms of the last, so that no single read times out. read_timeout_ms is "the
// time allowed to receive a request" (config.toml), so they must be closed once it has
// passed; meanwhile other clients are served. (httplib 0.11's own read timeout bounds each
// read, not the request: HttpServer's stream enforces the per-request deadline.)
TEST_F(HostileInputTest, DribblingConnectionsAreClosedWhileOthersAreServed) {
  ASSERT_NO_FATAL_FAILURE(Seed());
  constexpr int kDribblers = kWorkers / 2;
  std::vector<int> fds;
  for (int i = 0; i < kDribblers; ++i) {
    int fd = Connect(port_);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  std::atomic<bool> served{false};
  std::thread client([&] {
    // Give the dribblers time to have been accepted and to have sent a few bytes.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    RawReply health = Call(port_, "GET", "/health");
    RawReply query =
        Call(port_, "POST", "/namespaces/orig/query", R"({"query_vector": [1, 0, 0]})");
    served = health.status == 200 && query.status == 200;
  });
  // Each dribbler sends one header byte every 200 ms, for at most 30 s (a generous bound:
  // the request must be complete within 1 s).
  const std::string header = "POST /namespaces/orig HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  std::vector<bool> closed(fds.size(), false);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  size_t sent = 0;
  while (Clock::now() < deadline &&
         std::find(closed.begin(), closed.end(), false) != closed.end()) {
    const char byte = sent < header.size() ? header[sent] : 'a';
    ++sent;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (closed[i]) continue;
      if (send(fds[i], &byte, 1, MSG_NOSIGNAL) != 1) closed[i] = true;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!closed[i] && ClosedWithin(fds[i], 200 / static_cast<int>(fds.size()))) {
        closed[i] = true;
      }
    }
  }
  client.join();
  EXPECT_TRUE(served) << "a normal client was not served while the dribblers were open";
  for (size_t i = 0; i < fds.size(); ++i) {
    EXPECT_TRUE(closed[i]) << "dribbling connection " << i << " still open after 30 s (" << sent
                           << " bytes sent)";
    close(fds[i]);
  }
  EXPECT_EQ(Call(port_, "GET", "/health").status, 200);
}

}  // namespace
}  // namespace vecpuff::testing
