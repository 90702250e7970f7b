// The compiled form of a turbopuffer filter (filter.h) and the value comparisons it is built
// on, shared by the two evaluators inside src/query: filter.cc, which judges one document at
// a time, and attribute_index.cc, which judges a whole posting list at once from sorted
// values. Both use these definitions so that they cannot drift apart. Not a public
// interface: nothing outside src/query may include this header.
//
// Thread safety: plain data and pure functions; a Node is immutable once parsed.
#pragma once

#include <re2/re2.h>

#include <compare>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "query/filter.h"

namespace vecpuff {
namespace filter_internal {

enum class Op : uint8_t {
  kEq,
  kNotEq,
  kIn,
  kNotIn,
  kContains,
  kNotContains,
  kContainsAny,
  kNotContainsAny,
  kLt,
  kLte,
  kGt,
  kGte,
  kAnyLt,
  kAnyLte,
  kAnyGt,
  kAnyGte,
  kGlob,
  kNotGlob,
  kIGlob,
  kNotIGlob,
  kRegex,
  kAnd,
  kOr,
  kNot,
};

// For the order operators (Lt..Gte, AnyLt..AnyGte): whether a value whose comparison with the
// filter's value has sign `c` satisfies `op`. nullopt for every other operator.
inline std::optional<bool> OrderHolds(Op op, int c) {
  switch (op) {
    case Op::kLt:
    case Op::kAnyLt:
      return c < 0;
    case Op::kLte:
    case Op::kAnyLte:
      return c <= 0;
    case Op::kGt:
    case Op::kAnyGt:
      return c > 0;
    case Op::kGte:
    case Op::kAnyGte:
      return c >= 0;
    default:
      return std::nullopt;
  }
}

// An instant: seconds since the Unix epoch plus nanoseconds in [0, 1e9). Years 0000-9999
// fit easily, so no comparison can overflow.
struct Instant {
  int64_t sec = 0;
  int32_t nsec = 0;
  auto operator<=>(const Instant&) const = default;
};

// Parses "YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|(+|-)HH:MM)". Fraction digits past the
// ninth are ignored. Returns nullopt for anything else, including impossible dates.
std::optional<Instant> ParseRfc3339(std::string_view s);

// A JSON number in its own representation (int64, uint64 or double); 16 bytes.
struct Num {
  enum class Kind : uint8_t { kInt, kUint, kFloat };
  Kind kind = Kind::kInt;
  union {
    int64_t i = 0;  // kInt
    uint64_t u;     // kUint
    double d;       // kFloat
  };
};

// The number in `j`, or nullopt if `j` is not a number.
std::optional<Num> AsNum(const nlohmann::json& j);

// Exact three-way comparison of two numbers by mathematical value (5 == 5.0; 2^64-1 and
// 2^64-2 differ); nullopt when either is NaN.
std::optional<int> CompareNum(const Num& a, const Num& b);

// One value from a filter, preprocessed for comparison with attribute values.
struct Scalar {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString };
  Kind kind = Kind::kNull;
  bool b = false;
  Num num;
  std::string str;
  std::optional<Instant> instant;  // for a string that is an RFC 3339 timestamp
};

// Whole-array equality: `a` is an array of xs.size() elements equal pairwise to xs.
bool EqualArray(const nlohmann::json& a, const std::vector<Scalar>& xs);

// The values of an In/NotIn/ContainsAny/NotContainsAny list, bucketed by kind and sorted so
// that a lookup costs O(log n). Equality on strings is "same instant if both are timestamps,
// else same bytes", so timestamps and other strings form separate buckets: a timestamp can
// only equal a timestamp, and any other string only a byte-identical string.
struct ValueSet {
  bool has_true = false;
  bool has_false = false;
  std::vector<Num> nums;                    // sorted by CompareNum (filter numbers are finite)
  std::vector<std::string> strings;         // sorted bytewise; none is a timestamp
  std::vector<Instant> instants;            // sorted
  std::vector<std::vector<Scalar>> arrays;  // In only: whole-array values, scanned linearly

  void Add(Scalar x);
  // Sorts and deduplicates; called once after the last Add.
  void Finish();
  // Whether a scalar attribute value (or array element) equals one of the scalar values.
  bool ContainsScalar(const nlohmann::json& a) const;
  // ContainsScalar for scalars; for an array, whether it equals one of `arrays`.
  bool ContainsValue(const nlohmann::json& a) const;
};

}  // namespace filter_internal

// The compiled filter tree. Each node is a connective (And/Or/Not with children) or a
// condition on one attribute.
struct Filter::Node {
  filter_internal::Op op = filter_internal::Op::kAnd;
  std::string attribute;
  bool is_id = false;                                // the attribute is the document id
  std::vector<Node> children;                        // And/Or: any number; Not: exactly one
  bool value_is_array = false;                       // Eq/NotEq with an array value
  filter_internal::Scalar value;                     // Eq/NotEq/Contains/NotContains/Lt..AnyGte
  std::vector<filter_internal::Scalar> array_value;  // Eq/NotEq with an array value
  filter_internal::ValueSet set;                     // In/NotIn/ContainsAny/NotContainsAny
  std::unique_ptr<const RE2> re;  // Glob family (FullMatch) and Regex (PartialMatch)
  std::string literal_prefix;     // Glob family: every string `re` matches starts with it
};

}  // namespace vecpuff
