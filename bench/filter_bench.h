// filter_bench's hnswlib side, in its own file: hnswlib picks its SIMD kernels at compile
// time, so filter_bench_hnswlib.cc alone is compiled with -march=native (as ann_bench's).
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "ann_bench.h"

namespace vecpuff::annbench {

// An HNSW index (M16, efC200, built on 2 threads) over the data set's base rows, searched
// by post-filtering (hnswlib 0.6.2 has no filter functor).
class HnswFiltered {
 public:
  explicit HnswFiltered(const Dataset& data);
  ~HnswFiltered();
  // The ids of the (approximately) 10 nearest rows for which `allowed` holds, nearest
  // first: 1.5 x 10 / selectivity neighbours searched with ef at least 64, then filtered.
  void Search(const std::vector<float>& query, const std::function<bool(int)>& allowed,
              double selectivity, std::vector<int>* ids);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vecpuff::annbench
