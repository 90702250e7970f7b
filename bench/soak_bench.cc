// soak_bench: a mixed read/write load against the real `vecpuff` binary over HTTP on
// loopback, for a fixed time, with the compactor running; it reports throughput, latency,
// errors, the server's memory and the unindexed backlog every interval, and at the end
// whether memory and tail latency stayed flat. `make stress` runs it for 30 minutes.
//
//   server    by default the vecpuff binary built with this one (ServerProcess), local
//             store and cache in a scratch directory under $TMPDIR (removed at exit), the
//             compactor on; or --url http://127.0.0.1:PORT, a server already running on
//             loopback (the bench writes into --namespace there and leaves it).
//   preload   every id of the id space upserted once, at full speed, then a wait (at most
//             --index-wait-s) until the compactor has indexed it all, so the timed run
//             starts from the steady state: the namespace at its steady size, indexed
//             (--no-preload skips both).
//   writers   W threads, turbopuffer v2 API, each request: B upserts (u64 ids drawn from
//             0..ids-1, 64-d clustered vectors as base64, attributes `category` c0..c15 and
//             `price` 0..999), B/10 patches of `price`, B/20 deletes. The id space bounds
//             the namespace: about ids * 20/21 documents live in steady state.
//   queries   Q threads, ANN top-10 (server default probes); --filter-frac of them filtered
//             on `category` (1/16 of the documents), half of those also on `price` < 500.
//             Every answer is checked: 10 rows when unfiltered (the namespace holds more),
//             and every row of a filtered one matches its filter.
//   rate      --write-rps / --query-rps fix the request rate (all threads together);
//             0 = as fast as the threads go. A fixed rate makes p99 and RSS comparable over
//             time: use one for a soak. A thread that falls more than 1 s behind its schedule
//             skips the missed slots and counts them (`missed`).
//
// Latency is from sending a request to its whole answer (keep-alive connections, one per
// thread). Every --interval seconds one line: elapsed, writes/s, rows/s, queries/s, write
// and query p50/p99 in ms, errors, 429s, server RSS, the memory cache's charge and the heap
// in use and held (GET /stats), threads and open fds (from /proc), live documents and
// unindexed backlog (from the namespace's metadata). At the end: totals, the RSS at the end of
// warm-up (--warmup-s, default 20% of the run) against the RSS at the end, the same less the
// memory cache, and p99 of the first window after warm-up against the last.
//
// Exit status: 0 when every request succeeded (HTTP 429, backpressure, is counted apart and
// is not a failure), 1 when a request failed, an answer was wrong, the server died, or it did
// not exit within 15 s of SIGTERM (or RSS grew beyond --max-rss-growth-pct, when given),
// 2 when the run could not start. The server is killed whatever happens (ServerProcess's
// destructor; SIGINT/SIGTERM end the run early with a summary).
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include "server_process.h"

namespace vecpuff {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr int kCategories = 16;
constexpr int kClusters = 32;

struct Args {
  std::string url;  // empty: start our own server
  std::string ns;   // default: soak-<pid>
  std::string server_config;
  double duration_s = 60;
  double interval_s = 10;
  double warmup_s = -1;  // -1: 20% of the duration
  int writers = 2;
  int queriers = 4;
  int batch = 100;
  int ids = 200000;
  int dim = 64;
  double write_rps = 0;
  double query_rps = 0;
  double filter_frac = 0.3;
  bool preload = true;
  int preload_batch = 1000;
  double index_wait_s = 600;  // after the preload, wait this long at most for the index
  long server_pid = 0;
  double max_rss_growth_pct = -1;  // -1: not checked
  bool keep = false;
  uint64_t seed = 42;
};

void Usage() {
  std::printf(
      "usage: soak_bench [flags]\n"
      "  --duration S          timed run, seconds (60; `make stress`: 1800)\n"
      "  --interval S          seconds between report lines (10)\n"
      "  --warmup-s S          warm-up excluded from the flatness figures (20%% of duration)\n"
      "  --writers W           writer threads (2)\n"
      "  --queriers Q          query threads (4)\n"
      "  --batch B             upserts per write request; plus B/10 patches, B/20 deletes (100)\n"
      "  --ids N               id space: the namespace's steady size is about N*20/21 (200000)\n"
      "  --dim D               vector dimensions (64)\n"
      "  --write-rps R         write requests/s, all writers together; 0 = full speed (0)\n"
      "  --query-rps R         queries/s, all query threads together; 0 = full speed (0)\n"
      "  --filter-frac F       share of queries with a filter (0.3)\n"
      "  --no-preload          skip upserting every id once before the timed run\n"
      "  --preload-batch N     rows per preload request (1000)\n"
      "  --index-wait-s S      after the preload, wait at most S s until the compactor has\n"
      "                        indexed it all, so the timed run starts steady (600; 0: no)\n"
      "  --bounded             short preset for `make test`: --duration 20 --interval 5\n"
      "                        --ids 20000 --writers 2 --queriers 4 --write-rps 20\n"
      "                        --query-rps 60 --index-wait-s 120 (later flags override)\n"
      "  --url URL             use a running server on loopback (http://127.0.0.1:PORT)\n"
      "  --server-pid PID      its pid, for RSS (default: the process listening on the port)\n"
      "  --namespace NS        namespace to load (soak-<pid>)\n"
      "  --server-config PATH  config file (TOML) for the spawned server\n"
      "  --max-rss-growth-pct P  fail if RSS grows more than P%% after warm-up (off)\n"
      "  --keep                keep the scratch directory\n"
      "  --seed N              random seed (42)\n");
}

// --name value or --name=value. False (after a message) on a bad flag.
bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--bounded") == 0) {
      a->duration_s = 20;
      a->interval_s = 5;
      a->ids = 20000;
      a->writers = 2;
      a->queriers = 4;
      a->write_rps = 20;
      a->query_rps = 60;
      a->index_wait_s = 120;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> inline_value;
    if (size_t eq = flag.find('='); eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 < argc) return std::string(argv[++i]);
      std::fprintf(stderr, "soak_bench: %s needs a value\n", flag.c_str());
      return std::nullopt;
    };
    auto num = [&](double* out) {
      auto v = value();
      if (!v) return false;
      char* end = nullptr;
      errno = 0;
      *out = std::strtod(v->c_str(), &end);
      if (errno != 0 || end == v->c_str() || *end != '\0' || !std::isfinite(*out) || *out < 0) {
        std::fprintf(stderr, "soak_bench: %s: expected a non-negative number, got '%s'\n",
                     flag.c_str(), v->c_str());
        return false;
      }
      return true;
    };
    auto integer = [&](auto* out) {
      double d = 0;
      if (!num(&d)) return false;
      if (d != std::floor(d) || d > 1e12) {
        std::fprintf(stderr, "soak_bench: %s: expected an integer\n", flag.c_str());
        return false;
      }
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(d);
      return true;
    };
    bool ok = true;
    if (flag == "--help" || flag == "-h") {
      Usage();
      std::exit(0);
    } else if (flag == "--bounded") {
    } else if (flag == "--no-preload") {
      a->preload = false;
    } else if (flag == "--keep") {
      a->keep = true;
    } else if (flag == "--duration") {
      ok = num(&a->duration_s);
    } else if (flag == "--interval") {
      ok = num(&a->interval_s);
    } else if (flag == "--warmup-s") {
      ok = num(&a->warmup_s);
    } else if (flag == "--writers") {
      ok = integer(&a->writers);
    } else if (flag == "--queriers") {
      ok = integer(&a->queriers);
    } else if (flag == "--batch") {
      ok = integer(&a->batch);
    } else if (flag == "--ids") {
      ok = integer(&a->ids);
    } else if (flag == "--dim") {
      ok = integer(&a->dim);
    } else if (flag == "--write-rps") {
      ok = num(&a->write_rps);
    } else if (flag == "--query-rps") {
      ok = num(&a->query_rps);
    } else if (flag == "--filter-frac") {
      ok = num(&a->filter_frac);
    } else if (flag == "--preload-batch") {
      ok = integer(&a->preload_batch);
    } else if (flag == "--index-wait-s") {
      ok = num(&a->index_wait_s);
    } else if (flag == "--server-pid") {
      ok = integer(&a->server_pid);
    } else if (flag == "--max-rss-growth-pct") {
      ok = num(&a->max_rss_growth_pct);
    } else if (flag == "--seed") {
      ok = integer(&a->seed);
    } else if (flag == "--url") {
      auto v = value();
      ok = v.has_value();
      if (ok) a->url = *v;
    } else if (flag == "--namespace") {
      auto v = value();
      ok = v.has_value();
      if (ok) a->ns = *v;
    } else if (flag == "--server-config") {
      auto v = value();
      ok = v.has_value();
      if (ok) a->server_config = *v;
    } else {
      std::fprintf(stderr, "soak_bench: unknown flag %s (--help lists them)\n", flag.c_str());
      ok = false;
    }
    if (!ok) return false;
  }
  if (a->duration_s <= 0 || a->interval_s <= 0 || a->writers + a->queriers < 1 || a->batch < 1 ||
      a->ids < 100 || a->dim < 1 || a->preload_batch < 1 || a->filter_frac > 1) {
    std::fprintf(stderr,
                 "soak_bench: need --duration > 0, --interval > 0, a thread, --batch >= 1, "
                 "--ids >= 100, --dim >= 1, --filter-frac <= 1\n");
    return false;
  }
  if (a->batch > a->ids / 2) {
    std::fprintf(stderr, "soak_bench: --batch must be at most half of --ids\n");
    return false;
  }
  if (a->warmup_s < 0) a->warmup_s = 0.2 * a->duration_s;
  if (a->ns.empty()) a->ns = "soak-" + std::to_string(getpid());
  return true;
}

// ---------------------------------------------------------------------------------------
// Latency histogram: log-spaced buckets, 100 per decade of microseconds (2.3% wide), from
// 1 us to 100 s. Record() is lock-free; a Snapshot is a copy of the counts, and the
// difference of two snapshots is the histogram of the window between them.

constexpr int kPerDecade = 100;
constexpr int kBuckets = 8 * kPerDecade + 1;

struct Snapshot {
  std::vector<uint64_t> counts = std::vector<uint64_t>(kBuckets, 0);

  uint64_t Total() const {
    uint64_t n = 0;
    for (uint64_t c : counts) n += c;
    return n;
  }
  // The q-quantile in ms (the bucket's geometric middle), or NaN when empty.
  double QuantileMs(double q) const {
    const uint64_t n = Total();
    if (n == 0) return std::nan("");
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * n)));
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen >= rank) return std::pow(10.0, (i + 0.5) / kPerDecade) / 1000.0;
    }
    return std::nan("");
  }
  double MaxMs() const {
    for (int i = kBuckets - 1; i >= 0; --i) {
      if (counts[i] != 0) return std::pow(10.0, (i + 1.0) / kPerDecade) / 1000.0;
    }
    return std::nan("");
  }
  Snapshot Minus(const Snapshot& earlier) const {
    Snapshot d;
    for (int i = 0; i < kBuckets; ++i) d.counts[i] = counts[i] - earlier.counts[i];
    return d;
  }
};

class Histogram {
 public:
  void Record(double us) {
    int i = us < 1 ? 0 : static_cast<int>(std::log10(us) * kPerDecade);
    i = std::clamp(i, 0, kBuckets - 1);
    counts_[i].fetch_add(1, std::memory_order_relaxed);
  }
  Snapshot Take() const {
    Snapshot s;
    for (int i = 0; i < kBuckets; ++i) s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

// Everything the load threads count. Monotonic; the monitor takes differences.
struct Stats {
  Histogram write_us, query_us;
  std::atomic<uint64_t> writes{0}, rows{0}, queries{0}, filtered_queries{0};
  std::atomic<uint64_t> errors{0}, wrong_answers{0}, backpressure{0}, missed_slots{0};
};

struct Counts {
  uint64_t writes = 0, rows = 0, queries = 0, errors = 0, backpressure = 0, missed = 0;
  static Counts Of(const Stats& s) {
    return {s.writes.load(),       s.rows.load(),
            s.queries.load(),      s.errors.load() + s.wrong_answers.load(),
            s.backpressure.load(), s.missed_slots.load()};
  }
};

std::atomic<bool> g_stop{false};
std::atomic<bool> g_interrupted{false};

void OnSignal(int) {
  g_interrupted.store(true);
  g_stop.store(true);
}

// The first few failures are printed in full; the rest only counted.
void ReportFailure(Stats* stats, bool wrong_answer, const std::string& what) {
  static std::mutex mu;
  static int printed = 0;
  (wrong_answer ? stats->wrong_answers : stats->errors).fetch_add(1);
  std::lock_guard<std::mutex> lock(mu);
  if (printed < 10) {
    std::fprintf(stderr, "soak_bench: %s: %s\n", wrong_answer ? "WRONG ANSWER" : "ERROR",
                 what.substr(0, 400).c_str());
    if (++printed == 10) std::fprintf(stderr, "soak_bench: (further failures only counted)\n");
  }
}

// Sleeps until `t` or until the run stops, in steps of at most 100 ms.
void SleepUntil(Clock::time_point t) {
  while (!g_stop.load()) {
    const auto now = Clock::now();
    if (now >= t) return;
    std::this_thread::sleep_until(std::min(t, now + std::chrono::milliseconds(100)));
  }
}

// A fixed schedule of `rps` requests per second for one thread (0: no schedule).
class Pacer {
 public:
  Pacer(double rps, Stats* stats) : stats_(stats) {
    if (rps > 0) period_ = std::chrono::duration<double>(1.0 / rps);
    next_ = Clock::now();
  }
  // Waits for the next slot. A thread more than 1 s late drops the slots it missed.
  void Wait() {
    if (period_.count() == 0) return;
    const auto now = Clock::now();
    if (now - next_ > std::chrono::seconds(1)) {
      const auto missed = static_cast<uint64_t>(std::chrono::duration<double>(now - next_).count() /
                                                period_.count());
      stats_->missed_slots.fetch_add(missed);
      next_ = now;
    }
    SleepUntil(next_);
    next_ += std::chrono::duration_cast<Clock::duration>(period_);
  }

 private:
  Stats* stats_;
  std::chrono::duration<double> period_{0};
  Clock::time_point next_;
};

// ---------------------------------------------------------------------------------------
// Data: clustered vectors (a fixed set of centroids plus noise), so the ANN index has
// structure to find; base64 little-endian f32 on the wire, which costs the client far less
// than decimal text (client and server share the machine).

class VectorSource {
 public:
  VectorSource(int dim, uint64_t seed) : dim_(dim), centroids_(size_t(kClusters) * dim) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (float& x : centroids_) x = n(rng);
  }
  void Make(std::mt19937_64& rng, std::vector<float>* out) const {
    std::normal_distribution<float> noise(0.0f, 0.35f);
    const int c = static_cast<int>(rng() % kClusters);
    out->resize(dim_);
    for (int i = 0; i < dim_; ++i) (*out)[i] = centroids_[size_t(c) * dim_ + i] + noise(rng);
  }

 private:
  int dim_;
  std::vector<float> centroids_;
};

void AppendBase64(const void* data, size_t n, std::string* out) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (i + 1 == n) {
    const uint32_t v = uint32_t(p[i]) << 16;
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->append("==");
  } else if (i + 2 == n) {
    const uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8);
    out->push_back(kAlphabet[v >> 18]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back('=');
  }
}

// Vectors go out as little-endian f32 (the server's base64 format).
void AppendVector(const std::vector<float>& v, std::string* out) {
  static_assert(std::endian::native == std::endian::little, "the wire format is little-endian");
  out->push_back('"');
  AppendBase64(v.data(), v.size() * sizeof(float), out);
  out->push_back('"');
}

void AppendUpsertRow(uint64_t id, const std::vector<float>& v, int category, int price,
                     std::string* out) {
  out->append("{\"id\":").append(std::to_string(id)).append(",\"vector\":");
  AppendVector(v, out);
  out->append(",\"category\":\"c").append(std::to_string(category));
  out->append("\",\"price\":").append(std::to_string(price)).append("}");
}

std::unique_ptr<httplib::Client> NewClient(const std::string& host, int port) {
  auto c = std::make_unique<httplib::Client>(host, port);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(30, 0);
  c->set_write_timeout(30, 0);
  return c;
}

double MicrosSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

struct Target {
  std::string host;
  int port = 0;
  std::string ns;
  std::string write_path, query_path, metadata_path;
};

// One write request; counts it. Returns the HTTP status (0: no answer).
int SendWrite(httplib::Client* c, const Target& t, const std::string& body, uint64_t rows,
              uint64_t upserts, Stats* stats, bool timed) {
  const auto t0 = Clock::now();
  auto res = c->Post(t.write_path, body, "application/json");
  const double us = MicrosSince(t0);
  if (!res) {
    ReportFailure(stats, false, "write: " + httplib::to_string(res.error()));
    return 0;
  }
  if (res->status == 429) {
    stats->backpressure.fetch_add(1);
    return 429;
  }
  if (res->status != 200) {
    ReportFailure(stats, false, "write: HTTP " + std::to_string(res->status) + " " + res->body);
    return res->status;
  }
  // Ids within one request are distinct, so the server must report every upsert.
  const std::string want = "\"rows_upserted\":" + std::to_string(upserts);
  if (res->body.find(want) == std::string::npos) {
    ReportFailure(stats, true, "write: expected " + want + " in " + res->body);
    return res->status;
  }
  if (timed) {
    stats->write_us.Record(us);
    stats->writes.fetch_add(1);
    stats->rows.fetch_add(rows);
  }
  return 200;
}

void WriterLoop(int index, const Args& a, const Target& t, const VectorSource& vs, Stats* stats) {
  auto client = NewClient(t.host, t.port);
  std::mt19937_64 rng(a.seed * 1000003 + 17 + index);
  Pacer pacer(a.write_rps / std::max(1, a.writers), stats);
  const int patches = std::max(1, a.batch / 10);
  const int deletes = std::max(1, a.batch / 20);
  std::vector<float> v;
  std::unordered_set<uint64_t> used;
  std::string body;
  auto fresh_id = [&]() {
    for (;;) {
      const uint64_t id = rng() % static_cast<uint64_t>(a.ids);
      if (used.insert(id).second) return id;
    }
  };
  while (!g_stop.load()) {
    pacer.Wait();
    if (g_stop.load()) break;
    used.clear();
    body.clear();
    body.append("{\"distance_metric\":\"cosine_distance\",\"upsert_rows\":[");
    for (int i = 0; i < a.batch; ++i) {
      if (i) body.push_back(',');
      vs.Make(rng, &v);
      AppendUpsertRow(fresh_id(), v, int(rng() % kCategories), int(rng() % 1000), &body);
    }
    // Patches and deletes touch other ids than the upserts (ids of a request are distinct).
    body.append("],\"patch_rows\":[");
    for (int i = 0; i < patches; ++i) {
      if (i) body.push_back(',');
      body.append("{\"id\":").append(std::to_string(fresh_id()));
      body.append(",\"price\":").append(std::to_string(rng() % 1000)).append("}");
    }
    body.append("],\"deletes\":[");
    for (int i = 0; i < deletes; ++i) {
      if (i) body.push_back(',');
      body.append(std::to_string(fresh_id()));
    }
    body.append("]}");
    const int status = SendWrite(client.get(), t, body, a.batch + patches + deletes, a.batch, stats,
                                 /*timed=*/true);
    if (status == 429) SleepUntil(Clock::now() + std::chrono::milliseconds(100));
    if (status == 0) client = NewClient(t.host, t.port);  // a fresh connection next time
  }
}

void QueryLoop(int index, const Args& a, const Target& t, const VectorSource& vs, Stats* stats) {
  auto client = NewClient(t.host, t.port);
  std::mt19937_64 rng(a.seed * 7919 + 1000 + index);
  std::uniform_real_distribution<double> u(0, 1);
  Pacer pacer(a.query_rps / std::max(1, a.queriers), stats);
  std::vector<float> v;
  std::string body;
  while (!g_stop.load()) {
    pacer.Wait();
    if (g_stop.load()) break;
    vs.Make(rng, &v);
    body.assign("{\"rank_by\":[\"vector\",\"ANN\",");
    AppendVector(v, &body);
    body.append("],\"top_k\":10");
    const bool filtered = u(rng) < a.filter_frac;
    const std::string category = "c" + std::to_string(rng() % kCategories);
    const bool by_price = filtered && (rng() & 1);
    if (filtered) {
      const std::string eq = "[\"category\",\"Eq\",\"" + category + "\"]";
      body.append(",\"filters\":");
      body.append(by_price ? "[\"And\",[" + eq + ",[\"price\",\"Lt\",500]]]" : eq);
      body.append(",\"include_attributes\":[\"category\",\"price\"]");
    }
    body.append("}");
    const auto t0 = Clock::now();
    auto res = client->Post(t.query_path, body, "application/json");
    const double us = MicrosSince(t0);
    if (!res) {
      ReportFailure(stats, false, "query: " + httplib::to_string(res.error()));
      client = NewClient(t.host, t.port);
      continue;
    }
    if (res->status == 429) {
      stats->backpressure.fetch_add(1);
      continue;
    }
    if (res->status != 200) {
      ReportFailure(stats, false, "query: HTTP " + std::to_string(res->status) + " " + res->body);
      continue;
    }
    // The answer must hold what was asked: 10 rows unfiltered (the namespace is far larger),
    // at most 10 rows when filtered, each matching the filter.
    json doc = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    std::string wrong;
    if (!doc.is_object() || !doc.contains("rows") || !doc["rows"].is_array()) {
      wrong = "no rows";
    } else {
      const json& rows = doc["rows"];
      if (rows.size() > 10 || (!filtered && rows.size() != 10 && a.preload)) {
        wrong = std::to_string(rows.size()) + " rows for top_k 10";
      }
      for (const json& r : rows) {
        if (!filtered || !wrong.empty()) break;
        if (!r.is_object() || r.value("category", std::string()) != category ||
            (by_price &&
             !(r.contains("price") && r["price"].is_number() && r["price"].get<double>() < 500))) {
          wrong = "row " + r.dump() + " does not match the filter";
        }
      }
    }
    if (!wrong.empty()) {
      ReportFailure(stats, true, "query " + body.substr(0, 120) + "...: " + wrong);
      continue;
    }
    stats->query_us.Record(us);
    stats->queries.fetch_add(1);
    if (filtered) stats->filtered_queries.fetch_add(1);
  }
}

// Upserts every id once, `preload_batch` rows a request, with the writer threads.
bool Preload(const Args& a, const Target& t, const VectorSource& vs, Stats* stats) {
  std::atomic<int> next_start{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < std::max(1, a.writers); ++w) {
    threads.emplace_back([&, w] {
      auto client = NewClient(t.host, t.port);
      std::mt19937_64 rng(a.seed * 31 + w);
      std::vector<float> v;
      std::string body;
      for (;;) {
        const int start = next_start.fetch_add(a.preload_batch);
        if (start >= a.ids || g_stop.load()) return;
        const int end = std::min(a.ids, start + a.preload_batch);
        body.assign("{\"distance_metric\":\"cosine_distance\",\"upsert_rows\":[");
        for (int id = start; id < end; ++id) {
          if (id != start) body.push_back(',');
          vs.Make(rng, &v);
          AppendUpsertRow(id, v, int(rng() % kCategories), int(rng() % 1000), &body);
        }
        body.append("]}");
        // Backpressure while the compactor catches up: wait and send the same rows again.
        for (int attempt = 0; attempt < 600 && !g_stop.load(); ++attempt) {
          const int status = SendWrite(client.get(), t, body, end - start, end - start, stats,
                                       /*timed=*/false);
          if (status != 429) break;
          SleepUntil(Clock::now() + std::chrono::milliseconds(200));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  return stats->errors.load() == 0 && stats->wrong_answers.load() == 0;
}

// ---------------------------------------------------------------------------------------
// The server's process, seen through /proc.

struct ProcInfo {
  bool alive = false;  // exists and is not a zombie
  long rss_kb = -1, hwm_kb = -1, threads = -1, fds = -1;
};

ProcInfo ReadProc(long pid) {
  ProcInfo p;
  if (pid <= 0) return p;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  bool zombie = false, found = false;
  while (std::getline(in, line)) {
    found = true;
    auto field = [&](const char* name) -> long {
      return std::strtol(line.c_str() + std::strlen(name), nullptr, 10);
    };
    if (line.rfind("State:", 0) == 0) zombie = line.find('Z') != std::string::npos;
    if (line.rfind("VmRSS:", 0) == 0) p.rss_kb = field("VmRSS:");
    if (line.rfind("VmHWM:", 0) == 0) p.hwm_kb = field("VmHWM:");
    if (line.rfind("Threads:", 0) == 0) p.threads = field("Threads:");
  }
  p.alive = found && !zombie;
  std::error_code ec;
  long fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  if (!ec) p.fds = fds;
  return p;
}

// Our child process named vecpuff (ServerProcess does not hand out its pid).
long FindChildServer() {
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream in(it->path() / "stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...: comm may hold spaces, so parse after the last ')'.
    const size_t close = stat.rfind(')');
    const size_t open = stat.find('(');
    if (close == std::string::npos || open == std::string::npos) continue;
    const std::string comm = stat.substr(open + 1, close - open - 1);
    char state = 0;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) continue;
    if (ppid == getpid() && comm == "vecpuff") return std::stol(name);
  }
  return 0;
}

// The process with a socket listening on `port` (needs the same user, as /proc/PID/fd does).
long FindListeningPid(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string sl, local, remote, st, queues, timer, retr, uid, timeout, inode;
      ss >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos || st != "0A") continue;  // 0A: LISTEN
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port) inodes.insert(inode);
    }
  }
  if (inodes.empty()) return 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::error_code ec2;
    for (auto fd = std::filesystem::directory_iterator(it->path() / "fd", ec2);
         !ec2 && fd != std::filesystem::directory_iterator(); fd.increment(ec2)) {
      std::error_code ec3;
      const std::string target = std::filesystem::read_symlink(fd->path(), ec3).string();
      if (!ec3 && target.rfind("socket:[", 0) == 0 &&
          inodes.count(target.substr(8, target.size() - 9)) != 0) {
        return std::stol(name);
      }
    }
  }
  return 0;
}

struct Meta {
  bool ok = false;
  int64_t docs = -1, indexed = -1, unindexed_bytes = -1;
  // From GET /stats: the memory cache's charge, and glibc's heap in use and held.
  int64_t cache_bytes = -1, heap_in_use = -1, heap_held = -1;
};

Meta ReadMetadata(httplib::Client* c, const Target& t) {
  Meta m;
  auto res = c->Get(t.metadata_path);
  if (!res || res->status != 200) return m;
  json doc = json::parse(res->body, nullptr, false);
  if (!doc.is_object()) return m;
  m.ok = true;
  m.docs = doc.value("approx_row_count", int64_t{-1});
  if (doc.contains("index") && doc["index"].is_object()) {
    m.indexed = doc["index"].value("indexed_row_count", int64_t{-1});
    m.unindexed_bytes = doc["index"].value("unindexed_bytes", int64_t{-1});
  }
  auto stats = c->Get("/stats");
  if (!stats || stats->status != 200) return m;
  json st = json::parse(stats->body, nullptr, false);
  if (!st.is_object()) return m;
  if (st.contains("memory_cache") && st["memory_cache"].is_object()) {
    m.cache_bytes = st["memory_cache"].value("bytes", int64_t{-1});
  }
  if (st.contains("heap") && st["heap"].is_object()) {
    m.heap_in_use = st["heap"].value("in_use_bytes", int64_t{-1});
    m.heap_held = st["heap"].value("held_bytes", int64_t{-1});
  }
  return m;
}

// One report line's figures.
struct Window {
  double end_s = 0, len_s = 0;
  Counts d;
  double w50 = NAN, w99 = NAN, q50 = NAN, q99 = NAN;
  ProcInfo proc;
  Meta meta;
};

std::string Ms(double ms) {
  if (std::isnan(ms)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), ms < 10 ? "%.2f" : ms < 100 ? "%.1f" : "%.0f", ms);
  return buf;
}

std::string Mb(long kb) {
  if (kb < 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", kb / 1024.0);
  return buf;
}

void PrintHeader() {
  std::printf("%8s %7s %8s %8s %7s %7s %7s %7s %6s %6s %6s %8s %8s %8s %8s %5s %5s %8s %9s\n",
              "elapsed", "w/s", "rows/s", "q/s", "w_p50", "w_p99", "q_p50", "q_p99", "errors",
              "429", "missed", "rss_mb", "cache_mb", "inuse_mb", "held_mb", "thr", "fds", "docs",
              "unidx_mb");
  std::fflush(stdout);
}

void PrintWindow(const Window& w) {
  const double s = std::max(w.len_s, 1e-9);
  std::printf(
      "%7.0fs %7.1f %8.0f %8.1f %7s %7s %7s %7s %6llu %6llu %6llu %8s %8s %8s %8s %5ld %5ld %8lld "
      "%9s\n",
      w.end_s, w.d.writes / s, w.d.rows / s, w.d.queries / s, Ms(w.w50).c_str(), Ms(w.w99).c_str(),
      Ms(w.q50).c_str(), Ms(w.q99).c_str(), static_cast<unsigned long long>(w.d.errors),
      static_cast<unsigned long long>(w.d.backpressure),
      static_cast<unsigned long long>(w.d.missed), Mb(w.proc.rss_kb).c_str(),
      Mb(w.meta.cache_bytes < 0 ? -1 : w.meta.cache_bytes / 1024).c_str(),
      Mb(w.meta.heap_in_use < 0 ? -1 : w.meta.heap_in_use / 1024).c_str(),
      Mb(w.meta.heap_held < 0 ? -1 : w.meta.heap_held / 1024).c_str(), w.proc.threads, w.proc.fds,
      static_cast<long long>(w.meta.docs),
      w.meta.unindexed_bytes < 0 ? "-" : Mb(w.meta.unindexed_bytes / 1024).c_str());
  std::fflush(stdout);
}

// Least-squares slope of RSS (MB per minute) over the windows from `first`.
double RssSlopeMbPerMin(const std::vector<Window>& ws, size_t first) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = first; i < ws.size(); ++i) {
    if (ws[i].proc.rss_kb < 0) continue;
    const double x = ws[i].end_s / 60.0, y = ws[i].proc.rss_kb / 1024.0;
    n += 1;
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double den = n * sxx - sx * sx;
  return n < 2 || den == 0 ? NAN : (n * sxy - sx * sy) / den;
}

int Run(const Args& a) {
  // The server: ours in a scratch directory, or one already running on loopback.
  std::unique_ptr<testing::ServerProcess> server;
  std::string scratch;
  Target t;
  t.ns = a.ns;
  long server_pid = a.server_pid;
  if (a.url.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/soak_bench.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::fprintf(stderr, "soak_bench: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
      return 2;
    }
    scratch = tmpl;
    std::string config;
    if (!a.server_config.empty()) {
      const std::string extra = testing::ReadWholeFile(a.server_config);
      if (extra.empty()) {
        std::fprintf(stderr, "soak_bench: cannot read --server-config %s\n",
                     a.server_config.c_str());
        std::filesystem::remove_all(scratch);
        return 2;
      }
      config += extra;
    }
    // The disk cache goes to the scratch directory through the environment, which leaves the
    // whole config file to --server-config.
    server = std::make_unique<testing::ServerProcess>(
        scratch + "/store", scratch, config,
        std::vector<std::string>{"LOCAL_CACHE_PATH=" + scratch + "/cache"});
    if (!server->Start()) {
      std::fprintf(stderr, "soak_bench: the server did not start; its log:\n%s\n",
                   server->Log().c_str());
      server.reset();
      if (!a.keep) std::filesystem::remove_all(scratch);
      return 2;
    }
    t.host = "127.0.0.1";
    t.port = server->port();
    if (server_pid == 0) server_pid = FindChildServer();
  } else {
    // Loopback only: http://127.0.0.1:PORT, http://localhost:PORT.
    std::string rest = a.url;
    if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    const size_t colon = rest.rfind(':');
    t.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    t.port = colon == std::string::npos ? 80 : std::atoi(rest.c_str() + colon + 1);
    if ((t.host != "127.0.0.1" && t.host != "localhost") || t.port <= 0 || t.port > 65535) {
      std::fprintf(stderr, "soak_bench: --url must be http://127.0.0.1:PORT (loopback only)\n");
      return 2;
    }
    if (server_pid == 0) server_pid = FindListeningPid(t.port);
  }
  t.write_path = "/v2/namespaces/" + t.ns;
  t.query_path = "/v2/namespaces/" + t.ns + "/query";
  t.metadata_path = "/namespaces/" + t.ns + "/metadata";

  std::printf(
      "soak_bench: server %s:%d%s (pid %ld), namespace %s\n"
      "  %d writers x %d upserts + %d patches + %d deletes per request, %s write req/s; "
      "%d query threads, top-10 ANN, %.0f%% filtered, %s queries/s\n"
      "  ids %d, dim %d, duration %.0f s, interval %.0f s, warm-up %.0f s\n",
      t.host.c_str(), t.port, server ? " (spawned)" : " (given)", server_pid, t.ns.c_str(),
      a.writers, a.batch, std::max(1, a.batch / 10), std::max(1, a.batch / 20),
      a.write_rps > 0 ? std::to_string(a.write_rps).substr(0, 6).c_str() : "max", a.queriers,
      100 * a.filter_frac,
      a.query_rps > 0 ? std::to_string(a.query_rps).substr(0, 6).c_str() : "max", a.ids, a.dim,
      a.duration_s, a.interval_s, a.warmup_s);
  if (server) std::printf("  scratch %s\n", scratch.c_str());
  std::fflush(stdout);

  Stats stats;
  const VectorSource vs(a.dim, a.seed);
  auto meta_client = NewClient(t.host, t.port);
  std::vector<std::string> failures;

  if (a.preload) {
    const auto t0 = Clock::now();
    const bool ok = Preload(a, t, vs, &stats);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    const Meta m = ReadMetadata(meta_client.get(), t);
    const ProcInfo p = ReadProc(server_pid);
    std::printf(
        "preload: %d rows in %.1f s (%.0f rows/s), %llu 429s; docs %lld, unindexed "
        "%s MB, RSS %s MB\n",
        a.ids, s, a.ids / s, static_cast<unsigned long long>(stats.backpressure.load()),
        static_cast<long long>(m.docs),
        m.unindexed_bytes < 0 ? "-" : Mb(m.unindexed_bytes / 1024).c_str(), Mb(p.rss_kb).c_str());
    if (!ok) failures.push_back("preload failed");
    // A soak measures the steady state: let the compactor fold the preload in first.
    if (ok && a.index_wait_s > 0) {
      const auto w0 = Clock::now();
      Meta cur = m;
      while (!g_stop.load() && cur.unindexed_bytes != 0 &&
             Clock::now() - w0 < std::chrono::duration<double>(a.index_wait_s)) {
        SleepUntil(Clock::now() + std::chrono::seconds(1));
        cur = ReadMetadata(meta_client.get(), t);
      }
      std::printf("index wait: %.1f s, unindexed %s MB, indexed %lld of %lld docs%s\n",
                  std::chrono::duration<double>(Clock::now() - w0).count(),
                  cur.unindexed_bytes < 0 ? "-" : Mb(cur.unindexed_bytes / 1024).c_str(),
                  static_cast<long long>(cur.indexed), static_cast<long long>(cur.docs),
                  cur.unindexed_bytes == 0 ? "" : " (gave up waiting; the run starts anyway)");
      std::fflush(stdout);
    }
  }

  std::vector<std::thread> threads;
  const Counts before = Counts::Of(stats);
  if (failures.empty() && !g_stop.load()) {
    for (int i = 0; i < a.writers; ++i) {
      threads.emplace_back(WriterLoop, i, std::cref(a), std::cref(t), std::cref(vs), &stats);
    }
    for (int i = 0; i < a.queriers; ++i) {
      threads.emplace_back(QueryLoop, i, std::cref(a), std::cref(t), std::cref(vs), &stats);
    }
  }

  // The monitor: one line per interval until the deadline.
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(a.duration_s));
  std::vector<Window> windows;
  Counts prev = before;
  Snapshot prev_w = stats.write_us.Take(), prev_q = stats.query_us.Take();
  double prev_s = 0;
  PrintHeader();
  bool server_died = false;
  for (int k = 1; !threads.empty(); ++k) {
    auto tick = start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(a.interval_s * k));
    tick = std::min(tick, deadline);
    SleepUntil(tick);
    const double now_s = std::chrono::duration<double>(Clock::now() - start).count();
    Window w;
    w.end_s = now_s;
    w.len_s = now_s - prev_s;
    const Counts c = Counts::Of(stats);
    w.d = {c.writes - prev.writes,
           c.rows - prev.rows,
           c.queries - prev.queries,
           c.errors - prev.errors,
           c.backpressure - prev.backpressure,
           c.missed - prev.missed};
    const Snapshot sw = stats.write_us.Take(), sq = stats.query_us.Take();
    const Snapshot dw = sw.Minus(prev_w), dq = sq.Minus(prev_q);
    w.w50 = dw.QuantileMs(0.5);
    w.w99 = dw.QuantileMs(0.99);
    w.q50 = dq.QuantileMs(0.5);
    w.q99 = dq.QuantileMs(0.99);
    w.proc = ReadProc(server_pid);
    w.meta = ReadMetadata(meta_client.get(), t);
    PrintWindow(w);
    windows.push_back(w);
    prev = c;
    prev_w = sw;
    prev_q = sq;
    prev_s = now_s;
    if (server_pid > 0 && !w.proc.alive) {
      server_died = true;
      g_stop.store(true);
    }
    if (g_stop.load() || Clock::now() >= deadline) break;
  }
  g_stop.store(true);
  for (auto& th : threads) th.join();
  const double run_s = std::chrono::duration<double>(Clock::now() - start).count();

  // Shutdown: SIGTERM, at most 15 s to exit (then SIGKILL by Kill()). Our last keep-alive
  // connection is closed first: an idle one holds a server worker until its idle timeout.
  meta_client.reset();
  int exit_status = -1;
  double stop_ms = -1;
  if (server && server_pid > 0 && !server_died) {
    const auto t0 = Clock::now();
    kill(static_cast<pid_t>(server_pid), SIGTERM);
    while (ReadProc(server_pid).alive && Clock::now() - t0 < std::chrono::seconds(15)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!ReadProc(server_pid).alive) {
      stop_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      exit_status = server->Stop();  // reaps the exited child
    } else {
      server->Kill();
      failures.push_back("the server did not exit within 15 s of SIGTERM");
    }
  }

  // Summary.
  const Counts total = Counts::Of(stats);
  const Counts d{total.writes - before.writes,
                 total.rows - before.rows,
                 total.queries - before.queries,
                 total.errors,
                 total.backpressure,
                 total.missed - before.missed};
  const Snapshot all_w = stats.write_us.Take(), all_q = stats.query_us.Take();
  std::printf("\nsummary (%.1f s timed run, after the preload):\n", run_s);
  std::printf(
      "  writes   %llu (%.1f/s), rows %llu (%.0f/s); latency ms p50 %s p99 %s p99.9 %s "
      "max %s\n",
      static_cast<unsigned long long>(d.writes), d.writes / run_s,
      static_cast<unsigned long long>(d.rows), d.rows / run_s, Ms(all_w.QuantileMs(0.5)).c_str(),
      Ms(all_w.QuantileMs(0.99)).c_str(), Ms(all_w.QuantileMs(0.999)).c_str(),
      Ms(all_w.MaxMs()).c_str());
  std::printf(
      "  queries  %llu (%.1f/s, %llu filtered); latency ms p50 %s p99 %s p99.9 %s max "
      "%s\n",
      static_cast<unsigned long long>(d.queries), d.queries / run_s,
      static_cast<unsigned long long>(stats.filtered_queries.load()),
      Ms(all_q.QuantileMs(0.5)).c_str(), Ms(all_q.QuantileMs(0.99)).c_str(),
      Ms(all_q.QuantileMs(0.999)).c_str(), Ms(all_q.MaxMs()).c_str());
  std::printf(
      "  errors   %llu (failed requests %llu, wrong answers %llu); 429 backpressure %llu;"
      " missed schedule slots %llu\n",
      static_cast<unsigned long long>(total.errors),
      static_cast<unsigned long long>(stats.errors.load()),
      static_cast<unsigned long long>(stats.wrong_answers.load()),
      static_cast<unsigned long long>(total.backpressure),
      static_cast<unsigned long long>(d.missed));

  // Warm-up: the windows that start before warmup_s (at least the first one); 0.5 s of slack,
  // as a window ends a little after its nominal time.
  size_t first_after = 0;
  while (first_after < windows.size() &&
         windows[first_after].end_s - windows[first_after].len_s + 0.5 < a.warmup_s) {
    ++first_after;
  }
  if (first_after == 0 && !windows.empty()) first_after = 1;
  if (first_after < windows.size()) {
    const Window& warm = windows[first_after - 1];
    const Window& first = windows[first_after];
    const Window& last = windows.back();
    long max_rss = -1;
    for (size_t i = first_after; i < windows.size(); ++i) {
      max_rss = std::max(max_rss, windows[i].proc.rss_kb);
    }
    if (warm.proc.rss_kb > 0 && last.proc.rss_kb > 0) {
      const double growth = 100.0 * (last.proc.rss_kb - warm.proc.rss_kb) / warm.proc.rss_kb;
      std::printf(
          "  RSS      %s MB at the end of warm-up (t=%.0f s), %s MB at the end (t=%.0f s):"
          " %+.1f%%; max after warm-up %s MB, peak (VmHWM) %s MB, slope %.2f MB/min; "
          "threads %ld -> %ld, fds %ld -> %ld\n",
          Mb(warm.proc.rss_kb).c_str(), warm.end_s, Mb(last.proc.rss_kb).c_str(), last.end_s,
          growth, Mb(max_rss).c_str(), Mb(last.proc.hwm_kb).c_str(),
          RssSlopeMbPerMin(windows, first_after), warm.proc.threads, last.proc.threads,
          warm.proc.fds, last.proc.fds);
      if (warm.meta.cache_bytes >= 0 && last.meta.cache_bytes >= 0) {
        // The memory cache grows until it holds the postings queries touch (at most
        // cache.memory_bytes): apart from it, what did the rest of the process do?
        const long warm_rest = warm.proc.rss_kb - static_cast<long>(warm.meta.cache_bytes / 1024);
        const long last_rest = last.proc.rss_kb - static_cast<long>(last.meta.cache_bytes / 1024);
        std::printf(
            "  memory   cache %s -> %s MB; heap in use %s -> %s MB, held %s -> %s MB; RSS less "
            "the cache %s -> %s MB (%+.1f%%)\n",
            Mb(warm.meta.cache_bytes / 1024).c_str(), Mb(last.meta.cache_bytes / 1024).c_str(),
            Mb(warm.meta.heap_in_use / 1024).c_str(), Mb(last.meta.heap_in_use / 1024).c_str(),
            Mb(warm.meta.heap_held / 1024).c_str(), Mb(last.meta.heap_held / 1024).c_str(),
            Mb(warm_rest).c_str(), Mb(last_rest).c_str(),
            warm_rest > 0 ? 100.0 * (last_rest - warm_rest) / warm_rest : 0.0);
      }
      if (a.max_rss_growth_pct >= 0 && growth > a.max_rss_growth_pct) {
        failures.push_back("RSS grew " + std::to_string(growth) + "% after warm-up");
      }
    } else {
      std::printf("  RSS      not available (no server pid; --server-pid)\n");
    }
    std::printf(
        "  p99 ms   first window after warm-up (t=%.0f s): write %s query %s; last "
        "(t=%.0f s): write %s query %s\n",
        first.end_s, Ms(first.w99).c_str(), Ms(first.q99).c_str(), last.end_s, Ms(last.w99).c_str(),
        Ms(last.q99).c_str());
    int64_t max_backlog = -1;
    for (size_t i = first_after; i < windows.size(); ++i) {
      max_backlog = std::max(max_backlog, windows[i].meta.unindexed_bytes);
    }
    std::printf(
        "  backlog  unindexed %s MB at the end, at most %s MB after warm-up; docs %lld, "
        "indexed %lld\n",
        last.meta.unindexed_bytes < 0 ? "-" : Mb(last.meta.unindexed_bytes / 1024).c_str(),
        max_backlog < 0 ? "-" : Mb(max_backlog / 1024).c_str(),
        static_cast<long long>(last.meta.docs), static_cast<long long>(last.meta.indexed));
  } else {
    std::printf(
        "  (no window after warm-up: run longer than --warmup-s for the flatness figures)\n");
  }
  if (stop_ms >= 0) {
    std::printf("  shutdown SIGTERM -> exit in %.0f ms, status %d\n", stop_ms, exit_status);
  }

  if (server_died) failures.push_back("the server died");
  if (stats.errors.load() > 0)
    failures.push_back(std::to_string(stats.errors.load()) + " failed requests");
  if (stats.wrong_answers.load() > 0) {
    failures.push_back(std::to_string(stats.wrong_answers.load()) + " wrong answers");
  }
  if (g_interrupted.load()) failures.push_back("interrupted");
  if (server && exit_status != 0 && exit_status != -1) {
    failures.push_back("server exit status " + std::to_string(exit_status));
  }
  if (failures.empty()) {
    std::printf("soak_bench: PASS\n");
  } else {
    std::string all;
    for (const auto& f : failures) all += (all.empty() ? "" : "; ") + f;
    std::printf("soak_bench: FAIL: %s\n", all.c_str());
    if (server) {
      const std::string log = server->Log();
      const size_t from = log.size() > 4000 ? log.size() - 4000 : 0;
      std::fprintf(stderr, "soak_bench: the end of the server's log (%s):\n%s\n",
                   server->log_path().c_str(), log.substr(from).c_str());
    }
  }
  std::fflush(stdout);
  server.reset();  // SIGKILLs the child if it still runs
  if (!scratch.empty()) {
    if (a.keep) {
      std::printf("soak_bench: kept %s\n", scratch.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(scratch, ec);
    }
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) {
  vecpuff::Args args;
  if (!vecpuff::ParseArgs(argc, argv, &args)) return 2;
  struct sigaction sa {};
  sa.sa_handler = vecpuff::OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return vecpuff::Run(args);
}
