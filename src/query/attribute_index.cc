#include "query/attribute_index.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "query/filter_internal.h"

namespace vecpuff {

using namespace filter_internal;  // NOLINT(google-build-using-namespace)

namespace {

using json = nlohmann::json;
using Mask = std::vector<uint8_t>;

__extension__ typedef unsigned __int128 Uint128;

// A number as a key whose plain (hi, lo) order is its exact mathematical order, whatever
// its JSON representation: equal values (5, 5u, 5.0, -0.0 and 0) get equal keys. Every
// int64, uint64 and double is M * 2^(e-63) for a unique 64-bit M with its top bit set (an
// x87-style extended float), so a positive x orders by (e, M); negatives mirror below zero.
struct NumKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  auto operator<=>(const NumKey&) const = default;
};

constexpr Uint128 kZeroKey = Uint128{1} << 127;
constexpr int kExponentBias = 1200;  // e ranges over -1074..1024 (subnormals .. infinity)

NumKey MakeKey(bool negative, int e, uint64_t m) {
  // REQUIRES: m has its top bit set (zero has its own key).
  const Uint128 magnitude = (static_cast<Uint128>(e + kExponentBias) << 64) | m;
  const Uint128 k = negative ? kZeroKey - 1 - magnitude : kZeroKey + 1 + magnitude;
  return {static_cast<uint64_t>(k >> 64), static_cast<uint64_t>(k)};
}

NumKey ZeroKey() { return {static_cast<uint64_t>(kZeroKey >> 64), 0}; }

NumKey IntegerKey(bool negative, uint64_t magnitude) {
  if (magnitude == 0) return ZeroKey();
  const int shift = __builtin_clzll(magnitude);
  return MakeKey(negative, 63 - shift, magnitude << shift);
}

// The key of a number; nullopt for NaN, which equals and orders with nothing.
std::optional<NumKey> KeyOf(const Num& n) {
  switch (n.kind) {
    case Num::Kind::kInt:
      // -(i + 1) + 1 avoids overflowing on INT64_MIN.
      return n.i < 0 ? IntegerKey(true, static_cast<uint64_t>(-(n.i + 1)) + 1)
                     : IntegerKey(false, static_cast<uint64_t>(n.i));
    case Num::Kind::kUint:
      return IntegerKey(false, n.u);
    case Num::Kind::kFloat:
      break;
  }
  const double d = n.d;
  if (std::isnan(d)) return std::nullopt;
  if (d == 0) return ZeroKey();
  const bool negative = std::signbit(d);
  if (std::isinf(d)) return MakeKey(negative, 1024, uint64_t{1} << 63);
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof(bits));
  const int biased_exp = static_cast<int>((bits >> 52) & 0x7FF);
  const uint64_t fraction = bits & ((uint64_t{1} << 52) - 1);
  if (biased_exp == 0) {  // subnormal: fraction * 2^-1074
    const int shift = __builtin_clzll(fraction);
    return MakeKey(negative, 63 - shift - 1074, fraction << shift);
  }
  // (2^52 + fraction) * 2^(biased_exp - 1075)
  return MakeKey(negative, biased_exp - 1023, ((uint64_t{1} << 52) | fraction) << 11);
}

struct NumEntry {
  NumKey key;
  uint32_t entry;
};
struct StrEntry {
  std::string_view key;  // into the attribute JSON (or the index's own ids)
  uint32_t entry;
};
struct TimeEntry {
  Instant key;
  uint32_t entry;
};

// The 8 bytes of s from `at` as a big-endian number, zero-padded past the end.
uint64_t BigEndianWord(std::string_view s, size_t at) {
  unsigned char buf[8] = {};
  if (at < s.size()) std::memcpy(buf, s.data() + at, std::min<size_t>(8, s.size() - at));
  uint64_t v = 0;
  for (unsigned char b : buf) v = (v << 8) | b;
  return v;
}

// Sorts strings bytewise. The strings live scattered over the JSON's heap, so a plain sort
// spends most of its time on cache misses inside memcmp; this one compares the first 16
// bytes held inline (zero-padded, which orders a string before its extensions) and reads
// the strings themselves only to break ties between longer strings.
void SortStrings(std::vector<StrEntry>* list) {
  struct Item {
    uint64_t p0, p1;
    StrEntry e;
  };
  std::vector<Item> items;
  items.reserve(list->size());
  for (const StrEntry& e : *list) {
    items.push_back({BigEndianWord(e.key, 0), BigEndianWord(e.key, 8), e});
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.p0 != b.p0) return a.p0 < b.p0;
    if (a.p1 != b.p1) return a.p1 < b.p1;
    if (a.e.key.size() <= 16 && b.e.key.size() <= 16) return a.e.key.size() < b.e.key.size();
    return a.e.key < b.e.key;
  });
  list->clear();
  list->shrink_to_fit();
  list->reserve(items.size());
  for (const Item& it : items) list->push_back(it.e);
}

template <typename T>
size_t VectorBytes(const std::vector<T>& v) {
  return v.capacity() * sizeof(T);
}

// Scalar values of one attribute (or the elements of its array values), by kind, each list
// sorted by key. An entry appears once per value it holds: once for a scalar, once per
// element for an array. Values no condition can match (objects, nested arrays, NaN) are
// left out; they still count as present (Column::present).
struct Values {
  std::vector<uint32_t> falses;
  std::vector<uint32_t> trues;
  std::vector<NumEntry> nums;       // by key: exact numeric order (NaN left out)
  std::vector<StrEntry> plain;      // strings that are not RFC 3339 timestamps, bytewise
  std::vector<TimeEntry> times;     // timestamps, by instant
  std::vector<StrEntry> time_strs;  // the same timestamps, bytewise

  void Add(const json& v, uint32_t entry) {
    switch (v.type()) {
      case json::value_t::boolean:
        (*v.get_ptr<const json::boolean_t*>() ? trues : falses).push_back(entry);
        break;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: {
        // NaN compares with nothing (CompareNum), so no condition matches it.
        if (auto key = KeyOf(*AsNum(v))) nums.push_back({*key, entry});
        break;
      }
      case json::value_t::string: {
        const std::string_view s = *v.get_ptr<const json::string_t*>();
        if (auto t = ParseRfc3339(s)) {
          times.push_back({*t, entry});
          time_strs.push_back({s, entry});
        } else {
          plain.push_back({s, entry});
        }
        break;
      }
      default:
        break;
    }
  }

  void Finish() {
    std::sort(nums.begin(), nums.end(),
              [](const NumEntry& a, const NumEntry& b) { return a.key < b.key; });
    SortStrings(&plain);
    SortStrings(&time_strs);
    std::sort(times.begin(), times.end(),
              [](const TimeEntry& a, const TimeEntry& b) { return a.key < b.key; });
    falses.shrink_to_fit();
    trues.shrink_to_fit();
    nums.shrink_to_fit();
    plain.shrink_to_fit();
    times.shrink_to_fit();
    time_strs.shrink_to_fit();
  }

  size_t MemoryBytes() const {
    return VectorBytes(falses) + VectorBytes(trues) + VectorBytes(nums) + VectorBytes(plain) +
           VectorBytes(times) + VectorBytes(time_strs);
  }
};

// One attribute across the posting's entries. Every entry list is ascending and without
// duplicates unless said otherwise.
struct Column {
  std::vector<uint32_t> present;          // entries with a non-null value (of any kind)
  Values scalars;                         // the non-array values
  std::vector<uint32_t> arrays;           // entries whose value is an array
  std::vector<const json*> array_values;  // their values, parallel to `arrays`
  Values elements;                        // the non-null elements of the arrays
  std::vector<uint32_t> elem_null;        // entries whose array has a null element
  std::vector<uint32_t> elem_nonnull;     // entries whose array has a non-null element

  // REQUIRES: entries are added in ascending order; v is not null.
  void Add(const json& v, uint32_t entry) {
    present.push_back(entry);
    if (!v.is_array()) {
      scalars.Add(v, entry);
      return;
    }
    arrays.push_back(entry);
    array_values.push_back(&v);
    bool has_null = false, has_nonnull = false;
    for (const json& e : v) {
      if (e.is_null()) {
        has_null = true;
      } else {
        has_nonnull = true;
        elements.Add(e, entry);
      }
    }
    if (has_null) elem_null.push_back(entry);
    if (has_nonnull) elem_nonnull.push_back(entry);
  }

  void Finish() {
    present.shrink_to_fit();
    arrays.shrink_to_fit();
    array_values.shrink_to_fit();
    elem_null.shrink_to_fit();
    elem_nonnull.shrink_to_fit();
    scalars.Finish();
    elements.Finish();
  }

  size_t MemoryBytes() const {
    return sizeof(Column) + VectorBytes(present) + scalars.MemoryBytes() + VectorBytes(arrays) +
           VectorBytes(array_values) + elements.MemoryBytes() + VectorBytes(elem_null) +
           VectorBytes(elem_nonnull);
  }
};

const Column& EmptyColumn() {
  static const Column kEmpty;
  return kEmpty;
}

// --- Marking entries in a mask ------------------------------------------------------------

void Set(const std::vector<uint32_t>& entries, Mask* out) {
  uint8_t* m = out->data();
  for (uint32_t e : entries) m[e] = 1;
}

template <typename Entry>
void SetRange(const std::vector<Entry>& list, size_t begin, size_t end, Mask* out) {
  uint8_t* m = out->data();
  for (size_t i = begin; i < end; ++i) m[list[i].entry] = 1;
}

// Marks the entries without a value: not in `present` (ascending).
void SetMissing(const std::vector<uint32_t>& present, Mask* out) {
  uint8_t* m = out->data();
  const size_t n = out->size();
  if (present.size() == n) return;  // the common case: every entry has the attribute
  size_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (k < present.size() && present[k] == i) {
      ++k;
    } else {
      m[i] = 1;
    }
  }
}

// Marks the entries of `list` (sorted by key) whose key compares to the filter value x as
// `base` requires; cmp(entry) is the sign of (entry's key - x), non-decreasing along the
// list. base is kEq, kLt, kLte, kGt or kGte.
template <typename Entry, typename Cmp>
void MarkCompared(const std::vector<Entry>& list, Op base, Cmp cmp, Mask* out) {
  if (list.empty()) return;
  const auto lb = static_cast<size_t>(
      std::partition_point(list.begin(), list.end(), [&](const Entry& e) { return cmp(e) < 0; }) -
      list.begin());
  const auto ub = static_cast<size_t>(
      std::partition_point(list.begin() + static_cast<std::ptrdiff_t>(lb), list.end(),
                           [&](const Entry& e) { return cmp(e) <= 0; }) -
      list.begin());
  switch (base) {
    case Op::kEq:
      SetRange(list, lb, ub, out);
      break;
    case Op::kLt:
      SetRange(list, 0, lb, out);
      break;
    case Op::kLte:
      SetRange(list, 0, ub, out);
      break;
    case Op::kGt:
      SetRange(list, ub, list.size(), out);
      break;
    case Op::kGte:
      SetRange(list, lb, list.size(), out);
      break;
    default:
      break;
  }
}

int Sign3(int c) { return c < 0 ? -1 : (c > 0 ? 1 : 0); }

int CompareNumEntry(const NumEntry& e, const NumKey& x) {
  return e.key < x ? -1 : (x < e.key ? 1 : 0);
}

// Filter numbers are finite (checked at parse), so they have keys.
NumKey FilterKey(const Num& x) { return KeyOf(x).value_or(ZeroKey()); }
int CompareStrEntry(const StrEntry& e, std::string_view x) { return Sign3(e.key.compare(x)); }
int CompareTimeEntry(const TimeEntry& e, const Instant& x) {
  return e.key < x ? -1 : (x < e.key ? 1 : 0);
}

// Marks the values v with `v base x` (filter.cc's EqualScalar for kEq, OrderedMatch's
// comparison otherwise) for a non-null x. Strings compare as instants when both are RFC 3339
// timestamps and bytewise otherwise: against a timestamp x, the timestamps by instant and
// the other strings bytewise; against any other x, all strings bytewise.
void MarkScalar(const Values& vals, Op base, const Scalar& x, Mask* out) {
  switch (x.kind) {
    case Scalar::Kind::kNull:
      break;  // callers handle null
    case Scalar::Kind::kBool:
      if (base == Op::kEq) Set(x.b ? vals.trues : vals.falses, out);  // booleans are unordered
      break;
    case Scalar::Kind::kNumber: {
      const NumKey key = FilterKey(x.num);
      MarkCompared(
          vals.nums, base, [&](const NumEntry& e) { return CompareNumEntry(e, key); }, out);
      break;
    }
    case Scalar::Kind::kString: {
      const std::string_view xs = x.str;
      auto by_bytes = [&](const StrEntry& e) { return CompareStrEntry(e, xs); };
      MarkCompared(vals.plain, base, by_bytes, out);
      if (x.instant) {
        const Instant t = *x.instant;
        MarkCompared(
            vals.times, base, [&](const TimeEntry& e) { return CompareTimeEntry(e, t); }, out);
      } else {
        MarkCompared(vals.time_strs, base, by_bytes, out);
      }
      break;
    }
  }
}

// Marks the entries of `list` (sorted by key) whose key equals one of `xs` (sorted, unique,
// by the same order). cmp(entry, x) is the sign of (entry's key - x). Looks each x up in the
// list, or each distinct key up in xs, whichever set is smaller.
template <typename Entry, typename X, typename Cmp>
void MarkMembers(const std::vector<Entry>& list, const std::vector<X>& xs, Cmp cmp, Mask* out) {
  if (list.empty() || xs.empty()) return;
  if (xs.size() <= list.size()) {
    auto from = list.begin();
    for (const X& x : xs) {
      from = std::partition_point(from, list.end(), [&](const Entry& e) { return cmp(e, x) < 0; });
      auto to =
          std::partition_point(from, list.end(), [&](const Entry& e) { return cmp(e, x) <= 0; });
      for (auto it = from; it != to; ++it) (*out)[it->entry] = 1;
      from = to;
      if (from == list.end()) break;
    }
    return;
  }
  bool found = false;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i == 0 || cmp(list[i - 1], list[i].key) != 0) {  // a new distinct key
      auto it = std::partition_point(xs.begin(), xs.end(),
                                     [&](const X& x) { return cmp(list[i], x) > 0; });
      found = it != xs.end() && cmp(list[i], *it) == 0;
    }
    if (found) (*out)[list[i].entry] = 1;
  }
}

// Marks the values equal to a scalar of `set` (ValueSet::ContainsScalar).
void MarkSet(const Values& vals, const ValueSet& set, Mask* out) {
  if (set.has_true) Set(vals.trues, out);
  if (set.has_false) Set(vals.falses, out);
  if (!set.nums.empty() && !vals.nums.empty()) {
    // set.nums is sorted and deduplicated by CompareNum, the order of the keys.
    std::vector<NumKey> keys(set.nums.size());
    std::transform(set.nums.begin(), set.nums.end(), keys.begin(), FilterKey);
    MarkMembers(vals.nums, keys, CompareNumEntry, out);
  }
  // Non-timestamp set strings can only equal non-timestamp strings (bytewise), and set
  // instants only timestamps.
  MarkMembers(
      vals.plain, set.strings,
      [](const StrEntry& e, std::string_view x) { return CompareStrEntry(e, x); }, out);
  MarkMembers(vals.times, set.instants, CompareTimeEntry, out);
}

// Marks the string values the pattern matches (FullMatch for globs, PartialMatch for
// Regex), running RE2 once per distinct string, and only on the strings that start with
// `prefix` (which every match does).
void MarkPattern(const Values& vals, const RE2& re, bool full, std::string_view prefix, Mask* out) {
  for (const std::vector<StrEntry>* list : {&vals.plain, &vals.time_strs}) {
    // The strings that start with `prefix` are contiguous in bytewise order.
    auto it = list->begin();
    if (!prefix.empty()) {
      it = std::partition_point(list->begin(), list->end(),
                                [&](const StrEntry& e) { return e.key < prefix; });
    }
    bool matched = false;
    for (auto first = it; it != list->end(); ++it) {
      if (!prefix.empty() && !it->key.starts_with(prefix)) break;
      if (it == first || (it - 1)->key != it->key) {
        matched = full ? RE2::FullMatch(it->key, re) : RE2::PartialMatch(it->key, re);
      }
      if (matched) (*out)[it->entry] = 1;
    }
  }
}

Op BaseOf(Op op) {
  switch (op) {
    case Op::kAnyLt:
      return Op::kLt;
    case Op::kAnyLte:
      return Op::kLte;
    case Op::kAnyGt:
      return Op::kGt;
    case Op::kAnyGte:
      return Op::kGte;
    default:
      return op;
  }
}

}  // namespace

struct AttributeIndex::Rep {
  std::unordered_map<std::string, Column> columns;  // by attribute name, never "id"
  std::vector<json> ids;                            // owned; empty without ids
  Column id_column;                                 // over `ids`
};

namespace {

class Evaluator {
 public:
  Evaluator(const AttributeIndex::Rep& rep, size_t n) : rep_(rep), n_(n) {}

  // REQUIRES: *out is n zero bytes.
  void Eval(const Filter::Node& node, Mask* out) const {
    switch (node.op) {
      case Op::kAnd: {
        if (node.children.empty()) {
          std::fill(out->begin(), out->end(), 1);
          return;
        }
        Eval(node.children[0], out);
        Mask tmp;
        for (size_t c = 1; c < node.children.size(); ++c) {
          if (std::find(out->begin(), out->end(), 1) == out->end()) return;  // nothing left
          tmp.assign(n_, 0);
          Eval(node.children[c], &tmp);
          for (size_t i = 0; i < n_; ++i) (*out)[i] &= tmp[i];
        }
        return;
      }
      case Op::kOr: {
        Mask tmp;
        for (size_t c = 0; c < node.children.size(); ++c) {
          if (c == 0) {
            Eval(node.children[0], out);
            continue;
          }
          tmp.assign(n_, 0);
          Eval(node.children[c], &tmp);
          for (size_t i = 0; i < n_; ++i) (*out)[i] |= tmp[i];
        }
        return;
      }
      case Op::kNot:
        Eval(node.children[0], out);
        Flip(out);
        return;
      default:
        Condition(node, out);
        return;
    }
  }

 private:
  static void Flip(Mask* out) {
    for (uint8_t& m : *out) m ^= 1;
  }

  const Column& ColumnOf(const Filter::Node& node) const {
    if (node.is_id) return rep_.id_column;
    auto it = rep_.columns.find(node.attribute);
    return it == rep_.columns.end() ? EmptyColumn() : it->second;
  }

  // The rules are filter.cc's Eval, restated over sets of entries; "missing" is the
  // complement of col.present.
  void Condition(const Filter::Node& node, Mask* out) const {
    const Column& col = ColumnOf(node);
    const Scalar& x = node.value;
    bool negate = false;
    switch (node.op) {
      case Op::kEq:
      case Op::kNotEq:
        if (!node.value_is_array && x.kind == Scalar::Kind::kNull) {
          // Eq null: missing; NotEq null: present.
          if (node.op == Op::kEq) {
            SetMissing(col.present, out);
          } else {
            Set(col.present, out);
          }
          return;
        }
        if (node.value_is_array) {
          for (size_t k = 0; k < col.arrays.size(); ++k) {
            if (EqualArray(*col.array_values[k], node.array_value)) (*out)[col.arrays[k]] = 1;
          }
        } else {
          MarkScalar(col.scalars, Op::kEq, x, out);  // an array never equals a scalar
        }
        negate = node.op == Op::kNotEq;
        break;
      case Op::kIn:
      case Op::kNotIn:
        MarkSet(col.scalars, node.set, out);
        if (!node.set.arrays.empty()) {
          for (size_t k = 0; k < col.arrays.size(); ++k) {
            if (node.set.ContainsValue(*col.array_values[k])) (*out)[col.arrays[k]] = 1;
          }
        }
        negate = node.op == Op::kNotIn;
        break;
      case Op::kContains:
      case Op::kNotContains:
        MarkScalar(col.elements, Op::kEq, x, out);
        negate = node.op == Op::kNotContains;
        break;
      case Op::kContainsAny:
      case Op::kNotContainsAny:
        MarkSet(col.elements, node.set, out);
        negate = node.op == Op::kNotContainsAny;
        break;
      case Op::kLt:
      case Op::kLte:
      case Op::kGt:
      case Op::kGte:
        if (x.kind == Scalar::Kind::kNull) {
          // Missing equals null and any present value (of any kind) is above it.
          if (node.op == Op::kLte) SetMissing(col.present, out);
          if (node.op == Op::kGt) Set(col.present, out);
          if (node.op == Op::kGte) std::fill(out->begin(), out->end(), 1);
          return;
        }
        // Missing orders below every value; present values of another kind never match.
        if (node.op == Op::kLt || node.op == Op::kLte) SetMissing(col.present, out);
        MarkScalar(col.scalars, node.op, x, out);
        return;
      case Op::kAnyLt:
      case Op::kAnyLte:
      case Op::kAnyGt:
      case Op::kAnyGte: {
        // A missing value is judged as under Lt..Gte, a null element as a missing value,
        // and a present non-array value never matches.
        const Op base = BaseOf(node.op);
        if (x.kind == Scalar::Kind::kNull) {
          if (base == Op::kLte || base == Op::kGte) {
            SetMissing(col.present, out);
            Set(col.elem_null, out);
          }
          if (base == Op::kGt || base == Op::kGte) Set(col.elem_nonnull, out);
          return;
        }
        if (base == Op::kLt || base == Op::kLte) {
          SetMissing(col.present, out);
          Set(col.elem_null, out);
        }
        MarkScalar(col.elements, base, x, out);
        return;
      }
      case Op::kGlob:
      case Op::kIGlob:
      case Op::kNotGlob:
      case Op::kNotIGlob:
        MarkPattern(col.scalars, *node.re, /*full=*/true, node.literal_prefix, out);
        MarkPattern(col.elements, *node.re, /*full=*/true, node.literal_prefix, out);
        negate = node.op == Op::kNotGlob || node.op == Op::kNotIGlob;
        break;
      case Op::kRegex:
        // Strings only, not arrays; a match may start anywhere, so no prefix.
        MarkPattern(col.scalars, *node.re, /*full=*/false, "", out);
        return;
      default:
        return;
    }
    if (negate) Flip(out);
  }

  const AttributeIndex::Rep& rep_;
  const size_t n_;
};

bool ReadsId(const Filter::Node& node) {
  if (node.op == Op::kAnd || node.op == Op::kOr || node.op == Op::kNot) {
    for (const auto& c : node.children) {
      if (ReadsId(c)) return true;
    }
    return false;
  }
  return node.is_id;
}

}  // namespace

AttributeIndex::AttributeIndex() = default;
AttributeIndex::~AttributeIndex() = default;

std::unique_ptr<const AttributeIndex> AttributeIndex::Build(const std::vector<json>& attributes,
                                                            std::vector<json> ids) {
  std::unique_ptr<AttributeIndex> index(new AttributeIndex());
  index->size_ = attributes.size();
  index->rep_ = std::make_unique<Rep>();
  Rep& rep = *index->rep_;
  for (size_t i = 0; i < attributes.size(); ++i) {
    const json& a = attributes[i];
    if (!a.is_object()) continue;
    for (auto it = a.begin(); it != a.end(); ++it) {
      // A filter on "id" always means the document id, so an attribute of that name is
      // never read.
      if (it.value().is_null() || it.key() == "id") continue;
      rep.columns[it.key()].Add(it.value(), static_cast<uint32_t>(i));
    }
  }
  for (auto& [name, col] : rep.columns) col.Finish();
  if (ids.size() == attributes.size()) {  // (trivially so for an empty posting)
    index->has_ids_ = true;
    rep.ids = std::move(ids);
    // The id column refers into rep.ids, which stays in place from here on.
    for (size_t i = 0; i < rep.ids.size(); ++i) {
      if (!rep.ids[i].is_null()) rep.id_column.Add(rep.ids[i], static_cast<uint32_t>(i));
    }
    rep.id_column.Finish();
  }
  return index;
}

bool AttributeIndex::Matches(const Filter& filter, std::vector<uint8_t>* mask) const {
  const Filter::Node& root = filter.root();
  if (!has_ids_ && ReadsId(root)) return false;
  try {
    mask->assign(size_, 0);
    Evaluator(*rep_, size_).Eval(root, mask);
    return true;
  } catch (const std::bad_alloc&) {
    return false;
  }
}

size_t AttributeIndex::MemoryBytes() const {
  size_t bytes = sizeof(AttributeIndex) + sizeof(Rep);
  // An unordered_map node holds the key and value plus a next pointer and the cached hash;
  // the bucket array is a pointer per bucket.
  bytes += rep_->columns.bucket_count() * sizeof(void*);
  for (const auto& [name, col] : rep_->columns) {
    bytes += 2 * sizeof(void*) + sizeof(std::string) + col.MemoryBytes();
    if (name.size() > 15) bytes += name.capacity() + 1;
  }
  bytes += VectorBytes(rep_->ids) + rep_->id_column.MemoryBytes();
  for (const json& id : rep_->ids) {
    if (const auto* s = id.get_ptr<const json::string_t*>()) {
      bytes += sizeof(std::string) + (s->size() > 15 ? s->capacity() + 1 : 0);
    }
  }
  return bytes;
}

}  // namespace vecpuff
