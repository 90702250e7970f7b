#include "index/distance_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

namespace vecpuff {
namespace {

// Every supported SIMD level agrees with the scalar reference, for lengths that exercise
// the unrolled body, the single-vector loop and every tail length.
TEST(DistanceKernels, EveryLevelMatchesTheScalarReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> gauss(0, 3);
  const DistanceKernels& ref = KernelsFor(SimdLevel::kScalar);
  std::vector<SimdLevel> levels = SupportedSimdLevels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), SimdLevel::kScalar);
  for (SimdLevel level : levels) {
    const DistanceKernels& k = KernelsFor(level);
    EXPECT_EQ(k.level, level);
    for (size_t n = 0; n <= 70; ++n) {
      for (size_t big : {size_t{0}, size_t{784}, size_t{1023}}) {
        const size_t len = n + big;
        std::vector<float> a(len), b(len);
        double abs_dot = 0, abs_l2 = 0;
        for (size_t i = 0; i < len; ++i) {
          a[i] = gauss(rng);
          b[i] = gauss(rng);
          abs_dot += std::fabs(double{a[i]} * b[i]);
          abs_l2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
        }
        // Float accumulation error grows with the magnitude of the summed terms.
        EXPECT_NEAR(k.dot(a.data(), b.data(), len), ref.dot(a.data(), b.data(), len),
                    1e-5 * abs_dot + 1e-6)
            << SimdLevelName(level) << " n=" << len;
        EXPECT_NEAR(k.squared_l2(a.data(), b.data(), len), ref.squared_l2(a.data(), b.data(), len),
                    1e-5 * abs_l2 + 1e-6)
            << SimdLevelName(level) << " n=" << len;
      }
    }
  }
}

// The column-major batch: every level against the scalar reference, for counts that exercise
// full vectors and every tail, with a stride larger than the count; the last column ends at
// the end of its allocation (ASan reports a read past it).
TEST(DistanceKernels, ColumnsMatchTheScalarReference) {
  std::mt19937 rng(11);
  std::normal_distribution<float> gauss(0, 3);
  const DistanceKernels& ref = KernelsFor(SimdLevel::kScalar);
  for (SimdLevel level : SupportedSimdLevels()) {
    const DistanceKernels& k = KernelsFor(level);
    for (size_t d : {size_t{1}, size_t{7}, size_t{32}}) {
      for (size_t count = 0; count <= 40; ++count) {
        const size_t stride = count + 3;
        const size_t len = d == 0 ? 0 : (d - 1) * stride + count;
        auto cols = std::make_unique<float[]>(len);
        for (size_t i = 0; i < len; ++i) cols[i] = gauss(rng);
        std::vector<float> q(d);
        for (float& x : q) x = gauss(rng);
        std::vector<float> got(count + 1, -1.0f), want(count, 0.0f);
        k.squared_l2_columns(q.data(), cols.get(), d, count, stride, got.data());
        ref.squared_l2_columns(q.data(), cols.get(), d, count, stride, want.data());
        for (size_t j = 0; j < count; ++j) {
          double direct = 0;
          for (size_t t = 0; t < d; ++t) {
            const double diff = double{q[t]} - cols[t * stride + j];
            direct += diff * diff;
          }
          EXPECT_NEAR(want[j], direct, 1e-6 * direct + 1e-6);
          EXPECT_NEAR(got[j], want[j], 1e-5 * direct + 1e-6)
              << SimdLevelName(level) << " d=" << d << " count=" << count << " j=" << j;
        }
        EXPECT_EQ(got[count], -1.0f) << "wrote past the end";
      }
    }
  }
}

TEST(DistanceKernels, MaskedTailsReadNothingPastTheEnd) {
  // Vectors that end exactly at the end of their allocation: under ASan, a kernel that
  // reads past the end would be reported.
  std::mt19937 rng(3);
  for (SimdLevel level : SupportedSimdLevels()) {
    const DistanceKernels& k = KernelsFor(level);
    for (size_t n = 1; n <= 40; ++n) {
      auto a = std::make_unique<float[]>(n);
      auto b = std::make_unique<float[]>(n);
      for (size_t i = 0; i < n; ++i) {
        a[i] = static_cast<float>(i);
        b[i] = 1;
      }
      EXPECT_FLOAT_EQ(k.dot(a.get(), b.get(), n), n * (n - 1) / 2.0f) << SimdLevelName(level);
      EXPECT_FLOAT_EQ(k.squared_l2(b.get(), b.get(), n), 0.0f);
    }
  }
}

TEST(DistanceKernels, BestIsTheHighestSupportedLevel) {
  const DistanceKernels& best = BestKernels();
  std::vector<SimdLevel> levels = SupportedSimdLevels();
  if (std::getenv("VECPUFF_SIMD") == nullptr) {
    EXPECT_EQ(best.level, levels.back());
  }
  std::cerr << "best distance kernels: " << SimdLevelName(best.level) << "\n";
}

}  // namespace
}  // namespace vecpuff
