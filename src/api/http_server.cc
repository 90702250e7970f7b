#include "api/http_server.h"

#include <httplib.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <functional>

#include "api/http_status.h"
#include "api/json_codec.h"
#include "cache/caching_store.h"

namespace vecpuff {
namespace {

constexpr const char* kJson = "application/json";
// Requests served on one keep-alive connection before the server closes it (see below).
constexpr size_t kKeepAliveMaxRequests = 1000;

void SendJson(httplib::Response& res, std::string body) {
  res.status = 200;
  // What Response::set_content does, without copying the body.
  res.body = std::move(body);
  res.headers.erase("Content-Type");
  res.set_header("Content-Type", kJson);
}

void SendJson(httplib::Response& res, const nlohmann::json& body) {
  SendJson(res, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// `retry_after_seconds`: what a 429 tells the client to wait.
void SendError(httplib::Response& res, const Status& status, int retry_after_seconds) {
  res.status = HttpStatusFor(status);
  res.set_content(ErrorBody(status.message()), kJson);
  if (res.status == 429) res.set_header("Retry-After", std::to_string(retry_after_seconds));
  if (res.status == 401) res.set_header("WWW-Authenticate", "Bearer");
  if (res.status >= 500) spdlog::warn("request failed: {}", status.ToString());
}

std::string DefaultMessage(int status) {
  switch (status) {
    case 404:
      return "no such route";
    case 405:
      return "method not allowed";
    case 413:
      return "request body exceeds the configured limit (server.max_body_bytes)";
    case 414:
      return "request URI too long";
    default:
      return "HTTP " + std::to_string(status);
  }
}

// Reads the request body into *body in one buffer sized by Content-Length (when it is within
// `max_bytes`), where httplib would grow its own a few KB at a time, copying it each time it
// doubles: a write body of 1 MB or more would be copied about twice more and its memory
// touched afresh. A body that grows past `max_bytes` (chunked, so with no Content-Length
// for the pre-routing check) is cut off with 413; httplib reports broken bodies. On false,
// the response status is set and the error handler writes the body. A multipart body is
// read and dropped, leaving an empty body, as httplib's own reading leaves it.
bool ReadBody(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader, size_t max_bytes, std::string* body) {
  if (req.is_multipart_form_data()) {
    return reader([](const httplib::MultipartFormData&) { return true; },
                  [](const char*, size_t) { return true; });
  }
  const std::string length = req.get_header_value("Content-Length");
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
  if (ec == std::errc() && end == length.data() + length.size() && n <= max_bytes) {
    body->reserve(n);
  }
  bool too_large = false;
  const bool ok = reader([&](const char* data, size_t size) {
    if (size > max_bytes - body->size()) {
      too_large = true;
      return false;
    }
    body->append(data, size);
    return true;
  });
  if (too_large) {
    res.status = 413;
    res.set_header("Connection", "close");
    return false;
  }
  return ok;
}

// A cpp-httplib server whose read timeout bounds a whole request, not each read: httplib
// 0.11 applies read_timeout to every read, so a client that sends one byte now and then (a
// slow loris) would hold a worker thread forever, and as many such clients as there are
// workers would starve the server. Here a request must arrive completely, headers and body,
// within read_timeout_ms of its first byte, or its connection is closed. The keep-alive
// loop is httplib's own (process_and_close_socket), with this stream in place of its
// socket stream, and it also notices a stopping server within 100 ms instead of waiting
// out the idle timeout.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, int64_t read_timeout_ms, int64_t write_timeout_ms)
      : sock_(sock), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  // Starts the clock of the next request.
  void StartRequest() {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(read_timeout_ms_);
  }

  // Waits up to `idle_ms` for the next request's first byte; false if none came, the peer
  // closed, or `stopping` turned true.
  bool WaitForRequest(int64_t idle_ms, const std::function<bool()>& stopping) {
    if (begin_ < end_) return true;
    for (int64_t waited = 0; waited < idle_ms && !stopping(); waited += 100) {
      const int r = Poll(POLLIN, static_cast<int>(std::min<int64_t>(100, idle_ms - waited)));
      if (r != 0) return r > 0;
    }
    return false;
  }

  bool is_readable() const override {
    if (begin_ < end_) return true;
    const int64_t left = RemainingMs();
    return left > 0 && Poll(POLLIN, static_cast<int>(left)) > 0;
  }
  // As httplib's own stream: a peer that has closed its side (a request cut short) is gone,
  // and gets no answer.
  bool is_writable() const override {
    if (Poll(POLLOUT, static_cast<int>(write_timeout_ms_)) <= 0) return false;
    if (Poll(POLLIN, 0) == 0) return true;
    char c;
    return ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_) {
      if (!is_readable()) return -1;
      // Small reads (httplib reads request lines a byte at a time) are served from a buffer.
      if (size >= sizeof(buffer_)) return Recv(ptr, size);
      const ssize_t n = Recv(buffer_, sizeof(buffer_));
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(/*peer=*/true, &ip, &port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    AddressOf(/*peer=*/false, &ip, &port);
  }
  socket_t socket() const override { return sock_; }

 private:
  int64_t RemainingMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ -
                                                                 std::chrono::steady_clock::now())
        .count();
  }
  int Poll(short events, int timeout_ms) const {
    pollfd p{sock_, events, 0};
    int r;
    do {
      r = ::poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    return r;
  }
  ssize_t Recv(char* ptr, size_t size) {
    ssize_t n;
    do {
      n = ::recv(sock_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  void AddressOf(bool peer, std::string* ip, int* port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int r = peer ? getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len)
                       : getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len);
    if (r != 0) return;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      *ip = host;
      *port = std::atoi(serv);
    }
  }

  const int sock_;
  const int64_t read_timeout_ms_;
  const int64_t write_timeout_ms_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now();
  char buffer_[4096];
  size_t begin_ = 0;
  size_t end_ = 0;
};

class DeadlineServer final : public httplib::Server {
 public:
  DeadlineServer(int64_t read_timeout_ms, int64_t write_timeout_ms, int64_t idle_timeout_ms)
      : read_timeout_ms_(read_timeout_ms),
        write_timeout_ms_(write_timeout_ms),
        idle_timeout_ms_(idle_timeout_ms) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream stream(sock, read_timeout_ms_, write_timeout_ms_);
    auto stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
    bool ok = false;
    for (size_t left = keep_alive_max_count_; left > 0 && !stopping(); --left) {
      if (!stream.WaitForRequest(idle_timeout_ms_, stopping)) break;
      stream.StartRequest();
      bool closed = false;
      ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
      if (!ok || closed) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  const int64_t read_timeout_ms_;
  const int64_t write_timeout_ms_;
  const int64_t idle_timeout_ms_;
};

}  // namespace

HttpServer::HttpServer(Database* db, HttpServerOptions options)
    : db_(db),
      tpuf_(db),
      options_(std::move(options)),
      auth_(options_.api_keys, options_.allow_anonymous),
      retry_after_seconds_(std::max(1, options_.retry_after_seconds)),
      server_(std::make_unique<DeadlineServer>(options_.read_timeout_ms, options_.write_timeout_ms,
                                               options_.keep_alive_timeout_ms)) {
  RegisterRoutes();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::RegisterRoutes() {
  httplib::Server& s = *server_;
  const int threads = options_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(options_.read_timeout_ms / 1000, (options_.read_timeout_ms % 1000) * 1000);
  s.set_write_timeout(options_.write_timeout_ms / 1000, (options_.write_timeout_ms % 1000) * 1000);
  s.set_keep_alive_timeout(std::max<int64_t>(1, options_.keep_alive_timeout_ms / 1000));
  s.set_payload_max_length(options_.max_body_bytes);
  // httplib writes the status line and headers, then the body, with separate sends. With
  // Nagle's algorithm on, the second waits for the client's delayed ACK (up to 40 ms on
  // Linux) whenever the first was small: fatal for query latency.
  s.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default, so busy clients
  // would reconnect (handshake, a new worker hand-off) every fifth request. Each connection
  // holds a worker while open, though, so keep the cap: once a connection has served this
  // many requests it is closed, and connections queued behind busy workers get their turn.
  s.set_keep_alive_max_count(kKeepAliveMaxRequests);

  // Errors produced by httplib itself (unknown route, body too large) get our error shape;
  // responses our handlers already filled are left alone.
  httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                     httplib::Response& res) {
    if (res.body.empty()) res.set_content(ErrorBody(DefaultMessage(res.status)), kJson);
    return httplib::Server::HandlerResponse::Handled;
  };
  s.set_error_handler(std::move(on_error));
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("unhandled exception in request handler: {}", what);
        res.status = 500;
        res.set_content(ErrorBody("internal error"), kJson);
      });

  // Runs before routing, so before any body is read: credentials, then the body's size.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!(req.method == "GET" && req.path == "/health")) {
      Status allowed = auth_.Check(req.get_header_value("Authorization"));
      if (!allowed.ok()) {
        SendError(res, allowed, retry_after_seconds_);
        // Any body is left unread, so the connection cannot carry another request.
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const std::string length = req.get_header_value("Content-Length");
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    // A body claimed to be far over the limit is refused without reading a byte of it. One
    // only a little over it (up to twice the limit) is still read and dropped by httplib
    // before its 413: a client that sends its whole body before reading the answer (most
    // do) would otherwise have its connection reset by the close and never see the 413.
    const uint64_t drain_limit = options_.max_body_bytes > UINT64_MAX / 2
                                     ? UINT64_MAX
                                     : uint64_t{2} * options_.max_body_bytes;
    if ((ec == std::errc() && n > drain_limit) || ec == std::errc::result_out_of_range) {
      res.status = 413;
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("OK", "text/plain");
  });

  s.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
    const PostingCache::Stats m = db_->posting_cache().stats();
    nlohmann::json out = {{"memory_cache",
                           {{"capacity_bytes", m.capacity_bytes},
                            {"bytes", m.bytes},
                            {"entries", m.entries},
                            {"hits", m.hits},
                            {"misses", m.misses},
                            {"evictions", m.evictions},
                            {"erased", m.erased}}},
                          {"disk_cache", nullptr}};
    if (options_.disk_cache != nullptr) {
      const CacheStats d = options_.disk_cache->stats();
      out["disk_cache"] = {{"capacity_bytes", options_.disk_cache->capacity_bytes()},
                           {"bytes", d.bytes},
                           {"entries", d.entries},
                           {"hits", d.hits},
                           {"misses", d.misses},
                           {"evictions", d.evictions},
                           {"erased", d.erased},
                           {"corrupt", d.corrupt},
                           {"io_errors", d.io_errors}};
    }
    // glibc's view of the heap: what is allocated, and what it holds from the system
    // (allocated plus free but not returned); their gap is fragmentation. Null when glibc's
    // allocator holds nothing: another one serves the process (a sanitizer, a preloaded
    // malloc), and glibc's figures would say nothing about it.
    const struct mallinfo2 mi = mallinfo2();
    out["heap"] = nullptr;
    if (mi.arena + mi.hblkhd > 0) {
      out["heap"] = {{"in_use_bytes", mi.uordblks + mi.hblkhd},
                     {"held_bytes", mi.arena + mi.hblkhd}};
    }
    SendJson(res, out);
  });

  s.Get("/namespaces", [this](const httplib::Request&, httplib::Response& res) {
    auto names = db_->ListNamespaces();
    if (!names.ok()) return SendError(res, names.status(), retry_after_seconds_);
    SendJson(res, EncodeNamespaceList(*names));
  });

  // Writes and queries read their body themselves (see ReadBody).
  httplib::Server::HandlerWithContentReader write = [this](const httplib::Request& req,
                                                           httplib::Response& res,
                                                           const httplib::ContentReader& reader) {
    const std::string ns = req.matches[1];
    std::string body;
    if (!ReadBody(req, res, reader, options_.max_body_bytes, &body)) return;
    auto request = ParseWriteRequest(body);
    if (!request.ok()) return SendError(res, request.status(), retry_after_seconds_);
    std::string().swap(body);  // the request holds everything now
    auto result = db_->Write(ns, std::move(*request));
    if (!result.ok()) return SendError(res, result.status(), retry_after_seconds_);
    SendJson(res, EncodeWriteResult(*result));
  };
  s.Post(R"(/namespaces/([^/]+))", std::move(write));

  httplib::Server::HandlerWithContentReader query = [this](const httplib::Request& req,
                                                           httplib::Response& res,
                                                           const httplib::ContentReader& reader) {
    const std::string ns = req.matches[1];
    std::string body;
    if (!ReadBody(req, res, reader, options_.max_body_bytes, &body)) return;
    auto request = ParseQueryRequest(body);
    if (!request.ok()) return SendError(res, request.status(), retry_after_seconds_);
    // The engine reads an empty vector as "rank by attributes" (the turbopuffer API's);
    // the original API always ranks by vector.
    if (request->vector.empty()) {
      return SendError(res, Status::InvalidArgument("query_vector: must have at least 1 dimension"),
                       retry_after_seconds_);
    }
    auto result = db_->Query(ns, *request);
    if (!result.ok()) return SendError(res, result.status(), retry_after_seconds_);
    SendJson(res, EncodeQueryResult(*result));
  };
  s.Post(R"(/namespaces/([^/]+)/query)", std::move(query));

  auto metadata = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string ns = req.matches[1];
    auto result = db_->Metadata(ns);
    if (!result.ok()) return SendError(res, result.status(), retry_after_seconds_);
    SendJson(res, EncodeMetadata(*result));
  };
  s.Get(R"(/namespaces/([^/]+)/metadata)", metadata);
  s.Post(R"(/namespaces/([^/]+)/metadata)", metadata);

  // Both APIs delete a namespace the same way, with turbopuffer's response.
  auto drop = [this](const httplib::Request& req, httplib::Response& res) {
    Status s = db_->DeleteNamespace(req.matches[1]);
    if (!s.ok()) return SendError(res, s, retry_after_seconds_);
    SendJson(res, std::string(R"({"status":"OK"})"));
  };
  s.Delete(R"(/namespaces/([^/]+))", drop);
  s.Delete(R"(/v2/namespaces/([^/]+))", drop);

  RegisterTurbopufferRoutes();
}

// The turbopuffer v2 API (api/tpuf_service.h, docs/api.md).
void HttpServer::RegisterTurbopufferRoutes() {
  httplib::Server& s = *server_;
  auto send = [this](httplib::Response& res, auto result) {
    if (!result.ok()) return SendError(res, result.status(), retry_after_seconds_);
    SendJson(res, std::move(*result));
  };
  s.Get("/v1/namespaces", [this, send](const httplib::Request& req, httplib::Response& res) {
    send(res, tpuf_.ListNamespaces(req.get_param_value("prefix"), req.get_param_value("cursor"),
                                   req.get_param_value("page_size")));
  });
  // Handlers that take a body read it themselves (see ReadBody).
  auto with_body = [this, send](auto method) {
    return [this, send, method](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
      std::string body;
      if (!ReadBody(req, res, reader, options_.max_body_bytes, &body)) return;
      send(res, (tpuf_.*method)(req.matches[1], body));
    };
  };
  s.Post(R"(/v2/namespaces/([^/]+))", with_body(&TpufService::Write));
  s.Post(R"(/v2/namespaces/([^/]+)/query)", with_body(&TpufService::Query));
  s.Post(R"(/v2/namespaces/([^/]+)/explain_query)", with_body(&TpufService::ExplainQuery));
  s.Post(R"(/v1/namespaces/([^/]+)/_debug/recall)", with_body(&TpufService::Recall));
  s.Post(R"(/v1/namespaces/([^/]+)/schema)", with_body(&TpufService::UpdateSchema));
  auto without_body = [this, send](auto method) {
    return [this, send, method](const httplib::Request& req, httplib::Response& res) {
      send(res, (tpuf_.*method)(req.matches[1]));
    };
  };
  s.Get(R"(/v2/namespaces/([^/]+)/metadata)", without_body(&TpufService::Metadata));
  s.Get(R"(/v1/namespaces/([^/]+)/schema)", without_body(&TpufService::Schema));
  s.Get(R"(/v1/namespaces/([^/]+)/hint_cache_warm)", without_body(&TpufService::HintCacheWarm));
}

Status HttpServer::Start() {
  if (options_.port == 0) {
    bound_port_ = server_->bind_to_any_port(options_.host);
  } else if (server_->bind_to_port(options_.host, options_.port)) {
    bound_port_ = options_.port;
  } else {
    bound_port_ = -1;
  }
  if (bound_port_ <= 0) {
    return Status::IOError("cannot listen on " + options_.host + ":" +
                           std::to_string(options_.port) + " (address in use or not allowed)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::OK();
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void HttpServer::Wait() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace vecpuff
