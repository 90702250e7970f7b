// A few fixed documents for the fuzz targets that evaluate what they parse (filters,
// aggregations, per-key limits): varied attribute kinds (strings, numbers of each JSON
// representation, booleans, arrays, nulls, datetimes, nested objects) and id kinds (u64,
// UUID, string keys, db/doc_key.h).
//
// Thread safety: built once, read-only after.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vecpuff::fuzz {

struct FuzzDoc {
  std::string key;            // document key (db/doc_key.h)
  nlohmann::json id;          // the id as the API shows it
  nlohmann::json attributes;  // a JSON object
};

// The documents, built on first use (never destroyed). Keys are spelled out here, so that
// targets need not link db/doc_key.cc.
inline const std::vector<FuzzDoc>& FixedDocs() {
  static const std::vector<FuzzDoc>* docs = [] {
    auto* v = new std::vector<FuzzDoc>();
    const std::string u64_1("\xFF\0\0\0\0\0\0\0\x01", 9);
    const std::string u64_max("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 9);
    const std::string uuid = std::string("\xFE", 1) + std::string(16, '\x11');
    v->push_back({u64_1, 1, nlohmann::json::parse(R"({
      "color": "red", "size": 3, "price": 9.5, "tags": ["a", "b", "c"], "ok": true,
      "when": "2024-03-01T12:00:00.5+01:00", "nums": [1, 2.5, -3], "n": null})")});
    v->push_back({u64_max, 18446744073709551615ull, nlohmann::json::parse(R"({
      "color": "blue", "size": -7, "price": 18446744073709551615, "tags": [], "ok": false,
      "when": "2023-12-31T23:59:59Z", "nested": {"a": [1, {"b": null}]}, "mixed": [null, "x", 1, true]})")});
    v->push_back({uuid, "11111111-1111-1111-1111-111111111111", nlohmann::json::parse(R"({
      "color": "Red", "size": 3.0, "tags": ["b"], "path": "src/a/b.cc", "text": "héllo wörld"})")});
    v->push_back({"doc-a", "doc-a", nlohmann::json::parse(R"({
      "color": ["red", "blue"], "size": 9007199254740993, "price": -0.0, "ok": 1})")});
    v->push_back({"", "", nlohmann::json::object()});
    return v;
  }();
  return *docs;
}

}  // namespace vecpuff::fuzz
