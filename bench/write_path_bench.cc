// write_path_bench: figures for the write path and the exact scan, on the local store in a
// scratch directory (real files, real fsync).
//
//   ingest (engine)  W threads call Database::Write with requests of B rows of D dims
//   ingest (HTTP)    W clients POST the same requests as JSON to an in-process HttpServer
//   query            single-thread exact top-10 queries over everything written
//
// Prints rows/s to durable acknowledgement, request latency percentiles, WAL objects
// written (group commit at work) and query latency. A benchmark, not a test: it asserts
// nothing.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"
#include "catalog/layout.h"
#include "db/database.h"
#include "storage/counting_store.h"
#include "storage/local_store.h"
#include "storage/s3/s3_store.h"

namespace vecpuff {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string backend = "local";  // or "s3": the S3 test server at VECPUFF_TEST_S3_ENDPOINT
  int rows = 60000;
  int dims = 784;
  int writers = 8;
  int batch = 100;
  int queries = 200;
  int64_t window_ms = 5;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

std::vector<float> RandomVector(std::mt19937* rng, int dims) {
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> v(dims);
  for (float& x : v) x = u(*rng);
  return v;
}

struct IngestFigures {
  double seconds = 0;
  std::vector<double> latencies_ms;
};

// Runs `writers` threads, each sending requests built by `send(thread, first_row, rows)`.
template <typename Send>
IngestFigures Ingest(const Args& a, Send send) {
  IngestFigures f;
  std::mutex mu;
  std::atomic<int> next{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < a.writers; ++t) {
    threads.emplace_back([&, t] {
      std::vector<double> mine;
      while (true) {
        int first = next.fetch_add(a.batch);
        if (first >= a.rows) break;
        int n = std::min(a.batch, a.rows - first);
        auto t0 = Clock::now();
        if (!send(t, first, n)) {
          std::fprintf(stderr, "write failed\n");
          std::exit(1);
        }
        mine.push_back(Ms(Clock::now() - t0));
      }
      std::lock_guard<std::mutex> lock(mu);
      f.latencies_ms.insert(f.latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : threads) th.join();
  f.seconds = Ms(Clock::now() - start) / 1000;
  return f;
}

void Report(const char* what, const Args& a, const IngestFigures& f, uint64_t wal_objects) {
  std::printf(
      "%-16s %9.0f rows/s  %7.1f MB/s vectors  request p50 %6.1f ms  p99 %6.1f ms  "
      "%zu requests -> %llu WAL objects\n",
      what, a.rows / f.seconds, a.rows * a.dims * 4.0 / f.seconds / 1e6,
      Percentile(f.latencies_ms, 0.5), Percentile(f.latencies_ms, 0.99), f.latencies_ms.size(),
      static_cast<unsigned long long>(wal_objects));
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    long v = std::strtol(argv[i + 1], nullptr, 10);
    if (k == "--backend")
      a.backend = argv[i + 1];
    else if (k == "--rows")
      a.rows = v;
    else if (k == "--dims")
      a.dims = v;
    else if (k == "--writers")
      a.writers = v;
    else if (k == "--batch")
      a.batch = v;
    else if (k == "--queries")
      a.queries = v;
    else if (k == "--window-ms")
      a.window_ms = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  std::string dir = std::filesystem::temp_directory_path().string() + "/vecpuff-bench-" +
                    std::to_string(getpid());
  std::mt19937 rng(42);
  std::vector<std::vector<float>> data(a.rows);
  for (auto& v : data) v = RandomVector(&rng, a.dims);

  Result<std::unique_ptr<ObjectStore>> opened = Status::InvalidArgument("unknown --backend");
  std::string where = dir;
  if (a.backend == "local") {
    opened = OpenLocalStore(dir);
  } else if (a.backend == "s3") {
    const char* endpoint = std::getenv("VECPUFF_TEST_S3_ENDPOINT");
    if (endpoint == nullptr) {
      std::fprintf(stderr, "--backend s3: run under scripts/with_moto.sh\n");
      return 2;
    }
    S3StoreOptions o;
    o.endpoint = endpoint;
    o.bucket = "bench-" + std::to_string(getpid());
    o.credentials = {"testing", "testing", ""};
    Status created = CreateS3Bucket(o);
    if (!created.ok()) {
      std::fprintf(stderr, "%s\n", created.ToString().c_str());
      return 1;
    }
    opened = OpenS3Store(o);
    where = std::string(endpoint) + "/" + o.bucket;
  }
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "write_path_bench: %d rows x %d dims, %d writers, %d rows/request, window %lld ms, "
      "%s store at %s\n",
      a.rows, a.dims, a.writers, a.batch, static_cast<long long>(a.window_ms), a.backend.c_str(),
      where.c_str());
  CountingStore store(opened->get());
  DbOptions o;
  o.batch_window_ms = a.window_ms;
  Database db(&store, o);

  // Engine ingest.
  IngestFigures engine = Ingest(a, [&](int, int first, int n) {
    WriteRequest w;
    for (int i = first; i < first + n; ++i) {
      w.upsert_rows.push_back({"e" + std::to_string(i), data[i], {{"i", i}}});
    }
    return db.Write("engine", std::move(w)).ok();
  });
  auto wal = ListAll(&store, WalPrefix("", "engine"));
  Report("ingest engine", a, engine, wal.ok() ? wal->size() : 0);

  // HTTP ingest: JSON encoding, parsing and the server on loopback included.
  HttpServerOptions h;
  h.port = 0;
  HttpServer server(&db, h);
  if (!server.Start().ok()) return 1;
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (int t = 0; t < a.writers; ++t) {
    clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", server.port()));
    clients.back()->set_keep_alive(true);
    clients.back()->set_read_timeout(60, 0);
  }
  IngestFigures http = Ingest(a, [&](int t, int first, int n) {
    nlohmann::json rows = nlohmann::json::array();
    for (int i = first; i < first + n; ++i) {
      rows.push_back({{"id", "h" + std::to_string(i)}, {"vector", data[i]}, {"i", i}});
    }
    auto res = clients[t]->Post("/namespaces/http", nlohmann::json{{"upsert_rows", rows}}.dump(),
                                "application/json");
    return res && res->status == 200;
  });
  wal = ListAll(&store, WalPrefix("", "http"));
  Report("ingest HTTP", a, http, wal.ok() ? wal->size() : 0);

  // Queries: exact scan over all rows of the engine namespace.
  std::vector<double> q_ms;
  for (int q = 0; q < a.queries; ++q) {
    QueryRequest req;
    req.vector = RandomVector(&rng, a.dims);
    req.include_vectors = false;
    auto t0 = Clock::now();
    auto r = db.Query("engine", req);
    q_ms.push_back(Ms(Clock::now() - t0));
    if (!r.ok() || r->hits.size() != 10) return 1;
  }
  double total = 0;
  for (double x : q_ms) total += x;
  std::printf("%-16s %9.1f QPS (1 thread)  p50 %6.2f ms  p99 %6.2f ms  over %d rows\n",
              "query exact", a.queries / (total / 1000), Percentile(q_ms, 0.5),
              Percentile(q_ms, 0.99), a.rows);
  server.Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) { return vecpuff::Main(argc, argv); }
