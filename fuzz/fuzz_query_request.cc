// Fuzzes the query request decoders of both HTTP APIs: the original API's ParseQueryRequest
// (api/json_codec.h), and turbopuffer v2's as TpufService::Query runs it on a
// POST /v2/namespaces/{ns}/query body: ParseJsonBody, then either one ParseTpufQuery or, for
// a multi-query ({"queries": [...]}), the shared members, rerank_by (ParseTpufRerankBy) and
// each sub-query (the steps of TpufService::Query, repeated here: that file needs the whole
// engine). What parses is then used as the service would on fixed documents (fuzz_docs.h):
// the filter evaluated, aggregate_by / group_by computed, limit.per applied, rows written.
// Input: the request body.
// Properties: decoders fail only with InvalidArgument; what they accept is well formed
// (finite query vector); using it neither crashes nor fails but with InvalidArgument.
#include <cmath>
#include <string>

#include "api/json_codec.h"
#include "api/tpuf_aggregate.h"
#include "api/tpuf_codec.h"
#include "fuzz_common.h"
#include "fuzz_docs.h"
#include "query/filter.h"

namespace vecpuff::fuzz {
namespace {

// TpufService's limit on sub-queries (api/tpuf_service.cc, kMaxSubQueries).
constexpr size_t kMaxSubQueries = 16;

void CheckInvalidArgument(const Status& s, const char* what) {
  if (s.ok() || s.code() == StatusCode::kInvalidArgument) return;
  std::fprintf(stderr, "fuzz property violated: %s returned %s\n", what, s.ToString().c_str());
  std::abort();
}

// The fixed documents as the hits of a query, attributes and vectors included.
QueryResult FixedResult() {
  QueryResult r;
  float dist = 0.25f;
  for (const FuzzDoc& d : FixedDocs()) {
    QueryHit h;
    h.id = d.key;
    h.dist = dist;
    dist *= 2;
    h.vector = {0.5f, -1.0f};
    h.attributes = d.attributes;
    r.hits.push_back(std::move(h));
  }
  return r;
}

void Use(const QueryRequest& request) {
  for (float f : request.vector) FuzzCheck(std::isfinite(f), "query vector is finite");
  if (request.filter != nullptr) {
    for (const FuzzDoc& d : FixedDocs()) (void)request.filter->Matches(d.id, d.attributes);
  }
}

void Use(const TpufQuery& q) {
  Use(q.request);
  QueryResult result = FixedResult();
  result.ranked_by_vector = !q.request.vector.empty();
  if (q.aggregating()) {
    auto groups = ComputeTpufAggregations(result, q.aggregates, q.group_by, q.request.top_k);
    CheckInvalidArgument(groups.status(), "ComputeTpufAggregations");
    if (groups.ok()) (void)groups->dump();
    return;
  }
  if (q.per.active()) {
    const size_t kept = LimitTpufRowsPerKey(&result.hits, q.per, q.request.top_k);
    FuzzCheck(kept == result.hits.size() && kept <= q.request.top_k, "limit.per keeps its count");
  }
  std::string rows;
  AppendTpufRows(result, q.format, &rows);
  FuzzCheck(nlohmann::json::accept(rows), "AppendTpufRows writes JSON");
}

void TpufQueryBody(const nlohmann::json& tree) {
  if (!(tree.is_object() && tree.contains("queries"))) {
    auto q = ParseTpufQuery(tree, "", true);
    CheckInvalidArgument(q.status(), "ParseTpufQuery");
    if (q.ok()) Use(*q);
    return;
  }
  const nlohmann::json& list = tree["queries"];
  if (!list.is_array() || list.empty() || list.size() > kMaxSubQueries) return;
  nlohmann::json shared = nlohmann::json::object();
  for (const auto& [key, value] : tree.items()) {
    if (key == "queries") continue;
    if (key == "rerank_by") {
      if (!value.is_null()) {
        auto rrf = ParseTpufRerankBy(value, list.size());
        CheckInvalidArgument(rrf.status(), "ParseTpufRerankBy");
        if (!rrf.ok()) return;
        FuzzCheck(rrf->weights.empty() || rrf->weights.size() == list.size(), "RRF weights");
      }
      continue;
    }
    if (key != "consistency" && key != "vector_encoding") return;
    shared[key] = value;
  }
  auto common = ParseTpufQuery(shared, "", true);
  CheckInvalidArgument(common.status(), "ParseTpufQuery (shared members)");
  if (!common.ok()) return;
  for (size_t i = 0; i < list.size(); ++i) {
    auto q = ParseTpufQuery(list[i], "queries[" + std::to_string(i) + "]", false);
    CheckInvalidArgument(q.status(), "ParseTpufQuery (sub-query)");
    if (!q.ok()) return;
    q->format.base64 = common->format.base64;
    Use(*q);
  }
}

}  // namespace
}  // namespace vecpuff::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vecpuff;
  using namespace vecpuff::fuzz;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  Result<QueryRequest> original = ParseQueryRequest(body);
  CheckInvalidArgument(original.status(), "ParseQueryRequest");
  if (original.ok()) Use(*original);

  Result<nlohmann::json> tree = ParseJsonBody(body);
  CheckInvalidArgument(tree.status(), "ParseJsonBody");
  if (tree.ok()) TpufQueryBody(*tree);
  return 0;
}
