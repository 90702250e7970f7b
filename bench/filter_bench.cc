// filter_bench: filtered vector search on Fashion-MNIST, VecPuff against hnswlib in the same
// run. Every train image gets two attributes: "bucket" (0..999, a hash of its row,
// independent of the image) and "ink" (0..999, the rank of its total pixel intensity, which
// follows the image, so that posting lists hold narrow ranges of it and posting summaries
// can skip lists). Each query asks for the 10 nearest images with attr < s * 1000 for
// selectivities s from 0.1% to 100%, for each attribute. Recall@10 is measured against the
// exact filtered top 10 (brute force over the matching rows); "k rows" checks that a query
// returns 10 rows whenever at least 10 documents match.
//
//   filter_bench [--queries N] [--repeats N]
//
// VecPuff: an in-process Database over a LocalStore in a scratch directory, indexed, default
// probes; the filter is applied inside the index scan (docs/api.md). hnswlib (0.6.2, which has
// no filtered search): M16 efC200, post-filtering 1.5 x 10 / s neighbours searched with
// ef >= 64. Single thread, one query at a time; QPS is the median of the runs.
#include "filter_bench.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "ann_bench.h"
#include "db/database.h"
#include "db/doc_key.h"
#include "query/filter.h"
#include "storage/local_store.h"

namespace vecpuff::annbench {
namespace {

constexpr char kNamespace[] = "filter-bench";

int Bucket(int row) {
  uint64_t x = static_cast<uint64_t>(row) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return static_cast<int>(x % 1000);
}

// "ink" of every base row: the rank (0..999 permille) of its total pixel intensity, an
// attribute that follows the vectors (images of similar ink cluster together), unlike
// bucket.
std::vector<int> InkPermille(const Dataset& data) {
  std::vector<std::pair<int64_t, int>> sums(data.n_base);
  for (int i = 0; i < data.n_base; ++i) {
    int64_t sum = 0;
    const uint8_t* b = data.base_row(i);
    for (int j = 0; j < data.dim; ++j) sum += b[j];
    sums[i] = {sum, i};
  }
  std::sort(sums.begin(), sums.end());
  std::vector<int> ink(data.n_base);
  for (int r = 0; r < data.n_base; ++r) {
    ink[sums[r].second] = static_cast<int>(int64_t{r} * 1000 / data.n_base);
  }
  return ink;
}

// The exact filtered top 10 of query q among rows with attr[row] < limit.
std::vector<int> FilteredTruth(const Dataset& data, const std::vector<int>& attr, int q,
                               int limit) {
  std::vector<std::pair<int64_t, int>> best;
  const uint8_t* qr = data.query_row(q);
  for (int i = 0; i < data.n_base; ++i) {
    if (attr[i] >= limit) continue;
    const uint8_t* b = data.base_row(i);
    int64_t d = 0;
    for (int j = 0; j < data.dim; ++j) {
      const int diff = int(qr[j]) - int(b[j]);
      d += diff * diff;
    }
    best.emplace_back(d, i);
  }
  const size_t k = std::min<size_t>(kTopK, best.size());
  std::partial_sort(best.begin(), best.begin() + k, best.end());
  std::vector<int> ids;
  for (size_t i = 0; i < k; ++i) ids.push_back(best[i].second);
  return ids;
}

struct Point {
  double recall = 0;
  double qps = 0;
  double p50_ms = 0;
  bool k_rows = true;  // every query returned min(10, matching) rows
  double exhaustive = 0;
  double skipped = 0;  // posting lists skipped unread (their summaries rule the filter out)
};

// Runs every query once untimed (recall, k rows, warm caches), then `repeats` times timed;
// QPS and p50 latency are those of the run with the median QPS.
Point Measure(int n_query, int repeats, const std::vector<std::vector<int>>& truth,
              const std::function<bool(int, std::vector<int>*, uint64_t*, uint64_t*)>& search) {
  Point p;
  std::vector<double> qps_runs;
  std::vector<std::vector<double>> run_times;
  for (int rep = -1; rep < repeats; ++rep) {  // rep -1 warms the caches and is not timed
    double found = 0, wanted = 0;
    uint64_t exhaustive = 0, skipped = 0;
    std::vector<double> times;
    auto start = Clock::now();
    for (int q = 0; q < n_query; ++q) {
      std::vector<int> ids;
      uint64_t ex = 0, sk = 0;
      auto t0 = Clock::now();
      if (!search(q, &ids, &ex, &sk)) return p;
      times.push_back(Seconds(Clock::now() - t0) * 1000);
      exhaustive += ex;
      skipped += sk;
      if (rep == -1) {
        if (ids.size() != truth[q].size()) p.k_rows = false;
        for (int id : ids) {
          found += std::count(truth[q].begin(), truth[q].end(), id);
        }
        wanted += static_cast<double>(truth[q].size());
      }
    }
    if (rep == -1) {
      p.recall = wanted > 0 ? found / wanted : 1;
      p.exhaustive = static_cast<double>(exhaustive) / n_query;
      p.skipped = static_cast<double>(skipped) / n_query;
      continue;
    }
    qps_runs.push_back(n_query / Seconds(Clock::now() - start));
    run_times.push_back(std::move(times));
  }
  // The run with the median QPS gives the QPS and the latency.
  std::vector<size_t> order(qps_runs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return qps_runs[a] < qps_runs[b]; });
  const size_t median = order[order.size() / 2];
  p.qps = qps_runs[median];
  p.p50_ms = Percentile(run_times[median], 0.5);
  return p;
}

int Main(int argc, char** argv) {
  Args args;
  args.queries = 200;
  int repeats = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--queries" && i + 1 < argc) {
      args.queries = std::atoi(argv[++i]);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: filter_bench [--queries N] [--repeats N]\n");
      return 2;
    }
  }
  Dataset data = LoadDataset(args, true);
  const std::vector<int> permille = {1, 10, 100, 500, 1000};
  // Two attributes, each filtered with `attr < s * 1000`: bucket (independent of the
  // vectors) and ink (following them).
  const std::vector<std::string> names = {"bucket", "ink"};
  std::vector<std::vector<int>> attrs(2, std::vector<int>(data.n_base));
  for (int i = 0; i < data.n_base; ++i) attrs[0][i] = Bucket(i);
  attrs[1] = InkPermille(data);
  const size_t n_series = names.size() * permille.size();  // series a*|permille| + s

  Log("filter_bench: exact filtered ground truth for %d queries x %zu filters", data.n_query,
      n_series);
  std::vector<std::vector<std::vector<int>>> truth(n_series);
  for (size_t x = 0; x < n_series; ++x) {
    const std::vector<int>& attr = attrs[x / permille.size()];
    const int limit = permille[x % permille.size()];
    truth[x].resize(data.n_query);
    std::vector<std::thread> pool;
    std::atomic<int> next{0};
    for (int t = 0; t < 2; ++t) {
      pool.emplace_back([&, x] {
        for (int q = next++; q < data.n_query; q = next++) {
          truth[x][q] = FilteredTruth(data, attr, q, limit);
        }
      });
    }
    for (auto& th : pool) th.join();
  }

  // VecPuff.
  std::string dir = MakeScratchDir(args, "filter-bench");
  auto opened = OpenLocalStore(dir + "/store");
  if (!opened.ok()) {
    std::fprintf(stderr, "filter_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<ObjectStore> store = std::move(*opened);
  DbOptions options;
  options.compactor_enabled = false;
  auto db = std::make_unique<Database>(store.get(), options);
  Log("filter_bench: VecPuff ingest and index of %d rows", data.n_base);
  auto t0 = Clock::now();
  for (int first = 0; first < data.n_base; first += 1000) {
    WriteRequest w;
    w.distance_metric = DistanceMetric::kEuclideanSquared;
    for (int i = first; i < std::min(data.n_base, first + 1000); ++i) {
      w.upsert_rows.push_back({U64Key(static_cast<uint64_t>(i)), data.BaseFloat(i),
                               nlohmann::json{{"bucket", attrs[0][i]}, {"ink", attrs[1][i]}}});
    }
    auto res = db->Write(kNamespace, std::move(w));
    if (!res.ok()) {
      std::fprintf(stderr, "filter_bench: write: %s\n", res.status().ToString().c_str());
      return 1;
    }
  }
  if (Status s = db->Compact(kNamespace); !s.ok()) {
    std::fprintf(stderr, "filter_bench: compact: %s\n", s.ToString().c_str());
    return 1;
  }
  Log("filter_bench: VecPuff built in %.1f s", Seconds(Clock::now() - t0));

  std::vector<std::vector<float>> queries(data.n_query);
  for (int q = 0; q < data.n_query; ++q) queries[q] = data.QueryFloat(q);
  std::vector<Point> ours(n_series), peer(n_series);
  for (size_t x = 0; x < n_series; ++x) {
    auto filter = Filter::Parse(
        nlohmann::json::array({names[x / permille.size()], "Lt", permille[x % permille.size()]}));
    if (!filter.ok()) return 1;
    ours[x] = Measure(data.n_query, repeats, truth[x],
                      [&](int q, std::vector<int>* ids, uint64_t* exhaustive, uint64_t* skipped) {
                        QueryRequest req;
                        req.vector = queries[q];
                        req.top_k = kTopK;
                        req.filter = *filter;
                        req.include_vectors = false;
                        req.include_attributes = false;
                        auto res = db->Query(kNamespace, req);
                        if (!res.ok()) {
                          Log("filter_bench: query: %s", res.status().ToString().c_str());
                          return false;
                        }
                        for (const QueryHit& h : res->hits) {
                          ids->push_back(static_cast<int>(DocKeyToJson(h.id).get<uint64_t>()));
                        }
                        *exhaustive = res->exhaustive_count;
                        *skipped = res->postings_skipped;
                        return true;
                      });
  }
  db.reset();
  store.reset();
  std::string rm = "rm -rf '" + dir + "'";
  if (std::system(rm.c_str()) != 0) Log("filter_bench: could not remove %s", dir.c_str());

  // hnswlib (filter_bench_hnswlib.cc).
  HnswFiltered hnsw(data);
  for (size_t x = 0; x < n_series; ++x) {
    const std::vector<int>& attr = attrs[x / permille.size()];
    const int limit = permille[x % permille.size()];
    const std::function<bool(int)> keep = [&attr, limit](int row) { return attr[row] < limit; };
    peer[x] = Measure(data.n_query, repeats, truth[x],
                      [&](int q, std::vector<int>* ids, uint64_t*, uint64_t*) {
                        hnsw.Search(queries[q], keep, limit / 1000.0, ids);
                        return true;
                      });
  }

  bool ok = true;
  for (size_t a_i = 0; a_i < names.size(); ++a_i) {
    std::printf("\nFiltered search, Fashion-MNIST (%d base rows, %d queries, top 10, %s < s)\n",
                data.n_base, data.n_query, names[a_i].c_str());
    std::printf("%-11s | %-44s | %-27s | %s\n", "selectivity",
                "VecPuff recall  QPS  p50 ms  exh.docs skipped", "hnswlib post-filter recall QPS",
                "QPS ratio");
    for (size_t s = 0; s < permille.size(); ++s) {
      const Point& a = ours[a_i * permille.size() + s];
      const Point& b = peer[a_i * permille.size() + s];
      std::printf("%9.1f %% | %6.3f %8.0f %7.2f %9.0f %7.0f %s | %6.3f %8.0f %s       | %5.2f\n",
                  permille[s] / 10.0, a.recall, a.qps, a.p50_ms, a.exhaustive, a.skipped,
                  a.k_rows ? "   " : "(!k)", b.recall, b.qps, b.k_rows ? "   " : "(!k)",
                  b.qps > 0 ? a.qps / b.qps : 0.0);
      ok = ok && a.recall >= 0.9 && a.k_rows;
    }
  }
  std::printf("VecPuff recall@10 >= 0.9 and k rows at every selectivity: %s\n", ok ? "yes" : "NO");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vecpuff::annbench

int main(int argc, char** argv) { return vecpuff::annbench::Main(argc, argv); }
