// The scalar reference kernels. Accumulating in double makes them the accurate baseline
// the SIMD levels are tested against.
#include "index/distance_kernels_internal.h"

namespace vecpuff::internal {

float DotScalar(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

float SquaredL2Scalar(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return static_cast<float>(sum);
}

void SquaredL2ColumnsScalar(const float* q, const float* cols, size_t d, size_t count,
                            size_t stride, float* out) {
  for (size_t j = 0; j < count; ++j) {
    double sum = 0;
    for (size_t t = 0; t < d; ++t) {
      const double diff = static_cast<double>(q[t]) - cols[t * stride + j];
      sum += diff * diff;
    }
    out[j] = static_cast<float>(sum);
  }
}

}  // namespace vecpuff::internal
