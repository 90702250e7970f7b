// SQ8: 8-bit scalar quantization of float vectors for the posting scan, and the integer
// distance kernels that scan it (scalar reference, AVX2, AVX-512BW; chosen at run time like
// distance_kernels.h, capped by VECPUFF_SIMD).
//
// Encoding: code_i = clamp(round((x_i - offset_i) / scale), 0, 255), with a per-dimension
// offset and ONE scale shared by all dimensions. Because the scale is shared, the squared L2
// distance between two encoded vectors, times scale^2, approximates the squared L2 distance
// of the originals (exactly so for data that is already on an integer grid, such as uint8
// pixels), and the kernel can stay in integer arithmetic. The query is encoded with the
// same parameters (clamped), so a scan is u8-vs-u8.
//
// Thread safety: pure functions; Sq8KernelsBest() is safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "index/distance_kernels.h"

namespace vecpuff {

struct Sq8Params {
  std::vector<float> offset;  // per dimension: the value encoded as 0
  float scale = 1;            // > 0: the value step of one code unit, in every dimension

  size_t dims() const { return offset.size(); }
  bool operator==(const Sq8Params&) const = default;
};

// Parameters covering `n` vectors of `dims` floats (row-major): offset_i = min over the rows
// of dimension i, scale = max over i of (max_i - min_i) / 255 (1 if every range is 0). Rows
// with a non-finite value are skipped; with no usable row, offsets are 0 and scale is 1.
// REQUIRES: dims > 0.
Sq8Params TrainSq8(const float* data, size_t n, size_t dims);

// Encodes one vector of params.dims() floats into params.dims() codes. Values outside the
// trained range are clamped; NaN encodes as 0.
void EncodeSq8(const Sq8Params& params, const float* x, uint8_t* codes);

// An upper bound of ||x - decode(codes)||, decode(c)_i = offset_i + c_i * scale: how far the
// code is from the vector it stands for (clamping included), computed in float and rounded
// up by a bound on the rounding; +inf if x or the result is not finite. With it the code
// distance bounds the true one (Sq8DistanceBounds in ivf_index.h).
float Sq8CodeError(const Sq8Params& params, const float* x, const uint8_t* codes);

// Bytes of the serialized params; and the round trip. Decode returns Corruption for bad
// input (unknown format version, zero dims, wrong length, non-positive or non-finite scale,
// non-finite offsets). The layout is in sq8.cc and is stored in index objects.
std::string SerializeSq8Params(const Sq8Params& params);
Result<Sq8Params> DeserializeSq8Params(std::string_view bytes);

struct Sq8Kernels {
  SimdLevel level;
  // Sum over i < n of (a_i - b_i)^2. Exact (no rounding): n * 255^2 must fit in uint32,
  // i.e. n <= 66051.
  uint32_t (*squared_l2)(const uint8_t* a, const uint8_t* b, size_t n);
  // out[j] = squared_l2(query, codes + j * stride, n) for j < count. stride >= n. The
  // batched form lets the implementation prefetch and unroll across rows.
  void (*squared_l2_batch)(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                           size_t stride, uint32_t* out);
  // The dot form, where the CPU makes it cheaper (AVX-512 VNNI: one instruction per 64 codes);
  // null elsewhere. out[j] = sum over i < n of codes[j * stride + i] * q[i] (unsigned codes,
  // signed query bytes), exact for n <= 65536. With Sq8SignedQuery and Sq8Sums,
  // Sq8DistanceFromDot turns it into squared_l2 exactly.
  void (*dot_batch)(const int8_t* q, const uint8_t* codes, size_t count, size_t n, size_t stride,
                    int32_t* out);
};

// The dot form of the code distance: with b' = b - 128 (a signed byte),
//   sum (a - b)^2 = sum a^2 + sum b^2 - 2 (sum a b' + 128 sum a),
// so a scan needs one multiply-add per byte and two sums per row, kept with the codes.
// Exact in uint32 arithmetic (the true value fits; intermediate wrap-around cancels).
struct Sq8CodeSums {
  uint32_t sum = 0;    // sum of the codes
  uint32_t sumsq = 0;  // sum of their squares (fits for n <= 66051)
};
Sq8CodeSums Sq8Sums(const uint8_t* code, size_t n);
void Sq8SignedQuery(const uint8_t* code, size_t n, int8_t* out);  // out[i] = code[i] - 128
inline uint32_t Sq8DistanceFromDot(Sq8CodeSums row, Sq8CodeSums query, int32_t dot) {
  return row.sumsq + query.sumsq - 2u * (static_cast<uint32_t>(dot) + 128u * row.sum);
}
// A query code prepared for Sq8Distances: its signed form and sums for the dot form.
struct Sq8Query {
  const uint8_t* code = nullptr;  // not owned
  size_t n = 0;
  std::vector<int8_t> signed_code;
  Sq8CodeSums sums;
  void Prepare(const uint8_t* query_code, size_t dims);
};
// out[j] = squared L2 between the query's code and row j (codes + j * stride, q.n bytes),
// j < count: through the dot form when `k` has it and `row_sums` (the rows' Sq8Sums) is
// given, else with k.squared_l2_batch. The same integers either way.
void Sq8Distances(const Sq8Kernels& k, const Sq8Query& q, const uint8_t* codes,
                  const Sq8CodeSums* row_sums, size_t count, size_t stride, uint32_t* out);
// The scalar definition of dot_batch, the reference the SIMD form is tested against.
void Sq8DotBatchReference(const int8_t* q, const uint8_t* codes, size_t count, size_t n,
                          size_t stride, int32_t* out);

// The SQ8 kernels of `level` (AVX-512 needs AVX-512BW). REQUIRES: level is supported
// (Sq8SupportedLevels()).
std::vector<SimdLevel> Sq8SupportedLevels();
const Sq8Kernels& Sq8KernelsFor(SimdLevel level);
const Sq8Kernels& Sq8KernelsBest();

}  // namespace vecpuff
