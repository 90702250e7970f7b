// scale_bench: `make bench-scale`. Generates N clustered 128-d vectors (default 10M; never
// stored on disk except as the store's own objects), ingests them into an in-process
// Database over the local store, waits until the background compactor has indexed them,
// then measures recall against the exact answer on a sample of queries, single-thread QPS at
// several efforts, and memory. Prints one table.
//
//   scale_bench [--rows N] [--dims D] [--clusters C] [--queries Q] [--dir PATH]
//               [--trigger-rows R] [--writers W]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "db/database.h"
#include "index/distance_kernels.h"
#include "storage/local_store.h"

namespace vecpuff {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// VmRSS / VmHWM of this process, in MiB.
double ProcStatusMiB(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(std::strlen(field) + 1)) / 1024.0;
  }
  return 0;
}

// Row i is a deterministic function of i: a cluster center plus Gaussian noise. Nothing needs
// to be kept to compute the exact answer later.
class Generator {
 public:
  Generator(uint32_t dims, uint32_t clusters) : dims_(dims) {
    std::mt19937_64 rng(42);
    std::normal_distribution<float> g(0, 1);
    centers_.resize(size_t{clusters} * dims);
    for (float& x : centers_) x = g(rng) * 4;
  }
  void Row(uint64_t i, float* out) const {
    std::mt19937_64 rng(i * 0x9E3779B97F4A7C15ull + 7);
    const size_t c = rng() % (centers_.size() / dims_);
    std::normal_distribution<float> g(0, 1);
    for (uint32_t d = 0; d < dims_; ++d) out[d] = centers_[c * dims_ + d] + g(rng);
  }

 private:
  uint32_t dims_;
  std::vector<float> centers_;
};

int Main(int argc, char** argv) {
  uint64_t rows = 10'000'000;
  uint32_t dims = 128, clusters = 10000;
  size_t queries = 100, writers = 2, trigger_rows = 1'000'000;
  std::string dir = "/tmp/vecpuff-scale-bench";
  auto usage = [] {
    std::fprintf(stderr,
                 "usage: scale_bench [--rows N] [--dims N] [--clusters N] [--queries N]\n"
                 "                   [--trigger-rows N] [--writers N] [--dir DIR]\n"
                 "defaults: 10000000 rows of 128 dims from 10000 clusters, 100 queries,\n"
                 "          compaction every 1000000 rows, 2 writers, /tmp/vecpuff-scale-bench\n");
  };
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage();
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", flag.c_str());
      usage();
      return 2;
    }
    const std::string v = argv[i + 1];
    if (flag == "--dir") {
      dir = v;
      continue;
    }
    // Every other flag takes a positive integer.
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (v.empty() || v[0] == '-' || *end != '\0' || errno != 0 || n == 0) {
      std::fprintf(stderr, "%s wants a positive integer, got '%s'\n", flag.c_str(), v.c_str());
      return 2;
    }
    if (flag == "--rows")
      rows = n;
    else if (flag == "--dims" && n <= 65536)
      dims = static_cast<uint32_t>(n);
    else if (flag == "--clusters" && n <= UINT32_MAX)
      clusters = static_cast<uint32_t>(n);
    else if (flag == "--queries")
      queries = n;
    else if (flag == "--trigger-rows")
      trigger_rows = n;
    else if (flag == "--writers" && n <= 64)
      writers = n;
    else {
      std::fprintf(stderr, "unknown flag or value out of range: %s %s\n", flag.c_str(), v.c_str());
      usage();
      return 2;
    }
  }
  // The directory is scratch space, emptied before and removed after the run: only one this
  // tool made (it holds the marker file) or an empty or absent one is used.
  const std::filesystem::path marker = std::filesystem::path(dir) / ".scale_bench_scratch";
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_empty(dir, ec) &&
      !std::filesystem::exists(marker, ec)) {
    std::fprintf(stderr, "%s exists and was not made by scale_bench; choose another --dir\n",
                 dir.c_str());
    return 2;
  }
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  std::ofstream(marker) << "scratch space of scale_bench; removed after the run\n";
  auto store = OpenLocalStore(dir);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  DbOptions o;
  o.index_trigger_rows = trigger_rows;
  o.index_trigger_bytes = size_t{1} << 40;
  o.max_unindexed_bytes = size_t{1} << 30;  // writers wait (429) beyond this
  o.batch_window_ms = 5;
  o.posting_cache_bytes = size_t{2} << 30;
  Database db(store->get(), o);
  Generator gen(dims, clusters);
  std::printf(
      "scale_bench: %llu rows x %u dims (%u clusters), store %s, compaction every %zu rows\n",
      static_cast<unsigned long long>(rows), dims, clusters, dir.c_str(), trigger_rows);

  // Ingest: `writers` threads, batches of 10,000 rows, each acknowledged once durable.
  const uint64_t kBatch = 10000;
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  const auto t0 = Clock::now();
  auto writer = [&] {
    std::vector<float> v(dims);
    for (uint64_t b = next.fetch_add(kBatch); b < rows && !failed; b = next.fetch_add(kBatch)) {
      WriteRequest w;
      w.distance_metric = DistanceMetric::kEuclideanSquared;
      for (uint64_t i = b; i < std::min(rows, b + kBatch); ++i) {
        UpsertRow r;
        r.id = std::to_string(i);
        r.vector.resize(dims);
        gen.Row(i, r.vector.data());
        w.upsert_rows.push_back(std::move(r));
      }
      for (int attempt = 0;; ++attempt) {
        auto s = db.Write("scale", w);
        if (s.ok()) break;
        // Backpressure (429) while indexing catches up: wait and retry, as a client would.
        if (s.status().code() == StatusCode::kResourceExhausted && attempt < 100000) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        std::fprintf(stderr, "write failed: %s\n", s.status().ToString().c_str());
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 0; t < writers; ++t) pool.emplace_back(writer);
  for (auto& t : pool) t.join();
  if (failed) return 1;
  const auto t1 = Clock::now();
  // Fully indexed: poll the metadata.
  NamespaceMetadata md;
  while (true) {
    auto m = db.Metadata("scale");
    if (!m.ok()) return 1;
    md = *m;
    if (md.index_status == "up_to_date" && md.indexed_row_count == rows) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const auto t2 = Clock::now();
  const double ingest_s = Seconds(t0, t1), index_s = Seconds(t1, t2);

  // Queries: rows drawn from the generator's distribution with fresh noise.
  std::vector<std::vector<float>> qs(queries, std::vector<float>(dims));
  for (size_t q = 0; q < queries; ++q) gen.Row(rows + 1'000'000'000ull + q, qs[q].data());
  // Exact top-10 by a streaming scan (rows regenerated, 2 threads).
  std::vector<std::vector<std::pair<float, uint64_t>>> best(queries);
  {
    const auto& k = BestKernels();
    std::vector<std::vector<std::vector<std::pair<float, uint64_t>>>> part(
        2, std::vector<std::vector<std::pair<float, uint64_t>>>(queries));
    std::vector<std::thread> th;
    for (int t = 0; t < 2; ++t) {
      th.emplace_back([&, t] {
        std::vector<float> v(dims);
        for (uint64_t i = t; i < rows; i += 2) {
          gen.Row(i, v.data());
          for (size_t q = 0; q < queries; ++q) {
            auto& h = part[t][q];
            const float d = k.squared_l2(qs[q].data(), v.data(), dims);
            if (h.size() < 10) {
              h.emplace_back(d, i);
              std::push_heap(h.begin(), h.end());
            } else if (d < h.front().first) {
              std::pop_heap(h.begin(), h.end());
              h.back() = {d, i};
              std::push_heap(h.begin(), h.end());
            }
          }
        }
      });
    }
    for (auto& t : th) t.join();
    for (size_t q = 0; q < queries; ++q) {
      auto all = part[0][q];
      all.insert(all.end(), part[1][q].begin(), part[1][q].end());
      std::sort(all.begin(), all.end());
      all.resize(std::min<size_t>(10, all.size()));
      best[q] = all;
    }
  }
  std::printf(
      "\n| rows | ingest rows/s (to durable ack) | time to fully indexed after last write | write "
      "amplification | RSS MiB (peak) |\n|---|---|---|---|---|\n");
  std::printf("| %llu | %.0f | %.1f s | %.2f | %.0f (%.0f) |\n",
              static_cast<unsigned long long>(rows), rows / ingest_s, index_s,
              md.index_input_bytes ? double(md.index_bytes_written) / md.index_input_bytes : 0.0,
              ProcStatusMiB("VmRSS:"), ProcStatusMiB("VmHWM:"));
  std::printf(
      "\n| probes | recall@10 | QPS (1 thread, warm) | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
  for (uint32_t probes : {8u, 16u, 32u, 64u}) {
    for (int pass = 0; pass < 2; ++pass) {  // first pass warms the caches
      size_t hit = 0;
      std::vector<double> lat;
      const auto a = Clock::now();
      for (size_t q = 0; q < queries; ++q) {
        QueryRequest r;
        r.vector = qs[q];
        r.top_k = 10;
        r.probes = probes;
        r.include_vectors = false;
        r.include_attributes = false;
        const auto s = Clock::now();
        auto res = db.Query("scale", r);
        lat.push_back(Seconds(s, Clock::now()) * 1000);
        if (!res.ok()) {
          std::fprintf(stderr, "query failed: %s\n", res.status().ToString().c_str());
          return 1;
        }
        std::set<std::string> want;
        for (const auto& [d, i] : best[q]) want.insert(std::to_string(i));
        for (const auto& h : res->hits) hit += want.count(h.id);
      }
      const double secs = Seconds(a, Clock::now());
      if (pass == 0) continue;
      std::sort(lat.begin(), lat.end());
      std::printf("| %u | %.3f | %.0f | %.2f | %.2f |\n", probes, hit / (10.0 * queries),
                  queries / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]);
    }
  }
  std::printf("\nRSS after queries: %.0f MiB; raw vectors: %.0f MiB\n", ProcStatusMiB("VmRSS:"),
              rows * dims * 4.0 / (1 << 20));
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) { return vecpuff::Main(argc, argv); }
