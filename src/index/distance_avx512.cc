// AVX-512F kernels. Compiled with -mavx512f; called only when the CPU has it. The tail is
// handled with a masked load, so there is no scalar loop.
#include <immintrin.h>

#include "index/distance_kernels_internal.h"

namespace vecpuff::internal {
namespace {

// Not _mm512_reduce_add_ps or _mm512_extractf64x4_pd: GCC 12 warns (-Wuninitialized)
// inside its own header for them. Once per call, a store and 16 adds cost nothing.
float HorizontalSum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float sum = 0;
  for (float x : lanes) sum += x;
  return sum;
}

}  // namespace

float DotAvx512(const float* a, const float* b, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i),
                           acc1);
  }
  return HorizontalSum(_mm512_add_ps(acc0, acc1));
}

float SquaredL2Avx512(const float* a, const float* b, size_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    acc0 = _mm512_fmadd_ps(d0, d0, acc0);
    acc1 = _mm512_fmadd_ps(d1, d1, acc1);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    acc0 = _mm512_fmadd_ps(d, d, acc0);
  }
  if (i < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 d =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
    acc1 = _mm512_fmadd_ps(d, d, acc1);
  }
  return HorizontalSum(_mm512_add_ps(acc0, acc1));
}

void SquaredL2ColumnsAvx512(const float* q, const float* cols, size_t d, size_t count,
                            size_t stride, float* out) {
  for (size_t j = 0; j < count; j += 16) {
    const __mmask16 mask =
        count - j >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << (count - j)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (size_t t = 0; t < d; ++t) {
      const __m512 diff =
          _mm512_sub_ps(_mm512_set1_ps(q[t]), _mm512_maskz_loadu_ps(mask, cols + t * stride + j));
      acc = _mm512_fmadd_ps(diff, diff, acc);
    }
    _mm512_mask_storeu_ps(out + j, mask, acc);
  }
}

}  // namespace vecpuff::internal
