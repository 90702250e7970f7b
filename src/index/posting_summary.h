// PostingSummary: a small, conservative description of the attribute values of one posting
// part's entries, stored in the index meta beside the part's reference so that a filtered
// query can skip a posting whose entries cannot match without fetching it (the judging side
// is MayMatch in query/posting_summary_match.h). "Conservative" means: every value an entry
// has lies within what the summary says; the summary may admit values no entry has.
//
// Per attribute (at most kMaxSummaryAttributes of them) it records whether some entry lacks
// it, and, separately for the attribute's non-array values and for the elements of its array
// values: which booleans occur, the exact [min, max] of the numbers (in their own JSON
// representation, compared exactly), the bytewise [min, max] of the strings (truncated to
// kMaxSummaryStringBytes; see StringRange), whether other kinds occur, and, while there are
// few, the exact set of distinct numbers and strings.
//
// The byte layout is specified in docs/segment_format.md, section "Posting summary".
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

// Limits of one summary. Stored summaries never exceed them and the decoder rejects
// (Corruption) a summary that does; they must never shrink.
//
// At most this many attributes are summarized; the rest make the summary incomplete.
inline constexpr size_t kMaxSummaryAttributes = 32;
// Attribute names longer than this are not summarized (they make the summary incomplete).
inline constexpr size_t kMaxSummaryNameBytes = 128;
// Strings in a range are cut to this many bytes; longer strings stay out of exact sets.
inline constexpr size_t kMaxSummaryStringBytes = 64;
// An exact value set holds at most this many distinct numbers and strings together.
inline constexpr size_t kMaxSummaryExactValues = 16;
// SummarizePosting keeps the encoded summary at most this long: past it, it drops the exact
// value sets, then the least frequent attributes (marking the summary incomplete). The
// decoder does not enforce it (older summaries stay readable if it ever grows).
inline constexpr size_t kMaxSummaryEncodedBytes = 4096;

// A JSON number in its own representation, so that comparisons stay exact: 2^53+1 (int) and
// 2^53 (double) differ. Never NaN.
struct SummaryNumber {
  enum class Kind : uint8_t { kInt = 0, kUint = 1, kFloat = 2 };  // stored; never change
  Kind kind = Kind::kInt;
  int64_t i = 0;   // kInt
  uint64_t u = 0;  // kUint
  double d = 0;    // kFloat
  bool operator==(const SummaryNumber&) const = default;
};

// Exact three-way comparison by mathematical value (-1, 0, 1). REQUIRES: neither is NaN.
int CompareSummaryNumbers(const SummaryNumber& a, const SummaryNumber& b);

// What a set of JSON values (an attribute's non-array values, or its array elements) can be.
struct ValueSummary {
  bool has_true = false;
  bool has_false = false;
  // Some value is null. Only for array elements (a null attribute value counts as missing).
  bool has_null = false;
  // Some value is none of bool/number/string/null: an object, an array (nested, for
  // elements), or a NaN number.
  bool has_other = false;

  // Numbers: all of them lie in [num_min, num_max] (exact). Meaningful iff has_numbers.
  bool has_numbers = false;
  SummaryNumber num_min;
  SummaryNumber num_max;

  // Strings (bytewise order): every string s satisfies str_min <= s, where str_min is the
  // smallest string cut to kMaxSummaryStringBytes. If !str_max_truncated, every s <= str_max;
  // otherwise str_max is the largest string cut to kMaxSummaryStringBytes and only
  // s[0, kMaxSummaryStringBytes) <= str_max holds (a cut string is no upper bound).
  // Meaningful iff has_strings.
  bool has_strings = false;
  std::string str_min;
  std::string str_max;
  bool str_max_truncated = false;

  // When `exact`, `numbers` and `strings` hold every distinct number and string exactly
  // (sorted, numbers by CompareSummaryNumbers; a number equal to another in a different
  // representation may appear twice). When not, both are empty.
  bool exact = true;
  std::vector<SummaryNumber> numbers;
  std::vector<std::string> strings;

  // Whether any value at all was summarized.
  bool Any() const {
    return has_true || has_false || has_null || has_other || has_numbers || has_strings;
  }

  bool operator==(const ValueSummary&) const = default;
};

// One attribute's values over the summarized entries.
struct AttributeSummary {
  std::string name;
  // Some entry lacks the attribute or has it as JSON null.
  bool has_missing = false;
  // The attribute's non-array values (objects count in scalars.has_other).
  ValueSummary scalars;
  // Some entry's value is an array (possibly empty); `elements` summarizes their elements.
  bool has_arrays = false;
  ValueSummary elements;

  bool operator==(const AttributeSummary&) const = default;
};

// What the attribute values of one posting part's entries can be, conservatively: a filter
// judged not to match the summary matches none of the entries summarized.
struct PostingSummary {
  // The number of entries summarized.
  uint64_t num_entries = 0;
  // Whether `attributes` names every attribute some entry has a non-null value for. If so,
  // an attribute absent from `attributes` is missing from every entry; if not, nothing is
  // known about it.
  bool complete = true;
  // Sorted by name, distinct; at most kMaxSummaryAttributes.
  std::vector<AttributeSummary> attributes;

  // The summary of `name`, or nullptr when it is not in `attributes`.
  const AttributeSummary* Find(std::string_view name) const;

  // Approximate heap and inline bytes held, for cache accounting.
  size_t MemoryBytes() const;

  bool operator==(const PostingSummary&) const = default;
};

// Summarizes entries' attributes: attributes[i] is entry i's attributes (a JSON object; a
// non-object is an entry without attributes; a JSON null value means no value). When more
// than kMaxSummaryAttributes names have values, the most frequent ones are kept (ties by
// name) and the summary is marked incomplete; likewise when the encoding would exceed
// kMaxSummaryEncodedBytes. Never throws (short of std::bad_alloc).
PostingSummary SummarizePosting(const std::vector<nlohmann::json>& attributes);

// The stored form (docs/segment_format.md, "Posting summary"): self-delimiting, versioned,
// checksummed. REQUIRES: `s` respects the limits above (as SummarizePosting's output does).
std::string EncodePostingSummary(const PostingSummary& s);

// Decodes EncodePostingSummary's output. `bytes` must be exactly one encoded summary. Any
// malformed, truncated, over-limit or checksum-failing input yields Corruption; never
// throws, never reads out of bounds, and allocates at most about the size of `bytes`.
Result<PostingSummary> DecodePostingSummary(std::string_view bytes);

}  // namespace vecpuff
