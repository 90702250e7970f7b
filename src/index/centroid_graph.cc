// CentroidGraph (ivf_index.h): hnswlib's HNSW over the centroids' SQ8 codes, with our kernel.
//
// hnswlib 0.6.2 (Debian libhnswlib-dev) defines non-inline functions in its headers, so two
// translation units of one program that include it fail to link (the benchmark links its own
// copy for the peer comparison). It is therefore included only here, inside a namespace of
// its own; the standard and intrinsic headers it uses are included first so that its own
// includes of them are no-ops inside that namespace.
#include <assert.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <x86intrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

// Distances come from our kernels; hnswlib's own SSE path would also prefetch one entry past
// the end of a neighbour list (a read AddressSanitizer rightly reports), so it is off.
#define NO_MANUAL_VECTORIZATION
namespace vecpuff_hnswlib {
#include <hnswlib/hnswlib.h>
}  // namespace vecpuff_hnswlib

#include <spdlog/spdlog.h>

#include <cmath>

#include "index/ivf_index.h"
#include "index/sq8.h"

namespace vecpuff {

namespace hnswlib = vecpuff_hnswlib::hnswlib;

namespace {

// hnswlib's distance interface over SQ8 codes (our run-time-dispatched kernel): the graph
// holds each centroid as `dims` bytes, a quarter of its float size.
class Sq8Space : public hnswlib::SpaceInterface<float> {
 public:
  explicit Sq8Space(size_t dims) : dims_(dims) {}
  size_t get_data_size() override { return dims_; }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Dist; }
  void* get_dist_func_param() override { return &dims_; }

 private:
  static float Dist(const void* a, const void* b, const void* param) {
    return static_cast<float>(Sq8KernelsBest().squared_l2(static_cast<const uint8_t*>(a),
                                                          static_cast<const uint8_t*>(b),
                                                          *static_cast<const size_t*>(param)));
  }
  size_t dims_;
};

}  // namespace

struct CentroidGraph::Impl {
  std::unique_ptr<Sq8Space> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

CentroidGraph::~CentroidGraph() = default;

std::shared_ptr<const CentroidGraph> CentroidGraph::Build(const uint8_t* codes, size_t c,
                                                          uint32_t dims) {
  std::shared_ptr<CentroidGraph> graph(new CentroidGraph());
  graph->impl_ = std::make_unique<Impl>();
  try {
    graph->impl_->space = std::make_unique<Sq8Space>(dims);
    graph->impl_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        graph->impl_->space.get(), c, /*M=*/16, /*ef_construction=*/100, /*random_seed=*/c);
    auto* hnsw = graph->impl_->hnsw.get();
    // One thread, so that the graph (and so every search) is deterministic for a given set
    // of centroids.
    for (size_t i = 0; i < c; ++i) hnsw->addPoint(&codes[i * dims], i);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; searches fall back to comparing every centroid.
    spdlog::warn("centroid graph over {} centroids not built: {}", c, e.what());
    return nullptr;
  }
  const double recall = graph->ProbeRecall(codes, c, dims);
  if (recall < kMinProbeRecall) {
    spdlog::info(
        "centroid graph over {} centroids not used: it found {:.3f} of the true nearest "
        "centroids of probe points (needs {}); searches compare every centroid",
        c, recall, kMinProbeRecall);
    return nullptr;
  }
  spdlog::debug("centroid graph over {} centroids: probe recall {:.3f}", c, recall);
  return graph;
}

double CentroidGraph::ProbeRecall(const uint8_t* codes, size_t c, uint32_t dims) const {
  if (c < 2 || dims == 0) return 1.0;
  const Sq8Kernels& k = Sq8KernelsBest();
  const size_t probes = std::min(kProbePoints, c);
  const size_t n = std::min(kProbeNearest, c);
  std::mt19937 rng(static_cast<uint32_t>(c * 2654435761u));
  std::normal_distribution<float> normal;
  std::vector<uint32_t> dist(c);
  std::vector<uint8_t> query(dims);
  std::vector<float> noise(dims);
  std::vector<std::pair<uint32_t, uint32_t>> found;
  size_t hits = 0;
  for (size_t p = 0; p < probes; ++p) {
    const size_t s = p * c / probes;
    const uint8_t* code = &codes[s * dims];
    // Half way to the nearest other centroid, in a random direction.
    k.squared_l2_batch(code, codes, c, dims, dims, dist.data());
    uint32_t nearest = UINT32_MAX;
    for (size_t i = 0; i < c; ++i) {
      if (i != s) nearest = std::min(nearest, dist[i]);
    }
    double norm = 0;
    for (float& x : noise) {
      x = normal(rng);
      norm += double{x} * x;
    }
    const double scale = norm > 0 ? 0.5 * std::sqrt(static_cast<double>(nearest) / norm) : 0.0;
    for (uint32_t t = 0; t < dims; ++t) {
      const double v = std::round(code[t] + scale * noise[t]);
      query[t] = static_cast<uint8_t>(std::clamp(v, 0.0, 255.0));
    }
    // The true n nearest by code; a graph result counts if it is at least as near as the
    // n-th (ties are equally good).
    k.squared_l2_batch(query.data(), codes, c, dims, dims, dist.data());
    std::vector<uint32_t> sorted(dist);
    std::nth_element(sorted.begin(), sorted.begin() + (n - 1), sorted.end());
    const uint32_t limit = sorted[n - 1];
    found.clear();
    Candidates(query.data(), kProbeWant, &found);
    size_t good = 0;
    for (const auto& [d, slot] : found) good += dist[slot] <= limit ? 1 : 0;
    hits += std::min(good, n);
  }
  return static_cast<double>(hits) / static_cast<double>(probes * n);
}

void CentroidGraph::Candidates(const uint8_t* code, size_t want,
                               std::vector<std::pair<uint32_t, uint32_t>>* out) const {
  auto found = impl_->hnsw->searchKnn(code, want);
  while (!found.empty()) {
    out->emplace_back(static_cast<uint32_t>(found.top().first),
                      static_cast<uint32_t>(found.top().second));
    found.pop();
  }
}

}  // namespace vecpuff
