// TpufService: the turbopuffer v2 API's operations over a Database, request body in,
// response body out (api/tpuf_codec.h for the shapes; api/http_server.h routes to these).
//
// Thread safety: every method may be called concurrently.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/tpuf_codec.h"
#include "common/status.h"
#include "db/database.h"

namespace vecpuff {

class TpufService {
 public:
  // `db` must outlive the service.
  explicit TpufService(Database* db) : db_(db) {}

  // POST /v2/namespaces/{ns}
  Result<std::string> Write(const std::string& ns, std::string_view body);
  // POST /v2/namespaces/{ns}/query: one query, or a multi-query (`queries`).
  Result<std::string> Query(const std::string& ns, std::string_view body);
  // POST /v2/namespaces/{ns}/explain_query
  Result<nlohmann::json> ExplainQuery(const std::string& ns, std::string_view body);
  // POST /v1/namespaces/{ns}/_debug/recall
  Result<nlohmann::json> Recall(const std::string& ns, std::string_view body);
  // GET /v2/namespaces/{ns}/metadata
  Result<nlohmann::json> Metadata(const std::string& ns);
  // GET /v1/namespaces/{ns}/schema
  Result<nlohmann::json> Schema(const std::string& ns);
  // POST /v1/namespaces/{ns}/schema: declares types and options; returns the whole schema.
  Result<nlohmann::json> UpdateSchema(const std::string& ns, std::string_view body);
  // GET /v1/namespaces/{ns}/hint_cache_warm
  Result<nlohmann::json> HintCacheWarm(const std::string& ns);
  // GET /v1/namespaces: names with `prefix`, after `cursor`, at most `page_size` (a decimal
  // string, empty for the default of 100; 1 to 1000).
  Result<nlohmann::json> ListNamespaces(const std::string& prefix, const std::string& cursor,
                                        const std::string& page_size);

 private:
  // One (sub-)query's outcome: its rows, or its aggregations (then `result` holds only the
  // counters: documents evaluated, posting lists read).
  struct Answer {
    QueryResult result;
    nlohmann::json aggregations;  // an object, or an array of groups with group_by
  };
  Result<Answer> Run(const std::string& ns, const TpufQuery& query);
  // A query with limit.per: the rows the per-key limit keeps from the query's ranking, as
  // many as request.top_k when that many exist among the matching documents. Over-fetches
  // (more rows of the same ranking, widening) and, if max_top_k rows are not enough, ranks
  // every matching document exactly (vector distance, or the attribute order) instead.
  Result<QueryResult> QueryPerLimited(const std::string& ns, const TpufQuery& query);

  Database* const db_;
};

}  // namespace vecpuff
