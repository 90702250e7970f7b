// Judges a filter (filter.h) against a posting's PostingSummary (index/posting_summary.h), so
// that a filtered query can skip a posting list none of whose entries can match without
// fetching it.
//
// Thread safety: a pure function of immutable inputs; call from any number of threads.
#pragma once

#include "index/posting_summary.h"
#include "query/filter.h"

namespace vecpuff {

// Returns false only if no document whose attributes `summary` covers can match `filter`
// (for any id): then Filter::Matches(id, attributes) is false for every summarized entry.
// Returns true when some entry may match, or when the summary cannot tell (it is
// conservative: a true result promises nothing). Conditions on the id are always judged
// possible (summaries hold no ids). Never throws.
//
// Exact where the summary allows: Eq/In/Contains/ContainsAny and Lt..Gte/AnyLt..AnyGte on
// numbers, bytewise strings and booleans; RFC 3339 datetimes (compared as instants) only
// against an exact value set; Glob/IGlob by literal prefix or exact value set; Regex by
// exact value set; And (all children), Or (any child). Not and the Not* operators are judged
// possible.
bool MayMatch(const Filter& filter, const PostingSummary& summary);

}  // namespace vecpuff
