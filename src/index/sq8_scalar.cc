// The scalar reference SQ8 kernels, the baseline every SIMD level must match exactly
// (tests/index/sq8_test.cc). Integer arithmetic throughout, so there is no rounding.
#include <cstddef>
#include <cstdint>

namespace vecpuff::internal {

uint32_t Sq8SquaredL2Scalar(const uint8_t* a, const uint8_t* b, size_t n) {
  // uint32 holds the exact sum while n <= 66051 (the documented limit of squared_l2).
  uint32_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t d = static_cast<int32_t>(a[i]) - static_cast<int32_t>(b[i]);
    sum += static_cast<uint32_t>(d * d);
  }
  return sum;
}

void Sq8SquaredL2BatchScalar(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                             size_t stride, uint32_t* out) {
  for (size_t j = 0; j < count; ++j) out[j] = Sq8SquaredL2Scalar(query, codes + j * stride, n);
}

}  // namespace vecpuff::internal
