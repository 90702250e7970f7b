#include "index/distance.h"

#include <cmath>

#include "index/distance_kernels.h"

namespace vecpuff {

float DotProduct(const float* a, const float* b, size_t n) { return BestKernels().dot(a, b, n); }

float SquaredL2(const float* a, const float* b, size_t n) {
  return BestKernels().squared_l2(a, b, n);
}

namespace {

double DotProductDouble(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

}  // namespace

// In double: a float sum of squares overflows for components beyond ~1.8e19.
float Norm(const float* a, size_t n) {
  return static_cast<float>(std::sqrt(DotProductDouble(a, a, n)));
}

float Distance(DistanceMetric metric, const float* q, float q_norm, const float* d, float d_norm,
               size_t n) {
  if (metric == DistanceMetric::kEuclideanSquared) return SquaredL2(q, d, n);
  if (q_norm == 0 || d_norm == 0) return 1.0f;
  double dot = DotProduct(q, d, n);
  double norms = static_cast<double>(q_norm) * d_norm;
  if (!std::isfinite(dot) || !std::isfinite(norms)) {
    // Huge components overflow float: redo this pair in double (rare, so the fast path
    // stays in float).
    dot = DotProductDouble(q, d, n);
    norms = std::sqrt(DotProductDouble(q, q, n)) * std::sqrt(DotProductDouble(d, d, n));
  }
  double cos = dot / norms;
  // Rounding can push |cos| slightly past 1; keep the distance in [0, 2].
  if (cos > 1) cos = 1;
  if (cos < -1) cos = -1;
  return static_cast<float>(1.0 - cos);
}

}  // namespace vecpuff
