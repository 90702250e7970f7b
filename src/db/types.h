// The engine's request and response types, independent of any wire format: the HTTP
// codecs (api/) translate JSON to and from these.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/manifest.h"

namespace vecpuff {

struct UpsertRow {
  std::string id;
  std::vector<float> vector;  // must have the namespace's dimensions
  nlohmann::json attributes = nlohmann::json::object();
};

struct PatchRow {
  std::string id;
  nlohmann::json attributes = nlohmann::json::object();  // merged into the document
};

// One write request, applied atomically: first its upserts, then its patches, then its
// deletes, each in the order given.
struct WriteRequest {
  std::optional<DistanceMetric> distance_metric;  // must match the namespace's if given
  std::vector<UpsertRow> upsert_rows;
  std::vector<PatchRow> patch_rows;
  std::vector<std::string> deletes;
};

struct WriteResult {
  uint64_t upserted_count = 0;  // upsert rows applied
  uint64_t patched_count = 0;   // patch rows that found their document
  uint64_t deleted_count = 0;   // deletes that removed an existing document
};

enum class Consistency {
  kStrong,    // reflect every write acknowledged before the query started
  kEventual,  // skip the freshness check against object storage
};

struct QueryRequest {
  std::vector<float> vector;
  size_t top_k = 10;
  bool include_vectors = true;
  bool include_attributes = true;
  Consistency consistency = Consistency::kStrong;
  // Search effort: how many posting lists (nearest centroids) the ANN search scans at most.
  // 0 means the namespace default (ann_probes). More probes raise recall and cost time
  // linearly; data not yet indexed is always scanned exhaustively whatever the value.
  uint32_t probes = 0;
  // Skip the index and scan every document exactly (for ground truth and debugging).
  bool exact = false;
};

struct QueryHit {
  std::string id;
  float dist = 0;
  std::vector<float> vector;  // empty unless include_vectors
  nlohmann::json attributes;  // null unless include_attributes
};

struct QueryResult {
  std::vector<QueryHit> hits;  // ascending by (dist, id)
};

struct NamespaceMetadata {
  std::string name;
  uint64_t approx_row_count = 0;
  uint32_t dimensions = 0;  // 0 until the first vector
  DistanceMetric distance_metric = DistanceMetric::kCosineDistance;
  std::string index_status;  // "up_to_date" or "updating"
  uint64_t indexed_row_count = 0;
  uint64_t unindexed_bytes = 0;
  // Write amplification of indexing: bytes of index objects written, and bytes of new
  // vector data (4 bytes a dimension per upserted row) those writes indexed, since the
  // namespace was created. Their ratio is the write amplification.
  uint64_t index_bytes_written = 0;
  uint64_t index_input_bytes = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

}  // namespace vecpuff
