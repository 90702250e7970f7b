#include "api/json_codec.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "db/doc_key.h"

namespace vecpuff {
namespace {

using nlohmann::json;

std::string Index(std::string_view path, size_t i) {
  std::string s(path);
  s += '[';
  s += std::to_string(i);
  s += ']';
  return s;
}

// Reads one row of upsert_rows (allow_vector) or patch_rows. `path` is "upsert_rows[3]".
// The vector of the previous row sizes this one's (`*dims_hint`).
Status ReadRow(JsonReader& r, const std::string& path, bool allow_vector, std::string* id,
               std::vector<float>* vector, json* attributes, size_t* dims_hint) {
  if (r.Peek() != '{') return r.TypeError(path, "an object");
  VECPUFF_RETURN_IF_ERROR(r.BeginObject());
  *attributes = json::object();
  json::object_t& attrs = attributes->get_ref<json::object_t&>();
  bool has_id = false, has_vector = false;
  bool first = true, more = true;
  std::string key;
  while (true) {
    VECPUFF_RETURN_IF_ERROR(r.NextMember(&first, &key, &more));
    if (!more) break;
    if (key == "id") {
      if (r.Peek() != '"') return r.TypeError(path + ".id", "a string");
      VECPUFF_RETURN_IF_ERROR(r.ReadString(id));
      has_id = true;
    } else if (key == "vector") {
      if (!allow_vector) {
        return Status::InvalidArgument(path + ".vector: a patch cannot change the vector");
      }
      VECPUFF_RETURN_IF_ERROR(r.ReadFloatArray(path + ".vector", vector, *dims_hint));
      *dims_hint = vector->size();
      has_vector = true;
    } else if (key == "dist") {
      // Query results put the distance under this key.
      return Status::InvalidArgument(path + ".dist: 'dist' is reserved for query results");
    } else {
      // Every other field is an attribute.
      json value;
      VECPUFF_RETURN_IF_ERROR(r.ReadValue(&value));
      attrs.insert_or_assign(key, std::move(value));
    }
  }
  if (!has_id) return Status::InvalidArgument(path + ".id: missing");
  if (allow_vector && !has_vector) return Status::InvalidArgument(path + ".vector: missing");
  return Status::OK();
}

Status UnknownField(const std::string& key) {
  return Status::InvalidArgument("unknown field '" + key + "'");
}

Status ReadWrite(JsonReader& r, WriteRequest* req) {
  if (r.Peek() != '{') return r.TypeError("request body", "an object");
  VECPUFF_RETURN_IF_ERROR(r.BeginObject());
  bool first = true, more = true;
  std::string key;
  size_t dims_hint = 0;
  while (true) {
    VECPUFF_RETURN_IF_ERROR(r.NextMember(&first, &key, &more));
    if (!more) return Status::OK();
    if (key == "distance_metric") {
      req->distance_metric.reset();
      if (r.ConsumeNull()) continue;
      if (r.Peek() != '"') return r.TypeError("distance_metric", "a string");
      std::string name;
      VECPUFF_RETURN_IF_ERROR(r.ReadString(&name));
      req->distance_metric = ParseDistanceMetric(name);
      if (!req->distance_metric) {
        return Status::InvalidArgument(
            "distance_metric: must be 'cosine_distance' or 'euclidean_squared', got '" + name +
            "'");
      }
    } else if (key == "upsert_rows" || key == "patch_rows") {
      const bool upsert = key == "upsert_rows";
      if (upsert) {
        req->upsert_rows.clear();
      } else {
        req->patch_rows.clear();
      }
      if (r.ConsumeNull()) continue;
      const std::string field = key;
      if (r.Peek() != '[') return r.TypeError(field, "an array");
      VECPUFF_RETURN_IF_ERROR(r.BeginArray());
      bool first_row = true, more_rows = true;
      for (size_t i = 0;; ++i) {
        VECPUFF_RETURN_IF_ERROR(r.NextElement(&first_row, &more_rows));
        if (!more_rows) break;
        const std::string path = Index(field, i);
        if (upsert) {
          UpsertRow& row = req->upsert_rows.emplace_back();
          VECPUFF_RETURN_IF_ERROR(
              ReadRow(r, path, true, &row.id, &row.vector, &row.attributes, &dims_hint));
        } else {
          PatchRow& row = req->patch_rows.emplace_back();
          VECPUFF_RETURN_IF_ERROR(
              ReadRow(r, path, false, &row.id, nullptr, &row.attributes, &dims_hint));
        }
      }
    } else if (key == "deletes") {
      req->deletes.clear();
      if (r.ConsumeNull()) continue;
      if (r.Peek() != '[') return r.TypeError("deletes", "an array of ids");
      VECPUFF_RETURN_IF_ERROR(r.BeginArray());
      bool first_id = true, more_ids = true;
      for (size_t i = 0;; ++i) {
        VECPUFF_RETURN_IF_ERROR(r.NextElement(&first_id, &more_ids));
        if (!more_ids) break;
        if (r.Peek() != '"') return r.TypeError(Index("deletes", i), "a string");
        VECPUFF_RETURN_IF_ERROR(r.ReadString(&req->deletes.emplace_back()));
      }
    } else {
      return UnknownField(key);
    }
  }
}

// A non-negative integer field of at most `max`; `range_error` says what is allowed.
Status ReadCount(JsonReader& r, const char* field, uint64_t max, const std::string& range_error,
                 uint64_t* out) {
  char c = r.Peek();
  if (c != '-' && !(c >= '0' && c <= '9')) return r.TypeError(field, "an integer");
  JsonReader::IntegerToken token;
  VECPUFF_RETURN_IF_ERROR(r.ReadIntegerToken(&token));
  if (!token.is_integer) {
    return Status::InvalidArgument(std::string(field) + ": expected an integer, got a number");
  }
  if (token.negative || token.overflow || token.value > max) {
    return Status::InvalidArgument(std::string(field) + ": " + range_error);
  }
  *out = token.value;
  return Status::OK();
}

Status ReadQuery(JsonReader& r, QueryRequest* req) {
  if (r.Peek() != '{') return r.TypeError("request body", "an object");
  VECPUFF_RETURN_IF_ERROR(r.BeginObject());
  const QueryRequest defaults;
  bool has_vector = false;
  bool first = true, more = true;
  std::string key;
  while (true) {
    VECPUFF_RETURN_IF_ERROR(r.NextMember(&first, &key, &more));
    if (!more) break;
    if (key == "query_vector") {
      VECPUFF_RETURN_IF_ERROR(r.ReadFloatArray("query_vector", &req->vector, 0));
      has_vector = true;
    } else if (key == "top_k") {
      req->top_k = defaults.top_k;
      if (r.ConsumeNull()) continue;
      char c = r.Peek();
      if (c != '-' && !(c >= '0' && c <= '9')) return r.TypeError("top_k", "an integer");
      JsonReader::IntegerToken token;
      VECPUFF_RETURN_IF_ERROR(r.ReadIntegerToken(&token));
      // An integer beyond int64/uint64 was a double to nlohmann, hence "a number".
      if (!token.is_integer || token.overflow) {
        return Status::InvalidArgument("top_k: expected an integer, got a number");
      }
      if (token.negative) return Status::InvalidArgument("top_k: must be at least 1");
      // The engine checks the upper limit.
      req->top_k = static_cast<size_t>(std::min<uint64_t>(token.value, SIZE_MAX));
    } else if (key == "probes") {
      req->probes = defaults.probes;
      if (r.ConsumeNull()) continue;
      uint64_t probes = 0;
      VECPUFF_RETURN_IF_ERROR(ReadCount(
          r, "probes", kMaxQueryProbes,
          "must be between 0 and " + std::to_string(kMaxQueryProbes) + " (0: the default)",
          &probes));
      req->probes = static_cast<uint32_t>(probes);
    } else if (key == "include_vectors" || key == "include_attributes" || key == "exact") {
      bool* flag = key == "include_vectors"      ? &req->include_vectors
                   : key == "include_attributes" ? &req->include_attributes
                                                 : &req->exact;
      *flag = key == "include_vectors"      ? defaults.include_vectors
              : key == "include_attributes" ? defaults.include_attributes
                                            : defaults.exact;
      if (r.ConsumeNull()) continue;
      char c = r.Peek();
      if (c != 't' && c != 'f') return r.TypeError(key, "a boolean");
      VECPUFF_RETURN_IF_ERROR(r.ReadBool(flag));
    } else if (key == "consistency") {
      req->consistency = defaults.consistency;
      if (r.ConsumeNull()) continue;
      if (r.Peek() != '{') {
        return r.TypeError("consistency", "an object like {\"level\":\"strong\"}");
      }
      VECPUFF_RETURN_IF_ERROR(r.BeginObject());
      bool first_level = true, more_levels = true, has_level = false;
      std::string level_key;
      const Status bad_level =
          Status::InvalidArgument("consistency.level: must be 'strong' or 'eventual'");
      while (true) {
        VECPUFF_RETURN_IF_ERROR(r.NextMember(&first_level, &level_key, &more_levels));
        if (!more_levels) break;
        if (level_key != "level") return UnknownField(level_key).WithContext("consistency");
        if (r.Peek() != '"') {
          json ignored;
          VECPUFF_RETURN_IF_ERROR(r.ReadValue(&ignored));
          return bad_level;
        }
        std::string level;
        VECPUFF_RETURN_IF_ERROR(r.ReadString(&level));
        if (level != "strong" && level != "eventual") return bad_level;
        req->consistency = level == "eventual" ? Consistency::kEventual : Consistency::kStrong;
        has_level = true;
      }
      if (!has_level) return bad_level;
    } else {
      return UnknownField(key);
    }
  }
  if (!has_vector) return Status::InvalidArgument("query_vector: missing");
  return Status::OK();
}

}  // namespace

// --- Encoding ---

// Appends `s` as a JSON string. Strings from requests are valid UTF-8 already (the reader
// checks); anything else, and any character that needs escaping, goes through nlohmann,
// which escapes it and replaces invalid UTF-8 with U+FFFD.
void AppendString(std::string_view s, std::string* out) {
  bool plain = true;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (plain) {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  out->append(json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace));
}

// Appends the shortest text that reads back as `f`, with ".0" added to integral values so
// that typed clients still see a float. JSON has no NaN or infinity: those become null.
void AppendFloat(float f, std::string* out) {
  if (!std::isfinite(f)) {
    out->append("null");
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf) - 2, f);
  // A float's shortest form is at most 15 characters ("-1.1754944e-38"); 30 always fit.
  bool integral = true;
  for (const char* p = buf; p < end; ++p) {
    if (*p == '.' || *p == 'e') {
      integral = false;
      break;
    }
  }
  if (integral) {
    *end++ = '.';
    *end++ = '0';
  }
  out->append(buf, end);
}

void AppendId(std::string_view key, std::string* out) {
  if (!key.empty() && (key[0] == kU64KeyTag || key[0] == kUuidKeyTag)) {
    out->append(DocKeyToJson(key).dump());
  } else {
    AppendString(key, out);
  }
}

void AppendUnsigned(uint64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void AppendFloatArray(const std::vector<float>& v, std::string* out) {
  // Reserve once per vector: 16 bytes a number covers every float's shortest form plus
  // the comma, so the loop never reallocates.
  out->reserve(out->size() + v.size() * 16 + 2);
  out->push_back('[');
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out->push_back(',');
    AppendFloat(v[i], out);
  }
  out->push_back(']');
}

Result<json> ParseJsonBody(std::string_view body) {
  JsonReader r(body);
  json value;
  VECPUFF_RETURN_IF_ERROR(r.ReadValue(&value));
  VECPUFF_RETURN_IF_ERROR(r.ExpectEnd());
  return value;
}

Result<WriteRequest> ParseWriteRequest(std::string_view body) {
  JsonReader r(body);
  WriteRequest req;
  VECPUFF_RETURN_IF_ERROR(ReadWrite(r, &req));
  VECPUFF_RETURN_IF_ERROR(r.ExpectEnd());
  return req;
}

Result<QueryRequest> ParseQueryRequest(std::string_view body) {
  JsonReader r(body);
  QueryRequest req;
  VECPUFF_RETURN_IF_ERROR(ReadQuery(r, &req));
  VECPUFF_RETURN_IF_ERROR(r.ExpectEnd());
  return req;
}

std::string EncodeWriteResult(const WriteResult& r) {
  std::string out = "{\"deleted_count\":";
  AppendUnsigned(r.deleted_count, &out);
  out += ",\"patched_count\":";
  AppendUnsigned(r.patched_count, &out);
  out += ",\"upserted_count\":";
  AppendUnsigned(r.upserted_count, &out);
  out += '}';
  return out;
}

std::string EncodeQueryResult(const QueryResult& r) {
  std::string out;
  out.reserve(64 + r.hits.size() * 64);
  out += "{\"results\":[";
  for (size_t h = 0; h < r.hits.size(); ++h) {
    const QueryHit& hit = r.hits[h];
    if (h) out.push_back(',');
    out.push_back('{');
    // The fixed members, merged with the attributes in ascending key order. Attributes
    // never use these names (the decoder reserves them); if one did, the fixed one wins.
    enum Fixed { kDist, kId, kVector, kDone };
    int next = kDist;
    bool first = true;
    auto emit_fixed_before = [&](const std::string* key) {
      static constexpr std::string_view kNames[] = {"dist", "id", "vector"};
      for (; next < kDone && (key == nullptr || kNames[next] <= *key); ++next) {
        if (next == kVector && hit.vector.empty()) continue;
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        out.append(kNames[next]);
        out.append("\":");
        if (next == kDist) AppendFloat(hit.dist, &out);
        if (next == kId) AppendId(hit.id, &out);
        if (next == kVector) AppendFloatArray(hit.vector, &out);
      }
    };
    if (hit.attributes.is_object()) {
      for (const auto& [key, value] : hit.attributes.get_ref<const json::object_t&>()) {
        emit_fixed_before(&key);
        if (key == "dist" || key == "id" || key == "vector") continue;
        if (!first) out.push_back(',');
        first = false;
        AppendString(key, &out);
        out.push_back(':');
        out.append(value.dump(-1, ' ', false, json::error_handler_t::replace));
      }
    }
    emit_fixed_before(nullptr);
    out.push_back('}');
  }
  out += "],\"total_count\":";
  AppendUnsigned(r.hits.size(), &out);
  out += '}';
  return out;
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
