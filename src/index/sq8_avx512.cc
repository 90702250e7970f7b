// AVX-512BW SQ8 kernels. Compiled with -mavx512f -mavx512bw; called only when the CPU has
// both. 64 codes per step: |a - b| as bytes (max - min), zero-extended to 16 bits by unpacking
// with zero, then madd_epi16 of each half with itself sums pairs of squares into 32-bit
// lanes. The tail is a masked load (zeroed lanes contribute 0), so there is no scalar loop.
//
// Overflow: one madd lane is at most 2 * 255^2; a lane of an accumulator holds part of the
// total, which is at most n * 255^2 < 2^32 under the n <= 66051 contract. The lanes wrap as
// unsigned and are summed as uint32, so the result is exact.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vecpuff::internal {
namespace {

inline void Prefetch(const uint8_t* p) {
  _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0);
}

inline __m512i AccumulateSquaredDiff(__m512i acc, __m512i a, __m512i b) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i d = _mm512_sub_epi8(_mm512_max_epu8(a, b), _mm512_min_epu8(a, b));
  // Unpacking interleaves lanes, which does not matter for a sum.
  const __m512i lo = _mm512_unpacklo_epi8(d, zero);
  const __m512i hi = _mm512_unpackhi_epi8(d, zero);
  acc = _mm512_add_epi32(acc, _mm512_madd_epi16(lo, lo));
  return _mm512_add_epi32(acc, _mm512_madd_epi16(hi, hi));
}

inline __mmask64 TailMask(size_t len) {
  // REQUIRES: 0 < len < 64.
  return (uint64_t{1} << len) - 1;
}

// Not _mm512_reduce_add_epi32 or an extract: GCC 12 has warned (-Wuninitialized) inside its
// own header for such helpers. Once per call, a store and 16 adds cost little.
uint32_t HorizontalSum(__m512i v) {
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, v);
  uint32_t sum = 0;
  for (uint32_t x : lanes) sum += x;
  return sum;
}

// Writes the four sums of a0..a3 to out[0..3] by a transposing reduction (a dozen
// instructions for four rows). The masked forms with an explicit source and a full mask are
// the plain instructions; the unmasked intrinsics pass _mm512_undefined_epi32() and GCC 12
// then fails -Werror=maybe-uninitialized at -O0.
void HorizontalSum4(__m512i a0, __m512i a1, __m512i a2, __m512i a3, uint32_t* out) {
  const __m512i z = _mm512_setzero_si512();
  constexpr __mmask16 kAll16 = 0xffff;
  constexpr __mmask8 kAll8 = 0xff;
  // Per 128-bit block: [a0 a1 a0 a1] and [a2 a3 a2 a3] partial sums.
  const __m512i t01 = _mm512_add_epi32(_mm512_mask_unpacklo_epi32(z, kAll16, a0, a1),
                                       _mm512_mask_unpackhi_epi32(z, kAll16, a0, a1));
  const __m512i t23 = _mm512_add_epi32(_mm512_mask_unpacklo_epi32(z, kAll16, a2, a3),
                                       _mm512_mask_unpackhi_epi32(z, kAll16, a2, a3));
  // Per 128-bit block: [a0 a1 a2 a3].
  __m512i s = _mm512_add_epi32(_mm512_mask_unpacklo_epi64(z, kAll8, t01, t23),
                               _mm512_mask_unpackhi_epi64(z, kAll8, t01, t23));
  // Fold the four blocks: swap the 256-bit halves, then adjacent blocks.
  s = _mm512_add_epi32(s, _mm512_mask_shuffle_i64x2(z, kAll8, s, s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm512_add_epi32(s, _mm512_mask_shuffle_i64x2(z, kAll8, s, s, _MM_SHUFFLE(2, 3, 0, 1)));
  alignas(64) uint32_t lanes[16];
  _mm512_store_si512(lanes, s);
  std::memcpy(out, lanes, 4 * sizeof(uint32_t));
}

}  // namespace

uint32_t Sq8SquaredL2Avx512(const uint8_t* a, const uint8_t* b, size_t n) {
  // Two accumulators so consecutive steps do not wait on each other's adds.
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    acc0 = AccumulateSquaredDiff(acc0, _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    acc1 =
        AccumulateSquaredDiff(acc1, _mm512_loadu_si512(a + i + 64), _mm512_loadu_si512(b + i + 64));
  }
  if (i + 64 <= n) {
    acc0 = AccumulateSquaredDiff(acc0, _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i));
    i += 64;
  }
  if (i < n) {
    const __mmask64 mask = TailMask(n - i);
    acc1 = AccumulateSquaredDiff(acc1, _mm512_maskz_loadu_epi8(mask, a + i),
                                 _mm512_maskz_loadu_epi8(mask, b + i));
  }
  return HorizontalSum(_mm512_add_epi32(acc0, acc1));
}

void Sq8SquaredL2BatchAvx512(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                             size_t stride, uint32_t* out) {
  // Four rows per pass share each query load and give four independent add chains.
  const size_t body = n & ~size_t{63};
  const __mmask64 tail_mask = body < n ? TailMask(n - body) : 0;
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const uint8_t* r0 = codes + j * stride;
    const uint8_t* r1 = r0 + stride;
    const uint8_t* r2 = r1 + stride;
    const uint8_t* r3 = r2 + stride;
    // The next four rows (clamped to the last row, so that no pointer leaves the buffer) are
    // prefetched while these are scanned. Measured on 784-d rows: no cost while the codes fit
    // in L2, 25-30% faster when they come from L3 or DRAM.
    const uint8_t* p0 = codes + std::min(j + 4, count - 1) * stride;
    const uint8_t* p1 = codes + std::min(j + 5, count - 1) * stride;
    const uint8_t* p2 = codes + std::min(j + 6, count - 1) * stride;
    const uint8_t* p3 = codes + std::min(j + 7, count - 1) * stride;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    __m512i acc2 = _mm512_setzero_si512(), acc3 = _mm512_setzero_si512();
    for (size_t i = 0; i < body; i += 64) {
      const __m512i q = _mm512_loadu_si512(query + i);
      Prefetch(p0 + i);
      Prefetch(p1 + i);
      Prefetch(p2 + i);
      Prefetch(p3 + i);
      acc0 = AccumulateSquaredDiff(acc0, q, _mm512_loadu_si512(r0 + i));
      acc1 = AccumulateSquaredDiff(acc1, q, _mm512_loadu_si512(r1 + i));
      acc2 = AccumulateSquaredDiff(acc2, q, _mm512_loadu_si512(r2 + i));
      acc3 = AccumulateSquaredDiff(acc3, q, _mm512_loadu_si512(r3 + i));
    }
    if (tail_mask != 0) {
      const __m512i q = _mm512_maskz_loadu_epi8(tail_mask, query + body);
      acc0 = AccumulateSquaredDiff(acc0, q, _mm512_maskz_loadu_epi8(tail_mask, r0 + body));
      acc1 = AccumulateSquaredDiff(acc1, q, _mm512_maskz_loadu_epi8(tail_mask, r1 + body));
      acc2 = AccumulateSquaredDiff(acc2, q, _mm512_maskz_loadu_epi8(tail_mask, r2 + body));
      acc3 = AccumulateSquaredDiff(acc3, q, _mm512_maskz_loadu_epi8(tail_mask, r3 + body));
    }
    HorizontalSum4(acc0, acc1, acc2, acc3, out + j);
  }
  for (; j < count; ++j) out[j] = Sq8SquaredL2Avx512(query, codes + j * stride, n);
}

}  // namespace vecpuff::internal
