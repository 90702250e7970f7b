#include "api/tpuf_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>
#include <set>

#include "api/json_codec.h"
#include "config/options.h"
#include "db/doc_key.h"
#include "query/filter.h"
#include "query/ref_new.h"

namespace vecpuff {
namespace {

using nlohmann::json;

std::string At(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string Member(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string TypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    default:
      return "an object";
  }
}

Status TypeError(std::string_view path, std::string_view want, const json& got) {
  return Status::InvalidArgument(std::string(path) + ": expected " + std::string(want) + ", got " +
                                 TypeName(got));
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

// A vector given as an array of numbers or as base64 (little-endian f32, or f16 when the
// request's schema declares the vector attribute [N]f16).
Status ParseVector(const json& v, const std::string& path, bool f16, std::vector<float>* out) {
  out->clear();
  if (v.is_string()) {
    VECPUFF_ASSIGN_OR_RETURN(std::string bytes,
                             DecodeBase64(v.get_ref<const std::string&>(), path));
    const size_t width = f16 ? 2 : 4;
    if (bytes.size() % width != 0) {
      return Status::InvalidArgument(path + ": base64 vector of " + std::to_string(bytes.size()) +
                                     " bytes is not a whole number of " + (f16 ? "f16" : "f32") +
                                     " values");
    }
    out->resize(bytes.size() / width);
    for (size_t i = 0; i < out->size(); ++i) {
      if (f16) {
        uint16_t h = static_cast<uint16_t>(static_cast<uint8_t>(bytes[2 * i]) |
                                           (static_cast<uint8_t>(bytes[2 * i + 1]) << 8));
        (*out)[i] = HalfToFloat(h);
      } else {
        uint32_t bits = 0;
        for (int b = 3; b >= 0; --b) bits = (bits << 8) | static_cast<uint8_t>(bytes[4 * i + b]);
        std::memcpy(&(*out)[i], &bits, sizeof(float));
      }
      if (!std::isfinite((*out)[i])) {
        return Status::InvalidArgument(At(path, i) + ": not a finite number");
      }
    }
    return Status::OK();
  }
  if (!v.is_array()) return TypeError(path, "an array of numbers or a base64 string", v);
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const json& x = v[i];
    if (!x.is_number()) {
      if (x.is_array()) {
        return Status::InvalidArgument(path + ": multiple vectors per query are not supported");
      }
      return TypeError(At(path, i), "a number", x);
    }
    const double d = x.get<double>();
    const float f = static_cast<float>(d);
    if (!std::isfinite(f))
      return Status::InvalidArgument(At(path, i) + ": not a finite 32-bit float");
    out->push_back(f);
  }
  return Status::OK();
}

// Attribute values: scalars (string, number, bool) and arrays of them; null means absent.
Status CheckAttribute(const std::string& path, const std::string& name, const json& value) {
  if (name.empty()) return Status::InvalidArgument(path + ": attribute names must not be empty");
  if (name[0] == '$') {
    return Status::InvalidArgument(Member(path, name) +
                                   ": attribute names starting with '$' are reserved");
  }
  auto scalar = [](const json& x) { return x.is_string() || x.is_number() || x.is_boolean(); };
  if (value.is_null() || scalar(value)) return Status::OK();
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (!scalar(value[i])) {
        return TypeError(At(Member(path, name), i), "a string, number or boolean", value[i]);
      }
    }
    return Status::OK();
  }
  return Status::InvalidArgument(Member(path, name) +
                                 ": object attributes are not supported (use scalars or arrays)");
}

struct RowParts {
  std::string id;
  std::vector<float> vector;
  bool has_vector = false;
  json attributes = json::object();
};

Status ParseRowObject(const json& row, const std::string& path, bool upsert, bool f16,
                      size_t max_id_bytes, RowParts* out) {
  if (!row.is_object()) return TypeError(path, "an object", row);
  bool has_id = false;
  for (const auto& [key, value] : row.items()) {
    if (key == "id") {
      VECPUFF_ASSIGN_OR_RETURN(out->id, DocKeyFromJson(value, path + ".id", max_id_bytes));
      has_id = true;
    } else if (key == "vector") {
      if (value.is_null()) continue;
      if (!upsert)
        return Status::InvalidArgument(path + ".vector: a patch cannot change the vector");
      VECPUFF_RETURN_IF_ERROR(ParseVector(value, path + ".vector", f16, &out->vector));
      out->has_vector = true;
    } else {
      VECPUFF_RETURN_IF_ERROR(CheckAttribute(path, key, value));
      // An upsert stores only attributes with values; a patch keeps nulls (they remove).
      if (!value.is_null() || !upsert) out->attributes[key] = value;
    }
  }
  if (!has_id) return Status::InvalidArgument(path + ".id: missing");
  if (upsert && !out->has_vector) {
    return Status::InvalidArgument(path +
                                   ".vector: missing (documents without a vector are not "
                                   "supported)");
  }
  return Status::OK();
}

// upsert_columns / patch_columns: {"id": [...], "vector": [...], "attr": [...]}, every column
// as long as the ids; a null cell means no value.
Status ParseColumns(const json& cols, const std::string& path, bool upsert, bool f16,
                    size_t max_id_bytes, std::vector<RowParts>* rows) {
  if (!cols.is_object()) return TypeError(path, "an object of columns", cols);
  auto ids = cols.find("id");
  if (ids == cols.end()) return Status::InvalidArgument(path + ".id: missing");
  if (!ids->is_array()) return TypeError(path + ".id", "an array of ids", *ids);
  const size_t n = ids->size();
  rows->resize(n);
  for (size_t i = 0; i < n; ++i) {
    VECPUFF_ASSIGN_OR_RETURN((*rows)[i].id,
                             DocKeyFromJson((*ids)[i], At(path + ".id", i), max_id_bytes));
  }
  for (const auto& [key, column] : cols.items()) {
    if (key == "id") continue;
    const std::string cpath = Member(path, key);
    if (key == "vector") {
      if (!upsert) return Status::InvalidArgument(cpath + ": a patch cannot change the vector");
      if (!column.is_array()) return TypeError(cpath, "an array of vectors", column);
      if (column.size() != n) {
        return Status::InvalidArgument(cpath + ": has " + std::to_string(column.size()) +
                                       " values for " + std::to_string(n) + " ids");
      }
      for (size_t i = 0; i < n; ++i) {
        VECPUFF_RETURN_IF_ERROR(ParseVector(column[i], At(cpath, i), f16, &(*rows)[i].vector));
        (*rows)[i].has_vector = true;
      }
      continue;
    }
    if (!column.is_array()) return TypeError(cpath, "an array (one value per id)", column);
    if (column.size() != n) {
      return Status::InvalidArgument(cpath + ": has " + std::to_string(column.size()) +
                                     " values for " + std::to_string(n) + " ids");
    }
    for (size_t i = 0; i < n; ++i) {
      VECPUFF_RETURN_IF_ERROR(CheckAttribute(At(path, i), key, column[i]));
      if (!column[i].is_null() || !upsert) (*rows)[i].attributes[key] = column[i];
    }
  }
  if (upsert) {
    for (size_t i = 0; i < n; ++i) {
      if (!(*rows)[i].has_vector) {
        return Status::InvalidArgument(path +
                                       ".vector: missing (documents without a vector are not "
                                       "supported)");
      }
    }
  }
  return Status::OK();
}

Status Unsupported(const std::string& what) {
  return Status::InvalidArgument(what + " is not supported by VecPuff yet (see docs/api.md)");
}

}  // namespace

bool TpufRowFormat::Includes(const std::string& name) const {
  if (std::find(exclude.begin(), exclude.end(), name) != exclude.end()) return false;
  return all || std::find(include.begin(), include.end(), name) != include.end();
}

Result<std::string> DecodeBase64(std::string_view text, std::string_view path) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.size() % 4 != 0) {
    return Status::InvalidArgument(std::string(path) +
                                   ": not valid base64 (length is not a multiple of 4)");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      v[j] = pad > 0 ? -1 : value(c);
      if (v[j] < 0) {
        return Status::InvalidArgument(std::string(path) + ": not valid base64 (at character " +
                                       std::to_string(i + j) + ")");
      }
    }
    const uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

std::string EncodeBase64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = uint32_t(static_cast<uint8_t>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) n |= uint32_t(static_cast<uint8_t>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) n |= uint32_t(static_cast<uint8_t>(bytes[i + 2]));
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kAlphabet[n & 63] : '=');
  }
  return out;
}

Result<WriteRequest> ParseTpufWrite(const json& body, size_t max_id_bytes) {
  if (!body.is_object()) return TypeError("request body", "an object", body);
  WriteRequest req;
  // The schema first: it says how base64 vectors are encoded.
  bool f16 = false;
  size_t schema_dims = 0;
  if (auto it = body.find("schema"); it != body.end() && !it->is_null()) {
    VECPUFF_ASSIGN_OR_RETURN(req.schema, ParseTpufSchema(*it, "schema", &f16, &schema_dims));
  }
  req.typed = true;
  for (const auto& [key, value] : body.items()) {
    if (key == "schema") continue;
    if (key == "distance_metric") {
      if (value.is_null()) continue;
      if (!value.is_string()) return TypeError(key, "a string", value);
      req.distance_metric = ParseDistanceMetric(value.get_ref<const std::string&>());
      if (!req.distance_metric) {
        return Status::InvalidArgument(
            "distance_metric: must be 'cosine_distance' or 'euclidean_squared', got '" +
            value.get<std::string>() + "'");
      }
    } else if (key == "return_affected_ids") {
      if (value.is_null()) continue;
      if (!value.is_boolean()) return TypeError(key, "a boolean", value);
      req.return_affected_ids = value.get<bool>();
    } else if (key == "disable_backpressure") {
      if (!value.is_null() && !value.is_boolean()) return TypeError(key, "a boolean", value);
    } else if (key == "upsert_rows" || key == "patch_rows") {
      if (value.is_null()) continue;
      if (!value.is_array()) return TypeError(key, "an array of rows", value);
      const bool upsert = key == "upsert_rows";
      for (size_t i = 0; i < value.size(); ++i) {
        RowParts row;
        VECPUFF_RETURN_IF_ERROR(
            ParseRowObject(value[i], At(key, i), upsert, f16, max_id_bytes, &row));
        if (upsert) {
          req.upsert_rows.push_back(
              {std::move(row.id), std::move(row.vector), std::move(row.attributes)});
        } else {
          req.patch_rows.push_back({std::move(row.id), std::move(row.attributes)});
        }
      }
    } else if (key == "upsert_columns" || key == "patch_columns") {
      if (value.is_null()) continue;
      const bool upsert = key == "upsert_columns";
      std::vector<RowParts> rows;
      VECPUFF_RETURN_IF_ERROR(ParseColumns(value, key, upsert, f16, max_id_bytes, &rows));
      for (RowParts& row : rows) {
        if (upsert) {
          req.upsert_rows.push_back(
              {std::move(row.id), std::move(row.vector), std::move(row.attributes)});
        } else {
          req.patch_rows.push_back({std::move(row.id), std::move(row.attributes)});
        }
      }
    } else if (key == "deletes") {
      if (value.is_null()) continue;
      if (!value.is_array()) return TypeError(key, "an array of ids", value);
      for (size_t i = 0; i < value.size(); ++i) {
        VECPUFF_ASSIGN_OR_RETURN(std::string id,
                                 DocKeyFromJson(value[i], At(key, i), max_id_bytes));
        req.deletes.push_back(std::move(id));
      }
    } else if (key == "upsert_condition" || key == "patch_condition" || key == "delete_condition") {
      if (value.is_null()) continue;
      // Checked once with every $ref_new bound to null; bound per row when applied.
      VECPUFF_RETURN_IF_ERROR(
          Filter::Parse(BindRefNew(value, [](const std::string&) { return json(); }), key)
              .status());
      (key == "upsert_condition"
           ? req.upsert_condition
           : (key == "patch_condition" ? req.patch_condition : req.delete_condition)) = value;
    } else if (key == "delete_by_filter") {
      if (value.is_null()) continue;
      VECPUFF_ASSIGN_OR_RETURN(req.delete_by_filter, Filter::Parse(value, key));
    } else if (key == "patch_by_filter") {
      if (value.is_null()) continue;
      if (!value.is_object()) return TypeError(key, "an object with filters and patch", value);
      for (const auto& [k, v] : value.items()) {
        if (k == "filters") {
          VECPUFF_ASSIGN_OR_RETURN(req.patch_by_filter, Filter::Parse(v, key + ".filters"));
        } else if (k == "patch") {
          if (!v.is_object()) return TypeError(key + ".patch", "an object of attributes", v);
          for (const auto& [name, attr] : v.items()) {
            if (name == "id" || name == "vector") {
              return Status::InvalidArgument(key + ".patch." + name + ": cannot be patched");
            }
            VECPUFF_RETURN_IF_ERROR(CheckAttribute(key + ".patch", name, attr));
          }
          req.patch_by_filter_attributes = v;
        } else {
          return Status::InvalidArgument(key + "." + k + ": unknown field");
        }
      }
      if (req.patch_by_filter == nullptr) {
        return Status::InvalidArgument(key + ".filters: missing");
      }
      // Without it the request would still write an entry (and count the matches as
      // patched) while changing nothing.
      if (value.find("patch") == value.end()) {
        return Status::InvalidArgument(key + ".patch: missing");
      }
    } else if (key == "delete_by_filter_allow_partial" || key == "patch_by_filter_allow_partial") {
      if (value.is_null()) continue;
      if (!value.is_boolean()) return TypeError(key, "a boolean", value);
      (key == "delete_by_filter_allow_partial" ? req.delete_by_filter_allow_partial
                                               : req.patch_by_filter_allow_partial) =
          value.get<bool>();
    } else if (key == "branch_from_namespace" || key == "copy_from_namespace" ||
               key == "encryption" || key == "sharding") {
      return Unsupported(key);
    } else {
      return Status::InvalidArgument("unknown field '" + key + "'");
    }
  }
  // A declared vector type names the dimensions: every upserted vector must have them (the
  // engine then checks them against the namespace's).
  if (schema_dims != 0) {
    for (size_t i = 0; i < req.upsert_rows.size(); ++i) {
      const size_t got = req.upsert_rows[i].vector.size();
      if (got != schema_dims) {
        return Status::InvalidArgument("upsert_rows[" + std::to_string(i) + "].vector: expected " +
                                       std::to_string(schema_dims) +
                                       " dimensions (schema.vector), got " + std::to_string(got));
      }
    }
  }
  return req;
}

namespace {

// What may accompany aggregate_by and group_by. turbopuffer's query docs: aggregate_by
// "cannot be specified with rank_by ... or include_attributes"; with group_by, top_k/limit
// is the number of groups.
Status CheckTpufAggregation(const json& body, const std::string& path, const TpufQuery& q,
                            bool has_top_k) {
  auto given = [&](const char* key) {
    auto it = body.find(key);
    return it != body.end() && !it->is_null();
  };
  if (!q.aggregating()) {
    if (!q.group_by.empty()) {
      return Status::InvalidArgument(Member(path, "group_by") + ": requires aggregate_by");
    }
    return Status::OK();
  }
  if (q.per.active()) {
    return Status::InvalidArgument(Member(path, "limit") +
                                   ".per: cannot be combined with aggregate_by (it limits the "
                                   "rows per key; aggregations return no rows, and group_by "
                                   "already gives one group per key)");
  }
  for (const char* key : {"rank_by", "include_attributes", "exclude_attributes"}) {
    if (given(key)) {
      return Status::InvalidArgument(Member(path, key) +
                                     ": cannot be combined with aggregate_by (aggregations "
                                     "return no rows; query the rows separately, e.g. in a "
                                     "multi-query)");
    }
  }
  if (has_top_k && q.group_by.empty()) {
    return Status::InvalidArgument(Member(path, given("top_k") ? "top_k" : "limit") +
                                   ": with aggregate_by it bounds the number of group_by "
                                   "groups, and there is no group_by");
  }
  for (const TpufAggregate& a : q.aggregates) {
    if (std::find(q.group_by.begin(), q.group_by.end(), a.name) != q.group_by.end()) {
      return Status::InvalidArgument(Member(Member(path, "aggregate_by"), a.name) +
                                     ": the name is also a group_by attribute");
    }
  }
  return Status::OK();
}

}  // namespace

Result<TpufQuery> ParseTpufQuery(const json& body, const std::string& path, bool top_level) {
  const std::string where = path.empty() ? "request body" : path;
  if (!body.is_object()) return TypeError(where, "an object", body);
  TpufQuery q;
  QueryRequest& req = q.request;
  req.include_vectors = false;
  req.include_attributes = false;
  bool has_top_k = false;
  for (const auto& [key, value] : body.items()) {
    const std::string kpath = Member(path, key);
    if (key == "rank_by") {
      if (value.is_null()) continue;
      if (!value.is_array() || value.empty()) return TypeError(kpath, "a non-empty array", value);
      if (value[0].is_array()) {  // [["a","asc"],["b","desc"]]
        for (size_t i = 0; i < value.size(); ++i) {
          const json& o = value[i];
          if (!o.is_array() || o.size() != 2 || !o[0].is_string() || !o[1].is_string() ||
              (o[1] != "asc" && o[1] != "desc")) {
            return Status::InvalidArgument(At(kpath, i) +
                                           ": expected [attribute, \"asc\" or \"desc\"]");
          }
          req.order_by.push_back({o[0].get<std::string>(), o[1] == "desc"});
        }
        continue;
      }
      if (!value[0].is_string() || value.size() < 2 || !value[1].is_string()) {
        return Status::InvalidArgument(kpath +
                                       ": expected [attribute, \"ANN\" | \"kNN\", vector]"
                                       " or [attribute, \"asc\" | \"desc\"]");
      }
      const std::string& attr = value[0].get_ref<const std::string&>();
      const std::string& op = value[1].get_ref<const std::string&>();
      if ((op == "asc" || op == "desc") && value.size() == 2) {
        req.order_by.push_back({attr, op == "desc"});
      } else if ((op == "ANN" || op == "kNN") && value.size() == 3) {
        if (attr != "vector") {
          return Status::InvalidArgument(
              kpath + ": only the attribute 'vector' holds vectors, not '" + attr + "'");
        }
        if (value[2].is_object()) return Unsupported(kpath + ": an expression as the query vector");
        VECPUFF_RETURN_IF_ERROR(ParseVector(value[2], At(kpath, 2), false, &req.vector));
        if (req.vector.empty()) {
          return Status::InvalidArgument(At(kpath, 2) + ": must have at least 1 dimension");
        }
        req.exact = op == "kNN";
      } else if (op == "BM25" || op == "SparseKNN" || attr == "Sum" || attr == "Max" ||
                 attr == "Product" || attr == "Attribute" || attr == "Saturate" ||
                 attr == "Decay" || attr == "Dist") {
        return Unsupported(kpath + ": ranking by '" +
                           (op == "BM25" || op == "SparseKNN" ? op : attr) +
                           "' (full-text and sparse search)");
      } else {
        return Status::InvalidArgument(kpath + ": unknown ranking '" + op + "'");
      }
    } else if (key == "filters") {
      if (value.is_null()) continue;
      VECPUFF_ASSIGN_OR_RETURN(req.filter, Filter::Parse(value, kpath));
    } else if (key == "top_k" || key == "limit") {
      if (value.is_null()) continue;
      if (has_top_k) return Status::InvalidArgument(kpath + ": give top_k or limit, not both");
      has_top_k = true;
      const json* total = &value;
      if (key == "limit" && value.is_object()) {
        for (const auto& [k, v] : value.items()) {
          if (k == "per") {
            if (v.is_null()) continue;
            VECPUFF_RETURN_IF_ERROR(ParseTpufLimitPer(v, Member(kpath, k), &q.per));
          } else if (k != "total") {
            return Status::InvalidArgument(Member(kpath, k) + ": unknown field");
          }
        }
        auto t = value.find("total");
        if (t == value.end()) return Status::InvalidArgument(kpath + ".total: missing");
        total = &*t;
      }
      if (!total->is_number_integer() ||
          (!total->is_number_unsigned() && total->get<int64_t>() <= 0) ||
          total->get<uint64_t>() == 0) {
        return Status::InvalidArgument(kpath + ": must be a positive integer");
      }
      // Beyond uint32 is beyond every limit: Database rejects it against max_top_k.
      req.top_k = static_cast<size_t>(
          std::min<uint64_t>(total->get<uint64_t>(), std::numeric_limits<uint32_t>::max()));
    } else if (key == "include_attributes") {
      if (value.is_null()) continue;
      if (value.is_boolean()) {
        q.format.all = value.get<bool>();
      } else if (value.is_array()) {
        for (size_t i = 0; i < value.size(); ++i) {
          if (!value[i].is_string()) return TypeError(At(kpath, i), "an attribute name", value[i]);
          q.format.include.push_back(value[i].get<std::string>());
        }
      } else {
        return TypeError(kpath, "a boolean or an array of attribute names", value);
      }
    } else if (key == "exclude_attributes") {
      if (value.is_null()) continue;
      if (!value.is_array()) return TypeError(kpath, "an array of attribute names", value);
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) return TypeError(At(kpath, i), "an attribute name", value[i]);
        q.format.exclude.push_back(value[i].get<std::string>());
      }
      // Excluding attributes means: every other one.
      if (body.find("include_attributes") == body.end()) q.format.all = true;
    } else if (key == "distance_metric") {
      if (value.is_null()) continue;
      if (!value.is_string() || !ParseDistanceMetric(value.get<std::string>())) {
        return Status::InvalidArgument(kpath +
                                       ": must be 'cosine_distance' or 'euclidean_squared'");
      }
    } else if (top_level && key == "consistency") {
      if (value.is_null()) continue;
      if (!value.is_object()) return TypeError(kpath, "an object", value);
      for (const auto& [k, v] : value.items()) {
        if (k != "level") return Status::InvalidArgument(Member(kpath, k) + ": unknown field");
        if (v.is_null()) continue;
        if (v == "strong") {
          req.consistency = Consistency::kStrong;
        } else if (v == "eventual") {
          req.consistency = Consistency::kEventual;
        } else {
          return Status::InvalidArgument(kpath + ".level: must be 'strong' or 'eventual'");
        }
      }
    } else if (top_level && key == "vector_encoding") {
      if (value.is_null()) continue;
      if (value == "base64") {
        q.format.base64 = true;
      } else if (value != "float") {
        return Status::InvalidArgument(kpath + ": must be 'float' or 'base64'");
      }
    } else if (key == "aggregate_by") {
      if (value.is_null()) continue;
      VECPUFF_RETURN_IF_ERROR(ParseTpufAggregateBy(value, kpath, &q.aggregates));
    } else if (key == "group_by") {
      if (value.is_null()) continue;
      VECPUFF_RETURN_IF_ERROR(ParseTpufGroupBy(value, kpath, &q.group_by));
    } else if (key == "compute_attributes") {
      return Unsupported(kpath);
    } else {
      return Status::InvalidArgument(kpath + ": unknown field");
    }
  }
  if (!req.order_by.empty() && !req.vector.empty()) {
    return Status::InvalidArgument(Member(path, "rank_by") + ": ranks by vector or by attributes");
  }
  VECPUFF_RETURN_IF_ERROR(CheckTpufAggregation(body, path, q, has_top_k));
  req.include_vectors = q.format.Includes("vector");
  // limit.per needs the limit key's values; rows still show only what the format includes.
  req.include_attributes = q.format.all || !q.format.include.empty() || q.per.active();
  return q;
}

std::string EncodeTpufWriteResult(const WriteResult& r, bool with_ids, double server_ms,
                                  uint64_t bytes_written) {
  json out = {{"status", "OK"},
              {"message", "write applied"},
              {"rows_remaining", r.rows_remaining},
              {"rows_affected", r.upserted_count + r.patched_count + r.deleted_count},
              {"rows_upserted", r.upserted_count},
              {"rows_patched", r.patched_count},
              {"rows_deleted", r.deleted_count},
              {"billing", {{"billable_logical_bytes_written", bytes_written}}},
              {"performance", {{"server_total_ms", server_ms}}}};
  if (with_ids) {
    auto ids = [](const std::vector<std::string>& keys) {
      json a = json::array();
      for (const std::string& k : keys) a.push_back(DocKeyToJson(k));
      return a;
    };
    // Each list only when some document was affected that way (as turbopuffer does).
    if (!r.upserted_ids.empty()) out["upserted_ids"] = ids(r.upserted_ids);
    if (!r.patched_ids.empty()) out["patched_ids"] = ids(r.patched_ids);
    if (!r.deleted_ids.empty()) out["deleted_ids"] = ids(r.deleted_ids);
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

void AppendTpufRows(const QueryResult& result, const TpufRowFormat& format, std::string* out,
                    const std::vector<double>* scores) {
  out->push_back('[');
  for (size_t h = 0; h < result.hits.size(); ++h) {
    const QueryHit& hit = result.hits[h];
    if (h) out->push_back(',');
    out->append("{\"id\":");
    AppendId(hit.id, out);
    if (scores != nullptr) {
      out->append(",\"$dist\":");
      out->append(json((*scores)[h]).dump());
    } else if (result.ranked_by_vector) {
      out->append(",\"$dist\":");
      AppendFloat(hit.dist, out);
    }
    if (!hit.vector.empty() && format.Includes("vector")) {
      out->append(",\"vector\":");
      if (format.base64) {
        std::string bytes(hit.vector.size() * 4, '\0');
        for (size_t i = 0; i < hit.vector.size(); ++i) {
          uint32_t bits;
          std::memcpy(&bits, &hit.vector[i], 4);
          for (int b = 0; b < 4; ++b) bytes[4 * i + b] = static_cast<char>(bits >> (8 * b));
        }
        AppendString(EncodeBase64(bytes), out);
      } else {
        AppendFloatArray(hit.vector, out);
      }
    }
    if (hit.attributes.is_object()) {
      for (const auto& [key, value] : hit.attributes.get_ref<const json::object_t&>()) {
        if (value.is_null() || key == "id" || key == "vector" || !format.Includes(key)) continue;
        out->push_back(',');
        AppendString(key, out);
        out->push_back(':');
        out->append(value.dump(-1, ' ', false, json::error_handler_t::replace));
      }
    }
    out->push_back('}');
  }
  out->push_back(']');
}

void AppendTpufStats(const TpufQueryStats& s, uint64_t bytes_queried, uint64_t bytes_returned,
                     std::string* out) {
  json billing = {{"billable_logical_bytes_queried", bytes_queried},
                  {"billable_logical_bytes_returned", bytes_returned}};
  json perf = {{"server_total_ms", s.server_total_ms},
               {"query_execution_ms", s.query_execution_ms},
               {"exhaustive_search_count", s.exhaustive_search_count},
               {"cache_hit_ratio", s.cache_hit_ratio},
               {"cache_temperature", s.cache_temperature},
               {"approx_namespace_size", s.approx_namespace_size}};
  out->append("\"billing\":");
  out->append(billing.dump());
  out->append(",\"performance\":");
  out->append(perf.dump());
}

std::string Rfc3339(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

json EncodeTpufMetadata(const NamespaceMetadata& m) {
  json index = m.index_status == "up_to_date"
                   ? json{{"status", "up-to-date"}}
                   : json{{"status", "updating"}, {"unindexed_bytes", m.unindexed_bytes}};
  json schema = EncodeTpufSchema(m);
  return {{"approx_logical_bytes", m.approx_row_count * (uint64_t{m.dimensions} * 4)},
          {"approx_row_count", m.approx_row_count},
          {"created_at", Rfc3339(m.created_at_ms)},
          {"updated_at", Rfc3339(m.updated_at_ms)},
          {"encryption", {{"mode", "default"}}},
          {"index", std::move(index)},
          {"schema", std::move(schema)}};
}

}  // namespace vecpuff

namespace vecpuff {
namespace {

// The most dimensions a schema may declare: the largest limits.max_dimensions.
constexpr size_t kMaxSchemaVectorDims = kMaxDimensionsHardLimit;

bool IsScalarType(std::string_view t) {
  return t == "string" || t == "int" || t == "uint" || t == "float" || t == "uuid" ||
         t == "datetime" || t == "bool";
}

}  // namespace

Result<std::map<std::string, AttributeSchema>> ParseTpufSchema(const json& body,
                                                               const std::string& path,
                                                               bool* vector_f16,
                                                               size_t* vector_dims) {
  if (!body.is_object()) return TypeError(path, "an object of attribute schemas", body);
  std::map<std::string, AttributeSchema> out;
  for (const auto& [name, spec] : body.items()) {
    const std::string apath = path + "." + name;
    // As for the attributes of rows (db/database.cc): a name is a key of returned rows.
    if (name.empty() || name.size() > kMaxAttributeNameBytes) {
      return Status::InvalidArgument(apath + ": attribute names must be 1 to " +
                                     std::to_string(kMaxAttributeNameBytes) + " bytes");
    }
    AttributeSchema a;
    const json* type = &spec;
    if (spec.is_object()) {
      type = nullptr;
      for (const auto& [k, v] : spec.items()) {
        if (k == "type") {
          type = &v;
        } else if (k == "filterable" || k == "regex") {
          if (!v.is_boolean()) return TypeError(apath + "." + k, "a boolean", v);
          (k == "filterable" ? a.filterable : a.regex) = v.get<bool>();
        } else if (k == "ann" && name == "vector") {
          if (!v.is_boolean() && !v.is_object()) return TypeError(apath + ".ann", "a boolean", v);
        } else if (k == "full_text_search" || k == "embed" || k == "fuzzy" || k == "ann") {
          return Unsupported(apath + "." + k);
        } else {
          return Status::InvalidArgument(apath + "." + k + ": unknown field");
        }
      }
      if (type == nullptr) return Status::InvalidArgument(apath + ".type: missing");
    }
    if (!type->is_string()) return TypeError(apath, "a type name", *type);
    const std::string& t = type->get_ref<const std::string&>();
    if (name == "vector") {
      const bool is_f16 = t.size() > 5 && t.front() == '[' && t.ends_with("]f16");
      const bool is_f32 = t.size() > 5 && t.front() == '[' && t.ends_with("]f32");
      // DIMS: a positive integer without leading zeros, at most kMaxSchemaVectorDims.
      size_t dims = 0;
      bool dims_ok = is_f16 || is_f32;
      if (dims_ok) {
        const std::string_view digits = std::string_view(t).substr(1, t.size() - 5);
        dims_ok = !digits.empty() && digits.size() <= 6 && digits[0] != '0';
        for (char c : digits) {
          if (c < '0' || c > '9') {
            dims_ok = false;
            break;
          }
          dims = dims * 10 + static_cast<size_t>(c - '0');
        }
        dims_ok = dims_ok && dims <= kMaxSchemaVectorDims;
      }
      if (!dims_ok) {
        return Status::InvalidArgument(
            apath + ": vector type must be [DIMS]f32 or [DIMS]f16 (DIMS from 1 to " +
            std::to_string(kMaxSchemaVectorDims) + "), got '" + t + "'");
      }
      if (vector_f16 != nullptr) *vector_f16 = is_f16;
      if (vector_dims != nullptr) *vector_dims = dims;
      continue;  // the vector's type is the namespace's dimensions
    }
    if (name == "id") {
      if (t != "uint" && t != "uuid" && t != "string") {
        return Status::InvalidArgument(apath + ": id type must be uint, uuid or string, got '" + t +
                                       "'");
      }
    } else if (!IsScalarType(t) && !(t.starts_with("[]") && IsScalarType(t.substr(2)))) {
      return Status::InvalidArgument(
          apath + ": unknown type '" + t +
          "' (string, int, uint, float, uuid, datetime, bool, or [] and one of those)");
    }
    if (!name.empty() && name[0] == '$') {
      return Status::InvalidArgument(apath + ": attribute names starting with '$' are reserved");
    }
    a.type = t;
    out[name] = a;
  }
  return out;
}

json EncodeTpufSchema(const NamespaceMetadata& metadata) {
  json schema = json::object();
  for (const auto& [name, a] : metadata.schema) {
    schema[name] = {{"type", a.type}, {"filterable", a.filterable}};
    if (a.regex) schema[name]["regex"] = true;
  }
  if (metadata.dimensions != 0) {
    schema["vector"] = {{"type", "[" + std::to_string(metadata.dimensions) + "]f32"},
                        {"ann", true}};
  }
  return schema;
}

}  // namespace vecpuff
