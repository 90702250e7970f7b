#include "storage/s3/s3_client.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "storage/s3/s3_error.h"

namespace vecpuff::s3 {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsIpv4(std::string_view host) {
  int dots = 0;
  int digits = 0;
  for (char c : host) {
    if (c == '.') {
      if (digits == 0) return false;
      ++dots;
      digits = 0;
    } else if (c >= '0' && c <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return dots == 3 && digits > 0;
}

// A bucket name that can be the first label of a host name (and, over https, match the
// "*.s3.amazonaws.com" certificate, which does not cover names with dots).
bool IsVirtualHostable(std::string_view bucket, bool https) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
    if (c == '.' && https) return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(bucket.front()) && alnum(bucket.back()) &&
         bucket.find("..") == std::string_view::npos && !IsIpv4(bucket);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

// What the libcurl callbacks write into.
struct Transfer {
  Response* response;
  bool is_head;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.append(data, size * count);
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) {
    // A new response begins (e.g. after an interim 100 Continue): keep only the last one's.
    t->response->headers.clear();
    return line.size();
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return line.size();
  std::string name = Lower(Trim(line.substr(0, colon)));
  std::string value(Trim(line.substr(colon + 1)));
  if (name == "content-length" && !t->is_head) {
    // Pre-size the body buffer; capped so that a bogus header cannot reserve gigabytes.
    uint64_t n = 0;
    for (char c : value) {
      if (c < '0' || c > '9' || n > (uint64_t{1} << 40)) break;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    t->response->body.reserve(static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30)));
  }
  t->response->headers.emplace_back(std::move(name), std::move(value));
  return line.size();
}

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Frees a curl_slist when it goes out of scope.
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

}  // namespace

// Up to `max` easy handles, created on demand and reused: a handle keeps its connection
// (and TLS session) open, so consecutive requests on it skip the handshakes. DNS results
// and TLS sessions are shared between handles through a curl share object.
class Client::HandlePool {
 public:
  explicit HandlePool(int max) : max_(max) {
    share_ = curl_share_init();
    if (share_ != nullptr) {
      curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &HandlePool::Lock);
      curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &HandlePool::Unlock);
      curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
      curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
  }

  ~HandlePool() {
    // Every handle has been released: Client's callers must have returned.
    for (CURL* h : idle_) curl_easy_cleanup(h);
    if (share_ != nullptr) curl_share_cleanup(share_);
  }

  // A handle for one request, or nullptr if libcurl cannot allocate one. Blocks while
  // `max_` handles are in use.
  CURL* Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || created_ < max_; });
    if (!idle_.empty()) {
      CURL* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    CURL* h = curl_easy_init();
    if (h != nullptr) ++created_;
    return h;
  }

  void Release(CURL* h) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle_.push_back(h);
    }
    cv_.notify_one();
  }

  CURLSH* share() const { return share_; }

 private:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<HandlePool*>(user)->share_mu_[Slot(data)].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<HandlePool*>(user)->share_mu_[Slot(data)].unlock();
  }
  static size_t Slot(curl_lock_data data) {
    const auto i = static_cast<size_t>(data);
    return i < kSlots ? i : 0;
  }

  static constexpr size_t kSlots = static_cast<size_t>(CURL_LOCK_DATA_LAST);
  const int max_;
  CURLSH* share_ = nullptr;
  std::array<std::mutex, kSlots> share_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CURL*> idle_;  // guarded by mu_
  int created_ = 0;          // guarded by mu_
};

std::optional<std::string_view> Response::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return std::string_view(value);
  }
  return std::nullopt;
}

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  const std::string& e = options.endpoint;
  std::string scheme;
  std::string rest;
  if (Lower(e.substr(0, 7)) == "http://") {
    scheme = "http";
    rest = e.substr(7);
  } else if (Lower(e.substr(0, 8)) == "https://") {
    scheme = "https";
    rest = e.substr(8);
  } else {
    return Status::InvalidArgument("S3 endpoint '" + e + "' must start with http:// or https://");
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos && rest.substr(slash) != "/") {
    return Status::InvalidArgument("S3 endpoint '" + e +
                                   "' must not have a path (the bucket is configured "
                                   "separately)");
  }
  if (authority.empty() || authority.find_first_of("?#@ ") != std::string::npos) {
    return Status::InvalidArgument("S3 endpoint '" + e + "' has no valid host");
  }
  authority = Lower(authority);
  std::string host;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return Status::InvalidArgument("S3 endpoint '" + e + "' has a malformed IPv6 address");
    }
    host = authority.substr(0, close + 1);
  } else {
    host = authority.substr(0, authority.find(':'));
  }
  if (host.empty()) return Status::InvalidArgument("S3 endpoint '" + e + "' has no host");
  if (const size_t colon = authority.find(':', host.size()); colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Status::InvalidArgument("S3 endpoint '" + e + "' has a bad port");
    }
  }
  if (options.region.empty()) return Status::InvalidArgument("S3 region must not be empty");
  if (options.max_connections < 1) {
    return Status::InvalidArgument("S3 max_connections must be at least 1");
  }
  if (options.connect_timeout_ms <= 0 || options.request_timeout_ms <= 0) {
    return Status::InvalidArgument("S3 timeouts must be positive");
  }
  const bool ip_or_localhost = host.front() == '[' || IsIpv4(host) || host == "localhost";
  InitCurlOnce();
  std::unique_ptr<Client> client(
      new Client(options, scheme + "://" + authority, scheme, authority, ip_or_localhost));
  if (client->pool_->share() == nullptr) {
    return Status::ResourceExhausted("libcurl could not create a share handle");
  }
  return client;
}

Client::Client(ClientOptions options, std::string endpoint, std::string scheme,
               std::string authority, bool host_is_ip_or_localhost)
    : options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      scheme_(std::move(scheme)),
      authority_(std::move(authority)),
      host_is_ip_or_localhost_(host_is_ip_or_localhost),
      pool_(std::make_unique<HandlePool>(options_.max_connections)) {}

Client::~Client() = default;

bool Client::UsesPathStyle(std::string_view bucket) const {
  return options_.force_path_style || host_is_ip_or_localhost_ ||
         !IsVirtualHostable(bucket, scheme_ == "https");
}

Address Client::AddressOf(const Request& request) const {
  Address a;
  if (UsesPathStyle(request.bucket)) {
    a.host = authority_;
    a.raw_path = "/" + request.bucket;
    if (!request.key.empty()) a.raw_path += "/" + request.key;
  } else {
    a.host = request.bucket + "." + authority_;
    a.raw_path = "/" + request.key;
  }
  a.url = scheme_ + "://" + a.host + CanonicalUri(a.raw_path);
  if (!request.query.empty()) a.url += "?" + CanonicalQueryString(request.query);
  return a;
}

Result<Response> Client::Send(const Request& request, std::string_view operation) {
  const Address address = AddressOf(request);
  const bool has_body = request.method == "PUT" || request.method == "POST";

  HeaderList headers = request.headers;
  if (has_body) {
    const bool has_type = std::any_of(headers.begin(), headers.end(), [](const auto& h) {
      return Lower(h.first) == "content-type";
    });
    if (!has_type) headers.emplace_back("Content-Type", "application/octet-stream");
  }

  SigningRequest signing;
  signing.method = request.method;
  signing.host = address.host;
  signing.raw_path = address.raw_path;
  signing.query = request.query;
  signing.headers = headers;
  signing.payload_sha256 = has_body ? Sha256Hex(request.body) : std::string(kEmptyPayloadSha256);
  const HeaderList auth = SignRequest(signing, options_.credentials, options_.region, "s3",
                                      std::chrono::system_clock::now());

  // Exactly the signed headers, plus two that are not signed: no "Expect: 100-continue"
  // (a round trip per upload, and some S3 implementations mishandle it), and no Accept.
  curl_slist* list = nullptr;
  auto add = [&](const std::string& line) {
    if (curl_slist* l = curl_slist_append(list, line.c_str())) list = l;
  };
  add("Host: " + address.host);
  for (const auto& [k, v] : headers) add(k + ": " + v);
  for (const auto& [k, v] : auth) add(k + ": " + v);
  add("Expect:");
  add("Accept:");
  Slist header_list(list);

  CURL* h = pool_->Acquire();
  if (h == nullptr) return Status::ResourceExhausted("libcurl could not create a handle");
  // The handle goes back to the pool however this function returns.
  struct Lease {
    HandlePool* pool;
    CURL* handle;
    ~Lease() { pool->Release(handle); }
  } lease{pool_.get(), h};

  // Reset clears the previous request's options but keeps the open connection.
  curl_easy_reset(h);
  Response response;
  Transfer transfer{&response, request.method == "HEAD"};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, address.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_SHARE, pool_->share());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  // Keys may contain "." and ".." segments: send the path exactly as signed.
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "vecpuff");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (has_body) {
    // The body is sent from the caller's buffer without a copy; an empty body is sent as
    // "Content-Length: 0".
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.empty() ? "" : request.body.data());
  }

  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    FailedRequest failed;
    failed.operation = operation;
    failed.endpoint = endpoint_;
    failed.bucket = request.bucket;
    failed.key = request.key;
    failed.curl_code = static_cast<int>(rc);
    failed.curl_detail = error_buffer;
    Status s = MapS3Error(failed);
    if (s.IsUnavailable()) {
      spdlog::info("s3: {}", s.ToString());
    } else {
      spdlog::warn("s3: {}", s.ToString());
    }
    return s;
  }
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  response.http_status = static_cast<int>(status);
  return response;
}

}  // namespace vecpuff::s3
