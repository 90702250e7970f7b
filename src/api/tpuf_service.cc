#include "api/tpuf_service.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <optional>
#include <unordered_set>

#include "api/json_codec.h"
#include "api/tpuf_aggregate.h"
#include "api/tpuf_codec.h"
#include "db/doc_key.h"
#include "index/distance.h"
#include "query/filter.h"
#include "query/value_order.h"

namespace vecpuff {
namespace {

using Clock = std::chrono::steady_clock;

// Sub-queries one multi-query may hold (turbopuffer's limit).
constexpr size_t kMaxSubQueries = 16;

// _debug/recall: query vectors sampled by default (turbopuffer's default), at most, and the
// threads that search them.
constexpr uint64_t kDefaultRecallQueries = 25;
constexpr uint64_t kMaxRecallQueries = 1000;
constexpr size_t kRecallWorkers = 4;

// limit.per over-fetching: the first search asks for this many times limit.total rows
// (when the per-key limit can bind), each further one for this many times more, up to
// max_top_k; then every matching document is ranked (TpufService::QueryPerLimited).
constexpr size_t kPerLimitFirstFactor = 2;
constexpr size_t kPerLimitGrowth = 4;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The share of the exact top k that the ANN search found. An ANN row counts if the exact
// search returned it, or if it is as near as the exact search's last row (its distance is
// exact too): among equidistant documents either search may pick any.
double RecallOf(const QueryResult& ann, const QueryResult& exact) {
  if (exact.hits.empty()) return 1.0;
  std::unordered_set<std::string> truth;
  for (const QueryHit& hit : exact.hits) truth.insert(hit.id);
  const float kth = exact.hits.back().dist;
  size_t matched = 0;
  for (const QueryHit& hit : ann.hits) {
    if (truth.count(hit.id) || hit.dist <= kth) ++matched;
  }
  return static_cast<double>(std::min(matched, exact.hits.size())) /
         static_cast<double>(exact.hits.size());
}

std::string MetricName(DistanceMetric m) {
  return m == DistanceMetric::kEuclideanSquared ? "euclidean_squared" : "cosine_distance";
}

// Ranks `docs` (every document matching request.filter, with attributes, and with vectors
// when ranking by vector) exactly as Namespace::Query ranks documents: by distance to
// request.vector under `metric` (NaN as infinity; documents without a vector of the query's
// dimensions are not ranked and are dropped), or by request.order_by (CompareValues; a
// missing attribute is null, first ascending and last descending; "id" by key), ties by id.
void RankExactly(const QueryRequest& request, DistanceMetric metric, QueryResult* docs) {
  std::vector<QueryHit>& hits = docs->hits;
  if (!request.vector.empty()) {
    const size_t dims = request.vector.size();
    const float* q = request.vector.data();
    const float q_norm = Norm(q, dims);
    std::erase_if(hits, [dims](const QueryHit& h) { return h.vector.size() != dims; });
    for (QueryHit& h : hits) {
      const float d =
          Distance(metric, q, q_norm, h.vector.data(), Norm(h.vector.data(), dims), dims);
      h.dist = std::isnan(d) ? std::numeric_limits<float>::infinity() : d;
    }
    std::sort(hits.begin(), hits.end(), [](const QueryHit& a, const QueryHit& b) {
      if (a.dist != b.dist) return a.dist < b.dist;
      return a.id < b.id;
    });
    docs->ranked_by_vector = true;
    return;
  }
  static const nlohmann::json kNull;
  auto value = [](const QueryHit& h, const std::string& attribute) -> const nlohmann::json& {
    if (!h.attributes.is_object()) return kNull;
    auto it = h.attributes.find(attribute);
    return it != h.attributes.end() ? *it : kNull;
  };
  std::sort(hits.begin(), hits.end(), [&](const QueryHit& a, const QueryHit& b) {
    for (const OrderKey& key : request.order_by) {
      const int c = key.attribute == "id"
                        ? a.id.compare(b.id)
                        : CompareValues(value(a, key.attribute), value(b, key.attribute));
      if (c != 0) return key.descending ? c > 0 : c < 0;
    }
    return a.id < b.id;
  });
  docs->ranked_by_vector = false;
}

// The plan a query would follow, from the request and the namespace's metadata (nothing is
// read but the metadata): what Namespace::Query does for it (db/namespace.cc).
std::string ExplainPlan(const TpufQuery& q, const std::string& filter, const NamespaceMetadata& md,
                        const DbOptions& options) {
  const QueryRequest& r = q.request;
  const std::string k = std::to_string(r.top_k);
  std::string text = "namespace '" + md.name + "': ~" + std::to_string(md.approx_row_count) +
                     " documents, " + std::to_string(md.indexed_row_count) +
                     " of them in the ANN index (" + std::to_string(md.unindexed_bytes) +
                     " bytes of writes not indexed yet), " +
                     (md.dimensions ? std::to_string(md.dimensions) + " dimensions, " : "") +
                     MetricName(md.distance_metric) + "\n";
  const std::string filter_each =
      filter.empty() ? "" : ", filter " + filter + " evaluated on each document";
  const std::string scan_all =
      "scan: every document (every posting list of the index, then the unindexed writes)" +
      filter_each;
  if (q.aggregating()) {
    text += "aggregate:";
    for (size_t i = 0; i < q.aggregates.size(); ++i) {
      const TpufAggregate& a = q.aggregates[i];
      text += (i ? ", " : " ") + a.name + " = " +
              (a.kind == TpufAggregate::Kind::kSum
                   ? "Sum(" + a.attribute + ")"
                   : "Count(" + (a.attribute.empty() ? "*" : a.attribute) + ")");
    }
    if (!q.group_by.empty()) {
      text += " per group of (";
      for (size_t i = 0; i < q.group_by.size(); ++i) text += (i ? ", " : "") + q.group_by[i];
      text += "), the first " + k + " groups in group key order";
    }
    return text + "\n└─ " + scan_all + "\n";
  }
  std::string per;
  if (q.per.active()) {
    per = "limit per (";
    for (size_t i = 0; i < q.per.attributes.size(); ++i) {
      per += (i ? ", " : "") + q.per.attributes[i];
    }
    per += "): at most " + std::to_string(q.per.limit) +
           " rows per combination of their values, in rank order, " + k +
           " in all; the ranking is over-fetched (" + std::to_string(kPerLimitFirstFactor) +
           "x, then " + std::to_string(kPerLimitGrowth) + "x more each round, up to " +
           std::to_string(options.max_top_k) +
           " rows) until enough rows pass, else every matching document is ranked exactly\n";
  }
  if (r.vector.empty()) {
    std::string order;
    for (const OrderKey& key : r.order_by) {
      order += (order.empty() ? "" : ", ") + key.attribute + (key.descending ? " desc" : " asc");
    }
    text +=
        "top " + k + " by " + (order.empty() ? "id asc (a lookup)" : order + ", then id") + "\n";
    return text + per + "└─ " + scan_all + "; the best " + k + " kept\n";
  }
  text += "top " + k + " by " + MetricName(md.distance_metric) + " to the query vector (" +
          (r.exact ? "kNN, exact" : "ANN") + ")\n" + per;
  const std::string filter_inside =
      filter.empty() ? ""
                     : "\n│  filter " + filter +
                           " evaluated inside the scan: entries that do not match are never "
                           "candidates";
  if (md.indexed_row_count == 0) {
    text += "├─ index: empty (nothing indexed yet)\n";
  } else if (r.exact) {
    text +=
        "├─ index: every posting list scanned, every live entry's distance computed at full "
        "precision" +
        filter_inside + "\n";
  } else {
    const uint32_t probes = r.probes ? r.probes : options.default_probes;
    text += "├─ index: the (up to) " + std::to_string(probes) +
            " posting lists whose centroids are nearest the query (ann_probes)";
    if (options.prune_ratio > 0) {
      text += ", less those whose centroid is over " + nlohmann::json(options.prune_ratio).dump() +
              "x as far (squared) as the nearest";
    }
    text += filter_inside;
    text += "\n│  widened (probes doubled) while fewer than " + k + " live candidates were found" +
            std::string(filter.empty() ? ""
                                       : ", or fewer matching entries than the first postings held "
                                         "live ones (a selective filter ends up scanning every "
                                         "posting list)");
    text += "\n│  SQ8-quantized distances; the best max(2k, k+32) = " +
            std::to_string(std::max<size_t>(2 * r.top_k, r.top_k + 32)) +
            " candidates reranked at full precision\n";
  }
  text += md.unindexed_bytes == 0
              ? std::string("├─ unindexed writes: none\n")
              : "├─ unindexed writes: " + std::to_string(md.unindexed_bytes) +
                    " bytes, every document's exact distance computed" + filter_each + "\n";
  text += "└─ merge: the " + k + " nearest of both, ties by id\n";
  return text;
}

}  // namespace

Result<std::string> TpufService::Write(const std::string& ns, std::string_view body) {
  const auto start = Clock::now();
  VECPUFF_ASSIGN_OR_RETURN(nlohmann::json tree, ParseJsonBody(body));
  VECPUFF_ASSIGN_OR_RETURN(WriteRequest request, ParseTpufWrite(tree, db_->options().max_id_bytes));
  tree = nullptr;
  const bool ids = request.return_affected_ids;
  VECPUFF_ASSIGN_OR_RETURN(WriteResult result, db_->Write(ns, std::move(request)));
  return EncodeTpufWriteResult(result, ids, MsSince(start), body.size());
}

Result<std::string> TpufService::Query(const std::string& ns, std::string_view body) {
  const auto start = Clock::now();
  VECPUFF_ASSIGN_OR_RETURN(nlohmann::json tree, ParseJsonBody(body));
  const bool multi = tree.is_object() && tree.contains("queries");
  std::vector<TpufQuery> queries;
  std::optional<TpufRrf> rerank;
  TpufRowFormat fused_format;  // the rows of a reranked multi-query: whatever they carry
  fused_format.all = true;
  if (multi) {
    const nlohmann::json& list = tree["queries"];
    if (!list.is_array() || list.empty() || list.size() > kMaxSubQueries) {
      return Status::InvalidArgument("queries: expected an array of 1 to " +
                                     std::to_string(kMaxSubQueries) + " queries");
    }
    // The members that apply to every sub-query, checked by parsing them as one.
    nlohmann::json shared = nlohmann::json::object();
    for (const auto& [key, value] : tree.items()) {
      if (key == "queries") continue;
      if (key == "rerank_by") {
        if (!value.is_null()) {
          VECPUFF_ASSIGN_OR_RETURN(TpufRrf rrf, ParseTpufRerankBy(value, list.size()));
          rerank = std::move(rrf);
        }
        continue;
      }
      if (key != "consistency" && key != "vector_encoding") {
        return Status::InvalidArgument(key + ": unknown field");
      }
      shared[key] = value;
    }
    VECPUFF_ASSIGN_OR_RETURN(TpufQuery common, ParseTpufQuery(shared, "", true));
    fused_format.base64 = common.format.base64;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string path = "queries[" + std::to_string(i) + "]";
      VECPUFF_ASSIGN_OR_RETURN(TpufQuery q, ParseTpufQuery(list[i], path, false));
      if (rerank && q.aggregating()) {
        return Status::InvalidArgument(path +
                                       ".aggregate_by: rerank_by fuses rows; a sub-query that "
                                       "aggregates has none");
      }
      q.request.consistency = common.request.consistency;
      q.format.base64 = common.format.base64;
      queries.push_back(std::move(q));
    }
  } else {
    VECPUFF_ASSIGN_OR_RETURN(TpufQuery q, ParseTpufQuery(tree, "", true));
    queries.push_back(std::move(q));
  }
  tree = nullptr;
  for (size_t i = 0; i < queries.size(); ++i) {
    // Database::Query checks top_k for the others.
    const TpufQuery& q = queries[i];
    if (q.aggregating() && q.request.top_k > db_->options().max_top_k) {
      return Status::InvalidArgument(
          std::string(multi ? "queries[" + std::to_string(i) + "]." : "") +
          "top_k: must be between 1 and " + std::to_string(db_->options().max_top_k));
    }
  }

  // Attributes the schema marks not filterable cannot be filtered on (as in turbopuffer).
  VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns, Consistency::kEventual));
  for (size_t i = 0; i < queries.size(); ++i) {
    if (queries[i].request.filter == nullptr) continue;
    for (const std::string& name : queries[i].request.filter->attributes()) {
      auto a = md.schema.find(name);
      if (a != md.schema.end() && !a->second.filterable) {
        return Status::InvalidArgument(
            std::string(multi ? "queries[" + std::to_string(i) + "]." : "") +
            "filters: attribute '" + name + "' is not filterable (its schema says so)");
      }
    }
  }

  const auto exec_start = Clock::now();
  // Sub-queries run concurrently (at most kMaxSubQueries threads; if no thread can be
  // started, the library runs the task when its result is asked for).
  std::vector<Result<Answer>> answers;
  if (queries.size() == 1) {
    answers.push_back(Run(ns, queries[0]));
  } else {
    std::vector<std::future<Result<Answer>>> running;
    for (const TpufQuery& q : queries) {
      running.push_back(std::async(std::launch::async | std::launch::deferred,
                                   [this, &ns, &q] { return Run(ns, q); }));
    }
    for (auto& f : running) answers.push_back(f.get());
  }
  TpufQueryStats stats;
  uint64_t cached = 0, fetched = 0;
  for (const Result<Answer>& a : answers) {
    VECPUFF_RETURN_IF_ERROR(a.status());
    stats.exhaustive_search_count += a->result.exhaustive_count;
    cached += a->result.postings_cached;
    fetched += a->result.postings_fetched;
  }
  stats.query_execution_ms = MsSince(exec_start);
  stats.approx_namespace_size = md.approx_row_count;
  if (cached + fetched > 0) {
    stats.cache_hit_ratio = static_cast<double>(cached) / static_cast<double>(cached + fetched);
  }
  stats.cache_temperature =
      stats.cache_hit_ratio >= 0.95 ? "hot" : (stats.cache_hit_ratio >= 0.5 ? "warm" : "cold");

  // One result's members (no braces): rows, aggregations or aggregation_groups.
  auto append_result = [](const TpufQuery& q, const Answer& a, std::string* out) {
    if (!q.aggregating()) {
      out->append("\"rows\":");
      AppendTpufRows(a.result, q.format, out);
      return;
    }
    out->append(q.group_by.empty() ? "\"aggregations\":" : "\"aggregation_groups\":");
    out->append(a.aggregations.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  };
  std::string out = "{";
  if (multi && rerank) {
    std::vector<const QueryResult*> results;
    std::vector<const TpufRowFormat*> formats;
    size_t limit = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      results.push_back(&answers[i]->result);
      formats.push_back(&queries[i].format);
      limit = std::max(limit, queries[i].request.top_k);
    }
    std::vector<double> scores;
    const QueryResult fused = FuseTpufRrf(results, formats, *rerank, limit, &scores);
    out += "\"results\":[{\"rows\":";
    AppendTpufRows(fused, fused_format, &out, &scores);
    out += "}],";
  } else if (multi) {
    out += "\"results\":[";
    for (size_t i = 0; i < queries.size(); ++i) {
      if (i) out.push_back(',');
      out.push_back('{');
      append_result(queries[i], *answers[i], &out);
      out.push_back('}');
    }
    out += "],";
  } else {
    append_result(queries[0], *answers[0], &out);
    out.push_back(',');
  }
  const uint64_t returned = out.size();
  stats.server_total_ms = MsSince(start);
  AppendTpufStats(stats, md.approx_row_count * uint64_t{md.dimensions} * 4, returned, &out);
  out.push_back('}');
  return out;
}

Result<TpufService::Answer> TpufService::Run(const std::string& ns, const TpufQuery& q) {
  Answer answer;
  if (!q.aggregating()) {
    VECPUFF_ASSIGN_OR_RETURN(answer.result,
                             q.per.active() ? QueryPerLimited(ns, q) : db_->Query(ns, q.request));
    return answer;
  }
  VECPUFF_ASSIGN_OR_RETURN(QueryResult docs,
                           db_->MatchingDocuments(ns, q.request.filter, q.request.consistency));
  VECPUFF_ASSIGN_OR_RETURN(
      answer.aggregations,
      ComputeTpufAggregations(docs, q.aggregates, q.group_by, q.request.top_k));
  answer.result.exhaustive_count = docs.exhaustive_count;
  answer.result.postings_cached = docs.postings_cached;
  answer.result.postings_fetched = docs.postings_fetched;
  return answer;
}

Result<QueryResult> TpufService::QueryPerLimited(const std::string& ns, const TpufQuery& q) {
  const size_t total = q.request.top_k;
  const size_t max_k = db_->options().max_top_k;
  QueryRequest request = q.request;  // include_attributes is set: the limit key's values
  uint64_t exhaustive = 0, cached = 0, fetched = 0;
  auto count = [&](QueryResult* r) {
    exhaustive += r->exhaustive_count;
    cached += r->postings_cached;
    fetched += r->postings_fetched;
    r->exhaustive_count = exhaustive;
    r->postings_cached = cached;
    r->postings_fetched = fetched;
  };
  // A per-key limit of `total` or more never binds: the first `total` rows are the answer.
  // Beyond max_top_k, Database::Query rejects `total` as it would without limit.per.
  size_t k = q.per.limit >= total || total >= max_k ? total
                                                    : std::min(max_k, total * kPerLimitFirstFactor);
  // Each round is one search of its own (a consistent state); the answer is the last
  // round's alone, never a mix of rounds.
  for (;;) {
    request.top_k = k;
    VECPUFF_ASSIGN_OR_RETURN(QueryResult round, db_->Query(ns, request));
    count(&round);
    // Fewer rows than asked for: the search ranked every matching document (a filtered ANN
    // search widens until it has top_k matches or has scanned everything).
    const bool complete = round.hits.size() < k;
    if (LimitTpufRowsPerKey(&round.hits, q.per, total) == total || complete) return round;
    if (k >= max_k) break;
    k = std::min(max_k, k * kPerLimitGrowth);
  }
  // The first max_top_k rows of the ranking hold fewer than `total` rows under the per-key
  // limit, but more documents match: rank every matching document here (an ANN query gets
  // the exact ranking then).
  const bool by_vector = !request.vector.empty();
  VECPUFF_ASSIGN_OR_RETURN(
      QueryResult all, db_->MatchingDocuments(ns, request.filter, request.consistency, by_vector));
  count(&all);
  DistanceMetric metric = DistanceMetric::kCosineDistance;
  if (by_vector) {
    VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns, Consistency::kEventual));
    metric = md.distance_metric;
  }
  RankExactly(request, metric, &all);
  LimitTpufRowsPerKey(&all.hits, q.per, total);
  if (!request.include_vectors) {
    for (QueryHit& hit : all.hits) hit.vector = std::vector<float>();
  }
  return all;
}

Result<nlohmann::json> TpufService::ExplainQuery(const std::string& ns, std::string_view body) {
  VECPUFF_ASSIGN_OR_RETURN(nlohmann::json tree, ParseJsonBody(body));
  if (tree.is_null()) tree = nlohmann::json::object();
  VECPUFF_ASSIGN_OR_RETURN(TpufQuery q, ParseTpufQuery(tree, "", true));
  VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns, q.request.consistency));
  if (!q.aggregating() && (q.request.top_k < 1 || q.request.top_k > db_->options().max_top_k)) {
    return Status::InvalidArgument("top_k: must be between 1 and " +
                                   std::to_string(db_->options().max_top_k));
  }
  if (!q.request.vector.empty() && md.dimensions != 0 && q.request.vector.size() != md.dimensions) {
    return Status::InvalidArgument(
        "rank_by[2]: the query vector has " + std::to_string(q.request.vector.size()) +
        " dimensions, the namespace's vectors " + std::to_string(md.dimensions));
  }
  std::string filter;
  if (auto it = tree.find("filters"); it != tree.end() && !it->is_null()) {
    filter = it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  return nlohmann::json{{"plan_text", ExplainPlan(q, filter, md, db_->options())}};
}

Result<nlohmann::json> TpufService::Recall(const std::string& ns, std::string_view body) {
  VECPUFF_ASSIGN_OR_RETURN(nlohmann::json tree, ParseJsonBody(body));
  if (tree.is_null()) tree = nlohmann::json::object();
  if (!tree.is_object()) return Status::InvalidArgument("request body: expected an object");
  uint64_t num = kDefaultRecallQueries;
  bool num_given = false;
  size_t top_k = 10;
  bool ground_truth = false;
  std::shared_ptr<const Filter> filter;
  std::vector<float> given_vector;
  for (const auto& [key, value] : tree.items()) {
    if (value.is_null()) continue;
    if (key == "num" || key == "top_k") {
      const uint64_t max = key == "num" ? kMaxRecallQueries : db_->options().max_top_k;
      if (!value.is_number_integer() || (!value.is_number_unsigned() && value.get<int64_t>() < 1) ||
          value.get<uint64_t>() < 1 || value.get<uint64_t>() > max) {
        return Status::InvalidArgument(key + ": must be an integer from 1 to " +
                                       std::to_string(max));
      }
      if (key == "num") {
        num = value.get<uint64_t>();
        num_given = true;
      } else {
        top_k = value.get<size_t>();
      }
    } else if (key == "include_ground_truth") {
      if (!value.is_boolean()) return Status::InvalidArgument(key + ": expected a boolean");
      ground_truth = value.get<bool>();
    } else if (key == "filters") {
      VECPUFF_ASSIGN_OR_RETURN(filter, Filter::Parse(value, "filters"));
    } else if (key == "rank_by") {
      VECPUFF_ASSIGN_OR_RETURN(TpufQuery q, ParseTpufQuery({{"rank_by", value}}, "", true));
      if (q.request.vector.empty()) {
        return Status::InvalidArgument(
            "rank_by: recall is measured for vector search: [\"vector\", \"ANN\", [...]]");
      }
      given_vector = std::move(q.request.vector);
    } else {
      return Status::InvalidArgument(key + ": unknown field");
    }
  }
  if (!given_vector.empty() && num_given && num != 1) {
    return Status::InvalidArgument("num: must be 1 (or absent) when rank_by gives the query");
  }
  // Catches up with every acknowledged write; the searches below then read that state.
  VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns, Consistency::kStrong));
  if (!given_vector.empty() && md.dimensions != 0 && given_vector.size() != md.dimensions) {
    return Status::InvalidArgument(
        "rank_by[2]: the query vector has " + std::to_string(given_vector.size()) +
        " dimensions, the namespace's vectors " + std::to_string(md.dimensions));
  }
  std::vector<std::vector<float>> vectors;
  if (!given_vector.empty()) {
    vectors.push_back(std::move(given_vector));
  } else {
    // Evenly spaced documents in id order: the same namespace always gives the same queries.
    VECPUFF_ASSIGN_OR_RETURN(QueryResult all,
                             db_->MatchingDocuments(ns, nullptr, Consistency::kEventual));
    const size_t n = all.hits.size();
    const size_t m = std::min<size_t>(n, num);
    if (m == 0) {
      return Status::InvalidArgument("the namespace has no documents to sample query vectors from");
    }
    nlohmann::json ids = nlohmann::json::array();
    for (size_t i = 0; i < m; ++i)
      ids.push_back(DocKeyToJson(all.hits[(2 * i + 1) * n / (2 * m)].id));
    all = QueryResult();
    VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<const Filter> sample,
                             Filter::Parse(nlohmann::json::array({"id", "In", std::move(ids)})));
    VECPUFF_ASSIGN_OR_RETURN(QueryResult picked,
                             db_->MatchingDocuments(ns, sample, Consistency::kEventual, true));
    for (QueryHit& hit : picked.hits) {
      if (!hit.vector.empty()) vectors.push_back(std::move(hit.vector));
    }
    if (vectors.empty()) {
      return Status::InvalidArgument("the namespace has no documents to sample query vectors from");
    }
  }

  // Each query vector searched through the index (ANN) and exactly.
  struct Measure {
    Status status;
    double recall = 0;
    size_t ann = 0, exact = 0;
    QueryResult truth;
  };
  std::vector<Measure> measures(vectors.size());
  auto measure = [&](size_t i) {
    QueryRequest request;
    request.vector = vectors[i];
    request.top_k = top_k;
    request.filter = filter;
    request.include_attributes = false;
    request.include_vectors = false;
    request.consistency = Consistency::kEventual;
    Result<QueryResult> ann = db_->Query(ns, request);
    request.exact = true;
    request.include_vectors = ground_truth;
    Result<QueryResult> exact = db_->Query(ns, request);
    Measure& m = measures[i];
    if (!ann.ok() || !exact.ok()) {
      m.status = !ann.ok() ? ann.status() : exact.status();
      return;
    }
    m.ann = ann->hits.size();
    m.exact = exact->hits.size();
    m.recall = RecallOf(*ann, *exact);
    if (ground_truth) m.truth = std::move(*exact);
  };
  // A few workers: the queries are independent.
  const size_t workers = std::min<size_t>(kRecallWorkers, vectors.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < vectors.size(); i = next++) measure(i);
  };
  std::vector<std::future<void>> running;
  for (size_t w = 1; w < workers; ++w) {
    running.push_back(std::async(std::launch::async | std::launch::deferred, work));
  }
  work();
  for (auto& f : running) f.get();

  double recall = 0, ann = 0, exact = 0;
  nlohmann::json truth = nlohmann::json::array();
  TpufRowFormat rows;
  rows.all = true;
  for (size_t i = 0; i < measures.size(); ++i) {
    const Measure& m = measures[i];
    VECPUFF_RETURN_IF_ERROR(m.status);
    recall += m.recall;
    ann += static_cast<double>(m.ann);
    exact += static_cast<double>(m.exact);
    if (ground_truth) {
      std::string text;
      AppendTpufRows(m.truth, rows, &text);
      std::string query;
      AppendFloatArray(vectors[i], &query);
      truth.push_back({{"query_vector", nlohmann::json::parse(query)},
                       {"nearest_neighbors", nlohmann::json::parse(text)}});
    }
  }
  const double count = static_cast<double>(measures.size());
  nlohmann::json out = {{"avg_recall", recall / count},
                        {"avg_ann_count", ann / count},
                        {"avg_exhaustive_count", exact / count}};
  if (ground_truth) out["ground_truth"] = std::move(truth);
  return out;
}

Result<nlohmann::json> TpufService::Metadata(const std::string& ns) {
  VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns));
  return EncodeTpufMetadata(md);
}

Result<nlohmann::json> TpufService::Schema(const std::string& ns) {
  VECPUFF_ASSIGN_OR_RETURN(NamespaceMetadata md, db_->Metadata(ns));
  return EncodeTpufSchema(md);
}

Result<nlohmann::json> TpufService::UpdateSchema(const std::string& ns, std::string_view body) {
  VECPUFF_ASSIGN_OR_RETURN(nlohmann::json tree, ParseJsonBody(body));
  size_t dims = 0;
  VECPUFF_ASSIGN_OR_RETURN(auto declared, ParseTpufSchema(tree, "schema", nullptr, &dims));
  if (dims != 0) {
    // The vector's type is the namespace's dimensions: a declaration of others is an error,
    // not something to ignore. (Before the first vector fixes them, any is accepted.)
    // (A namespace that does not exist yet has no dimensions to disagree with.)
    auto md = db_->Metadata(ns);
    if (!md.ok() && !md.status().IsNotFound()) return md.status();
    if (md.ok() && md->dimensions != 0 && md->dimensions != dims) {
      return Status::InvalidArgument("schema.vector: the namespace has " +
                                     std::to_string(md->dimensions) + " dimensions, not " +
                                     std::to_string(dims));
    }
  }
  VECPUFF_RETURN_IF_ERROR(db_->UpdateSchema(ns, declared).status());
  return Schema(ns);
}

Result<nlohmann::json> TpufService::HintCacheWarm(const std::string& ns) {
  // Opens the namespace (its manifest, index metas and WAL tail); posting lists are read by
  // the first queries.
  VECPUFF_RETURN_IF_ERROR(db_->Metadata(ns, Consistency::kEventual).status());
  return nlohmann::json{
      {"status", "ACCEPTED"},
      {"message", "namespace loaded; posting lists are cached as queries read them"}};
}

Result<nlohmann::json> TpufService::ListNamespaces(const std::string& prefix,
                                                   const std::string& cursor,
                                                   const std::string& page_size_text) {
  size_t page_size = 100;
  if (!page_size_text.empty()) {
    uint64_t n = 0;
    const char* b = page_size_text.data();
    const char* e = b + page_size_text.size();
    auto [end, ec] = std::from_chars(b, e, n);
    if (ec != std::errc() || end != e || n < 1 || n > 1000) {
      return Status::InvalidArgument("page_size: must be an integer from 1 to 1000");
    }
    page_size = n;
  }
  VECPUFF_ASSIGN_OR_RETURN(std::vector<std::string> names, db_->ListNamespaces());
  nlohmann::json list = nlohmann::json::array();
  std::string last;
  for (const std::string& name : names) {
    if (!cursor.empty() && name <= cursor) continue;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    if (list.size() == page_size) {
      // More remain: the client asks again from the last name of this page.
      return nlohmann::json{{"namespaces", std::move(list)}, {"next_cursor", last}};
    }
    list.push_back({{"id", name}});
    last = name;
  }
  return nlohmann::json{{"namespaces", std::move(list)}};
}

}  // namespace vecpuff
