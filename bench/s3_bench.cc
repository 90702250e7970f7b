// s3_bench: request latency and throughput of the S3 ObjectStore against the S3 test server
// on loopback (run under scripts/with_moto.sh; `make bench` does). Prints figures; asserts
// nothing. Absolute numbers describe moto, which serves one request at a time, more than
// our client: compare runs on the same machine.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "fault_proxy.h"
#include "storage/s3/s3_store.h"

namespace vecpuff {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

void Report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::printf("%-22s n=%4zu  p50 %6.2f ms  p99 %6.2f ms\n", what, v.size(), v[v.size() / 2],
              v[std::min(v.size() - 1, v.size() * 99 / 100)]);
}

// Puts `total` objects of `bytes` with `threads` threads; prints objects/s and MiB/s.
bool Throughput(ObjectStore* s, size_t bytes, int total, int threads) {
  const std::string data(bytes, 'y');
  std::atomic<int> next{0};
  std::atomic<bool> ok{true};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&] {
      for (int i = next++; i < total; i = next++) {
        std::string key =
            "tp/" + std::to_string(bytes) + "/" + std::to_string(threads) + "/" + std::to_string(i);
        if (!s->Put(key, data).ok()) ok = false;
      }
    });
  }
  for (auto& t : ts) t.join();
  double sec = Ms(Clock::now() - t0) / 1000;
  std::printf("PUT %7zu B x %4d, %d threads: %7.0f PUT/s  %7.1f MiB/s\n", bytes, total, threads,
              total / sec, total * bytes / sec / (1 << 20));
  return ok;
}

int Main(int argc, char** argv) {
  const char* endpoint = std::getenv("VECPUFF_TEST_S3_ENDPOINT");
  if (endpoint == nullptr) {
    std::fprintf(stderr, "s3_bench: run under scripts/with_moto.sh\n");
    return 2;
  }
  const int n = argc > 1 ? std::atoi(argv[1]) : 300;
  S3StoreOptions o;
  o.endpoint = endpoint;
  o.bucket = "s3bench-" + std::to_string(::time(nullptr));
  o.credentials = {"testing", "testing", ""};
  if (!CreateS3Bucket(o).ok()) return 1;
  auto store = OpenS3Store(o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  ObjectStore* s = store->get();
  std::printf("s3_bench against %s\n", endpoint);
  const std::string small(4096, 'x');
  std::vector<double> put, create, get, range, head;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (!s->Put("small/" + std::to_string(i), small).ok()) return 1;
    put.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    if (!s->Put("create/" + std::to_string(i), small, {PutMode::kCreateOnly, ""}).ok()) return 1;
    create.push_back(Ms(Clock::now() - t0));
  }
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    if (!s->Get("small/" + std::to_string(i)).ok()) return 1;
    get.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    if (!s->Get("small/" + std::to_string(i), ByteRange{1024, 512}).ok()) return 1;
    range.push_back(Ms(Clock::now() - t0));
    t0 = Clock::now();
    if (!s->Head("small/" + std::to_string(i)).ok()) return 1;
    head.push_back(Ms(Clock::now() - t0));
  }
  Report("PUT 4 KiB", put);
  Report("PUT 4 KiB create-only", create);
  Report("GET 4 KiB", get);
  Report("GET 512 B range", range);
  Report("HEAD", head);
  for (int threads : {1, 8}) {
    if (!Throughput(s, 1 << 20, 64, threads)) return 1;
    if (!Throughput(s, 1, 400, threads)) return 1;
  }
  // Concurrency only shows against a store with real latency (moto answers one request at
  // a time): the same objects through a proxy that holds each request 20 ms.
  const int upstream_port = std::atoi(std::strrchr(endpoint, ':') + 1);
  testing::FaultProxy proxy("127.0.0.1", upstream_port);
  if (!proxy.Start()) return 1;
  proxy.SetDelayMs(20);
  S3StoreOptions delayed = o;
  delayed.endpoint = "http://127.0.0.1:" + std::to_string(proxy.port());
  auto remote = OpenS3Store(delayed);
  if (!remote.ok()) return 1;
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back("small/" + std::to_string(i % n));
  for (size_t conc : {size_t{1}, size_t{16}}) {
    auto t0 = Clock::now();
    auto results = ParallelGet(remote->get(), keys, conc);
    for (auto& r : results) {
      if (!r.ok()) return 1;
    }
    std::printf("ParallelGet 64 x 4 KiB, +20 ms/request, %2zu in flight: %7.1f ms\n", conc,
                Ms(Clock::now() - t0));
  }
  proxy.Stop();
  return 0;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) { return vecpuff::Main(argc, argv); }
