// JsonReader: a strict single-pass JSON reader over a request body, for the codecs in
// api/json_codec.h. The codecs drive it field by field, so a 784-number vector goes
// straight from text into a std::vector<float> (no intermediate tree; integer elements such
// as pixels 64 bytes at a time, decimals by an exact fast path or std::from_chars), while
// attributes still become nlohmann::json values.
//
// It accepts exactly RFC 8259 JSON, as nlohmann::json::parse does: a leading UTF-8 BOM is
// skipped, strings must be valid UTF-8 with valid escapes and surrogate pairs, and nothing
// but whitespace may follow the value. Unlike nlohmann it also rejects numbers outside the
// range of a double (1e400) instead of storing infinity, and it stops at nesting deeper
// than kMaxJsonDepth (its generic value parser recurses once per level). Numbers keep
// nlohmann's types: integers that fit are int64 (negative) or uint64, the rest double.
//
// Every syntax error is InvalidArgument "malformed JSON at byte N: <what>". Nothing throws.
//
// Thread safety: one reader per body and thread; the body must outlive the reader.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

// Bodies nested deeper than this are rejected.
constexpr int kMaxJsonDepth = 64;

class JsonReader {
 public:
  explicit JsonReader(std::string_view text);

  // The first byte of the next value or structural character after whitespace, or '\0'
  // at the end of the input.
  char Peek();

  // Consumes '{' or '['. REQUIRES: Peek() returned that character. InvalidArgument when
  // the nesting would exceed kMaxJsonDepth.
  Status BeginObject();
  Status BeginArray();

  // Member iteration: call with *first = true after BeginObject(), then repeatedly. Sets
  // *more = false after consuming the closing '}'; otherwise reads the next key into *key
  // and consumes the ':' after it, leaving the reader at the member's value.
  Status NextMember(bool* first, std::string* key, bool* more);
  // Element iteration: likewise after BeginArray(); leaves the reader at the element.
  Status NextElement(bool* first, bool* more);

  // Reads a string value into *out. REQUIRES: Peek() == '"'.
  Status ReadString(std::string* out);
  // Reads true or false. REQUIRES: Peek() is 't' or 'f'.
  Status ReadBool(bool* out);
  // Consumes null if it is next; returns whether it was.
  bool ConsumeNull();

  // An integer field such as top_k. REQUIRES: Peek() is '-' or a digit. Sets *is_integer
  // to false for numbers written with a fraction or an exponent (1.0, 1e2), *negative for
  // a leading '-', and *value to the magnitude; *overflow if the integer does not fit in
  // uint64 (or, when negative, in int64): nlohmann's parser makes such numbers doubles.
  struct IntegerToken {
    bool is_integer = false;
    bool negative = false;
    bool overflow = false;
    uint64_t value = 0;
  };
  Status ReadIntegerToken(IntegerToken* out);

  // Reads an array of numbers as 32-bit floats into *out (replacing its contents), the
  // element values rounded as nlohmann's parse followed by static_cast<float> rounds them.
  // `path` names the field in errors: "<path>: expected an array of numbers, got ...",
  // "<path>[i]: expected a number, got ...", "<path>[i]: not a finite 32-bit float".
  // `size_hint` pre-sizes *out (the previous row's dimensions, say).
  Status ReadFloatArray(const std::string& path, std::vector<float>* out, size_t size_hint);

  // Reads any value into *out.
  Status ReadValue(nlohmann::json* out);

  // The error for a field whose value has the wrong type: reads the value (so a malformed
  // one is reported as malformed instead) and returns
  // "<path>: expected <what>, got <null|a boolean|a number|a string|an array|an object>".
  Status TypeError(std::string_view path, std::string_view what);

  // OK if only whitespace remains.
  Status ExpectEnd();

  // Byte offset of the next unread byte.
  size_t offset() const { return static_cast<size_t>(p_ - begin_); }

 private:
  Status Syntax(std::string_view what) const;
  Status Syntax(std::string_view what, const char* at) const;
  void SkipWhitespace();
  Status ReadValueAt(nlohmann::json* out);
  Status ReadNumber(nlohmann::json* out);
  Status ReadLiteral(std::string_view word);
  Status ReadStringInto(std::string* out);
  // Scans one JSON number token starting at p_, without consuming it. Returns the end of
  // the token, or nullptr (with *error set) if it is not a valid JSON number.
  const char* ScanNumber(bool* is_integer, Status* error) const;
  // Converts the validated number token [start, end) to a double. InvalidArgument if it
  // is beyond the range of a double; numbers too small for one become a signed zero, as
  // strtod makes them.
  Status ToDouble(const char* start, const char* end, double* out) const;

  const char* const begin_;
  const char* const end_;
  const char* p_;
  int depth_ = 0;
};

}  // namespace vecpuff
