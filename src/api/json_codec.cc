#include "api/json_codec.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace vecpuff {
namespace {

using nlohmann::json;

std::string TypeName(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

Status Expected(const std::string& path, std::string_view what, const json& got) {
  return Status::InvalidArgument(path + ": expected " + std::string(what) + ", got " +
                                 TypeName(got));
}

Status DecodeVector(const std::string& path, const json& v, std::vector<float>* out) {
  if (!v.is_array()) return Expected(path, "an array of numbers", v);
  out->resize(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const json& x = v[i];
    if (!x.is_number()) return Expected(path + "[" + std::to_string(i) + "]", "a number", x);
    double d = x.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
      return Status::InvalidArgument(path + "[" + std::to_string(i) +
                                     "]: not a finite 32-bit float");
    }
    (*out)[i] = static_cast<float>(d);
  }
  return Status::OK();
}

Status DecodeId(const std::string& path, const json& v, std::string* out) {
  if (!v.is_string()) return Expected(path, "a string", v);
  *out = v.get<std::string>();
  return Status::OK();
}

// Fields of a row other than id and vector are attributes. "dist" is reserved because query
// results put the distance under that key.
Status DecodeAttributes(const std::string& path, const json& row, bool allow_vector,
                        std::vector<float>* vector, bool* has_vector, json* attributes) {
  *attributes = json::object();
  if (has_vector) *has_vector = false;
  for (const auto& [key, value] : row.items()) {
    if (key == "id") continue;
    if (key == "vector") {
      if (!allow_vector) {
        return Status::InvalidArgument(path + ".vector: a patch cannot change the vector");
      }
      VECPUFF_RETURN_IF_ERROR(DecodeVector(path + ".vector", value, vector));
      *has_vector = true;
      continue;
    }
    if (key == "dist") {
      return Status::InvalidArgument(path + ".dist: 'dist' is reserved for query results");
    }
    (*attributes)[key] = value;
  }
  return Status::OK();
}

const json* Find(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Status RejectUnknownFields(const json& obj, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || key == k;
    if (!ok) return Status::InvalidArgument("unknown field '" + key + "'");
  }
  return Status::OK();
}

// The double closest to the shortest decimal that round-trips `f` as a float, so that a
// stored 0.1f is returned as 0.1 rather than 0.10000000149011612.
double ShortestDouble(float f) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), f);
  if (ec != std::errc()) return f;
  double d = f;
  std::from_chars(buf, end, d);
  return d;
}

}  // namespace

Result<json> ParseJsonBody(std::string_view body) {
  // Depth check before parsing: nlohmann's parser recurses once per nesting level.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return Status::InvalidArgument("request body is nested deeper than " +
                                       std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
}

Result<WriteRequest> DecodeWriteRequest(const json& body) {
  if (!body.is_object()) return Expected("request body", "an object", body);
  VECPUFF_RETURN_IF_ERROR(
      RejectUnknownFields(body, {"distance_metric", "upsert_rows", "patch_rows", "deletes"}));
  WriteRequest req;
  if (const json* m = Find(body, "distance_metric"); m && !m->is_null()) {
    if (!m->is_string()) return Expected("distance_metric", "a string", *m);
    auto metric = ParseDistanceMetric(m->get<std::string>());
    if (!metric) {
      return Status::InvalidArgument(
          "distance_metric: must be 'cosine_distance' or "
          "'euclidean_squared', got '" +
          m->get<std::string>() + "'");
    }
    req.distance_metric = metric;
  }
  if (const json* rows = Find(body, "upsert_rows"); rows && !rows->is_null()) {
    if (!rows->is_array()) return Expected("upsert_rows", "an array", *rows);
    req.upsert_rows.resize(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) {
      const std::string path = "upsert_rows[" + std::to_string(i) + "]";
      const json& row = (*rows)[i];
      if (!row.is_object()) return Expected(path, "an object", row);
      const json* id = Find(row, "id");
      if (!id) return Status::InvalidArgument(path + ".id: missing");
      VECPUFF_RETURN_IF_ERROR(DecodeId(path + ".id", *id, &req.upsert_rows[i].id));
      bool has_vector = false;
      VECPUFF_RETURN_IF_ERROR(DecodeAttributes(path, row, true, &req.upsert_rows[i].vector,
                                               &has_vector, &req.upsert_rows[i].attributes));
      if (!has_vector) return Status::InvalidArgument(path + ".vector: missing");
    }
  }
  if (const json* rows = Find(body, "patch_rows"); rows && !rows->is_null()) {
    if (!rows->is_array()) return Expected("patch_rows", "an array", *rows);
    req.patch_rows.resize(rows->size());
    for (size_t i = 0; i < rows->size(); ++i) {
      const std::string path = "patch_rows[" + std::to_string(i) + "]";
      const json& row = (*rows)[i];
      if (!row.is_object()) return Expected(path, "an object", row);
      const json* id = Find(row, "id");
      if (!id) return Status::InvalidArgument(path + ".id: missing");
      VECPUFF_RETURN_IF_ERROR(DecodeId(path + ".id", *id, &req.patch_rows[i].id));
      VECPUFF_RETURN_IF_ERROR(
          DecodeAttributes(path, row, false, nullptr, nullptr, &req.patch_rows[i].attributes));
    }
  }
  if (const json* dels = Find(body, "deletes"); dels && !dels->is_null()) {
    if (!dels->is_array()) return Expected("deletes", "an array of ids", *dels);
    req.deletes.resize(dels->size());
    for (size_t i = 0; i < dels->size(); ++i) {
      VECPUFF_RETURN_IF_ERROR(
          DecodeId("deletes[" + std::to_string(i) + "]", (*dels)[i], &req.deletes[i]));
    }
  }
  return req;
}

Result<QueryRequest> DecodeQueryRequest(const json& body) {
  if (!body.is_object()) return Expected("request body", "an object", body);
  VECPUFF_RETURN_IF_ERROR(RejectUnknownFields(
      body, {"query_vector", "top_k", "include_vectors", "include_attributes", "consistency"}));
  QueryRequest req;
  const json* v = Find(body, "query_vector");
  if (!v) return Status::InvalidArgument("query_vector: missing");
  VECPUFF_RETURN_IF_ERROR(DecodeVector("query_vector", *v, &req.vector));
  if (const json* k = Find(body, "top_k"); k && !k->is_null()) {
    if (!k->is_number_integer()) return Expected("top_k", "an integer", *k);
    if (k->is_number_unsigned()) {
      req.top_k = static_cast<size_t>(std::min<uint64_t>(k->get<uint64_t>(), SIZE_MAX));
    } else {
      return Status::InvalidArgument("top_k: must be at least 1");
    }
  }
  for (const char* flag : {"include_vectors", "include_attributes"}) {
    if (const json* f = Find(body, flag); f && !f->is_null()) {
      if (!f->is_boolean()) return Expected(flag, "a boolean", *f);
      (std::string_view(flag) == "include_vectors" ? req.include_vectors : req.include_attributes) =
          f->get<bool>();
    }
  }
  if (const json* c = Find(body, "consistency"); c && !c->is_null()) {
    if (!c->is_object())
      return Expected("consistency", "an object like {\"level\":\"strong\"}", *c);
    VECPUFF_RETURN_IF_ERROR(RejectUnknownFields(*c, {"level"}).WithContext("consistency"));
    const json* level = Find(*c, "level");
    if (!level || !level->is_string() || (*level != "strong" && *level != "eventual")) {
      return Status::InvalidArgument("consistency.level: must be 'strong' or 'eventual'");
    }
    req.consistency = *level == "eventual" ? Consistency::kEventual : Consistency::kStrong;
  }
  return req;
}

json EncodeWriteResult(const WriteResult& r) {
  return {{"upserted_count", r.upserted_count},
          {"patched_count", r.patched_count},
          {"deleted_count", r.deleted_count}};
}

json EncodeQueryResult(const QueryResult& r) {
  json results = json::array();
  for (const QueryHit& hit : r.hits) {
    json row = json::object();
    row["id"] = hit.id;
    row["dist"] = ShortestDouble(hit.dist);
    if (!hit.vector.empty()) {
      json vector = json::array();
      vector.get_ref<json::array_t&>().reserve(hit.vector.size());
      for (float x : hit.vector) vector.push_back(ShortestDouble(x));
      row["vector"] = std::move(vector);
    }
    if (hit.attributes.is_object()) {
      for (const auto& [key, value] : hit.attributes.items()) row[key] = value;
    }
    results.push_back(std::move(row));
  }
  return {{"results", std::move(results)}, {"total_count", r.hits.size()}};
}

json EncodeMetadata(const NamespaceMetadata& m) {
  return {{"id", m.name},
          {"approx_row_count", m.approx_row_count},
          {"dimensions", m.dimensions},
          {"distance_metric", std::string(DistanceMetricName(m.distance_metric))},
          {"index",
           {{"status", m.index_status},
            {"indexed_row_count", m.indexed_row_count},
            {"unindexed_bytes", m.unindexed_bytes}}},
          {"created_at", m.created_at_ms / 1000},
          {"updated_at", m.updated_at_ms / 1000}};
}

json EncodeNamespaceList(const std::vector<std::string>& names) {
  json list = json::array();
  for (const std::string& n : names) list.push_back({{"id", n}});
  return {{"namespaces", std::move(list)}};
}

}  // namespace vecpuff
