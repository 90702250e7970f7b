#include "query/posting_summary_match.h"

#include <algorithm>
#include <string>
#include <string_view>

#include "query/filter_internal.h"

namespace vecpuff {

using namespace filter_internal;  // NOLINT(google-build-using-namespace): src/query internals
using json = nlohmann::json;

namespace {

// Every function below answers "may some summarized value satisfy ...": false only when the
// summary proves that none does.

Num ToNum(const SummaryNumber& n) {
  Num out;
  switch (n.kind) {
    case SummaryNumber::Kind::kInt:
      out.kind = Num::Kind::kInt;
      out.i = n.i;
      break;
    case SummaryNumber::Kind::kUint:
      out.kind = Num::Kind::kUint;
      out.u = n.u;
      break;
    case SummaryNumber::Kind::kFloat:
      out.kind = Num::Kind::kFloat;
      out.d = n.d;
      break;
  }
  return out;
}

// Sign of (n - x). Neither is NaN (summaries hold none; filter numbers are finite), so the
// comparison always has a result; 0 otherwise keeps callers conservative for Eq.
int CompareToFilter(const SummaryNumber& n, const Num& x) {
  return CompareNum(ToNum(n), x).value_or(0);
}

// Sign of (s - x) as the filter compares strings: as instants when both are RFC 3339
// timestamps, else bytewise.
int CompareToFilter(std::string_view s, const Scalar& x) {
  if (x.instant) {
    if (auto t = ParseRfc3339(s)) return *t < *x.instant ? -1 : (*t > *x.instant ? 1 : 0);
  }
  const int c = s.compare(x.str);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string Cut(std::string_view s) {
  return std::string(s.substr(0, std::min(s.size(), kMaxSummaryStringBytes)));
}

// Whether some summarized string may be >= x (or > x when `strict`), bytewise. Only str_max
// bounds strings from above, and only through its cut when truncated.
bool StringsMayReach(const ValueSummary& vs, const std::string& x, bool strict) {
  if (vs.str_max_truncated) return Cut(x) <= vs.str_max;  // Cut(x) > str_max proves s < x
  return strict ? vs.str_max > x : vs.str_max >= x;
}

// Unsure (true) for operators other than the order ones.
bool Satisfies(Op op, int c) { return OrderHolds(op, c).value_or(true); }

bool AnyNonNull(const ValueSummary& vs) {
  return vs.has_true || vs.has_false || vs.has_other || vs.has_numbers || vs.has_strings;
}

// Some value v with EqualScalar(v, x).
bool MayEqual(const ValueSummary& vs, const Scalar& x) {
  switch (x.kind) {
    case Scalar::Kind::kNull:
      return vs.has_null;
    case Scalar::Kind::kBool:
      return x.b ? vs.has_true : vs.has_false;
    case Scalar::Kind::kNumber:
      if (!vs.has_numbers) return false;
      if (vs.exact) {
        return std::any_of(vs.numbers.begin(), vs.numbers.end(),
                           [&](const SummaryNumber& n) { return CompareToFilter(n, x.num) == 0; });
      }
      return CompareToFilter(vs.num_min, x.num) <= 0 && CompareToFilter(vs.num_max, x.num) >= 0;
    case Scalar::Kind::kString:
      if (!vs.has_strings) return false;
      if (vs.exact) {
        return std::any_of(vs.strings.begin(), vs.strings.end(),
                           [&](const std::string& s) { return CompareToFilter(s, x) == 0; });
      }
      if (x.instant) return true;  // another spelling of the instant may lie anywhere
      return vs.str_min <= x.str && StringsMayReach(vs, x.str, /*strict=*/false);
  }
  return true;
}

// Some value v with set.ContainsScalar(v).
bool MayEqualAny(const ValueSummary& vs, const ValueSet& set) {
  if ((vs.has_true && set.has_true) || (vs.has_false && set.has_false)) return true;
  if (vs.has_numbers && !set.nums.empty()) {
    if (vs.exact) {
      for (const auto& n : vs.numbers) {
        Num num = ToNum(n);
        auto it =
            std::lower_bound(set.nums.begin(), set.nums.end(), num,
                             [](const Num& e, const Num& v) { return CompareNum(e, v) == -1; });
        if (it != set.nums.end() && CompareNum(*it, num) == 0) return true;
      }
    } else {
      // set.nums is sorted: the first one >= num_min decides.
      const Num lo = ToNum(vs.num_min);
      auto it = std::lower_bound(set.nums.begin(), set.nums.end(), lo,
                                 [](const Num& e, const Num& v) { return CompareNum(e, v) == -1; });
      if (it != set.nums.end() && CompareToFilter(vs.num_max, *it) >= 0) return true;
    }
  }
  if (vs.has_strings && (!set.strings.empty() || !set.instants.empty())) {
    if (vs.exact) {
      for (const auto& s : vs.strings) {
        if (set.ContainsScalar(json(s))) return true;
      }
    } else {
      if (!set.instants.empty()) return true;  // spellings of an instant may lie anywhere
      auto it = std::lower_bound(set.strings.begin(), set.strings.end(), vs.str_min);
      if (it != set.strings.end() && StringsMayReach(vs, *it, /*strict=*/false)) return true;
    }
  }
  return false;
}

// Some non-null value v with CompareOrdered(v, x) satisfying `op`. REQUIRES: x is not null.
bool MayOrder(const ValueSummary& vs, Op op, const Scalar& x) {
  if (x.kind == Scalar::Kind::kNumber) {
    if (!vs.has_numbers) return false;
    if (vs.exact) {
      return std::any_of(vs.numbers.begin(), vs.numbers.end(), [&](const SummaryNumber& n) {
        return Satisfies(op, CompareToFilter(n, x.num));
      });
    }
    // Some value in [num_min, num_max] satisfies `op` iff the bound on its side does.
    const bool upward = op == Op::kGt || op == Op::kGte || op == Op::kAnyGt || op == Op::kAnyGte;
    return Satisfies(op, CompareToFilter(upward ? vs.num_max : vs.num_min, x.num));
  }
  if (x.kind == Scalar::Kind::kString) {
    if (!vs.has_strings) return false;
    if (vs.exact) {
      return std::any_of(vs.strings.begin(), vs.strings.end(), [&](const std::string& s) {
        return Satisfies(op, CompareToFilter(s, x));
      });
    }
    if (x.instant) return true;  // timestamps order by instant, not by bytes
    switch (op) {
      case Op::kLt:
      case Op::kAnyLt:
        return vs.str_min < x.str;
      case Op::kLte:
      case Op::kAnyLte:
        return vs.str_min <= x.str;
      case Op::kGt:
      case Op::kAnyGt:
        return StringsMayReach(vs, x.str, /*strict=*/true);
      default:
        return StringsMayReach(vs, x.str, /*strict=*/false);
    }
  }
  return true;  // booleans are rejected at parse; stay conservative
}

// Whether a missing value satisfies Lt..Gte x (missing orders below every value).
bool MissingSatisfies(Op op, const Scalar& x) {
  const int c = x.kind == Scalar::Kind::kNull ? 0 : -1;
  return Satisfies(op, c);
}

// Some summarized string s with matches(s): exact sets are tested one by one; otherwise the
// literal prefix every match starts with bounds where matches can lie.
template <typename Pred>
bool MayMatchPattern(const ValueSummary& vs, std::string_view prefix, Pred matches) {
  if (!vs.has_strings) return false;
  if (vs.exact) return std::any_of(vs.strings.begin(), vs.strings.end(), matches);
  if (prefix.empty()) return true;
  const std::string p(prefix);
  // Every match s has s >= p, so some string must reach p.
  if (!StringsMayReach(vs, p, /*strict=*/false)) return false;
  // Every string s >= str_min. If str_min > p and p is not a prefix of str_min, str_min
  // exceeds p at some byte within both, so every s is above every string starting with p.
  // (str_min is a prefix of the smallest string, so this holds for the cut too.)
  return !(vs.str_min > p && vs.str_min.compare(0, p.size(), p) != 0);
}

bool Judge(const Filter::Node& n, const PostingSummary& summary) {
  switch (n.op) {
    case Op::kAnd:
      return std::all_of(n.children.begin(), n.children.end(),
                         [&](const Filter::Node& c) { return Judge(c, summary); });
    case Op::kOr:
      return std::any_of(n.children.begin(), n.children.end(),
                         [&](const Filter::Node& c) { return Judge(c, summary); });
    case Op::kNot:
      return true;  // "some entry fails the child" is not something a summary can refute
    default:
      break;
  }
  if (n.is_id) return true;

  static const AttributeSummary kAllMissing = [] {
    AttributeSummary a;
    a.has_missing = true;
    return a;
  }();
  const AttributeSummary* found = summary.Find(n.attribute);
  if (found == nullptr && !summary.complete) return true;  // nothing known about it
  // An attribute absent from a complete summary is missing from every entry.
  const AttributeSummary& a = found != nullptr ? *found : kAllMissing;
  const ValueSummary& elems = a.elements;

  switch (n.op) {
    case Op::kEq:
      if (n.value_is_array) {
        if (!a.has_arrays) return false;
        return std::all_of(n.array_value.begin(), n.array_value.end(),
                           [&](const Scalar& x) { return MayEqual(elems, x); });
      }
      if (n.value.kind == Scalar::Kind::kNull) return a.has_missing;
      return MayEqual(a.scalars, n.value);
    case Op::kIn:
      if (!n.set.arrays.empty() && a.has_arrays) return true;
      return MayEqualAny(a.scalars, n.set);
    case Op::kContains:
      return a.has_arrays && MayEqual(elems, n.value);
    case Op::kContainsAny:
      return a.has_arrays && MayEqualAny(elems, n.set);
    case Op::kLt:
    case Op::kLte:
    case Op::kGt:
    case Op::kGte:
      if (a.has_missing && MissingSatisfies(n.op, n.value)) return true;
      if (n.value.kind == Scalar::Kind::kNull) {
        // Gt/Gte null match any present value; Lt/Lte null no present value.
        return (n.op == Op::kGt || n.op == Op::kGte) && (AnyNonNull(a.scalars) || a.has_arrays);
      }
      return MayOrder(a.scalars, n.op, n.value);
    case Op::kAnyLt:
    case Op::kAnyLte:
    case Op::kAnyGt:
    case Op::kAnyGte:
      // A missing value and a null element are judged like a missing value.
      if ((a.has_missing || (a.has_arrays && elems.has_null)) && MissingSatisfies(n.op, n.value)) {
        return true;
      }
      if (!a.has_arrays) return false;
      if (n.value.kind == Scalar::Kind::kNull) {
        return (n.op == Op::kAnyGt || n.op == Op::kAnyGte) && AnyNonNull(elems);
      }
      return MayOrder(elems, n.op, n.value);
    case Op::kGlob:
    case Op::kIGlob: {
      auto full = [&](const std::string& s) { return RE2::FullMatch(s, *n.re); };
      return MayMatchPattern(a.scalars, n.literal_prefix, full) ||
             (a.has_arrays && MayMatchPattern(elems, n.literal_prefix, full));
    }
    case Op::kRegex:
      return MayMatchPattern(a.scalars, "",
                             [&](const std::string& s) { return RE2::PartialMatch(s, *n.re); });
    default:
      return true;  // NotEq, NotIn, NotContains*, NotGlob*: match missing and most values
  }
}

}  // namespace

bool MayMatch(const Filter& filter, const PostingSummary& summary) {
  if (summary.num_entries == 0) return false;
  return Judge(filter.root(), summary);
}

}  // namespace vecpuff
