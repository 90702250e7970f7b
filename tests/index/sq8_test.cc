#include "index/sq8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "common/coding.h"

namespace vecpuff {
namespace {

// The definition of the distance, independent of every kernel (including the reference).
uint64_t NaiveSquaredL2(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t d = int64_t{a[i]} - int64_t{b[i]};
    sum += static_cast<uint64_t>(d * d);
  }
  return sum;
}

// Random codes, with runs of 0 and 255 so that the largest differences (255^2) and equal
// codes both occur often.
std::vector<uint8_t> RandomCodes(std::mt19937* rng, size_t n) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> kind(0, 3);
  std::vector<uint8_t> v(n);
  for (auto& c : v) {
    const int k = kind(*rng);
    c = static_cast<uint8_t>(k == 0 ? 0 : k == 1 ? 255 : byte(*rng));
  }
  return v;
}

std::vector<size_t> TestLengths() {
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 200; ++n) lengths.push_back(n);
  for (size_t n : {784, 1023, 1024, 1025, 4096}) lengths.push_back(n);
  return lengths;
}

TEST(Sq8Kernels, ScalarReferenceMatchesTheDefinition) {
  std::mt19937 rng(1);
  const Sq8Kernels& ref = Sq8KernelsFor(SimdLevel::kScalar);
  EXPECT_EQ(ref.level, SimdLevel::kScalar);
  for (size_t n : TestLengths()) {
    const std::vector<uint8_t> a = RandomCodes(&rng, n), b = RandomCodes(&rng, n);
    EXPECT_EQ(uint64_t{ref.squared_l2(a.data(), b.data(), n)},
              NaiveSquaredL2(a.data(), b.data(), n))
        << "n=" << n;
  }
}

// Every supported level equals the scalar reference exactly, for every length through 200
// (every tail of every unrolled loop) and some large ones.
TEST(Sq8Kernels, EveryLevelMatchesTheScalarReference) {
  std::mt19937 rng(7);
  const Sq8Kernels& ref = Sq8KernelsFor(SimdLevel::kScalar);
  const std::vector<SimdLevel> levels = Sq8SupportedLevels();
  ASSERT_FALSE(levels.empty());
  EXPECT_EQ(levels.front(), SimdLevel::kScalar);
  for (SimdLevel level : levels) {
    const Sq8Kernels& k = Sq8KernelsFor(level);
    EXPECT_EQ(k.level, level);
    for (size_t n : TestLengths()) {
      for (int trial = 0; trial < 3; ++trial) {
        const std::vector<uint8_t> a = RandomCodes(&rng, n), b = RandomCodes(&rng, n);
        ASSERT_EQ(k.squared_l2(a.data(), b.data(), n), ref.squared_l2(a.data(), b.data(), n))
            << SimdLevelName(level) << " n=" << n;
      }
    }
  }
}

// At the documented limit n = 66051, every difference 255 gives 4294966275, just below
// 2^32: a kernel that loses a carry or sums lanes as signed int would be off.
// The dot form (sq8.h): the reference equals its definition, every level that has a SIMD
// dot_batch (AVX-512 VNNI) equals the reference with strides larger than n and row counts
// that leave every remainder of the 4-row unrolling, and Sq8DistanceFromDot turns the dot
// into the exact squared distance.
TEST(Sq8DotForm, KernelsMatchTheReferenceAndGiveTheExactDistance) {
  std::mt19937 rng(21);
  bool any_simd = false;
  for (size_t n : TestLengths()) {
    if (n == 0) continue;
    const std::vector<uint8_t> query = RandomCodes(&rng, n);
    std::vector<int8_t> signed_query(n);
    Sq8SignedQuery(query.data(), n, signed_query.data());
    const Sq8CodeSums qsums = Sq8Sums(query.data(), n);
    for (size_t count : {size_t{1}, size_t{3}, size_t{4}, size_t{9}}) {
      const size_t stride = n + 5;
      std::vector<uint8_t> rows(count * stride);
      for (size_t j = 0; j < count; ++j) {
        const auto row = RandomCodes(&rng, n);
        std::copy(row.begin(), row.end(), rows.begin() + j * stride);
      }
      std::vector<int32_t> want(count);
      Sq8DotBatchReference(signed_query.data(), rows.data(), count, n, stride, want.data());
      for (size_t j = 0; j < count; ++j) {
        const uint8_t* row = &rows[j * stride];
        int64_t dot = 0;
        for (size_t i = 0; i < n; ++i) dot += int64_t{row[i]} * (int64_t{query[i]} - 128);
        ASSERT_EQ(want[j], dot);
        ASSERT_EQ(Sq8DistanceFromDot(Sq8Sums(row, n), qsums, want[j]),
                  NaiveSquaredL2(row, query.data(), n))
            << "n=" << n;
      }
      for (SimdLevel level : Sq8SupportedLevels()) {
        const Sq8Kernels& k = Sq8KernelsFor(level);
        if (k.dot_batch == nullptr) continue;
        any_simd = true;
        std::vector<int32_t> got(count + 1, 12345);
        k.dot_batch(signed_query.data(), rows.data(), count, n, stride, got.data());
        for (size_t j = 0; j < count; ++j) {
          ASSERT_EQ(got[j], want[j]) << SimdLevelName(level) << " n=" << n << " row " << j;
        }
        EXPECT_EQ(got[count], 12345) << "wrote past the end";
      }
    }
  }
  if (!any_simd) GTEST_LOG_(INFO) << "no SIMD dot form on this CPU; only the reference tested";
}

// The largest sums: rows of 255 against a query of 0 (dot -128 * 255 * n) and of 255 (dot
// 127 * 255 * n), at the 65,536-dimension limit; the distance stays exact.
TEST(Sq8DotForm, ExtremesAtTheDimensionLimit) {
  constexpr size_t kN = 65536;
  const std::vector<uint8_t> full(kN, 255), zeros(kN, 0);
  for (const auto* q : {&zeros, &full}) {
    std::vector<int8_t> sq(kN);
    Sq8SignedQuery(q->data(), kN, sq.data());
    int32_t want = 0;
    Sq8DotBatchReference(sq.data(), full.data(), 1, kN, kN, &want);
    EXPECT_EQ(int64_t{want}, (q == &zeros ? -128 : 127) * int64_t{255} * int64_t{kN});
    EXPECT_EQ(Sq8DistanceFromDot(Sq8Sums(full.data(), kN), Sq8Sums(q->data(), kN), want),
              q == &zeros ? uint32_t{255 * 255} * uint32_t{kN} : 0u);
    for (SimdLevel level : Sq8SupportedLevels()) {
      const Sq8Kernels& k = Sq8KernelsFor(level);
      if (k.dot_batch == nullptr) continue;
      int32_t got = 0;
      k.dot_batch(sq.data(), full.data(), 1, kN, kN, &got);
      EXPECT_EQ(got, want) << SimdLevelName(level);
    }
  }
}

TEST(Sq8Kernels, LargestExactSumAtTheLengthLimit) {
  constexpr size_t kMaxLen = 66051;
  const std::vector<uint8_t> zeros(kMaxLen, 0), full(kMaxLen, 255);
  const uint32_t expected = 4294966275u;
  ASSERT_EQ(uint64_t{kMaxLen} * 255 * 255, uint64_t{expected});
  for (SimdLevel level : Sq8SupportedLevels()) {
    const Sq8Kernels& k = Sq8KernelsFor(level);
    EXPECT_EQ(k.squared_l2(zeros.data(), full.data(), kMaxLen), expected) << SimdLevelName(level);
    EXPECT_EQ(k.squared_l2(full.data(), zeros.data(), kMaxLen), expected) << SimdLevelName(level);
    uint32_t out[5] = {};
    // Rows alternate full/zero: distances alternate expected/0.
    std::vector<uint8_t> rows;
    for (int r = 0; r < 5; ++r) {
      const auto& src = r % 2 == 0 ? full : zeros;
      rows.insert(rows.end(), src.begin(), src.end());
    }
    k.squared_l2_batch(zeros.data(), rows.data(), 5, kMaxLen, kMaxLen, out);
    for (int r = 0; r < 5; ++r) {
      EXPECT_EQ(out[r], r % 2 == 0 ? expected : 0u) << SimdLevelName(level) << " row " << r;
    }
  }
}

// The batched form equals the single-row reference for every row, with strides larger than
// n (rows not packed) and row counts that leave every remainder of the row unrolling.
TEST(Sq8Kernels, BatchMatchesTheScalarReferenceWithRandomStrides) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<size_t> extra_stride(0, 70);
  std::uniform_int_distribution<size_t> row_count(0, 13);
  const Sq8Kernels& ref = Sq8KernelsFor(SimdLevel::kScalar);
  for (SimdLevel level : Sq8SupportedLevels()) {
    const Sq8Kernels& k = Sq8KernelsFor(level);
    for (size_t n : TestLengths()) {
      const size_t stride = n + (n % 3 == 0 ? 0 : extra_stride(rng));
      const size_t count = row_count(rng);
      // Exactly as long as the last row needs, so that ASan catches a read past it.
      const size_t bytes = count == 0 ? 0 : (count - 1) * stride + n;
      const std::vector<uint8_t> filler = RandomCodes(&rng, bytes);
      auto codes = std::make_unique<uint8_t[]>(bytes);
      if (bytes > 0) std::memcpy(codes.get(), filler.data(), bytes);
      const std::vector<uint8_t> query = RandomCodes(&rng, n);
      // One sentinel past the last output: the kernel must write exactly `count` results.
      std::vector<uint32_t> out(count + 1, 0xdeadbeef);
      k.squared_l2_batch(query.data(), codes.get(), count, n, stride, out.data());
      for (size_t j = 0; j < count; ++j) {
        ASSERT_EQ(out[j], ref.squared_l2(query.data(), codes.get() + j * stride, n))
            << SimdLevelName(level) << " n=" << n << " stride=" << stride << " row " << j << " of "
            << count;
      }
      EXPECT_EQ(out[count], 0xdeadbeef) << SimdLevelName(level) << " n=" << n;
    }
  }
}

TEST(Sq8Kernels, TailsReadNothingPastTheEnd) {
  // Vectors that end exactly at the end of their allocation: under ASan, a kernel that
  // reads past the end would be reported.
  for (SimdLevel level : Sq8SupportedLevels()) {
    const Sq8Kernels& k = Sq8KernelsFor(level);
    for (size_t n = 1; n <= 140; ++n) {
      auto a = std::make_unique<uint8_t[]>(n);
      auto b = std::make_unique<uint8_t[]>(n);
      for (size_t i = 0; i < n; ++i) {
        a[i] = 3;
        b[i] = 1;
      }
      EXPECT_EQ(k.squared_l2(a.get(), b.get(), n), 4 * n) << SimdLevelName(level);
      uint32_t out = 0;
      k.squared_l2_batch(a.get(), b.get(), 1, n, n, &out);
      EXPECT_EQ(out, 4 * n) << SimdLevelName(level);
    }
  }
}

TEST(Sq8Kernels, BestIsTheHighestSupportedLevel) {
  const Sq8Kernels& best = Sq8KernelsBest();
  const std::vector<SimdLevel> levels = Sq8SupportedLevels();
  const char* env = std::getenv("VECPUFF_SIMD");
  if (env == nullptr) {
    EXPECT_EQ(best.level, levels.back());
  } else if (std::string(env) == "scalar") {
    EXPECT_EQ(best.level, SimdLevel::kScalar);
  }
  EXPECT_EQ(&best, &Sq8KernelsFor(best.level));
  std::cerr << "best sq8 kernels: " << SimdLevelName(best.level) << "\n";
}

TEST(Sq8Train, OffsetIsTheMinimumAndScaleTheWidestRange) {
  // Dim 0 spans [-1, 4] (range 5), dim 1 spans [10, 520] (range 510), dim 2 is constant.
  const std::vector<float> data = {-1, 10,  7,  //
                                   4,  520, 7,  //
                                   2,  100, 7};
  const Sq8Params p = TrainSq8(data.data(), 3, 3);
  EXPECT_EQ(p.offset, (std::vector<float>{-1, 10, 7}));
  EXPECT_FLOAT_EQ(p.scale, 2.0f);
  EXPECT_EQ(p.dims(), 3u);
}

TEST(Sq8Train, ConstantDataHasScaleOne) {
  const std::vector<float> data(4 * 5, 3.5f);
  const Sq8Params p = TrainSq8(data.data(), 4, 5);
  EXPECT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.offset, std::vector<float>(5, 3.5f));
  std::vector<uint8_t> codes(5, 99);
  EncodeSq8(p, data.data(), codes.data());
  EXPECT_EQ(codes, std::vector<uint8_t>(5, 0));
}

TEST(Sq8Train, RowsWithNonFiniteValuesAreSkipped) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> data = {0,    0,     //
                                   nan,  1000,  // skipped: its 1000 must not widen dim 1
                                   -inf, 5,     // skipped
                                   255,  51};
  const Sq8Params p = TrainSq8(data.data(), 4, 2);
  EXPECT_EQ(p.offset, (std::vector<float>{0, 0}));
  EXPECT_EQ(p.scale, 1.0f);
}

TEST(Sq8Train, NoUsableRowsGiveAValidIdentityEncoding) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> data = {nan, 1};
  for (size_t n : {0, 1}) {
    const Sq8Params p = TrainSq8(data.data(), n, 2);
    EXPECT_EQ(p.offset, (std::vector<float>{0, 0}));
    EXPECT_EQ(p.scale, 1.0f);
    EXPECT_TRUE(DeserializeSq8Params(SerializeSq8Params(p)).ok());
  }
}

TEST(Sq8Train, ExtremeRangeDoesNotOverflowTheScale) {
  const float big = 3e38f;
  const std::vector<float> data = {-big, big};
  const Sq8Params p = TrainSq8(data.data(), 2, 1);
  EXPECT_TRUE(std::isfinite(p.scale));
  EXPECT_NEAR(p.scale, 6e38 / 255, 1e32);
  uint8_t codes[2];
  EncodeSq8(p, &data[0], &codes[0]);
  EncodeSq8(p, &data[1], &codes[1]);
  EXPECT_EQ(codes[0], 0);
  EXPECT_EQ(codes[1], 255);
}

// Data on an integer grid whose widest dimension spans 0..255 (like uint8 pixels) trains
// to scale 1, encodes losslessly, and code distances are exact float distances.
TEST(Sq8Encode, Uint8GridDataIsLossless) {
  constexpr size_t kDims = 784, kRows = 50;
  std::mt19937 rng(5);
  std::vector<float> data(kRows * kDims);
  for (size_t d = 0; d < kDims; ++d) {
    // Each dimension has its own sub-range of 0..255; dimension 0 spans all of it.
    const int lo = d == 0 ? 0 : static_cast<int>(rng() % 128);
    const int hi = d == 0 ? 255 : lo + static_cast<int>(rng() % 128);
    std::uniform_int_distribution<int> v(lo, hi);
    for (size_t r = 0; r < kRows; ++r) data[r * kDims + d] = static_cast<float>(v(rng));
  }
  data[0] = 0;
  data[kDims] = 255;
  const Sq8Params p = TrainSq8(data.data(), kRows, kDims);
  ASSERT_EQ(p.scale, 1.0f);
  std::vector<uint8_t> codes(kRows * kDims);
  for (size_t r = 0; r < kRows; ++r) {
    EncodeSq8(p, data.data() + r * kDims, codes.data() + r * kDims);
    for (size_t d = 0; d < kDims; ++d) {
      ASSERT_EQ(static_cast<float>(codes[r * kDims + d]), data[r * kDims + d] - p.offset[d]);
    }
  }
  std::vector<uint32_t> out(kRows);
  for (SimdLevel level : Sq8SupportedLevels()) {
    const Sq8Kernels& k = Sq8KernelsFor(level);
    k.squared_l2_batch(codes.data(), codes.data(), kRows, kDims, kDims, out.data());
    for (size_t r = 0; r < kRows; ++r) {
      double exact = 0;
      for (size_t d = 0; d < kDims; ++d) {
        const double diff = double{data[d]} - data[r * kDims + d];
        exact += diff * diff;
      }
      EXPECT_EQ(static_cast<double>(out[r]) * p.scale * p.scale, exact)
          << SimdLevelName(level) << " row " << r;
    }
  }
}

TEST(Sq8Encode, HalfStepGridIsLossless) {
  // Values k * 0.5 spanning 127.5 train to scale 0.5, which divides them exactly.
  const std::vector<float> data = {-10, 0.5f, -10 + 127.5f, 3, -2.5f, 1};
  const Sq8Params p = TrainSq8(data.data(), 3, 2);
  ASSERT_EQ(p.scale, 0.5f);
  uint8_t a[2], b[2];
  EncodeSq8(p, &data[0], a);
  EncodeSq8(p, &data[2], b);
  EXPECT_EQ(a[0], 0);
  EXPECT_EQ(b[0], 255);
  const double exact = 127.5 * 127.5 + 2.5 * 2.5;
  EXPECT_EQ(Sq8KernelsBest().squared_l2(a, b, 2) * 0.25, exact);
}

TEST(Sq8Encode, RoundsToTheNearestCode) {
  Sq8Params p;
  p.offset = {10, 10, 10, 10};
  p.scale = 2;
  const std::vector<float> x = {10.9f, 11.1f, 12.9f, 520.9f};
  std::vector<uint8_t> codes(4);
  EncodeSq8(p, x.data(), codes.data());
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 1, 1, 255}));
}

TEST(Sq8Encode, ClampsOutOfRangeAndEncodesNanAsZero) {
  Sq8Params p;
  p.offset = {0, 0, 0, 0, 0, 0, 0};
  p.scale = 1;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {-5, 300, 255.4f, -inf, inf, nan, -nan};
  std::vector<uint8_t> codes(x.size(), 77);
  EncodeSq8(p, x.data(), codes.data());
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 255, 255, 0, 255, 0, 0}));
}

Sq8Params SampleParams() {
  Sq8Params p;
  p.offset = {-1.5f, 0, 3.25f, 1e-30f, -7e20f};
  p.scale = 0.125f;
  return p;
}

TEST(Sq8Params, SerializeRoundTrip) {
  const Sq8Params p = SampleParams();
  const std::string bytes = SerializeSq8Params(p);
  EXPECT_EQ(bytes.size(), 12 + 4 * p.dims());
  Result<Sq8Params> back = DeserializeSq8Params(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST(Sq8Params, LayoutIsStable) {
  // The serialized form is stored in index objects: pin the bytes.
  Sq8Params p;
  p.offset = {1.0f};
  p.scale = 2.0f;
  const std::string expected(
      "\x01\x00\x00\x00"   // version 1
      "\x01\x00\x00\x00"   // dims
      "\x00\x00\x00\x40"   // scale 2.0f
      "\x00\x00\x80\x3f",  // offset 1.0f
      16);
  EXPECT_EQ(SerializeSq8Params(p), expected);
}

TEST(Sq8Params, TruncatedOrExtendedInputIsCorruption) {
  const std::string bytes = SerializeSq8Params(SampleParams());
  for (size_t len = 0; len < bytes.size(); ++len) {
    Result<Sq8Params> r = DeserializeSq8Params(std::string_view(bytes).substr(0, len));
    ASSERT_FALSE(r.ok()) << "len=" << len;
    EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  }
  Result<Sq8Params> r = DeserializeSq8Params(bytes + '\0');
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
}

TEST(Sq8Params, GarbageIsCorruption) {
  const std::string good = SerializeSq8Params(SampleParams());
  auto with_u32_at = [&](size_t pos, uint32_t v) {
    std::string s = good;
    EncodeFixed32(s.data() + pos, v);
    return s;
  };
  auto with_float_at = [&](size_t pos, float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof(bits));
    return with_u32_at(pos, bits);
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"version 2", with_u32_at(0, 2)},
      {"version 0", with_u32_at(0, 0)},
      {"dims 0", with_u32_at(4, 0)},
      {"dims too large", with_u32_at(4, 6)},
      {"dims too small", with_u32_at(4, 4)},
      {"dims huge", with_u32_at(4, 0xffffffffu)},
      {"scale 0", with_float_at(8, 0.0f)},
      {"scale -0", with_float_at(8, -0.0f)},
      {"scale negative", with_float_at(8, -1.0f)},
      {"scale nan", with_float_at(8, nan)},
      {"scale inf", with_float_at(8, inf)},
      {"offset nan", with_float_at(12, nan)},
      {"offset -inf", with_float_at(12 + 4 * 4, -inf)},
      {"text", std::string("not sq8 params at all")},
      {"empty", std::string()},
  };
  for (const auto& [name, bytes] : cases) {
    Result<Sq8Params> r = DeserializeSq8Params(bytes);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_TRUE(r.status().IsCorruption()) << name << ": " << r.status().ToString();
  }
}

}  // namespace
}  // namespace vecpuff
