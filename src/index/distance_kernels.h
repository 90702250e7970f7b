// Distance kernels: a scalar reference and one implementation per x86 instruction set
// (AVX2+FMA, AVX-512F), chosen once at run time from what the CPU supports, as faiss and
// hnswlib do. Every level is tested against the scalar reference
// (tests/index/distance_kernels_test.cc).
//
// The scalar reference accumulates in double; SIMD levels accumulate in float lanes, so
// results differ by rounding only.
//
// Thread safety: pure functions; BestKernels() is safe to call from any thread.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace vecpuff {

enum class SimdLevel {
  kScalar,
  kAvx2,    // AVX2 + FMA, 8 floats per instruction
  kAvx512,  // AVX-512F, 16 floats per instruction
};

std::string_view SimdLevelName(SimdLevel level);

struct DistanceKernels {
  SimdLevel level;
  float (*dot)(const float* a, const float* b, size_t n);
  float (*squared_l2)(const float* a, const float* b, size_t n);
  // out[j] = squared L2 between q (d floats) and column j of a column-major block:
  // sum over t < d of (q[t] - cols[t * stride + j])^2, for j < count (stride >= count).
  // Vectorized across columns: for many short vectors (projected centroids).
  void (*squared_l2_columns)(const float* q, const float* cols, size_t d, size_t count,
                             size_t stride, float* out);
};

// The levels this CPU (and this build) supports, scalar first.
std::vector<SimdLevel> SupportedSimdLevels();

// The highest level VECPUFF_SIMD=scalar|avx2|avx512 in the environment allows (avx512 when
// unset). Every kernel family (float, SQ8) caps its run-time choice with it.
SimdLevel SimdLevelCap();

// The kernels of `level`. REQUIRES: level is in SupportedSimdLevels().
const DistanceKernels& KernelsFor(SimdLevel level);

// The fastest supported kernels, detected once. VECPUFF_SIMD=scalar|avx2|avx512 in the
// environment caps the level (for benchmarks and to rule out a kernel when debugging).
const DistanceKernels& BestKernels();

}  // namespace vecpuff
