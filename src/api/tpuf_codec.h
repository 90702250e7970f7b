// JSON codecs for the turbopuffer v2 API (api/http_server.h serves it beside the original
// one): request bodies to engine types, engine results to turbopuffer's response shapes. The
// turbopuffer client's type definitions (npm @turbopuffer/turbopuffer 2.8.0,
// src/resources/namespaces.ts and custom.ts) are the specification; docs/api.md lists where
// VecPuff differs.
//
// Ids become document keys (db/doc_key.h): unsigned integers, UUIDs and strings. Errors
// name the field ("upsert_rows[3].vector[7]: ..."). Nothing here throws.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/tpuf_aggregate.h"
#include "common/status.h"
#include "db/types.h"

namespace vecpuff {

// Which attributes a query's rows carry (include_attributes / exclude_attributes), and how
// vectors are written (vector_encoding).
struct TpufRowFormat {
  bool all = false;                  // include_attributes: true
  std::vector<std::string> include;  // include_attributes: [names]
  std::vector<std::string> exclude;  // exclude_attributes
  bool base64 = false;               // vectors as base64 of little-endian f32
  bool Includes(const std::string& name) const;
};

struct TpufQuery {
  QueryRequest request;
  TpufRowFormat format;
  // aggregate_by (api/tpuf_aggregate.h): when set, the query answers aggregations over every
  // matching document instead of rows; with group_by, request.top_k bounds the groups.
  std::vector<TpufAggregate> aggregates;
  std::vector<std::string> group_by;
  // limit.per (api/tpuf_aggregate.h): at most per.limit rows per limit key, request.top_k
  // rows in all. Never with aggregate_by.
  TpufPerLimit per;
  bool aggregating() const { return !aggregates.empty(); }
};

// `max_id_bytes` bounds string ids. `body` is the parsed JSON body.
Result<WriteRequest> ParseTpufWrite(const nlohmann::json& body, size_t max_id_bytes);
// One query (the body of /query, or an element of a multi-query's `queries`, with `path`
// "queries[i]"; then consistency and vector_encoding come from the enclosing body).
Result<TpufQuery> ParseTpufQuery(const nlohmann::json& body, const std::string& path,
                                 bool top_level);

// A base64 string (standard alphabet, padded) to bytes; InvalidArgument naming `path`.
Result<std::string> DecodeBase64(std::string_view text, std::string_view path);
std::string EncodeBase64(std::string_view bytes);

struct TpufQueryStats {
  double server_total_ms = 0;
  double query_execution_ms = 0;
  uint64_t approx_namespace_size = 0;
  uint64_t exhaustive_search_count = 0;
  double cache_hit_ratio = 1;
  const char* cache_temperature = "hot";
};

std::string EncodeTpufWriteResult(const WriteResult& result, bool with_ids, double server_ms,
                                  uint64_t bytes_written);
// The rows of one result: [{"id":..,"$dist":..,...}]. With `scores` (one per hit, e.g. RRF
// scores), $dist is the hit's score whatever result.ranked_by_vector says.
void AppendTpufRows(const QueryResult& result, const TpufRowFormat& format, std::string* out,
                    const std::vector<double>* scores = nullptr);
// performance and billing members (no braces around them).
void AppendTpufStats(const TpufQueryStats& stats, uint64_t bytes_queried, uint64_t bytes_returned,
                     std::string* out);
nlohmann::json EncodeTpufMetadata(const NamespaceMetadata& metadata);
// A write's `schema` or a schema update's body: {"attr": "type" | {"type", "filterable",
// "regex"}}, checked; the vector's entry ([N]f32 or [N]f16) sets *vector_f16 and
// *vector_dims to N (each if given) and is not returned; without one they are unchanged.
Result<std::map<std::string, AttributeSchema>> ParseTpufSchema(const nlohmann::json& body,
                                                               const std::string& path,
                                                               bool* vector_f16,
                                                               size_t* vector_dims = nullptr);
// The namespace's schema as turbopuffer shows it: its attribute types (with "id") and the
// vector's.
nlohmann::json EncodeTpufSchema(const NamespaceMetadata& metadata);
// RFC 3339 in UTC with milliseconds, e.g. "2026-12-01T13:05:07.123Z".
std::string Rfc3339(int64_t unix_ms);

}  // namespace vecpuff
