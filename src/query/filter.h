// turbopuffer's filter language (the `filters` of the v2 query API, also used by
// delete_by_filter, patch_by_filter and the conditional writes), evaluated against one
// document at a time: the document's id and its attributes as a JSON object.
//
// Thread safety: a Filter is immutable once parsed; Matches() and the accessors may be called
// from any number of threads at once.
//
// Syntax: [attribute, operator, value], ["And", [filter...]], ["Or", [filter...]],
// ["Not", filter]. The attribute `id` is the document id. A two-element array whose first
// element is And/Or/Not is a connective; [attr, op, value] is a condition even when `attr`
// happens to be spelled "And".
//
// Semantics. `v` is the attribute's value; "missing" means the key is absent or JSON null
// (turbopuffer does not distinguish the two). Source: turbopuffer.com/docs/query, section
// "Filtering Parameters" (quoted as [doc]); where turbopuffer documents nothing, the rule is
// ours and marked [ours].
//
//   Eq x          v equals x. Eq null: v is missing ("If value is null, matches documents
//                 missing the attribute" [doc]). x may be an array: v must be an array of
//                 the same length whose elements equal x's pairwise (whole-array equality).
//   NotEq x       not Eq x ("Inverse of Eq" [doc]): so a missing v matches NotEq 5, and
//                 NotEq null matches exactly the documents that have the attribute [doc].
//   In [x...]     v equals one of the values ("Matches any attributes values contained in
//                 the provided list" [doc]); for an array-valued v, the whole array must
//                 equal one of the (array) values in the list [ours]. Missing v: no match.
//   NotIn [x...]  not In ("Inverse of In" [doc]): a missing v matches.
//   Contains x    v is an array with an element equal to x [doc]. A missing or non-array v:
//                 no match [ours].
//   NotContains x not Contains ("Inverse of Contains" [doc]): missing/non-array v matches.
//   ContainsAny [x...]     v is an array sharing an element with the list [doc].
//   NotContainsAny [x...]  not ContainsAny [doc]: missing/non-array v matches.
//   Lt/Lte/Gt/Gte x   numeric order for numbers, bytewise (UTF-8 byte) order for strings,
//                 time order for two RFC 3339 timestamps [doc: "For datetimes, numeric
//                 less-than on millisecond representation"; we compare at nanosecond
//                 precision]. Missing values order below every value, as the docs note for
//                 Lt ("this matches null attribute values unless the value passed to Lt is
//                 null itself") and Lte ("this matches null attribute values") [doc]:
//                   missing v:  Lt x and Lte x match for any non-null x; Gt/Gte x do not.
//                   x = null:   Lt null never matches; Lte null matches missing v only;
//                               Gt null matches any present v; Gte null matches everything.
//                 A present v of another kind than x (string vs number, bool, array,
//                 object) never matches [ours].
//   AnyLt/AnyLte/AnyGt/AnyGte x   some element of the array v satisfies Lt/Lte/Gt/Gte x
//                 [doc: "using the same rules as Lt"]; a null element counts as a missing
//                 value. A missing v is judged like a missing value under Lt..Gte (so
//                 AnyLt 5 matches it); an empty array or a present non-array v: no match
//                 [ours].
//   Glob/IGlob p  v is a string matching the glob, or an array with a string element that
//                 does ("Unix-style glob match against string or []string attribute
//                 values", globset syntax [doc]). IGlob folds ASCII case only (as globset's
//                 byte regexes do). Anything else (missing, numbers, ...): no match.
//   NotGlob/NotIGlob p   not Glob / not IGlob ("Inverse of Glob" [doc]): missing matches.
//   Regex r       v is a string in which r matches somewhere (unanchored search; anchor with
//                 ^...$) [doc: "Regular expression match against string attribute values"].
//                 RE2 syntax (no look-around or backreferences, like turbopuffer's).
//                 Arrays and non-strings: no match.
//   And [f...]    all match [doc]; an empty And matches everything [ours].
//   Or [f...]     at least one matches [doc]; an empty Or matches nothing [ours].
//   Not f         f does not match [doc].
//
// Values. Numbers compare by exact mathematical value across JSON's int64/uint64/double
// representations (5 == 5.0; 2^64-1 and 2^64-2 differ, though both round to the same
// double). Booleans are only equal to booleans (Eq/NotEq/In/Contains...); Lt.. on booleans
// never match. Values of different kinds are never equal and never ordered. Datetimes are
// strings: when both sides parse as RFC 3339 timestamps ("2024-03-01T12:00:00.5+01:00";
// 'T', 't' or ' ' between date and time, 'Z'/'z' or ±HH:MM offset, seconds 00-59, fraction
// digits past the ninth ignored) they compare as instants, for equality as well as order;
// otherwise bytewise. Accepted filter values: Eq/NotEq a string, number, bool, null, or an
// array of strings/numbers/bools; In/NotIn an array of those scalars or such arrays;
// Contains/NotContains a scalar; ContainsAny/NotContainsAny an array of scalars; Lt..AnyGte
// a number, string or null; Glob.. and Regex a string. Anything else (objects, NaN/infinity,
// null inside a list) is InvalidArgument. Attribute values may be anything: kinds the
// operator cannot use simply do not match.
//
// Globs follow globset's syntax (github.com/BurntSushi/ripgrep/crates/globset): `?` one
// character, `*` any run of characters including '/', `[abc]` `[a-z]` `[!a]` `[^a]`
// classes (`]` first in a class is literal; `-` first or last is literal), `{a,b}`
// alternatives (not nested; empty alternatives are dropped), `\x` escapes x, `**/` / `/**`
// / `/**/` match any number of path components (e.g. `**/foo` matches "foo" and "a/foo").
// Unlike globset we match Unicode characters, not bytes, and reject a stray `}`. Globs
// compile to RE2 programs at Parse, so matching takes O(pattern x text) time in the worst
// case, without backtracking.
//
// Limits (InvalidArgument when exceeded): nesting deeper than kMaxFilterDepth, more than
// kMaxFilterListValues values in one In/NotIn/ContainsAny/NotContainsAny list, Glob/Regex
// patterns longer than kMaxFilterPatternBytes. Full-text operators (ContainsAllTokens,
// ContainsAnyToken, ContainsTokenSequence, Fuzzy) are not supported.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

// A filter nests at most this deep: a bare condition is depth 1, each And/Or/Not adds one.
inline constexpr int kMaxFilterDepth = 64;
// At most this many values in one In/NotIn/ContainsAny/NotContainsAny list.
inline constexpr size_t kMaxFilterListValues = 10000;
// Glob and Regex patterns are at most this many bytes long.
inline constexpr size_t kMaxFilterPatternBytes = 4096;

// An RFC 3339 timestamp (as the filters read them) in the canonical form datetime
// attributes are stored in: UTC with milliseconds, "2024-03-01T11:00:00.500Z" (finer digits
// dropped), so that byte order is time order. nullopt if `s` is not such a timestamp.
std::optional<std::string> CanonicalDatetime(std::string_view s);

// A parsed turbopuffer filter. Immutable; Matches() is thread-safe.
class Filter {
 public:
  // Parses a filter in turbopuffer's JSON syntax (see the table above). On error returns
  // InvalidArgument, never throws, with a message that starts with the JSON path of the
  // offending element (rooted at `path`) and says what is wrong, e.g.
  // "filters[1][1]: unknown operator 'Eqq'", "filters[2]: expected a value array for In",
  // "filters: Regex: invalid regular expression ...". The returned filter is shared and
  // immutable.
  static Result<std::shared_ptr<const Filter>> Parse(const nlohmann::json& filter,
                                                     const std::string& path = "filters");

  // Whether a document matches. `id` is the document's id as the API shows it (a JSON
  // unsigned integer, or a string — UUIDs are strings); `attributes` is a JSON object of the
  // document's attributes (a missing key and a JSON null both mean "no value"; a non-object
  // `attributes` is treated as empty). Never throws.
  bool Matches(const nlohmann::json& id, const nlohmann::json& attributes) const;

  // Attribute names the filter reads, each once, in order of first appearance ("id"
  // included when it filters on the id).
  const std::vector<std::string>& attributes() const { return attributes_; }

  ~Filter();
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;

  struct Node;  // the compiled filter tree (filter_internal.h)

  // The compiled tree, for the evaluators inside src/query (attribute_index.h).
  const Node& root() const;

 private:
  Filter();

  std::unique_ptr<const Node> root_;
  std::vector<std::string> attributes_;
};

}  // namespace vecpuff
