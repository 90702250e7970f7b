// AVX-512 VNNI SQ8 kernel. Compiled with -mavx512f -mavx512bw -mavx512vnni; called only when
// the CPU has all three. vpdpbusd multiplies 64 unsigned code bytes by 64 signed query bytes
// and adds each group of four products into a 32-bit lane: one instruction per 64 codes,
// where the squared-difference kernel needs seven (sq8.h: the dot form of the distance).
//
// Overflow: a product is at most 255 * 128 in magnitude, so a lane's share of the total is
// bounded by it; the total is exact in int32 for n <= 65536 (255 * 128 * 65536 < 2^31).
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

// The sum of the 16 lanes of each of a0..a3 into out[0..3] (a store and adds: GCC 12 warns
// inside its own header for the reduce intrinsics).
void Sum4(__m512i a0, __m512i a1, __m512i a2, __m512i a3, int32_t* out) {
  alignas(64) int32_t lanes[4][16];
  _mm512_store_si512(lanes[0], a0);
  _mm512_store_si512(lanes[1], a1);
  _mm512_store_si512(lanes[2], a2);
  _mm512_store_si512(lanes[3], a3);
  for (int r = 0; r < 4; ++r) {
    uint32_t sum = 0;  // wraps like the lanes; the true total fits in int32
    for (int32_t x : lanes[r]) sum += static_cast<uint32_t>(x);
    out[r] = static_cast<int32_t>(sum);
  }
}

int32_t DotOne(const int8_t* q, const uint8_t* row, size_t n) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(row + i), _mm512_loadu_si512(q + i));
  }
  if (i < n) {
    const __mmask64 mask = (uint64_t{1} << (n - i)) - 1;
    acc = _mm512_dpbusd_epi32(acc, _mm512_maskz_loadu_epi8(mask, row + i),
                              _mm512_maskz_loadu_epi8(mask, q + i));
  }
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, acc);
  uint32_t sum = 0;
  for (int32_t x : lanes) sum += static_cast<uint32_t>(x);
  return static_cast<int32_t>(sum);
}

}  // namespace

void Sq8DotBatchAvx512Vnni(const int8_t* q, const uint8_t* codes, size_t count, size_t n,
                           size_t stride, int32_t* out) {
  const size_t body = n & ~size_t{63};
  const __mmask64 tail_mask = body < n ? (uint64_t{1} << (n - body)) - 1 : 0;
  size_t j = 0;
  for (; j + 4 <= count; j += 4) {
    const uint8_t* r0 = codes + j * stride;
    const uint8_t* r1 = r0 + stride;
    const uint8_t* r2 = r1 + stride;
    const uint8_t* r3 = r2 + stride;
    // The next four rows (clamped to the last row) are prefetched while these are scanned,
    // as in the squared-difference kernel (sq8_avx512.cc).
    const uint8_t* p0 = codes + std::min(j + 4, count - 1) * stride;
    const uint8_t* p1 = codes + std::min(j + 5, count - 1) * stride;
    const uint8_t* p2 = codes + std::min(j + 6, count - 1) * stride;
    const uint8_t* p3 = codes + std::min(j + 7, count - 1) * stride;
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    __m512i acc2 = _mm512_setzero_si512(), acc3 = _mm512_setzero_si512();
    for (size_t i = 0; i < body; i += 64) {
      const __m512i qv = _mm512_loadu_si512(q + i);
      Prefetch(p0 + i);
      Prefetch(p1 + i);
      Prefetch(p2 + i);
      Prefetch(p3 + i);
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_loadu_si512(r0 + i), qv);
      acc1 = _mm512_dpbusd_epi32(acc1, _mm512_loadu_si512(r1 + i), qv);
      acc2 = _mm512_dpbusd_epi32(acc2, _mm512_loadu_si512(r2 + i), qv);
      acc3 = _mm512_dpbusd_epi32(acc3, _mm512_loadu_si512(r3 + i), qv);
    }
    if (tail_mask != 0) {
      const __m512i qv = _mm512_maskz_loadu_epi8(tail_mask, q + body);
      acc0 = _mm512_dpbusd_epi32(acc0, _mm512_maskz_loadu_epi8(tail_mask, r0 + body), qv);
      acc1 = _mm512_dpbusd_epi32(acc1, _mm512_maskz_loadu_epi8(tail_mask, r1 + body), qv);
      acc2 = _mm512_dpbusd_epi32(acc2, _mm512_maskz_loadu_epi8(tail_mask, r2 + body), qv);
      acc3 = _mm512_dpbusd_epi32(acc3, _mm512_maskz_loadu_epi8(tail_mask, r3 + body), qv);
    }
    Sum4(acc0, acc1, acc2, acc3, out + j);
  }
  for (; j < count; ++j) out[j] = DotOne(q, codes + j * stride, n);
}

}  // namespace vecpuff::internal
