// Distances for the exact scan and the rerank, on the SIMD kernels chosen at run time
// (index/distance_kernels.h), with the metric's edge cases (zero vectors, overflow) handled.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>

#include "catalog/manifest.h"

namespace vecpuff {

float DotProduct(const float* a, const float* b, size_t n);
float SquaredL2(const float* a, const float* b, size_t n);
float Norm(const float* a, size_t n);

// Distance between a query (with precomputed norm) and a document (with its norm) under
// `metric`. For cosine, a zero vector on either side has distance 1 (as if orthogonal), so
// the result is always finite.
float Distance(DistanceMetric metric, const float* q, float q_norm, const float* d, float d_norm,
               size_t n);

}  // namespace vecpuff
