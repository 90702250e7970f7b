// JSON codecs for the original VecPuff HTTP API: request bodies to engine types (with
// errors that name the offending field, e.g. "upsert_rows[3].vector[7]: expected a
// number") and engine results to response bodies.
//
// Decoders check syntax and types; the engine (db/) checks limits and dimensions, so that
// every API front end shares those checks. Nothing here throws.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "db/types.h"

namespace vecpuff {

// Bodies nested deeper than this are rejected before parsing (the parser is recursive).
constexpr int kMaxJsonDepth = 64;

// Parses a request body. InvalidArgument for malformed JSON (with the parser's position),
// invalid UTF-8, or nesting deeper than kMaxJsonDepth.
Result<nlohmann::json> ParseJsonBody(std::string_view body);

Result<WriteRequest> DecodeWriteRequest(const nlohmann::json& body);
Result<QueryRequest> DecodeQueryRequest(const nlohmann::json& body);

nlohmann::json EncodeWriteResult(const WriteResult& result);
nlohmann::json EncodeQueryResult(const QueryResult& result);
nlohmann::json EncodeMetadata(const NamespaceMetadata& metadata);
nlohmann::json EncodeNamespaceList(const std::vector<std::string>& names);

}  // namespace vecpuff
