// The per-level kernel functions behind distance_kernels.h. Each is defined in its own file,
// compiled with that level's target flags (src/index/CMakeLists.txt); only
// distance_kernels.cc calls them, after checking the CPU supports the level.
#pragma once

#include <cstddef>

namespace vecpuff::internal {

float DotScalar(const float* a, const float* b, size_t n);
float SquaredL2Scalar(const float* a, const float* b, size_t n);
void SquaredL2ColumnsScalar(const float* q, const float* cols, size_t d, size_t count,
                            size_t stride, float* out);

#if defined(__x86_64__)
float DotAvx2(const float* a, const float* b, size_t n);
float SquaredL2Avx2(const float* a, const float* b, size_t n);
void SquaredL2ColumnsAvx2(const float* q, const float* cols, size_t d, size_t count, size_t stride,
                          float* out);
float DotAvx512(const float* a, const float* b, size_t n);
float SquaredL2Avx512(const float* a, const float* b, size_t n);
void SquaredL2ColumnsAvx512(const float* q, const float* cols, size_t d, size_t count,
                            size_t stride, float* out);
#endif

}  // namespace vecpuff::internal
