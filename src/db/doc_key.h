// Document keys: the engine's form of a document id. The turbopuffer API allows three id
// types; the engine stores every id as one byte string (the key), in the WAL and in
// segments, so the three share every code path and cannot collide:
//
//   string id  the id's UTF-8 bytes, unchanged (so ids written through the original API,
//              which are always strings, keep their keys)
//   u64 id     0xFF followed by the value as 8 bytes, big-endian
//   UUID id    0xFE followed by its 16 bytes
//
// 0xFE and 0xFF never occur in UTF-8, so a key's first byte tells its type; big-endian
// makes byte order of u64 keys their numeric order. Keys order as: strings, then UUIDs,
// then integers (ordering by id, e.g. paging with ["id","asc"], follows this).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vecpuff {

constexpr char kU64KeyTag = '\xFF';
constexpr char kUuidKeyTag = '\xFE';

std::string U64Key(uint64_t value);

// The key of an id given in a request: a non-negative JSON integer (up to 2^64-1) is a u64
// id; a string in the canonical UUID form (8-4-4-4-12 hex digits, either case) is a UUID
// id; any other string is a string id (1 to `max_bytes` bytes). InvalidArgument naming
// `path` otherwise.
Result<std::string> DocKeyFromJson(const nlohmann::json& id, std::string_view path,
                                   size_t max_bytes);

// The id as the API shows it: a JSON integer for u64 keys, the lowercase canonical string
// for UUID keys, the string itself otherwise.
nlohmann::json DocKeyToJson(std::string_view key);

}  // namespace vecpuff
