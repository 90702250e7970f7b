// FaultProxy: an HTTP proxy on loopback that sits between a server and the S3 test server
// and injects faults: 503 SlowDown answers, connections dropped before the request is
// forwarded, and connections dropped after it was forwarded (the write happened, the
// response is lost), stalls (the request is read, then nothing is answered for a while and
// the connection is dropped), at chosen rates, or a total outage; and latency, to make the
// round-trip cost of remote object storage visible. For tests and benchmarks only.
//
// One connection per request: the proxy answers with "Connection: close", so clients
// reconnect for each request. Request bodies must carry Content-Length (no chunking).
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vecpuff::testing {

class FaultProxy {
 public:
  FaultProxy(std::string upstream_host, int upstream_port);
  ~FaultProxy();

  // Listens on 127.0.0.1 on a free port. False on failure.
  bool Start();
  void Stop();
  int port() const { return port_; }

  // Fractions of requests, in [0, 1], drawn independently per request in this order.
  void SetFaults(double p_503, double p_drop_before, double p_drop_after);
  // A fraction of requests, in [0, 1] (drawn after the faults above), is read and then
  // left unanswered for `stall_ms` (at most 4000, under the proxy's own 5 s receive
  // timeout), after which the connection is dropped without forwarding the request.
  void SetStalls(double p_stall, int stall_ms);
  // While set, every request gets 503.
  void SetOutage(bool outage) { outage_ = outage; }
  // Every request is held this long before it is forwarded (concurrently for concurrent
  // requests, as a remote store's latency is).
  void SetDelayMs(int delay_ms) { delay_ms_ = delay_ms; }
  // The most connections served at once since Start().
  int peak_active() const { return peak_active_; }

  uint64_t requests() const { return requests_; }
  uint64_t injected() const { return injected_503_ + dropped_before_ + dropped_after_ + stalled_; }
  uint64_t dropped_after() const { return dropped_after_; }
  uint64_t stalled() const { return stalled_; }

 private:
  void AcceptLoop();
  void Serve(int client_fd);

  const std::string upstream_host_;
  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;  // guards the fault rates and rng_
  double p_503_ = 0, p_drop_before_ = 0, p_drop_after_ = 0, p_stall_ = 0;
  int stall_ms_ = 0;
  std::mt19937_64 rng_{12345};
  std::atomic<int> active_{0};  // connection threads still running

  std::atomic<bool> outage_{false};
  std::atomic<int> delay_ms_{0};
  std::atomic<int> peak_active_{0};
  std::atomic<uint64_t> requests_{0}, injected_503_{0}, dropped_before_{0}, dropped_after_{0},
      stalled_{0};
};

}  // namespace vecpuff::testing
