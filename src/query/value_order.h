// The total order on attribute values used to rank documents by attribute (rank_by
// ["attr", "asc"]) and to order aggregation groups: missing and null first, then booleans
// (false < true), numbers by exact value whatever their JSON representation (5 == 5.0,
// 2^64-1 > 2^64-2), strings bytewise (datetimes are stored so that this is time order),
// arrays elementwise (a prefix first), objects last.
//
// Thread safety: pure function.
#pragma once

#include <nlohmann/json.hpp>

namespace vecpuff {

// <0, 0 or >0 as a orders before, with, or after b.
int CompareValues(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace vecpuff
