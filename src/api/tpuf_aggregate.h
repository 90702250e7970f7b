// The parts of turbopuffer's v2 query API that combine documents or results rather than
// rank them: aggregations (aggregate_by, with group_by), the per-key row limit
// (limit.per) and reciprocal rank fusion of a multi-query's sub-queries (rerank_by
// ["RRF", ...]). api/tpuf_codec.h parses the rest of a
// query; api/tpuf_service.h runs them.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "db/types.h"

namespace vecpuff {

struct TpufRowFormat;  // api/tpuf_codec.h

// One entry of aggregate_by: {"<name>": ["Count"] | ["Count", attr] | ["Sum", attr]}.
struct TpufAggregate {
  enum class Kind { kCount, kSum };
  std::string name;  // the key it is returned under
  Kind kind = Kind::kCount;
  std::string attribute;  // empty for ["Count"]: every document
};

// aggregate_by: an object of 1 or more named aggregates (sorted by name). InvalidArgument
// naming the member otherwise.
Status ParseTpufAggregateBy(const nlohmann::json& value, const std::string& path,
                            std::vector<TpufAggregate>* out);
// group_by: a non-empty array of distinct attribute names (["ForEachUnique", attr] group
// functions are rejected as not supported).
Status ParseTpufGroupBy(const nlohmann::json& value, const std::string& path,
                        std::vector<std::string>* out);

// The aggregates over `docs` (every matching document with its attributes):
//   ["Count"]         the number of documents;
//   ["Count", attr]   the number of documents where attr has a value (not missing/null;
//                     "id" and "vector": every document);
//   ["Sum", attr]     the sum of attr's values over the documents that have one. Integers
//                     sum exactly (a JSON integer: int64, or uint64 above INT64_MAX; a
//                     double only if the exact sum leaves both ranges); any float among the
//                     values makes the sum a double (compensated summation). 0 if no
//                     document has a value. A value that is not a number (string, bool,
//                     array) is InvalidArgument naming the document.
// Without `group_by`: {"<name>": value, ...}. With it: an array of groups, one per
// distinct combination of the group_by attributes' values (a missing value is a value: null),
// each {"<attr>": value, ..., "<name>": aggregate, ...}, ascending by the group key
// (attribute by attribute, in the order attribute ranking uses: missing first, then
// booleans, numbers by value, strings bytewise, arrays elementwise), the first `max_groups`.
// Numbers group by value (5 and 5.0 are one group).
Result<nlohmann::json> ComputeTpufAggregations(const QueryResult& docs,
                                               const std::vector<TpufAggregate>& aggregates,
                                               const std::vector<std::string>& group_by,
                                               size_t max_groups);

// limit.per: {"attributes": [names], "limit": n}. At most `limit` rows for each value of
// the "limit key", the combination of the attributes' values.
struct TpufPerLimit {
  std::vector<std::string> attributes;  // empty: no per-key limit
  size_t limit = 0;                     // >= 1 when attributes is not empty
  bool active() const { return !attributes.empty(); }
};

// Parses limit.per (`path` names it): attributes a non-empty array of distinct attribute
// names (not "vector"; "id" is allowed and makes every row its own key), limit a positive
// integer. InvalidArgument naming the member otherwise.
Status ParseTpufLimitPer(const nlohmann::json& value, const std::string& path, TpufPerLimit* out);

// Applies limit.per to ranked hits: walks `hits` in order and keeps a hit if fewer than
// per.limit hits with its limit key were kept before it, until `total` are kept; drops
// the rest. The limit key groups as group_by does (a missing attribute is null, numbers by
// value: 5 and 5.0 are one key). Returns the number kept. Because a hit is kept or not by
// the hits before it alone, applying this to the first K hits of a ranking gives the first
// rows of applying it to the whole ranking: if it keeps `total`, they are the answer.
// REQUIRES: the hits carry their attributes (QueryRequest::include_attributes) unless every
// limit attribute is "id".
size_t LimitTpufRowsPerKey(std::vector<QueryHit>* hits, const TpufPerLimit& per, size_t total);

// rerank_by ["RRF"] or ["RRF", {"rank_constant": k, "weights": [w...]}].
struct TpufRrf {
  double rank_constant = 60;    // > 0
  std::vector<double> weights;  // one per sub-query, each > 0 (default: all 1)
};

// Parses rerank_by for a multi-query of `num_queries` sub-queries.
Result<TpufRrf> ParseTpufRerankBy(const nlohmann::json& value, size_t num_queries);

// Reciprocal rank fusion of sub-query results (`results[i]`, whose rows show what
// `formats[i]` includes): a document's score is the sum, over the sub-queries whose rows
// hold it, of weight_i / (rank_constant + rank_i), rank_i counted from 1 in sub-query i's
// rows. Returns the first `limit` documents by score, highest first (ties: ascending id),
// their scores in `scores`. A fused hit carries what the sub-queries returned for the
// document: the attributes any of them included (the first sub-query, in request order,
// that returned an attribute gives its value), and the vector if any returned it.
QueryResult FuseTpufRrf(const std::vector<const QueryResult*>& results,
                        const std::vector<const TpufRowFormat*>& formats, const TpufRrf& params,
                        size_t limit, std::vector<double>* scores);

}  // namespace vecpuff
