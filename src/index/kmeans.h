// Clustering for the index: balanced 2-means (LIRE's split) and hierarchical k-means (SPANN's
// initial build). Both run on the SIMD distance kernels and are deterministic for a given
// input and seed.
//
// Thread safety: pure functions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace vecpuff {

// Splits `rows` (each `dims` floats) into two clusters. On success `centers` holds 2 * dims
// floats and `label[i]` is 0 or 1. False when the rows cannot be split (fewer than 2 distinct
// vectors), leaving the outputs unspecified.
bool TwoMeans(const std::vector<const float*>& rows, size_t dims, uint64_t seed,
              std::vector<float>* centers, std::vector<uint32_t>* label);

// About `k` centers (k * dims floats, possibly fewer when clusters come out empty) for
// `rows`: k-means into sqrt(k) groups, then each group into its share of k. Each level trains
// on at most `max_sample` rows. Uses up to `threads` threads. When `cancel` is given and
// becomes true, returns early with an incomplete result: the caller must check it.
std::vector<float> HierarchicalKMeans(const std::vector<const float*>& rows, size_t dims, size_t k,
                                      size_t max_sample, unsigned threads,
                                      const std::atomic<bool>* cancel = nullptr);

// Plain k-means (k-means++ seeding, `iters` Lloyd iterations) of `rows` into at most k
// centers; empty clusters are dropped. Returns centers, k' * dims floats. `cancel` as for
// HierarchicalKMeans.
std::vector<float> KMeans(const std::vector<const float*>& rows, size_t dims, size_t k, int iters,
                          uint64_t seed, unsigned threads,
                          const std::atomic<bool>* cancel = nullptr);

}  // namespace vecpuff
