#include "api/tpuf_aggregate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

#include "api/tpuf_codec.h"
#include "db/doc_key.h"
#include "query/value_order.h"

namespace vecpuff {
namespace {

using nlohmann::json;

// Exact integer sums and comparisons across int64 and uint64 (a GCC/Clang extension).
__extension__ typedef __int128 Int128;

std::string Member(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

std::string Kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

Int128 AsInt128(const json& v) {
  return v.is_number_unsigned() ? static_cast<Int128>(v.get<uint64_t>())
                                : static_cast<Int128>(v.get<int64_t>());
}

// One aggregate's running value in one group.
struct Accumulator {
  uint64_t count = 0;
  Int128 int_sum = 0;
  double float_sum = 0, compensation = 0;  // Neumaier summation
  bool any_float = false;

  void AddFloat(double x) {
    any_float = true;
    const double t = float_sum + x;
    if (std::abs(float_sum) >= std::abs(x)) {
      compensation += (float_sum - t) + x;
    } else {
      compensation += (x - t) + float_sum;
    }
    float_sum = t;
  }

  json Sum() const {
    if (any_float) return static_cast<double>(int_sum) + (float_sum + compensation);
    if (int_sum >= std::numeric_limits<int64_t>::min() &&
        int_sum <= std::numeric_limits<int64_t>::max()) {
      return static_cast<int64_t>(int_sum);
    }
    if (int_sum > 0 && int_sum <= static_cast<Int128>(std::numeric_limits<uint64_t>::max())) {
      return static_cast<uint64_t>(int_sum);
    }
    return static_cast<double>(int_sum);
  }
};

struct KeyLess {
  bool operator()(const std::vector<json>& a, const std::vector<json>& b) const {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (int c = CompareValues(a[i], b[i]); c != 0) return c < 0;
    }
    return a.size() < b.size();
  }
};

// The value of `attribute` for a document: the id, or the attribute (null when missing).
json ValueOf(const QueryHit& doc, const std::string& attribute) {
  if (attribute == "id") return DocKeyToJson(doc.id);
  if (!doc.attributes.is_object()) return nullptr;
  auto it = doc.attributes.find(attribute);
  return it == doc.attributes.end() ? json(nullptr) : *it;
}

Status Accumulate(const QueryHit& doc, const std::vector<TpufAggregate>& aggregates,
                  std::vector<Accumulator>* acc) {
  for (size_t a = 0; a < aggregates.size(); ++a) {
    const TpufAggregate& agg = aggregates[a];
    Accumulator& x = (*acc)[a];
    if (agg.attribute.empty() || agg.attribute == "id" || agg.attribute == "vector") {
      ++x.count;
      continue;
    }
    const json v = ValueOf(doc, agg.attribute);
    if (v.is_null()) continue;
    ++x.count;
    if (agg.kind != TpufAggregate::Kind::kSum) continue;
    if (v.is_number_float()) {
      x.AddFloat(v.get<double>());
    } else if (v.is_number()) {
      x.int_sum += AsInt128(v);
    } else {
      return Status::InvalidArgument("aggregate_by." + agg.name + ": [\"Sum\", \"" + agg.attribute +
                                     "\"] needs numbers, but document " +
                                     DocKeyToJson(doc.id).dump() + " has " + Kind(v));
    }
  }
  return Status::OK();
}

void EmitAggregates(const std::vector<TpufAggregate>& aggregates,
                    const std::vector<Accumulator>& acc, json* out) {
  for (size_t a = 0; a < aggregates.size(); ++a) {
    (*out)[aggregates[a].name] =
        aggregates[a].kind == TpufAggregate::Kind::kSum ? acc[a].Sum() : json(acc[a].count);
  }
}

// The attribute lists that name a key: group_by and limit.per.attributes.
enum class AttributeList { kGroupBy, kLimitPer };

// A non-empty array of distinct attribute names, none of them the vector. InvalidArgument
// naming the element otherwise.
Status ParseAttributeNames(const json& value, const std::string& path, AttributeList list,
                           std::vector<std::string>* out) {
  const bool group_by = list == AttributeList::kGroupBy;
  out->clear();
  if (!value.is_array() || value.empty()) {
    return Status::InvalidArgument(path + ": expected a non-empty array of attribute names");
  }
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    if (group_by && value[i].is_object()) {
      return Status::InvalidArgument(p +
                                     ": group functions (ForEachUnique) are not supported by "
                                     "VecPuff yet (see docs/api.md)");
    }
    if (!value[i].is_string() || value[i].get_ref<const std::string&>().empty()) {
      return Status::InvalidArgument(p + ": expected an attribute name");
    }
    const std::string& name = value[i].get_ref<const std::string&>();
    if (name == "vector") {
      return Status::InvalidArgument(p + (group_by ? ": cannot group by the vector"
                                                   : ": the vector cannot be part of the limit "
                                                     "key"));
    }
    if (std::find(out->begin(), out->end(), name) != out->end()) {
      return Status::InvalidArgument(p + ": '" + name + "' is already a " +
                                     (group_by ? "group_by" : "limit.per") + " attribute");
    }
    out->push_back(name);
  }
  return Status::OK();
}

bool PositiveFinite(const json& v) {
  return v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0;
}

}  // namespace

Status ParseTpufAggregateBy(const json& value, const std::string& path,
                            std::vector<TpufAggregate>* out) {
  out->clear();
  if (!value.is_object() || value.empty()) {
    return Status::InvalidArgument(path +
                                   ": expected an object of named aggregates, e.g. "
                                   "{\"count\": [\"Count\"]}");
  }
  for (const auto& [name, spec] : value.items()) {
    const std::string p = Member(path, name);
    if (name.empty()) return Status::InvalidArgument(path + ": aggregate names must not be empty");
    if (!spec.is_array() || spec.empty() || !spec[0].is_string()) {
      return Status::InvalidArgument(
          p + ": expected [\"Count\"], [\"Count\", attribute] or [\"Sum\", attribute]");
    }
    TpufAggregate agg;
    agg.name = name;
    const std::string& fn = spec[0].get_ref<const std::string&>();
    if (fn == "Count") {
      agg.kind = TpufAggregate::Kind::kCount;
    } else if (fn == "Sum") {
      agg.kind = TpufAggregate::Kind::kSum;
    } else {
      return Status::InvalidArgument(p + ": unknown aggregate function '" + fn +
                                     "' (Count and Sum are supported)");
    }
    if (spec.size() > 2 || (agg.kind == TpufAggregate::Kind::kSum && spec.size() != 2)) {
      return Status::InvalidArgument(
          p + ": expected [\"" + fn + "\", attribute]" +
          (agg.kind == TpufAggregate::Kind::kCount ? " or [\"Count\"]" : ""));
    }
    if (spec.size() == 2) {
      if (!spec[1].is_string() || spec[1].get_ref<const std::string&>().empty()) {
        return Status::InvalidArgument(p + "[1]: expected an attribute name");
      }
      agg.attribute = spec[1].get<std::string>();
      if (agg.kind == TpufAggregate::Kind::kSum &&
          (agg.attribute == "id" || agg.attribute == "vector")) {
        return Status::InvalidArgument(p + ": Sum of '" + agg.attribute + "' is not supported");
      }
    }
    out->push_back(std::move(agg));
  }
  return Status::OK();
}

Status ParseTpufGroupBy(const json& value, const std::string& path, std::vector<std::string>* out) {
  return ParseAttributeNames(value, path, AttributeList::kGroupBy, out);
}

Status ParseTpufLimitPer(const json& value, const std::string& path, TpufPerLimit* out) {
  *out = TpufPerLimit();
  if (!value.is_object()) {
    return Status::InvalidArgument(path +
                                   ": expected an object {\"attributes\": [names], "
                                   "\"limit\": n}");
  }
  bool has_limit = false;
  std::vector<std::string> attributes;
  for (const auto& [k, v] : value.items()) {
    const std::string p = Member(path, k);
    if (k == "attributes") {
      VECPUFF_RETURN_IF_ERROR(ParseAttributeNames(v, p, AttributeList::kLimitPer, &attributes));
    } else if (k == "limit") {
      if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() <= 0) ||
          v.get<uint64_t>() == 0) {
        return Status::InvalidArgument(p + ": must be a positive integer");
      }
      // Beyond size_t is beyond every result: the limit never binds.
      out->limit = static_cast<size_t>(
          std::min<uint64_t>(v.get<uint64_t>(), std::numeric_limits<size_t>::max()));
      has_limit = true;
    } else {
      return Status::InvalidArgument(p + ": unknown field");
    }
  }
  if (attributes.empty()) return Status::InvalidArgument(Member(path, "attributes") + ": missing");
  if (!has_limit) return Status::InvalidArgument(Member(path, "limit") + ": missing");
  out->attributes = std::move(attributes);
  return Status::OK();
}

size_t LimitTpufRowsPerKey(std::vector<QueryHit>* hits, const TpufPerLimit& per, size_t total) {
  std::map<std::vector<json>, size_t, KeyLess> kept_per_key;
  std::vector<json> key(per.attributes.size());
  size_t kept = 0;
  for (size_t i = 0; i < hits->size() && kept < total; ++i) {
    QueryHit& hit = (*hits)[i];
    for (size_t a = 0; a < key.size(); ++a) key[a] = ValueOf(hit, per.attributes[a]);
    size_t& count = kept_per_key[key];
    if (count == per.limit) continue;
    ++count;
    // Invariant: hits [0, kept) are the hits kept so far, in rank order.
    if (kept != i) (*hits)[kept] = std::move(hit);
    ++kept;
  }
  hits->resize(kept);
  return kept;
}

Result<json> ComputeTpufAggregations(const QueryResult& docs,
                                     const std::vector<TpufAggregate>& aggregates,
                                     const std::vector<std::string>& group_by, size_t max_groups) {
  if (group_by.empty()) {
    std::vector<Accumulator> acc(aggregates.size());
    for (const QueryHit& doc : docs.hits)
      VECPUFF_RETURN_IF_ERROR(Accumulate(doc, aggregates, &acc));
    json out = json::object();
    EmitAggregates(aggregates, acc, &out);
    return out;
  }
  // Only the `max_groups` smallest keys seen so far are kept: a group evicted had that many
  // smaller keys, so it cannot be among the smallest in the end, and neither can a new key
  // above the largest kept once the map is full.
  std::map<std::vector<json>, std::vector<Accumulator>, KeyLess> groups;
  std::vector<json> key(group_by.size());
  for (const QueryHit& doc : docs.hits) {
    for (size_t g = 0; g < group_by.size(); ++g) key[g] = ValueOf(doc, group_by[g]);
    auto it = groups.find(key);
    if (it == groups.end()) {
      if (max_groups == 0) break;
      if (groups.size() == max_groups) {
        auto last = std::prev(groups.end());
        if (!KeyLess()(key, last->first)) continue;
        groups.erase(last);
      }
      it = groups.emplace(key, std::vector<Accumulator>(aggregates.size())).first;
    }
    VECPUFF_RETURN_IF_ERROR(Accumulate(doc, aggregates, &it->second));
  }
  json out = json::array();
  for (const auto& [k, acc] : groups) {
    json row = json::object();
    for (size_t g = 0; g < group_by.size(); ++g) row[group_by[g]] = k[g];
    EmitAggregates(aggregates, acc, &row);
    out.push_back(std::move(row));
  }
  return out;
}

Result<TpufRrf> ParseTpufRerankBy(const json& value, size_t num_queries) {
  const char* kShape =
      "rerank_by: expected [\"RRF\"] or [\"RRF\", {\"rank_constant\": k, "
      "\"weights\": [...]}]";
  if (!value.is_array() || value.empty() || value.size() > 2 || !value[0].is_string()) {
    return Status::InvalidArgument(kShape);
  }
  if (value[0] != "RRF") {
    return Status::InvalidArgument("rerank_by: unknown reranking '" + value[0].get<std::string>() +
                                   "' (RRF is supported)");
  }
  TpufRrf rrf;
  if (value.size() == 2 && !value[1].is_null()) {
    const json& params = value[1];
    if (!params.is_object()) return Status::InvalidArgument(kShape);
    for (const auto& [k, v] : params.items()) {
      if (v.is_null()) continue;
      if (k == "rank_constant") {
        if (!PositiveFinite(v)) {
          return Status::InvalidArgument("rerank_by[1].rank_constant: must be a number above 0");
        }
        rrf.rank_constant = v.get<double>();
      } else if (k == "weights") {
        if (!v.is_array() || v.size() != num_queries) {
          return Status::InvalidArgument(
              "rerank_by[1].weights: expected one weight per sub-query (" +
              std::to_string(num_queries) + ")");
        }
        for (size_t i = 0; i < v.size(); ++i) {
          if (!PositiveFinite(v[i])) {
            return Status::InvalidArgument("rerank_by[1].weights[" + std::to_string(i) +
                                           "]: must be a number above 0");
          }
          rrf.weights.push_back(v[i].get<double>());
        }
      } else {
        return Status::InvalidArgument("rerank_by[1]." + k + ": unknown field");
      }
    }
  }
  return rrf;
}

QueryResult FuseTpufRrf(const std::vector<const QueryResult*>& results,
                        const std::vector<const TpufRowFormat*>& formats, const TpufRrf& params,
                        size_t limit, std::vector<double>* scores) {
  struct Entry {
    double score = 0;
    QueryHit hit;
  };
  std::vector<Entry> entries;
  std::unordered_map<std::string, size_t> by_id;
  for (size_t q = 0; q < results.size(); ++q) {
    const double weight = params.weights.empty() ? 1.0 : params.weights[q];
    const TpufRowFormat& format = *formats[q];
    const std::vector<QueryHit>& hits = results[q]->hits;
    for (size_t r = 0; r < hits.size(); ++r) {
      const QueryHit& hit = hits[r];
      auto [it, inserted] = by_id.try_emplace(hit.id, entries.size());
      if (inserted) {
        entries.emplace_back();
        entries.back().hit.id = hit.id;
        entries.back().hit.attributes = json::object();
      }
      Entry& e = entries[it->second];
      e.score += weight / (params.rank_constant + static_cast<double>(r + 1));
      if (e.hit.vector.empty() && !hit.vector.empty() && format.Includes("vector")) {
        e.hit.vector = hit.vector;
      }
      if (hit.attributes.is_object()) {
        for (const auto& [key, v] : hit.attributes.items()) {
          if (v.is_null() || !format.Includes(key) || e.hit.attributes.contains(key)) continue;
          e.hit.attributes[key] = v;
        }
      }
    }
  }
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (entries[a].score != entries[b].score) return entries[a].score > entries[b].score;
    return entries[a].hit.id < entries[b].hit.id;
  });
  if (order.size() > limit) order.resize(limit);
  QueryResult out;
  out.ranked_by_vector = false;
  scores->clear();
  for (size_t i : order) {
    scores->push_back(entries[i].score);
    out.hits.push_back(std::move(entries[i].hit));
  }
  return out;
}

}  // namespace vecpuff
