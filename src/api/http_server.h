// HttpServer: the original VecPuff HTTP API over cpp-httplib.
//
//   GET  /health                      -> 200 "OK"
//   GET  /stats                       -> memory and disk cache figures, heap (docs/api.md)
//   GET  /namespaces                  -> {"namespaces":[{"id":...}]}
//   POST /namespaces/{ns}             -> write (upsert_rows, patch_rows, deletes)
//   POST /namespaces/{ns}/query       -> exact top-k
//   GET|POST /namespaces/{ns}/metadata
//
// and turbopuffer's v2 API (api/tpuf_service.h, docs/api.md):
//
//   POST /v2/namespaces/{ns}             -> write
//   POST /v2/namespaces/{ns}/query       -> query, or multi-query with "queries"
//   GET  /v2/namespaces/{ns}/metadata
//   GET  /v1/namespaces                  -> paged list (prefix, cursor, page_size)
//   GET  /v1/namespaces/{ns}/schema      -> attribute types inferred from the documents
//   GET  /v1/namespaces/{ns}/hint_cache_warm
//   POST /v2/namespaces/{ns}/explain_query, POST /v1/namespaces/{ns}/_debug/recall
//
// Every error is {"status":"error","error":"..."} with the code from api/http_status.h; a 429
// (backpressure) carries Retry-After. Before any route runs, a request must pass the API key
// check (api/auth.h; 401 with WWW-Authenticate: Bearer), except GET /health, which load
// balancers probe without credentials; then a Content-Length over twice max_body_bytes gets
// 413 at once, without reading the body (one over max_body_bytes but within twice it is read
// and dropped first, so that a client that sends before it reads sees the 413). A chunked
// body is cut off with 413 as soon as it exceeds max_body_bytes. Bodies are parsed only
// once wholly received.
//
// Thread safety: Start() and Stop() may be called from different threads; requests are
// served on a pool of `threads` workers.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "api/tpuf_service.h"
#include "common/status.h"
#include "db/database.h"

namespace httplib {
class Server;
}

namespace vecpuff {

class DiskCache;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 3000;
  int threads = 32;
  int64_t read_timeout_ms = 30000;
  int64_t write_timeout_ms = 30000;
  int64_t keep_alive_timeout_ms = 5000;
  size_t max_body_bytes = 256 * 1024 * 1024;
  // Accepted API keys; none: anonymous access (ApiKeyAuth).
  std::vector<std::string> api_keys;
  bool allow_anonymous = false;
  // The Retry-After sent with 429 responses, in seconds.
  int retry_after_seconds = 1;
  // The disk cache in front of the store, for GET /stats; null if there is none. Not owned.
  const DiskCache* disk_cache = nullptr;
};

class HttpServer {
 public:
  // `db` must outlive the server.
  HttpServer(Database* db, HttpServerOptions options);
  ~HttpServer();

  // Binds the port (IOError if it cannot) and serves on a background thread.
  Status Start();
  // Stops accepting, waits for in-flight requests, and joins the serving thread.
  void Stop();
  // Blocks until the server stops.
  void Wait();
  int port() const { return bound_port_; }

 private:
  void RegisterRoutes();
  void RegisterTurbopufferRoutes();

  Database* const db_;
  TpufService tpuf_;
  const HttpServerOptions options_;
  const ApiKeyAuth auth_;
  const int retry_after_seconds_;  // Retry-After of a 429, at least 1
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int bound_port_ = 0;
};

}  // namespace vecpuff
