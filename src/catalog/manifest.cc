#include "catalog/manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {

std::string_view DistanceMetricName(DistanceMetric metric) {
  switch (metric) {
    case DistanceMetric::kCosineDistance:
      return "cosine_distance";
    case DistanceMetric::kEuclideanSquared:
      return "euclidean_squared";
  }
  return "cosine_distance";
}

std::optional<DistanceMetric> ParseDistanceMetric(std::string_view name) {
  if (name == "cosine_distance") return DistanceMetric::kCosineDistance;
  if (name == "euclidean_squared") return DistanceMetric::kEuclideanSquared;
  return std::nullopt;
}

std::string EncodeManifest(const Manifest& m) {
  nlohmann::json body = {
      {"namespace", m.namespace_name},
      {"distance_metric", std::string(DistanceMetricName(m.distance_metric))},
      {"dimensions", m.dimensions},
      {"created_at_ms", m.created_at_ms},
      {"updated_at_ms", m.updated_at_ms},
      {"last_write_ms", m.last_write_ms},
      {"wal_next_seq_hint", m.wal_next_seq_hint},
  };
  if (m.index.generation > 0) {
    nlohmann::json retired = nlohmann::json::array();
    for (const auto& r : m.index.retired) {
      retired.push_back({{"key", r.key}, {"retired_at_ms", r.retired_at_ms}});
    }
    body["index"] = {
        {"generation", m.index.generation},
        {"indexed_through_seq", m.index.indexed_through_seq},
        {"metas", m.index.metas},
        {"retired", retired},
        {"live_rows", m.index.live_rows},
        {"bytes_written", m.index.bytes_written},
        {"input_bytes", m.index.input_bytes},
    };
  }
  if (!m.schema.empty()) {
    nlohmann::json schema = nlohmann::json::object();
    for (const auto& [name, a] : m.schema) {
      schema[name] = {{"type", a.type}, {"filterable", a.filterable}, {"regex", a.regex}};
    }
    body["schema"] = std::move(schema);
  }
  if (m.dropped_seq != 0) {
    body["dropped"] = {
        {"seq", m.dropped_seq}, {"reopened", m.reopened}, {"wal_erased_below", m.wal_erased_below}};
  }
  std::string text = body.dump();
  std::string out;
  PutFixed32(&out, kManifestMagic);
  // Version 3 unless the manifest needs 4 (a drop), so that servers from before drops keep
  // reading the manifests of namespaces never deleted.
  const bool needs_v4 = m.dropped_seq != 0 || (m.index.generation > 0 && m.index.metas.empty());
  PutFixed16(&out, needs_v4 ? kManifestFormatVersion : uint16_t{3});
  PutFixed16(&out, 0);  // reserved
  PutFixed64(&out, text.size());
  PutFixed64(&out, 0);  // checksum placeholder, at offset 16
  out += text;
  // The checksum covers the header (checksum field zero) and the body.
  EncodeFixed64(out.data() + 16, Checksum64(out));
  return out;
}

Result<Manifest> DecodeManifest(std::string_view object) {
  if (object.size() < kManifestHeaderSize) return Status::Corruption("manifest too short");
  if (DecodeFixed32(object.data()) != kManifestMagic) {
    return Status::Corruption("not a manifest (bad magic)");
  }
  uint16_t version = DecodeFixed16(object.data() + 4);
  if (version < 1 || version > kManifestFormatVersion) {
    return Status::Corruption("unsupported manifest format version " + std::to_string(version));
  }
  uint64_t size = DecodeFixed64(object.data() + 8);
  uint64_t checksum = DecodeFixed64(object.data() + 16);
  std::string_view text = object.substr(kManifestHeaderSize);
  if (size != text.size()) return Status::Corruption("manifest body size mismatch");
  std::string copy(object);
  EncodeFixed64(copy.data() + 16, 0);
  if (Checksum64(copy) != checksum) return Status::Corruption("manifest checksum mismatch");

  nlohmann::json body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Status::Corruption("manifest body is not a JSON object");
  auto field = [&](const char* name) -> const nlohmann::json* {
    auto it = body.find(name);
    return it == body.end() ? nullptr : &*it;
  };
  const nlohmann::json* ns = field("namespace");
  const nlohmann::json* metric = field("distance_metric");
  const nlohmann::json* dims = field("dimensions");
  const nlohmann::json* created = field("created_at_ms");
  const nlohmann::json* updated = field("updated_at_ms");
  const nlohmann::json* hint = field("wal_next_seq_hint");
  if (!ns || !ns->is_string() || !metric || !metric->is_string() || !dims ||
      !dims->is_number_unsigned() || !created || !created->is_number_integer() || !updated ||
      !updated->is_number_integer() || !hint || !hint->is_number_unsigned()) {
    return Status::Corruption("manifest is missing a field or has a wrong type");
  }
  Manifest m;
  m.namespace_name = ns->get<std::string>();
  auto parsed_metric = ParseDistanceMetric(metric->get<std::string>());
  if (!parsed_metric) return Status::Corruption("manifest has an unknown distance metric");
  m.distance_metric = *parsed_metric;
  uint64_t d = dims->get<uint64_t>();
  if (d > UINT32_MAX) return Status::Corruption("manifest dimensions out of range");
  m.dimensions = static_cast<uint32_t>(d);
  m.created_at_ms = created->get<int64_t>();
  m.updated_at_ms = updated->get<int64_t>();
  // Optional: manifests written before it existed last changed their data no later than
  // their last change.
  m.last_write_ms = m.updated_at_ms;
  if (const nlohmann::json* last_write = field("last_write_ms")) {
    if (!last_write->is_number_integer()) {
      return Status::Corruption("manifest last_write_ms is not an integer");
    }
    m.last_write_ms = last_write->get<int64_t>();
  }
  m.wal_next_seq_hint = hint->get<uint64_t>();
  if (m.wal_next_seq_hint == 0) return Status::Corruption("manifest WAL hint is 0");
  if (const nlohmann::json* index = field("index")) {
    if (version < 2) return Status::Corruption("manifest version 1 cannot have an index");
    Status bad = Status::Corruption("manifest index is missing a field or has a wrong type");
    if (!index->is_object()) return bad;
    auto u64 = [&](const char* name, uint64_t* out) {
      auto it = index->find(name);
      if (it == index->end() || !it->is_number_unsigned()) return false;
      *out = it->get<uint64_t>();
      return true;
    };
    ManifestIndex& ix = m.index;
    if (!u64("generation", &ix.generation) ||
        !u64("indexed_through_seq", &ix.indexed_through_seq) || !u64("live_rows", &ix.live_rows) ||
        !u64("bytes_written", &ix.bytes_written) || !u64("input_bytes", &ix.input_bytes) ||
        ix.generation == 0) {
      return bad;
    }
    auto metas = index->find("metas");
    auto retired = index->find("retired");
    // Since version 4 an index may have no metas: the empty index a drop leaves.
    if (metas == index->end() || !metas->is_array() || (metas->empty() && version < 4) ||
        retired == index->end() || !retired->is_array()) {
      return bad;
    }
    for (const auto& k : *metas) {
      if (!k.is_string()) return bad;
      ix.metas.push_back(k.get<std::string>());
    }
    for (const auto& r : *retired) {
      if (!r.is_object() || !r.contains("key") || !r["key"].is_string() ||
          !r.contains("retired_at_ms") || !r["retired_at_ms"].is_number_integer()) {
        return bad;
      }
      ix.retired.push_back({r["key"].get<std::string>(), r["retired_at_ms"].get<int64_t>()});
    }
  }
  if (const nlohmann::json* schema = field("schema")) {
    Status bad = Status::Corruption("manifest schema is malformed");
    if (version < 3 || !schema->is_object()) return bad;
    for (const auto& [name, a] : schema->items()) {
      if (!a.is_object() || !a.contains("type") || !a["type"].is_string() ||
          !a.contains("filterable") || !a["filterable"].is_boolean() || !a.contains("regex") ||
          !a["regex"].is_boolean()) {
        return bad;
      }
      m.schema[name] = {a["type"].get<std::string>(), a["filterable"].get<bool>(),
                        a["regex"].get<bool>()};
    }
  }
  if (const nlohmann::json* dropped = field("dropped")) {
    Status bad = Status::Corruption("manifest dropped object is malformed");
    if (version < 4 || !dropped->is_object()) return bad;
    auto seq = dropped->find("seq");
    auto reopened = dropped->find("reopened");
    auto erased = dropped->find("wal_erased_below");
    if (seq == dropped->end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0 ||
        reopened == dropped->end() || !reopened->is_boolean() || erased == dropped->end() ||
        !erased->is_number_unsigned() || erased->get<uint64_t>() == 0 ||
        erased->get<uint64_t>() > seq->get<uint64_t>()) {
      return bad;
    }
    m.dropped_seq = seq->get<uint64_t>();
    m.reopened = reopened->get<bool>();
    m.wal_erased_below = erased->get<uint64_t>();
    if (m.index.generation == 0 || m.index.indexed_through_seq < m.dropped_seq) {
      return Status::Corruption("manifest of a dropped namespace has no index past the drop");
    }
  }
  return m;
}

void ResetManifestForDrop(Manifest* m, uint64_t drop_seq, int64_t now_ms) {
  m->dimensions = 0;
  m->schema.clear();
  m->dropped_seq = drop_seq;
  m->reopened = false;
  m->last_write_ms = std::max(m->last_write_ms, now_ms);
  ManifestIndex& ix = m->index;
  for (const auto& k : ix.metas) ix.retired.push_back({k, now_ms});
  ix.metas.clear();
  ix.generation += 1;
  ix.indexed_through_seq = drop_seq;
  ix.live_rows = 0;
  ix.bytes_written = 0;
  ix.input_bytes = 0;
  m->wal_next_seq_hint = std::max(m->wal_next_seq_hint, drop_seq + 1);
}

}  // namespace vecpuff
