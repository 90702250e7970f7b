// The engine's request and response types, independent of any wire format: the HTTP
// codecs (api/) translate JSON to and from these.
//
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "catalog/manifest.h"

namespace vecpuff {

class Filter;  // query/filter.h

// The longest attribute name, in bytes. Attribute names are keys of the returned rows; keep
// them short enough to stay readable. Checked for rows (db/database.cc) and schemas (the v2
// API's codec) alike.
inline constexpr size_t kMaxAttributeNameBytes = 128;

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
  bool return_affected_ids = false;

  // Conditional and filter-based writes (the turbopuffer API's). They are resolved against
  // the namespace's state just before the request's WAL entry, so they apply atomically
  // with it: first delete_by_filter deletes every document matching it, then
  // patch_by_filter merges its attributes into every document matching it, then the rows
  // above apply as usual, except that an upsert, patch or delete of an existing document
  // whose current state fails its condition is skipped (an upsert of a new document is
  // never skipped). Conditions are filters (query/filter.h) in which a value may be
  // {"$ref_new": "attr"}: the row's new value of attr (its id for "id"; null for deletes).
  // A filter-based write that matches more than limits.max_rows_per_request documents is an
  // error unless its allow_partial flag is set; then that many are written and
  // WriteResult::rows_remaining says more remain.
  nlohmann::json upsert_condition, patch_condition, delete_condition;  // null: none
  std::shared_ptr<const Filter> delete_by_filter;
  bool delete_by_filter_allow_partial = false;
  std::shared_ptr<const Filter> patch_by_filter;
  nlohmann::json patch_by_filter_attributes = nlohmann::json::object();
  bool patch_by_filter_allow_partial = false;
  // turbopuffer API writes set `typed`: every attribute value must have its attribute's type
  // in the namespace's schema (Manifest::schema; uuid and datetime values are normalized, ints
  // become floats for float attributes), an attribute the schema lacks gets the type of its
  // first value, the ids' type (uint, uuid or string) is fixed by the first write, and
  // `schema` declares types and options before the rows are checked. The original API's
  // writes leave it false: their attributes are untyped.
  bool typed = false;
  std::map<std::string, AttributeSchema> schema;
  bool conditional() const {
    return !upsert_condition.is_null() || !patch_condition.is_null() ||
           !delete_condition.is_null() || delete_by_filter != nullptr || patch_by_filter != nullptr;
  }
};

struct WriteResult {
  uint64_t upserted_count = 0;  // upsert rows applied
  uint64_t patched_count = 0;   // patch rows that found their document
  uint64_t deleted_count = 0;   // deletes that removed an existing document
  // With WriteRequest::return_affected_ids: the ids counted above, in request order.
  std::vector<std::string> upserted_ids, patched_ids, deleted_ids;
  bool rows_remaining = false;  // a partial filter-based write left matching documents
};

enum class Consistency {
  kStrong,    // reflect every write acknowledged before the query started
  kEventual,  // skip the freshness check against object storage
};

// Ranking by attribute values (turbopuffer's rank_by ["ts","desc"]); the attribute "id" is
// the document id (ordered by key, db/doc_key.h).
struct OrderKey {
  std::string attribute;
  bool descending = false;
};

struct QueryRequest {
  // The query vector: rank by distance to it. Empty: rank by `order_by` (by id ascending if
  // that is empty too).
  std::vector<float> vector;
  std::vector<OrderKey> order_by;
  // Only documents matching it are returned (null: all).
  std::shared_ptr<const Filter> filter;
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
  float dist = 0;             // when ranked by vector
  std::vector<float> vector;  // empty unless include_vectors
  nlohmann::json attributes;  // null unless include_attributes
};

struct QueryResult {
  std::vector<QueryHit> hits;  // ascending by (dist, id), or in order_by order
  bool ranked_by_vector = true;
  // Documents whose distance or filter was evaluated one by one (the unindexed tail, every
  // document of an exact or attribute-ranked query) rather than through the index.
  uint64_t exhaustive_count = 0;
  // Posting lists the query found in the memory cache, and read from storage (or the disk
  // cache).
  uint64_t postings_cached = 0;
  uint64_t postings_fetched = 0;
  // Posting lists a filtered query skipped unread: their summaries rule the filter out.
  uint64_t postings_skipped = 0;
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
  std::map<std::string, AttributeSchema> schema;  // attribute types (Manifest::schema)
};

}  // namespace vecpuff
