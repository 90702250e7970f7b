// write_path_bench: figures for the write path and the exact scan, on the local store in a
// scratch directory (real files, real fsync).
//
//   ingest (engine)  W threads call Database::Write with requests of B rows of D dims
//   ingest (HTTP)    W clients POST the same requests as JSON to an in-process HttpServer
//   query            single-thread exact top-10 queries over everything written
//   query HTTP       C keep-alive clients POST exact top-10 queries to a small namespace
//                    (--query-rows rows, so the search is cheap and the HTTP layer shows)
//
// HTTP request bodies are encoded before the clock starts: the figures are the server's,
// not the in-process client's JSON encoder. --float-format double (default) sends each
// float32 widened to double in shortest form, as nlohmann or Python's json do (about 18
// characters a number); --float-format float sends the shortest float32 form (about 10);
// --float-format int makes the vectors pixel-like integers (half of them 0, the rest 0..255,
// as ann_bench sends Fashion-MNIST: about 3 characters a number).
//
// Prints rows/s to durable acknowledgement, request latency percentiles, WAL objects
// written (group commit at work), the server's CPU time per row during HTTP ingest (the
// process's CPU time less the client threads'; on a shared machine a steadier figure than
// rows/s), the codec's and the WAL encoder's CPU time per row, and query latency. A
// benchmark, not a test: it asserts nothing. --compactor off keeps indexing out of the
// figures.
#include <httplib.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
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
#include "api/json_codec.h"
#include "catalog/layout.h"
#include "db/database.h"
#include "storage/counting_store.h"
#include "storage/local_store.h"
#include "storage/s3/s3_store.h"
#include "wal/wal_format.h"

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
  std::string float_format = "double";  // or "float", "int"
  bool compactor = true;
  int query_rows = 500;
  int query_clients = 8;
  int http_queries = 20000;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// CPU time of the calling thread in ms: the codec figures stay meaningful on a busy machine.
double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

std::vector<float> RandomVector(std::mt19937* rng, int dims, bool integers = false) {
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> v(dims);
  for (float& x : v)
    x = integers ? ((*rng)() % 2 ? 0.0f : static_cast<float>((*rng)() % 256)) : u(*rng);
  return v;
}

// CPU time of the whole process in ms.
double ProcessCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void Usage() {
  std::fprintf(stderr,
               "usage: write_path_bench [--backend local|s3] [--rows N] [--dims D] [--writers W]\n"
               "                        [--batch B] [--queries Q] [--window-ms MS]\n"
               "                        [--float-format double|float|int] [--compactor on|off]\n"
               "                        [--query-rows N] [--query-clients C] [--http-queries N]\n");
}

// Appends `v` as a JSON array: floats widened to double (what nlohmann and Python's json
// send for float32 data) or in their own shortest form.
void AppendVector(const std::vector<float>& v, bool as_double, std::string* out) {
  char buf[64];
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out->push_back(',');
    // Integral values (--float-format int) come out as integers either way: "0", "255".
    auto r = as_double ? std::to_chars(buf, buf + sizeof(buf), static_cast<double>(v[i]))
                       : std::to_chars(buf, buf + sizeof(buf), v[i]);
    out->append(buf, r.ptr);
  }
  out->push_back(']');
}

struct IngestFigures {
  double seconds = 0;
  std::vector<double> latencies_ms;
  double client_cpu_ms = 0;   // CPU time of the sending threads
  double process_cpu_ms = 0;  // CPU time of the whole process meanwhile
};

// Runs `writers` threads, each sending requests built by `send(thread, first_row, rows)`.
template <typename Send>
IngestFigures Ingest(const Args& a, Send send) {
  IngestFigures f;
  std::mutex mu;
  std::atomic<int> next{0};
  auto start = Clock::now();
  const double cpu0 = ProcessCpuMs();
  std::vector<std::thread> threads;
  for (int t = 0; t < a.writers; ++t) {
    threads.emplace_back([&, t] {
      const double thread_cpu0 = ThreadCpuMs();
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
      const double thread_cpu = ThreadCpuMs() - thread_cpu0;
      std::lock_guard<std::mutex> lock(mu);
      f.latencies_ms.insert(f.latencies_ms.end(), mine.begin(), mine.end());
      f.client_cpu_ms += thread_cpu;
    });
  }
  for (auto& th : threads) th.join();
  f.seconds = Ms(Clock::now() - start) / 1000;
  f.process_cpu_ms = ProcessCpuMs() - cpu0;
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
  for (int i = 1; i < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h" || i + 1 >= argc) {
      Usage();
      return k == "--help" || k == "-h" ? 0 : 2;
    }
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
    else if (k == "--float-format")
      a.float_format = argv[i + 1];
    else if (k == "--compactor")
      a.compactor = std::string(argv[i + 1]) != "off";
    else if (k == "--query-rows")
      a.query_rows = v;
    else if (k == "--query-clients")
      a.query_clients = v;
    else if (k == "--http-queries")
      a.http_queries = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      Usage();
      return 2;
    }
  }
  std::string dir = std::filesystem::temp_directory_path().string() + "/vecpuff-bench-" +
                    std::to_string(getpid());
  if (a.float_format != "double" && a.float_format != "float" && a.float_format != "int") {
    Usage();
    return 2;
  }
  const bool integers = a.float_format == "int";
  std::mt19937 rng(42);
  std::vector<std::vector<float>> data(a.rows);
  for (auto& v : data) v = RandomVector(&rng, a.dims, integers);

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
      "%s store at %s, HTTP floats as %s\n",
      a.rows, a.dims, a.writers, a.batch, static_cast<long long>(a.window_ms), a.backend.c_str(),
      where.c_str(), a.float_format.c_str());
  CountingStore store(opened->get());
  DbOptions o;
  o.batch_window_ms = a.window_ms;
  o.compactor_enabled = a.compactor;
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
    clients.back()->set_tcp_nodelay(true);  // as curl, Python's urllib3 and Go's net/http do
    clients.back()->set_read_timeout(60, 0);
  }
  const bool as_double = a.float_format == "double";
  std::vector<std::string> bodies((a.rows + a.batch - 1) / a.batch);
  for (size_t b = 0; b < bodies.size(); ++b) {
    std::string& body = bodies[b];
    body = R"({"upsert_rows":[)";
    for (int i = b * a.batch; i < std::min<int>(a.rows, (b + 1) * a.batch); ++i) {
      if (i != static_cast<int>(b) * a.batch) body.push_back(',');
      body += R"({"id":"h)" + std::to_string(i) + R"(","vector":)";
      AppendVector(data[i], as_double, &body);
      body += R"(,"i":)" + std::to_string(i) + "}";
    }
    body += "]}";
  }
  {
    // The codec alone, in this thread: the server's cost per request before the engine.
    const int reps = 20;
    double t0 = ThreadCpuMs();
    for (int i = 0; i < reps; ++i) {
      if (!ParseWriteRequest(bodies[i % bodies.size()]).ok()) return 1;
    }
    double ms = (ThreadCpuMs() - t0) / reps;
    std::printf(
        "%-16s %9.0f rows/s  %7.1f MB/s JSON  %.1f ns/number (per CPU second, %d rows/body)\n",
        "decode write", a.batch / ms * 1000, bodies[0].size() / ms / 1000,
        ms * 1e6 / (a.batch * a.dims), a.batch);
    // The WAL encoder (serialization and compression) for a batch of 4 such requests.
    std::vector<WalRequest> requests;
    for (int r = 0; r < 4; ++r) {
      auto w = ParseWriteRequest(bodies[r % bodies.size()]);
      if (!w.ok()) return 1;
      WalRequest& wal = requests.emplace_back();
      for (UpsertRow& row : w->upsert_rows) {
        WalOp& op = wal.ops.emplace_back();
        op.id = std::move(row.id);
        op.vector = std::move(row.vector);
        op.attributes = std::move(row.attributes);
      }
    }
    size_t rows = 0, raw = 0, stored = 0;
    for (const WalRequest& r : requests) rows += r.ops.size();
    t0 = ThreadCpuMs();
    for (int i = 0; i < reps; ++i) {
      std::string payload = EncodeWalPayload(requests);
      raw = WalPayloadRawSize(payload);
      stored = payload.size();
    }
    ms = (ThreadCpuMs() - t0) / reps;
    std::printf("%-16s %9.0f rows/s  %7.1f MB/s  %.2f us/row, %zu -> %zu bytes (per CPU second)\n",
                "encode WAL", rows / ms * 1000, raw / ms / 1000, ms * 1000 / rows, raw, stored);
  }
  IngestFigures http = Ingest(a, [&](int t, int first, int) {
    auto res = clients[t]->Post("/namespaces/http", bodies[first / a.batch], "application/json");
    return res && res->status == 200;
  });
  bodies.clear();
  bodies.shrink_to_fit();
  wal = ListAll(&store, WalPrefix("", "http"));
  Report("ingest HTTP", a, http, wal.ok() ? wal->size() : 0);
  std::printf("%-16s %9.1f us/row server CPU (process %.0f ms less clients %.0f ms)%s\n",
              "ingest HTTP CPU", (http.process_cpu_ms - http.client_cpu_ms) * 1000 / a.rows,
              http.process_cpu_ms, http.client_cpu_ms,
              a.compactor ? ", compactor on: indexing included" : "");

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

  // HTTP queries: concurrent keep-alive clients against a namespace small enough that the
  // search costs about as much as an ANN search would, so the HTTP layer's share shows.
  {
    WriteRequest w;
    for (int i = 0; i < a.query_rows; ++i) {
      w.upsert_rows.push_back({"q" + std::to_string(i), data[i % a.rows], {{"i", i}}});
    }
    if (!db.Write("qsmall", std::move(w)).ok()) return 1;
  }
  std::vector<std::string> query_bodies(64);
  for (std::string& body : query_bodies) {
    body = R"({"query_vector":)";
    AppendVector(RandomVector(&rng, a.dims), as_double, &body);
    body += R"(,"top_k":10,"include_vectors":false,"consistency":{"level":"eventual"}})";
  }
  {
    // The codec alone for one query: decode the body, encode 10 hits.
    auto hits = db.Query("qsmall", *ParseQueryRequest(query_bodies[0]));
    if (!hits.ok()) return 1;
    QueryResult with_vectors = *hits;
    for (QueryHit& h : with_vectors.hits) h.vector = data[0];
    QueryResult without = *hits;
    for (QueryHit& h : without.hits) h.vector.clear();
    const int reps = 2000;
    size_t sink = 0;
    double t0 = ThreadCpuMs();
    for (int i = 0; i < reps; ++i) sink += ParseQueryRequest(query_bodies[i % 64])->vector.size();
    double decode_us = (ThreadCpuMs() - t0) * 1000 / reps;
    t0 = ThreadCpuMs();
    for (int i = 0; i < reps; ++i) sink += EncodeQueryResult(without).size();
    double encode_us = (ThreadCpuMs() - t0) * 1000 / reps;
    t0 = ThreadCpuMs();
    for (int i = 0; i < reps / 10; ++i) sink += EncodeQueryResult(with_vectors).size();
    double encode_vectors_us = (ThreadCpuMs() - t0) * 10000 / reps;
    std::printf(
        "%-16s decode %.1f us (%d dims), encode top-%zu %.1f us, with vectors %.1f us "
        "(CPU time)\n",
        "codec query", decode_us, a.dims, without.hits.size(), encode_us, encode_vectors_us);
    volatile size_t keep = sink;  // the loops must not be optimized away
    (void)keep;
  }
  for (bool include_vectors : {false, true}) {
    std::vector<std::string> bodies_now = query_bodies;
    if (include_vectors) {
      for (std::string& b : bodies_now) {
        b.replace(b.find(R"("include_vectors":false)"), 23, R"("include_vectors":true)");
      }
    }
    std::atomic<int> next{0};
    std::mutex mu;
    std::vector<double> lat_ms;
    std::atomic<bool> failed{false};
    size_t response_bytes = 0;
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < a.query_clients; ++t) {
      threads.emplace_back([&, t] {
        httplib::Client c("127.0.0.1", server.port());
        c.set_keep_alive(true);
        c.set_tcp_nodelay(true);
        std::vector<double> mine;
        size_t bytes = 0;
        for (int q; (q = next.fetch_add(1)) < a.http_queries;) {
          auto t0 = Clock::now();
          auto res = c.Post("/namespaces/qsmall/query", bodies_now[(q + t) % bodies_now.size()],
                            "application/json");
          if (!res || res->status != 200) {
            failed = true;
            return;
          }
          bytes += res->body.size();
          mine.push_back(Ms(Clock::now() - t0));
        }
        std::lock_guard<std::mutex> lock(mu);
        lat_ms.insert(lat_ms.end(), mine.begin(), mine.end());
        response_bytes += bytes;
      });
    }
    for (auto& th : threads) th.join();
    if (failed) {
      std::fprintf(stderr, "HTTP query failed\n");
      return 1;
    }
    double s = Ms(Clock::now() - start) / 1000;
    std::printf(
        "%-16s %9.1f QPS (%d clients)  p50 %6.2f ms  p99 %6.2f ms  over %d rows, "
        "include_vectors %s, %.0f bytes/response\n",
        "query HTTP", lat_ms.size() / s, a.query_clients, Percentile(lat_ms, 0.5),
        Percentile(lat_ms, 0.99), a.query_rows, include_vectors ? "true" : "false",
        lat_ms.empty() ? 0.0 : static_cast<double>(response_bytes) / lat_ms.size());
  }
  server.Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) { return vecpuff::Main(argc, argv); }
