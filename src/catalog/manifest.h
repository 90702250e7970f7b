// The namespace manifest: the one mutable object of a namespace. It records what is fixed
// at creation (distance metric), what is fixed by the first vector (dimensions), times,
// and a hint of the WAL position. It is created with a create-only put and changed only by
// compare-and-swap (If-Match), so concurrent servers never overwrite each other's changes.
// The byte layout is specified in docs/manifest_format.md.
//
// Thread safety: functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

// Stored by name in the manifest; the names are part of the format and the API.
enum class DistanceMetric {
  kCosineDistance,    // "cosine_distance": 1 - cos(a, b), in [0, 2]
  kEuclideanSquared,  // "euclidean_squared": sum of squared differences
};

std::string_view DistanceMetricName(DistanceMetric metric);
std::optional<DistanceMetric> ParseDistanceMetric(std::string_view name);

// The committed ANN index of a namespace (docs/index.md, docs/segment_format.md). Changed only
// by a compactor, by compare-and-swap on the whole manifest, so one commit wins per
// generation even with several server processes.
struct ManifestIndex {
  struct Retired {
    std::string key;
    int64_t retired_at_ms = 0;  // deletable once this is older than the GC grace period
    bool operator==(const Retired&) const = default;
  };
  uint64_t generation = 0;           // 0: no index yet; +1 per commit
  uint64_t indexed_through_seq = 0;  // every WAL entry with seq <= this is in the index
  std::vector<std::string> metas;    // index meta objects to fold in order: a base, then deltas
  std::vector<Retired> retired;      // objects no longer referenced, awaiting deletion
  uint64_t live_rows = 0;            // documents in the index
  uint64_t bytes_written = 0;        // index object bytes written, all commits
  uint64_t input_bytes = 0;          // new vector bytes indexed, all commits
  bool operator==(const ManifestIndex&) const = default;
};

// The declared or inferred type of one attribute (the turbopuffer API's schema), with its
// options. `type` is one of string, int, uint, float, uuid, datetime, bool, or "[]" and one
// of those; for the attribute "id", the id type (uint, uuid or string).
struct AttributeSchema {
  std::string type;
  bool filterable = true;
  bool regex = false;  // Regex filters enabled (turbopuffer's option; VecPuff allows them anyway)
  bool operator==(const AttributeSchema&) const = default;
};

struct Manifest {
  std::string namespace_name;
  DistanceMetric distance_metric = DistanceMetric::kCosineDistance;
  uint32_t dimensions = 0;  // 0 until the first vector is written; never changes after
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;  // last change of the manifest itself
  // Last change of the namespace's data or schema that the manifest records: creation,
  // dimensions, schema, a drop's reset, and the latest commit time of the WAL entries the
  // index holds. Unlike updated_at_ms, not moved by indexing, hints or garbage collection.
  int64_t last_write_ms = 0;
  // Every WAL entry with seq < wal_next_seq_hint is known to exist. A hint only: the log
  // may extend further; readers find its end by probing. 1 for an empty log.
  uint64_t wal_next_seq_hint = 1;
  ManifestIndex index;
  // Attribute types, by name: each fixed by the first write that gives the attribute a value
  // or declares it (turbopuffer API writes), never changed after (its options may be).
  std::map<std::string, AttributeSchema> schema;
  // The latest namespace drop (a kDropNamespace WAL entry) this manifest was reset for: 0
  // if none. The reset (ResetManifestForDrop) cleared dimensions, schema and index; entries
  // after dropped_seq form a new namespace of the same name.
  uint64_t dropped_seq = 0;
  // A write after that drop has begun (it re-fixed the metric): the namespace exists again.
  bool reopened = false;
  // Every WAL entry below this was erased (overwritten with an empty entry) after a drop.
  uint64_t wal_erased_below = 1;

  // Whether the namespace reads as deleted: dropped and no write since.
  bool deleted() const { return dropped_seq != 0 && !reopened; }
};

// Resets `m` for the drop at WAL seq `drop_seq` (REQUIRES: m->dropped_seq < drop_seq):
// dimensions and schema cleared, the index replaced by an empty one through drop_seq (its
// objects retired at `now_ms`), not reopened.
void ResetManifestForDrop(Manifest* m, uint64_t drop_seq, int64_t now_ms);

constexpr uint32_t kManifestMagic = 0x464D5056;  // "VPMF" little-endian. Never change.
// Version 2 added the optional "index" object, version 3 the optional "schema" object,
// version 4 the optional "dropped" object (and an index with no metas); versions 1 to 3 are
// still read.
constexpr uint16_t kManifestFormatVersion = 4;
constexpr size_t kManifestHeaderSize = 24;

std::string EncodeManifest(const Manifest& manifest);

// Corruption if the object is not a valid manifest of a supported version.
Result<Manifest> DecodeManifest(std::string_view object);

}  // namespace vecpuff
