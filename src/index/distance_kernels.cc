#include "index/distance_kernels.h"

#include <cstdlib>
#include <string>

#include "index/distance_kernels_internal.h"

namespace vecpuff {
namespace {

constexpr DistanceKernels kScalar{SimdLevel::kScalar, internal::DotScalar,
                                  internal::SquaredL2Scalar, internal::SquaredL2ColumnsScalar};
#if defined(__x86_64__)
constexpr DistanceKernels kAvx2{SimdLevel::kAvx2, internal::DotAvx2, internal::SquaredL2Avx2,
                                internal::SquaredL2ColumnsAvx2};
constexpr DistanceKernels kAvx512{SimdLevel::kAvx512, internal::DotAvx512,
                                  internal::SquaredL2Avx512, internal::SquaredL2ColumnsAvx512};
#endif

bool CpuHas(SimdLevel level) {
#if defined(__x86_64__)
  switch (level) {
    case SimdLevel::kScalar:
      return true;
    case SimdLevel::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::kAvx512:
      return __builtin_cpu_supports("avx512f");
  }
  return false;
#else
  return level == SimdLevel::kScalar;
#endif
}

}  // namespace

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar:
      return "scalar";
    case SimdLevel::kAvx2:
      return "avx2";
    case SimdLevel::kAvx512:
      return "avx512";
  }
  return "scalar";
}

std::vector<SimdLevel> SupportedSimdLevels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (CpuHas(l)) levels.push_back(l);
  }
  return levels;
}

const DistanceKernels& KernelsFor(SimdLevel level) {
#if defined(__x86_64__)
  if (level == SimdLevel::kAvx512) return kAvx512;
  if (level == SimdLevel::kAvx2) return kAvx2;
#endif
  return kScalar;
}

SimdLevel SimdLevelCap() {
  SimdLevel cap = SimdLevel::kAvx512;
  if (const char* env = std::getenv("VECPUFF_SIMD")) {
    const std::string v = env;
    if (v == "scalar") cap = SimdLevel::kScalar;
    if (v == "avx2") cap = SimdLevel::kAvx2;
  }
  return cap;
}

const DistanceKernels& BestKernels() {
  static const DistanceKernels& best = []() -> const DistanceKernels& {
    const SimdLevel cap = SimdLevelCap();
    SimdLevel chosen = SimdLevel::kScalar;
    for (SimdLevel l : SupportedSimdLevels()) {
      if (static_cast<int>(l) <= static_cast<int>(cap)) chosen = l;
    }
    return KernelsFor(chosen);
  }();
  return best;
}

}  // namespace vecpuff
