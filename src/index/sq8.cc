#include "index/sq8.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "common/coding.h"

namespace vecpuff {

// The per-level kernels, each defined in its own file compiled with that level's target
// flags (src/index/CMakeLists.txt): sq8_scalar.cc, sq8_avx2.cc, sq8_avx512.cc. Only this
// file calls them, after checking the CPU supports the level.
namespace internal {
uint32_t Sq8SquaredL2Scalar(const uint8_t* a, const uint8_t* b, size_t n);
void Sq8SquaredL2BatchScalar(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                             size_t stride, uint32_t* out);
#if defined(__x86_64__)
uint32_t Sq8SquaredL2Avx2(const uint8_t* a, const uint8_t* b, size_t n);
void Sq8SquaredL2BatchAvx2(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                           size_t stride, uint32_t* out);
uint32_t Sq8SquaredL2Avx512(const uint8_t* a, const uint8_t* b, size_t n);
void Sq8SquaredL2BatchAvx512(const uint8_t* query, const uint8_t* codes, size_t count, size_t n,
                             size_t stride, uint32_t* out);
void Sq8DotBatchAvx512Vnni(const int8_t* q, const uint8_t* codes, size_t count, size_t n,
                           size_t stride, int32_t* out);
#endif
}  // namespace internal

namespace {

// Serialized params: fixed32 format version, fixed32 dims, float32 scale, then dims float32
// offsets, all little-endian. The version number and this layout are stored inside index
// objects and must never change; a new layout takes a new version.
constexpr uint32_t kSq8ParamsFormatVersion = 1;
constexpr size_t kSq8ParamsHeaderBytes = 12;

constexpr Sq8Kernels kScalar{SimdLevel::kScalar, internal::Sq8SquaredL2Scalar,
                             internal::Sq8SquaredL2BatchScalar, nullptr};
#if defined(__x86_64__)
constexpr Sq8Kernels kAvx2{SimdLevel::kAvx2, internal::Sq8SquaredL2Avx2,
                           internal::Sq8SquaredL2BatchAvx2, nullptr};
constexpr Sq8Kernels kAvx512{SimdLevel::kAvx512, internal::Sq8SquaredL2Avx512,
                             internal::Sq8SquaredL2BatchAvx512, nullptr};
// The AVX-512 level on a CPU with VNNI: the same kernels plus the dot form.
constexpr Sq8Kernels kAvx512Vnni{SimdLevel::kAvx512, internal::Sq8SquaredL2Avx512,
                                 internal::Sq8SquaredL2BatchAvx512,
                                 internal::Sq8DotBatchAvx512Vnni};

bool CpuHasVnni() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
}
#endif

bool CpuHas(SimdLevel level) {
#if defined(__x86_64__)
  switch (level) {
    case SimdLevel::kScalar:
      return true;
    case SimdLevel::kAvx2:
      // Integer-only kernels: FMA is not needed, unlike the float AVX2 level.
      return __builtin_cpu_supports("avx2");
    case SimdLevel::kAvx512:
      // Byte max/min/unpack on 512-bit registers are AVX-512BW.
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  }
  return false;
#else
  return level == SimdLevel::kScalar;
#endif
}

// VECPUFF_SIMD caps the level exactly as BestKernels() reads it (distance_kernels.cc).
}  // namespace

float Sq8CodeError(const Sq8Params& params, const float* x, const uint8_t* codes) {
  // In float with the distance kernels (this runs for every entry of every posting loaded),
  // rounded up: the decoded values are within two roundings of the exact
  // offset + code * scale (|error| <= 2^-22 (|offset| + code * scale) per dimension, so in
  // norm <= 2^-22 (|offset| + scale |code|)), and a float sum of n squares is within a
  // relative n * 2^-23 of the exact sum (far less in practice).
  const size_t n = params.dims();
  thread_local std::vector<float> decoded;
  decoded.resize(n);
  const float* offset = params.offset.data();
  const float scale = params.scale;
  for (size_t i = 0; i < n; ++i) decoded[i] = offset[i] + static_cast<float>(codes[i]) * scale;
  const DistanceKernels& k = BestKernels();
  const double e2 = k.squared_l2(x, decoded.data(), n);
  // |scale code| <= |decoded| + |offset| (up to the rounding being bounded).
  const double offset_norm = std::sqrt(double{k.dot(offset, offset, n)});
  const double decoded_norm = std::sqrt(double{k.dot(decoded.data(), decoded.data(), n)});
  const double rounding = 2.5e-7 * (2 * offset_norm + decoded_norm);
  const double e =
      std::sqrt(std::max(0.0, e2) * (1 + 1.2e-7 * (static_cast<double>(n) + 64))) + rounding;
  return std::isfinite(e) ? static_cast<float>(e * (1 + 1e-6))
                          : std::numeric_limits<float>::infinity();
}

Sq8CodeSums Sq8Sums(const uint8_t* code, size_t n) {
  Sq8CodeSums s;
  for (size_t i = 0; i < n; ++i) {
    s.sum += code[i];
    s.sumsq += uint32_t{code[i]} * code[i];
  }
  return s;
}

void Sq8SignedQuery(const uint8_t* code, size_t n, int8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(static_cast<int>(code[i]) - 128);
}

void Sq8Query::Prepare(const uint8_t* query_code, size_t dims) {
  code = query_code;
  n = dims;
  signed_code.resize(dims);
  Sq8SignedQuery(query_code, dims, signed_code.data());
  sums = Sq8Sums(query_code, dims);
}

void Sq8Distances(const Sq8Kernels& k, const Sq8Query& q, const uint8_t* codes,
                  const Sq8CodeSums* row_sums, size_t count, size_t stride, uint32_t* out) {
  if (k.dot_batch == nullptr || row_sums == nullptr) {
    k.squared_l2_batch(q.code, codes, count, q.n, stride, out);
    return;
  }
  thread_local std::vector<int32_t> dots;
  dots.resize(count);
  k.dot_batch(q.signed_code.data(), codes, count, q.n, stride, dots.data());
  for (size_t j = 0; j < count; ++j) out[j] = Sq8DistanceFromDot(row_sums[j], q.sums, dots[j]);
}

void Sq8DotBatchReference(const int8_t* q, const uint8_t* codes, size_t count, size_t n,
                          size_t stride, int32_t* out) {
  for (size_t j = 0; j < count; ++j) {
    int64_t sum = 0;
    for (size_t i = 0; i < n; ++i) sum += int64_t{codes[j * stride + i]} * q[i];
    out[j] = static_cast<int32_t>(sum);
  }
}

Sq8Params TrainSq8(const float* data, size_t n, size_t dims) {
  std::vector<float> lo(dims, std::numeric_limits<float>::infinity());
  std::vector<float> hi(dims, -std::numeric_limits<float>::infinity());
  bool any_row = false;
  for (size_t r = 0; r < n; ++r) {
    const float* row = data + r * dims;
    bool finite = true;
    for (size_t i = 0; i < dims && finite; ++i) finite = std::isfinite(row[i]);
    if (!finite) continue;
    any_row = true;
    for (size_t i = 0; i < dims; ++i) {
      lo[i] = std::min(lo[i], row[i]);
      hi[i] = std::max(hi[i], row[i]);
    }
  }
  Sq8Params params;
  if (!any_row) {
    // Nothing to learn from: the identity-like encoding, still valid to serialize.
    params.offset.assign(dims, 0.0f);
    params.scale = 1;
    return params;
  }
  params.offset = lo;
  // In double: hi - lo of two finite floats can overflow float (e.g. -3e38 .. 3e38), while
  // the range / 255 always fits.
  double max_range = 0;
  for (size_t i = 0; i < dims; ++i) {
    max_range = std::max(max_range, static_cast<double>(hi[i]) - static_cast<double>(lo[i]));
  }
  if (max_range == 0) {
    params.scale = 1;
  } else {
    // A range of a few denormals would round the scale to 0; the smallest positive float
    // keeps it valid (codes then use less than the full 0..255 span, which is harmless).
    params.scale =
        std::max(static_cast<float>(max_range / 255.0), std::numeric_limits<float>::denorm_min());
  }
  return params;
}

void EncodeSq8(const Sq8Params& params, const float* x, uint8_t* codes) {
  // round(q) is floor(q + 0.5) for q >= 0, and truncation is floor for t >= 0, so no libm
  // call and no branch on this path (it encodes every query): the loop vectorizes. For grid
  // data (x - offset) * (1 / scale) is within an ulp of an integer, which + 0.5 and
  // truncation absorb. An overflowing difference clamps like any large value; NaN fails
  // both comparisons and becomes 0.
  const float inv = 1.0f / params.scale;
  const float* offset = params.offset.data();
  const size_t n = params.dims();
  for (size_t i = 0; i < n; ++i) {
    float t = (x[i] - offset[i]) * inv + 0.5f;
    t = t >= 1.0f ? t : 0.0f;
    t = t < 255.0f ? t : 255.0f;
    codes[i] = static_cast<uint8_t>(static_cast<int>(t));
  }
}

std::string SerializeSq8Params(const Sq8Params& params) {
  std::string out;
  out.reserve(kSq8ParamsHeaderBytes + 4 * params.dims());
  PutFixed32(&out, kSq8ParamsFormatVersion);
  PutFixed32(&out, static_cast<uint32_t>(params.dims()));
  PutFloat32(&out, params.scale);
  for (float o : params.offset) PutFloat32(&out, o);
  return out;
}

Result<Sq8Params> DeserializeSq8Params(std::string_view bytes) {
  Decoder d(bytes);
  uint32_t version = 0, dims = 0, scale_bits = 0;
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&version, "sq8 params version"));
  if (version != kSq8ParamsFormatVersion) {
    return Status::Corruption("sq8 params: unknown format version " + std::to_string(version));
  }
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&dims, "sq8 params dims"));
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&scale_bits, "sq8 params scale"));
  // dims is untrusted: check the length before allocating for it. 4 * 2^32 fits in size_t.
  if (dims == 0 || d.remaining() != 4 * static_cast<size_t>(dims)) {
    return Status::Corruption("sq8 params: " + std::to_string(dims) + " dims but " +
                              std::to_string(d.remaining()) + " offset bytes");
  }
  Sq8Params params;
  std::memcpy(&params.scale, &scale_bits, sizeof(float));
  if (!std::isfinite(params.scale) || !(params.scale > 0)) {
    return Status::Corruption("sq8 params: scale must be finite and positive");
  }
  params.offset.resize(dims);
  for (uint32_t i = 0; i < dims; ++i) {
    uint32_t bits = 0;
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&bits, "sq8 params offset"));
    std::memcpy(&params.offset[i], &bits, sizeof(float));
    if (!std::isfinite(params.offset[i])) {
      return Status::Corruption("sq8 params: offset " + std::to_string(i) + " is not finite");
    }
  }
  return params;
}

std::vector<SimdLevel> Sq8SupportedLevels() {
  std::vector<SimdLevel> levels;
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (CpuHas(l)) levels.push_back(l);
  }
  return levels;
}

const Sq8Kernels& Sq8KernelsFor(SimdLevel level) {
#if defined(__x86_64__)
  if (level == SimdLevel::kAvx512) return CpuHasVnni() ? kAvx512Vnni : kAvx512;
  if (level == SimdLevel::kAvx2) return kAvx2;
#endif
  return kScalar;
}

const Sq8Kernels& Sq8KernelsBest() {
  static const Sq8Kernels& best = []() -> const Sq8Kernels& {
    const SimdLevel cap = SimdLevelCap();
    SimdLevel chosen = SimdLevel::kScalar;
    for (SimdLevel l : Sq8SupportedLevels()) {
      if (static_cast<int>(l) <= static_cast<int>(cap)) chosen = l;
    }
    return Sq8KernelsFor(chosen);
  }();
  return best;
}

}  // namespace vecpuff
