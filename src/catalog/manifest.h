// The namespace manifest: the one mutable object of a namespace. It records what is fixed
// at creation (distance metric), what is fixed by the first vector (dimensions), times,
// and a hint of the WAL position. It is created with a create-only put and changed only by
// compare-and-swap (If-Match), so concurrent servers never overwrite each other's changes.
// The byte layout is specified in docs/manifest_format.md.
//
// Thread safety: functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vecpuff {

// Stored by name in the manifest; the names are part of the format and the API.
enum class DistanceMetric {
  kCosineDistance,    // "cosine_distance": 1 - cos(a, b), in [0, 2]
  kEuclideanSquared,  // "euclidean_squared": sum of squared differences
};

std::string_view DistanceMetricName(DistanceMetric metric);
std::optional<DistanceMetric> ParseDistanceMetric(std::string_view name);

struct Manifest {
  std::string namespace_name;
  DistanceMetric distance_metric = DistanceMetric::kCosineDistance;
  uint32_t dimensions = 0;  // 0 until the first vector is written; never changes after
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;  // last change of the manifest itself
  // Every WAL entry with seq < wal_next_seq_hint is known to exist. A hint only: the log
  // may extend further; readers find its end by probing. 1 for an empty log.
  uint64_t wal_next_seq_hint = 1;
};

constexpr uint32_t kManifestMagic = 0x464D5056;  // "VPMF" little-endian. Never change.
constexpr uint16_t kManifestFormatVersion = 1;
constexpr size_t kManifestHeaderSize = 24;

std::string EncodeManifest(const Manifest& manifest);

// Corruption if the object is not a valid manifest of a supported version.
Result<Manifest> DecodeManifest(std::string_view object);

}  // namespace vecpuff
