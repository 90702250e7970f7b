// ann_bench: VecPuff in process (a Database over a LocalStore in a scratch directory) and
// through its HTTP server (the vecpuff binary as a subprocess on loopback), plus the figures
// only VecPuff has: ingest to durable acknowledgement, time until fully indexed, write
// amplification, concurrent HTTP clients and a cold query with injected object-store latency.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "ann_bench.h"
#include "db/database.h"
#include "storage/counting_store.h"
#include "storage/latency_store.h"
#include "storage/local_store.h"

namespace vecpuff::annbench {
namespace {

const char* const kNamespace = "fmnist";

// Zero-padded so that VecPuff's tie-break on equal distances (ascending id, as strings)
// matches the ground truth's (ascending row number).
std::string RowId(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%06d", i);
  return buf;
}

struct IndexState {
  std::string status;
  uint64_t indexed_rows = 0;
};

struct IndexWait {
  bool indexed = false;
  double seconds = 0;
  uint64_t indexed_rows = 0;
  std::string note;
};

// Polls until the namespace reports up_to_date with every row indexed. Gives up after
// `timeout_s`, or after 10 s of "up_to_date" with rows still unindexed: the engine then says
// it has no indexing work pending, i.e. it does not index (yet).
IndexWait WaitUntilIndexed(const std::function<bool(IndexState*)>& poll, uint64_t rows,
                           int timeout_s) {
  IndexWait w;
  auto start = Clock::now();
  bool idle = false;  // up_to_date with rows unindexed, since idle_since
  Clock::time_point idle_since = start;
  while (true) {
    IndexState s;
    if (!poll(&s)) {
      w.note = "metadata request failed";
      break;
    }
    w.indexed_rows = s.indexed_rows;
    auto now = Clock::now();
    if (s.status == "up_to_date" && s.indexed_rows >= rows) {
      w.indexed = true;
      break;
    }
    if (s.status == "up_to_date") {
      if (!idle) idle_since = now;
      idle = true;
      if (Seconds(now - idle_since) > 10) {
        w.note = "engine reports up_to_date with " + std::to_string(s.indexed_rows) + " of " +
                 std::to_string(rows) + " rows indexed: no ANN index built";
        break;
      }
    } else {
      idle = false;
    }
    if (Seconds(now - start) > timeout_s) {
      w.note = "not indexed within " + std::to_string(timeout_s) + "s (" +
               std::to_string(s.indexed_rows) + " of " + std::to_string(rows) + " rows indexed)";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  w.seconds = Seconds(Clock::now() - start);
  Log("vecpuff: index wait %.1f s: %s", w.seconds, w.indexed ? "fully indexed" : w.note.c_str());
  return w;
}

// The effort settings to sweep: probes, then exact. Without an index every query is an
// exact scan whatever the setting, so only the default is run.
struct Setting {
  std::string name;
  uint32_t probes = 0;
  bool exact = false;
};

std::vector<Setting> Settings(const Args& args, bool has_index) {
  if (!has_index) return {{"default (exact scan)", 0, false}};
  std::vector<Setting> s;
  std::vector<uint32_t> probes = !args.probes.empty() ? args.probes
                                 : args.quick         ? std::vector<uint32_t>{4, 16}
                                              : std::vector<uint32_t>{2, 4, 6, 8, 12, 16, 32};
  for (uint32_t p : probes) s.push_back({"probes=" + std::to_string(p), p, false});
  if (args.exact) s.push_back({"exact", 0, true});
  return s;
}

std::string FormatDouble(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

void RecordWriteAmplification(const NamespaceMetadata& m, SystemResult* r) {
  r->extra["index_bytes_written"] = m.index_bytes_written;
  r->extra["index_input_bytes"] = m.index_input_bytes;
  if (m.index_input_bytes > 0) {
    r->extra["write_amplification"] = double(m.index_bytes_written) / m.index_input_bytes;
  }
}

}  // namespace

SystemResult RunVecpuff(const Args& args, Dataset* data) {
  SystemResult r;
  r.system = "vecpuff";
  r.label = "VecPuff in-process";
  std::string dir = MakeScratchDir(args, "vecpuff");
  auto opened = OpenLocalStore(dir + "/store");
  if (!opened.ok()) {
    r.notes.push_back("vecpuff: " + opened.status().ToString());
    return r;
  }
  std::unique_ptr<ObjectStore> store = std::move(*opened);
  DbOptions options;
  auto db = std::make_unique<Database>(store.get(), options);

  // Ingest: build_threads writers, batches of ingest_batch rows, each acknowledged durable.
  Log("vecpuff: ingesting %d rows in batches of %d with %d writers", data->n_base,
      args.ingest_batch, args.build_threads);
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  auto t0 = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < args.build_threads; ++t) {
    writers.emplace_back([&] {
      while (!failed) {
        int first = next.fetch_add(args.ingest_batch);
        if (first >= data->n_base) break;
        WriteRequest w;
        w.distance_metric = DistanceMetric::kEuclideanSquared;
        for (int i = first; i < std::min(data->n_base, first + args.ingest_batch); ++i) {
          w.upsert_rows.push_back({RowId(i), data->BaseFloat(i), nlohmann::json::object()});
        }
        auto res = db->Write(kNamespace, std::move(w));
        if (!res.ok()) {
          Log("vecpuff: write failed: %s", res.status().ToString().c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& th : writers) th.join();
  if (failed) {
    r.notes.push_back("vecpuff: ingest failed");
    return r;
  }
  double ingest_s = Seconds(Clock::now() - t0);
  r.extra["ingest_engine_rows_per_s"] = data->n_base / ingest_s;
  data->ReleaseBase();

  IndexWait wait = WaitUntilIndexed(
      [&](IndexState* s) {
        auto m = db->Metadata(kNamespace);
        if (!m.ok()) return false;
        s->status = m->index_status;
        s->indexed_rows = m->indexed_row_count;
        return true;
      },
      data->n_base, args.index_timeout_s);
  r.build_s = ingest_s + (wait.indexed ? wait.seconds : 0);
  r.build_note = "ingest " + FormatDouble(ingest_s, 1) + " s (" +
                 std::to_string(args.build_threads) + " writers) + " +
                 (wait.indexed ? "index " + FormatDouble(wait.seconds, 1) + " s" : wait.note);
  r.extra["index_wait_s"] = wait.seconds;
  r.extra["indexed"] = wait.indexed;
  r.extra["index_note"] = wait.note;
  r.extra["indexed_rows"] = wait.indexed_rows;
  if (!wait.indexed) r.notes.push_back("vecpuff: " + wait.note);
  if (auto ns = db->TestOnlyNamespace(kNamespace); ns.ok()) {
    r.extra["centroids"] = (*ns)->centroid_count();
    Log("vecpuff: %zu centroids", (*ns)->centroid_count());
  }

  std::vector<std::vector<float>> queries(data->n_query);
  for (int q = 0; q < data->n_query; ++q) queries[q] = data->QueryFloat(q);
  Setting current;
  Database* target = db.get();  // the Database queried: the warm one, later the cold one
  auto search = [&](int q, std::vector<int64_t>* ids) {
    QueryRequest req;
    req.vector = queries[q];
    req.top_k = kTopK;
    req.include_vectors = false;
    req.include_attributes = false;
    req.probes = current.probes;
    req.exact = current.exact;
    auto res = target->Query(kNamespace, req);
    if (!res.ok()) return false;
    for (const QueryHit& h : res->hits) ids->push_back(std::strtoll(h.id.c_str(), nullptr, 10));
    return true;
  };
  for (int q = 0; q < std::min(100, data->n_query); ++q) {
    std::vector<int64_t> ids;
    search(q, &ids);
  }
  r.memory = ReadMemory();
  r.memory_note = "the bench process holding one Database (queries and truth included)";

  for (const Setting& s : Settings(args, wait.indexed_rows > 0)) {
    current = s;
    r.points.push_back(MeasureSetting(args, *data, s.name, search));
  }

  auto meta = db->Metadata(kNamespace);
  if (meta.ok()) RecordWriteAmplification(*meta, &r);

  // Cold query: a fresh Database (empty memory caches) over the same store, each request
  // delayed by cold_latency_ms, as if the store were S3 in another region.
  db.reset();
  CountingStore counting(store.get());
  LatencyInjectingStore slow(&counting, std::chrono::milliseconds(args.cold_latency_ms));
  DbOptions cold_options = options;
  cold_options.compactor_enabled = false;  // count the query's requests only
  Database cold(&slow, cold_options);
  target = &cold;
  current = Setting{};
  for (int i = 0; i < 2; ++i) {
    counting.Reset();
    std::vector<int64_t> ids;
    auto q0 = Clock::now();
    bool ok = search(i, &ids);
    double ms = Seconds(Clock::now() - q0) * 1000;
    auto c = counting.counts();
    const char* key = i == 0 ? "cold" : "second";
    r.extra[key] = {
        {"ok", ok},
        {"latency_ms", ms},
        {"requests", c.requests()},
        {"gets", c.gets},
        {"lists", c.lists},
        {"heads", c.heads},
        {"bytes_read", c.bytes_read},
        {"round_trips_approx", args.cold_latency_ms > 0 ? ms / args.cold_latency_ms : 0.0}};
    Log("vecpuff: %s query with %d ms per request: %.0f ms, %llu requests (%llu GET, %llu "
        "LIST), %.1f MB read",
        key, args.cold_latency_ms, ms, static_cast<unsigned long long>(c.requests()),
        static_cast<unsigned long long>(c.gets), static_cast<unsigned long long>(c.lists),
        c.bytes_read / 1e6);
  }
  r.extra["cold_latency_ms_per_request"] = args.cold_latency_ms;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

namespace {

// The vecpuff server as a child process on a port the OS picks (--port 0; the bound port is
// read from its log).
class Server {
 public:
  // memory_cache_mb < 0: the server's default cache.memory_bytes.
  Server(std::string binary, std::string dir, int memory_cache_mb)
      : binary_(std::move(binary)), dir_(std::move(dir)), memory_cache_mb_(memory_cache_mb) {}
  ~Server() { Stop(); }

  bool Start() {
    std::string log = dir_ + "/server.log";
    std::string config = dir_ + "/config.toml";
    {
      std::ofstream out(config);
      out << "[log]\nlevel = \"info\"\n";
      if (memory_cache_mb_ >= 0) {
        out << "[cache]\nmemory_bytes = " << (uint64_t{1} << 20) * memory_cache_mb_ << "\n";
      }
    }
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      FILE* f = std::fopen(log.c_str(), "w");
      if (f != nullptr) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      for (const char* v : {"VECPUFF_STORAGE", "S3_BUCKET", "VECPUFF_CONFIG"}) unsetenv(v);
      std::string data = dir_ + "/data";
      execl(binary_.c_str(), binary_.c_str(), "--config", config.c_str(), "--host", "127.0.0.1",
            "--port", "0", "--storage", "local", "--data-dir", data.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 300 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::ifstream in(log);
      std::string line;
      while (std::getline(in, line)) {
        size_t at = line.find("listening on http://127.0.0.1:");
        if (at != std::string::npos) port_ = std::atoi(line.c_str() + at + 30);
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
    }
    return port_ > 0;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  int pid() const { return pid_; }
  std::string data_dir() const { return dir_ + "/data"; }

 private:
  std::string binary_, dir_;
  int memory_cache_mb_ = -1;
  int pid_ = -1;
  int port_ = 0;
};

std::unique_ptr<httplib::Client> NewClient(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_read_timeout(120, 0);
  c->set_write_timeout(120, 0);
  return c;
}

std::string VectorJson(const uint8_t* row, int dim) {
  std::string s = "[";
  for (int j = 0; j < dim; ++j) {
    if (j > 0) s += ',';
    s += std::to_string(row[j]);
  }
  return s + "]";
}

}  // namespace

SystemResult RunVecpuffHttp(const Args& args, Dataset* data) {
  SystemResult r;
  r.system = "vecpuff-http";
  r.label = "VecPuff HTTP";
  std::string dir = MakeScratchDir(args, "vecpuff-http");
  Server server(args.vecpuff_bin, dir, args.http_memory_cache_mb);
  if (!server.Start()) {
    r.notes.push_back("vecpuff-http: server did not start; see " + dir + "/server.log");
    return r;
  }
  Log("vecpuff-http: server pid %d on port %d", server.pid(), server.port());

  // Ingest: bodies encoded beforehand, so that the clients' JSON encoding (on the same two
  // cores) is not counted against the server.
  std::vector<std::string> bodies;
  for (int first = 0; first < data->n_base; first += args.ingest_batch) {
    std::string body = R"({"distance_metric":"euclidean_squared","upsert_rows":[)";
    for (int i = first; i < std::min(data->n_base, first + args.ingest_batch); ++i) {
      if (i > first) body += ',';
      body += R"({"id":")" + RowId(i) + R"(","vector":)" +
              VectorJson(data->base_row(i), data->dim) + "}";
    }
    bodies.push_back(body + "]}");
  }
  size_t body_bytes = 0;
  for (const auto& b : bodies) body_bytes += b.size();
  data->ReleaseBase();
  Log("vecpuff-http: ingesting %d rows, %zu requests of %d rows (%.0f MB JSON), %d clients",
      data->n_base, bodies.size(), args.ingest_batch, body_bytes / 1e6, args.http_clients_ingest);
  const std::string write_path = std::string("/namespaces/") + kNamespace;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::vector<double> write_ms;
  auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < args.http_clients_ingest; ++t) {
    clients.emplace_back([&] {
      auto c = NewClient(server.port());
      std::vector<double> mine;
      for (size_t b = next++; b < bodies.size() && !failed; b = next++) {
        auto w0 = Clock::now();
        auto res = c->Post(write_path, bodies[b], "application/json");
        if (!res || res->status != 200) {
          Log("vecpuff-http: write failed: %s",
              res ? (std::to_string(res->status) + " " + res->body.substr(0, 200)).c_str()
                  : httplib::to_string(res.error()).c_str());
          failed = true;
        }
        mine.push_back(Seconds(Clock::now() - w0) * 1000);
      }
      std::lock_guard<std::mutex> lock(mu);
      write_ms.insert(write_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : clients) th.join();
  double ingest_s = Seconds(Clock::now() - t0);
  std::vector<std::string>().swap(bodies);
  if (failed) {
    r.notes.push_back("vecpuff-http: ingest failed; see " + dir + "/server.log");
    return r;
  }
  r.extra["ingest_http"] = {{"rows_per_s", data->n_base / ingest_s},
                            {"vector_mb_per_s", data->n_base * data->dim * 4.0 / ingest_s / 1e6},
                            {"json_mb_per_s", body_bytes / ingest_s / 1e6},
                            {"clients", args.http_clients_ingest},
                            {"batch_rows", args.ingest_batch},
                            {"request_p50_ms", Percentile(write_ms, 0.5)},
                            {"request_p99_ms", Percentile(write_ms, 0.99)},
                            {"seconds", ingest_s}};
  Log("vecpuff-http: ingest %.1f s, %.0f rows/s", ingest_s, data->n_base / ingest_s);

  auto meta_client = NewClient(server.port());
  IndexWait wait = WaitUntilIndexed(
      [&](IndexState* s) {
        auto res = meta_client->Get(write_path + "/metadata");
        if (!res || res->status != 200) return false;
        auto j = nlohmann::json::parse(res->body, nullptr, false);
        if (j.is_discarded() || !j.contains("index")) return false;
        s->status = j["index"].value("status", "");
        s->indexed_rows = j["index"].value("indexed_row_count", uint64_t{0});
        return true;
      },
      data->n_base, args.index_timeout_s);
  r.build_s = ingest_s + (wait.indexed ? wait.seconds : 0);
  r.build_note = "ingest " + FormatDouble(ingest_s, 1) + " s (" +
                 std::to_string(args.http_clients_ingest) + " HTTP clients) + " +
                 (wait.indexed ? "index " + FormatDouble(wait.seconds, 1) + " s" : wait.note);
  r.extra["index_wait_s"] = wait.seconds;
  r.extra["indexed"] = wait.indexed;
  r.extra["index_note"] = wait.note;

  std::vector<std::string> query_vectors(data->n_query);
  for (int q = 0; q < data->n_query; ++q) {
    query_vectors[q] = VectorJson(data->query_row(q), data->dim);
  }
  const std::string query_path = write_path + "/query";
  std::string extra_fields;  // the current setting, as JSON fields
  auto query_once = [&](httplib::Client* c, int q, std::vector<int64_t>* ids, int* status) {
    std::string body = R"({"query_vector":)" + query_vectors[q] +
                       R"(,"top_k":10,"include_vectors":false,"include_attributes":false)" +
                       extra_fields + "}";
    auto res = c->Post(query_path, body, "application/json");
    *status = res ? res->status : 0;
    if (!res || res->status != 200) return false;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return false;
    for (const auto& hit : j.value("results", nlohmann::json::array())) {
      ids->push_back(std::strtoll(hit.value("id", "").c_str(), nullptr, 10));
    }
    return true;
  };
  auto client = NewClient(server.port());
  auto search = [&](int q, std::vector<int64_t>* ids) {
    int status = 0;
    return query_once(client.get(), q, ids, &status);
  };
  for (int q = 0; q < std::min(100, data->n_query); ++q) {
    std::vector<int64_t> ids;
    search(q, &ids);
  }
  r.memory = ReadMemory(server.pid());
  r.memory_note = "the vecpuff server process";

  std::string best_fields;
  std::string best_name = "default";
  bool have_best = false;
  for (const Setting& s : Settings(args, wait.indexed_rows > 0)) {
    extra_fields = s.exact ? R"(,"exact":true)"
                           : (s.probes > 0 ? R"(,"probes":)" + std::to_string(s.probes) : "");
    std::vector<int64_t> ids;
    int status = 0;
    if (!query_once(client.get(), 0, &ids, &status)) {
      SweepPoint p;
      p.setting = s.name;
      p.note = "server answered " + std::to_string(status) + " (setting not supported over HTTP?)";
      Log("  %-22s %s", s.name.c_str(), p.note.c_str());
      r.points.push_back(p);
      continue;
    }
    SweepPoint p = MeasureSetting(args, *data, s.name, search);
    r.points.push_back(p);
    if (!have_best && !s.exact && p.recall >= 0.95) {
      have_best = true;
      best_fields = extra_fields;
      best_name = s.name;
    }
  }

  // A server that rejects every effort field still answers at its default effort.
  bool any_measured = false;
  for (const SweepPoint& p : r.points) any_measured |= p.note.empty();
  if (!any_measured) {
    extra_fields.clear();
    SweepPoint p = MeasureSetting(args, *data, "default (server)", search);
    r.points.push_back(p);
    if (p.recall >= 0.95) best_name = p.setting;
  }

  // Concurrent keep-alive clients, one per thread, at the first setting reaching recall 0.95
  // (else the default); at least n_query queries and at least 3 s.
  extra_fields = best_fields;
  nlohmann::json concurrent = nlohmann::json::array();
  for (int n : {4, 16}) {
    std::atomic<int> issued{0};
    std::atomic<bool> errors{false};
    std::vector<double> lat_ms;
    auto c0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < n; ++t) {
      pool.emplace_back([&] {
        auto c = NewClient(server.port());
        std::vector<double> mine;
        while (true) {
          int i = issued++;
          if (i >= data->n_query && Seconds(Clock::now() - c0) >= 3) break;
          if (i >= 20 * data->n_query) break;
          std::vector<int64_t> ids;
          int status = 0;
          auto q0 = Clock::now();
          if (!query_once(c.get(), i % data->n_query, &ids, &status)) errors = true;
          mine.push_back(Seconds(Clock::now() - q0) * 1000);
        }
        std::lock_guard<std::mutex> lock(mu);
        lat_ms.insert(lat_ms.end(), mine.begin(), mine.end());
      });
    }
    for (auto& th : pool) th.join();
    double s = Seconds(Clock::now() - c0);
    concurrent.push_back({{"clients", n},
                          {"setting", best_name},
                          {"qps", lat_ms.size() / s},
                          {"p50_ms", Percentile(lat_ms, 0.5)},
                          {"p99_ms", Percentile(lat_ms, 0.99)},
                          {"queries", lat_ms.size()},
                          {"errors", errors.load()}});
    Log("vecpuff-http: %2d clients at %s: %.1f QPS, p50 %.2f ms, p99 %.2f ms", n, best_name.c_str(),
        lat_ms.size() / s, Percentile(lat_ms, 0.5), Percentile(lat_ms, 0.99));
  }
  r.extra["concurrent"] = concurrent;
  server.Stop();

  // The HTTP metadata does not carry the write amplification counters: read them with a
  // Database over the server's data directory once the server has stopped.
  if (auto store = OpenLocalStore(server.data_dir()); store.ok()) {
    Database db(store->get(), DbOptions{});
    if (auto m = db.Metadata(kNamespace); m.ok()) RecordWriteAmplification(*m, &r);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace vecpuff::annbench
