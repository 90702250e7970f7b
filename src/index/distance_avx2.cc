// AVX2 + FMA kernels. Compiled with -mavx2 -mfma; called only when the CPU has both.
#include <immintrin.h>

#include "index/distance_kernels_internal.h"

namespace vecpuff::internal {
namespace {

float HorizontalSum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 shuf = _mm_movehdup_ps(lo);
  __m128 sums = _mm_add_ps(lo, shuf);
  shuf = _mm_movehl_ps(shuf, sums);
  sums = _mm_add_ss(sums, shuf);
  return _mm_cvtss_f32(sums);
}

}  // namespace

float DotAvx2(const float* a, const float* b, size_t n) {
  // Two accumulators hide the FMA latency.
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float SquaredL2Avx2(const float* a, const float* b, size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    acc0 = _mm256_fmadd_ps(d0, d0, acc0);
    acc1 = _mm256_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    acc0 = _mm256_fmadd_ps(d, d, acc0);
  }
  float sum = HorizontalSum(_mm256_add_ps(acc0, acc1));
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

void SquaredL2ColumnsAvx2(const float* q, const float* cols, size_t d, size_t count, size_t stride,
                          float* out) {
  size_t j = 0;
  for (; j + 8 <= count; j += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (size_t t = 0; t < d; ++t) {
      const __m256 diff =
          _mm256_sub_ps(_mm256_set1_ps(q[t]), _mm256_loadu_ps(cols + t * stride + j));
      acc = _mm256_fmadd_ps(diff, diff, acc);
    }
    _mm256_storeu_ps(out + j, acc);
  }
  for (; j < count; ++j) {  // the last columns, one at a time (same arithmetic)
    float acc = 0;
    for (size_t t = 0; t < d; ++t) {
      const float diff = q[t] - cols[t * stride + j];
      acc = __builtin_fmaf(diff, diff, acc);
    }
    out[j] = acc;
  }
}

}  // namespace vecpuff::internal
