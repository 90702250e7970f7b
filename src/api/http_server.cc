#include "api/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>

#include "api/http_status.h"
#include "api/json_codec.h"

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

// Seconds a client is told to wait after a 429 (set once, from HttpServerOptions).
std::atomic<int> retry_after_seconds{1};

void SendError(httplib::Response& res, const Status& status) {
  res.status = HttpStatusFor(status);
  res.set_content(ErrorBody(status.message()), kJson);
  if (res.status == 429) res.set_header("Retry-After", std::to_string(retry_after_seconds.load()));
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

}  // namespace

HttpServer::HttpServer(Database* db, HttpServerOptions options)
    : db_(db),
      tpuf_(db),
      options_(std::move(options)),
      auth_(options_.api_keys, options_.allow_anonymous),
      server_(std::make_unique<httplib::Server>()) {
  retry_after_seconds = std::max(1, options_.retry_after_seconds);
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
        SendError(res, allowed);
        // Any body is left unread, so the connection cannot carry another request.
        res.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const std::string length = req.get_header_value("Content-Length");
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
    if ((ec == std::errc() && n > options_.max_body_bytes) ||
        ec == std::errc::result_out_of_range) {
      // The body is never read: close the connection rather than drain it.
      res.status = 413;
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("OK", "text/plain");
  });

  s.Get("/namespaces", [this](const httplib::Request&, httplib::Response& res) {
    auto names = db_->ListNamespaces();
    if (!names.ok()) return SendError(res, names.status());
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
    if (!request.ok()) return SendError(res, request.status());
    std::string().swap(body);  // the request holds everything now
    auto result = db_->Write(ns, std::move(*request));
    if (!result.ok()) return SendError(res, result.status());
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
    if (!request.ok()) return SendError(res, request.status());
    // The engine reads an empty vector as "rank by attributes" (the turbopuffer API's);
    // the original API always ranks by vector.
    if (request->vector.empty()) {
      return SendError(res,
                       Status::InvalidArgument("query_vector: must have at least 1 dimension"));
    }
    auto result = db_->Query(ns, *request);
    if (!result.ok()) return SendError(res, result.status());
    SendJson(res, EncodeQueryResult(*result));
  };
  s.Post(R"(/namespaces/([^/]+)/query)", std::move(query));

  auto metadata = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string ns = req.matches[1];
    auto result = db_->Metadata(ns);
    if (!result.ok()) return SendError(res, result.status());
    SendJson(res, EncodeMetadata(*result));
  };
  s.Get(R"(/namespaces/([^/]+)/metadata)", metadata);
  s.Post(R"(/namespaces/([^/]+)/metadata)", metadata);

  // Both APIs delete a namespace the same way, with turbopuffer's response.
  auto drop = [this](const httplib::Request& req, httplib::Response& res) {
    Status s = db_->DeleteNamespace(req.matches[1]);
    if (!s.ok()) return SendError(res, s);
    SendJson(res, std::string(R"({"status":"OK"})"));
  };
  s.Delete(R"(/namespaces/([^/]+))", drop);
  s.Delete(R"(/v2/namespaces/([^/]+))", drop);

  RegisterTurbopufferRoutes();
}

// The turbopuffer v2 API (api/tpuf_service.h, docs/api.md).
void HttpServer::RegisterTurbopufferRoutes() {
  httplib::Server& s = *server_;
  auto send = [](httplib::Response& res, auto result) {
    if (!result.ok()) return SendError(res, result.status());
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
