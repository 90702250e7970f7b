#include "api/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/http_status.h"
#include "api/json_codec.h"

namespace vecpuff {
namespace {

constexpr const char* kJson = "application/json";

void SendJson(httplib::Response& res, const nlohmann::json& body) {
  res.status = 200;
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
}

void SendError(httplib::Response& res, const Status& status) {
  res.status = HttpStatusFor(status);
  res.set_content(ErrorBody(status.message()), kJson);
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

}  // namespace

HttpServer::HttpServer(Database* db, HttpServerOptions options)
    : db_(db), options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
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

  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("OK", "text/plain");
  });

  s.Get("/namespaces", [this](const httplib::Request&, httplib::Response& res) {
    auto names = db_->ListNamespaces();
    if (!names.ok()) return SendError(res, names.status());
    SendJson(res, EncodeNamespaceList(*names));
  });

  s.Post(R"(/namespaces/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string ns = req.matches[1];
    auto body = ParseJsonBody(req.body);
    if (!body.ok()) return SendError(res, body.status());
    auto request = DecodeWriteRequest(*body);
    if (!request.ok()) return SendError(res, request.status());
    auto result = db_->Write(ns, std::move(*request));
    if (!result.ok()) return SendError(res, result.status());
    SendJson(res, EncodeWriteResult(*result));
  });

  s.Post(R"(/namespaces/([^/]+)/query)",
         [this](const httplib::Request& req, httplib::Response& res) {
           const std::string ns = req.matches[1];
           auto body = ParseJsonBody(req.body);
           if (!body.ok()) return SendError(res, body.status());
           auto request = DecodeQueryRequest(*body);
           if (!request.ok()) return SendError(res, request.status());
           auto result = db_->Query(ns, *request);
           if (!result.ok()) return SendError(res, result.status());
           SendJson(res, EncodeQueryResult(*result));
         });

  auto metadata = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string ns = req.matches[1];
    auto result = db_->Metadata(ns);
    if (!result.ok()) return SendError(res, result.status());
    SendJson(res, EncodeMetadata(*result));
  };
  s.Get(R"(/namespaces/([^/]+)/metadata)", metadata);
  s.Post(R"(/namespaces/([^/]+)/metadata)", metadata);
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
