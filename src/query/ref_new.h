// {"$ref_new": "attr"} in the conditions of turbopuffer's conditional writes: a value that
// stands for the written row's new value of an attribute. Conditions are bound per row
// (every such object replaced by the value) and then parsed as filters (query/filter.h).
//
// Thread safety: pure functions.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace vecpuff {

// Whether `v` is a {"$ref_new": "<name>"} object.
inline bool IsRefNew(const nlohmann::json& v) {
  if (!v.is_object() || v.size() != 1) return false;
  auto it = v.find("$ref_new");
  return it != v.end() && it->is_string();
}

// Whether `condition` holds a {"$ref_new": ...} anywhere.
inline bool ContainsRefNew(const nlohmann::json& condition) {
  if (IsRefNew(condition)) return true;
  if (!condition.is_array()) return false;
  for (const nlohmann::json& e : condition) {
    if (ContainsRefNew(e)) return true;
  }
  return false;
}

// `condition` with every {"$ref_new": name} replaced by value(name).
inline nlohmann::json BindRefNew(const nlohmann::json& condition,
                                 const std::function<nlohmann::json(const std::string&)>& value) {
  if (IsRefNew(condition)) return value(condition.begin()->get<std::string>());
  if (!condition.is_array()) return condition;
  nlohmann::json out = nlohmann::json::array();
  for (const nlohmann::json& e : condition) out.push_back(BindRefNew(e, value));
  return out;
}

}  // namespace vecpuff
