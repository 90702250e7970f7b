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
  return graph;
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
