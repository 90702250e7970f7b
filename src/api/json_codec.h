// JSON codecs for the original VecPuff HTTP API: request bodies to engine types (with
// errors that name the offending field, e.g. "upsert_rows[3].vector[7]: expected a
// number") and engine results to response bodies.
//
// Requests are decoded in one pass over the text (api/json_reader.h): vectors go straight
// into floats, attributes become nlohmann::json values. Query results are written straight
// to text, floats in their shortest round-trip form. Both are on the hot path of ingest and
// queries; see bench/write_path_bench.cc.
//
// Decoders check syntax and types; the engine (db/) checks limits and dimensions, so that
// every API front end shares those checks. When a body has several errors, the first in
// document order is reported. A repeated key counts with its last value, as in nlohmann's
// parser. Nothing here throws.
//
// Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_reader.h"
#include "common/status.h"
#include "db/types.h"

namespace vecpuff {

// Parses any JSON body into a tree. InvalidArgument for malformed JSON (with the byte
// offset), invalid UTF-8, numbers beyond the range of a double, or nesting deeper than
// kMaxJsonDepth.
Result<nlohmann::json> ParseJsonBody(std::string_view body);

// Parse and decode a write or query request body; InvalidArgument as ParseJsonBody, or
// naming the field that has the wrong type, is missing or is unknown.
Result<WriteRequest> ParseWriteRequest(std::string_view body);
Result<QueryRequest> ParseQueryRequest(std::string_view body);

// The largest `probes` a query may ask for.
constexpr uint32_t kMaxQueryProbes = 1000000;

// Response bodies as JSON text. Object keys come out in ascending order, as nlohmann
// writes them; floats in the shortest form that reads back as the same float ("0.1", and
// "1.0" rather than "1" so that they still read as floats); invalid UTF-8 in strings is
// replaced by U+FFFD.
std::string EncodeWriteResult(const WriteResult& result);
std::string EncodeQueryResult(const QueryResult& result);
nlohmann::json EncodeMetadata(const NamespaceMetadata& metadata);
nlohmann::json EncodeNamespaceList(const std::vector<std::string>& names);

// Building blocks of the encoders, shared with the turbopuffer codec (api/tpuf_codec.h).
// A JSON string (invalid UTF-8 replaced by U+FFFD).
void AppendString(std::string_view s, std::string* out);
// The shortest text that reads back as `f`, integral values with ".0"; null if not finite.
void AppendFloat(float f, std::string* out);
void AppendFloatArray(const std::vector<float>& v, std::string* out);
void AppendUnsigned(uint64_t v, std::string* out);
// A document id from its key (db/doc_key.h): a number, a UUID string or the string.
void AppendId(std::string_view key, std::string* out);

}  // namespace vecpuff
