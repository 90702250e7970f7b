#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

namespace vecpuff::testing {
namespace {

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Reads one request (head and Content-Length body) from `fd`. False on EOF or error.
bool ReadRequest(int fd, std::string* head, std::string* body) {
  std::string buf;
  char chunk[65536];
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
  *head = buf.substr(0, head_end + 2);  // keeps the last header's CRLF
  *body = buf.substr(head_end + 4);
  size_t length = 0;
  const std::string lower = Lower(*head);
  size_t at = lower.find("\r\ncontent-length:");
  if (at != std::string::npos) length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
  while (body->size() < length) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    body->append(chunk, static_cast<size_t>(n));
  }
  return true;
}

// Replaces any Connection header of an HTTP head (ending in CRLF) with "close".
std::string WithConnectionClose(const std::string& head) {
  std::string out;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    if (Lower(line).rfind("connection:", 0) != 0) out += line + "\r\n";
    pos = end + 2;
  }
  return out + "Connection: close\r\n";
}

int ConnectTo(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

FaultProxy::FaultProxy(std::string upstream_host, int upstream_port)
    : upstream_host_(std::move(upstream_host)), upstream_port_(upstream_port) {}

FaultProxy::~FaultProxy() { Stop(); }

bool FaultProxy::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 128) != 0) {
    return false;
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return true;
}

void FaultProxy::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  // Connection threads are detached; each ends within its receive timeout.
  while (active_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

void FaultProxy::SetFaults(double p_503, double p_drop_before, double p_drop_after) {
  std::lock_guard<std::mutex> lock(mu_);
  p_503_ = p_503;
  p_drop_before_ = p_drop_before;
  p_drop_after_ = p_drop_after;
}

void FaultProxy::SetStalls(double p_stall, int stall_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  p_stall_ = p_stall;
  stall_ms_ = std::min(stall_ms, 4000);
}

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    const int now_active = ++active_;
    int peak = peak_active_.load();
    while (now_active > peak && !peak_active_.compare_exchange_weak(peak, now_active)) {
    }
    std::thread([this, fd] {
      Serve(fd);
      --active_;
    }).detach();
  }
}

void FaultProxy::Serve(int client_fd) {
  // Connections end after one request; a client that never sends one is cut off by the
  // receive timeout, so Stop() never waits long.
  timeval tv{5, 0};
  setsockopt(client_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string head, body;
  if (!ReadRequest(client_fd, &head, &body)) {
    close(client_fd);
    return;
  }
  ++requests_;
  enum { kForward, k503, kDropBefore, kDropAfter, kStall } action = kForward;
  int stall_ms = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::uniform_real_distribution<double> u(0, 1);
    if (outage_ || u(rng_) < p_503_) {
      action = k503;
    } else if (u(rng_) < p_drop_before_) {
      action = kDropBefore;
    } else if (u(rng_) < p_drop_after_) {
      action = kDropAfter;
    } else if (u(rng_) < p_stall_) {
      action = kStall;
      stall_ms = stall_ms_;
    }
  }
  if (action == kStall) {
    ++stalled_;
    for (int waited = 0; waited < stall_ms && !stopping_; waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    close(client_fd);
    return;
  }
  if (action == k503) {
    ++injected_503_;
    const std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
        "<Message>injected by FaultProxy</Message></Error>";
    WriteAll(client_fd,
             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
             "Content-Length: " +
                 std::to_string(xml.size()) + "\r\nConnection: close\r\n\r\n" + xml);
    close(client_fd);
    return;
  }
  if (action == kDropBefore) {
    ++dropped_before_;
    close(client_fd);
    return;
  }
  if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
  int up = ConnectTo(upstream_host_, upstream_port_);
  std::string response;
  if (up >= 0 && WriteAll(up, WithConnectionClose(head) + "\r\n" + body)) {
    char chunk[65536];
    ssize_t n;
    while ((n = recv(up, chunk, sizeof(chunk), 0)) > 0) response.append(chunk, n);
  }
  if (up >= 0) close(up);
  if (action == kDropAfter || response.empty()) {
    if (action == kDropAfter) ++dropped_after_;
    close(client_fd);
    return;
  }
  size_t head_end = response.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    response = WithConnectionClose(response.substr(0, head_end + 2)) + "\r\n" +
               response.substr(head_end + 4);
  }
  WriteAll(client_fd, response);
  close(client_fd);
}

}  // namespace vecpuff::testing
