#include "index/posting_summary.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {

using json = nlohmann::json;

namespace {

// Stored constants (docs/segment_format.md, "Posting summary"); they must never change.
constexpr uint8_t kPostingSummaryVersion = 1;
constexpr size_t kPostingSummaryHeaderBytes = 5;   // u8 version, u32 body size
constexpr size_t kPostingSummaryTrailerBytes = 8;  // u64 XXH64 of header and body
constexpr uint8_t kSummaryComplete = 1;
constexpr uint8_t kAttrHasMissing = 1;
constexpr uint8_t kAttrHasArrays = 2;
constexpr uint8_t kValHasTrue = 1;
constexpr uint8_t kValHasFalse = 2;
constexpr uint8_t kValHasNull = 4;
constexpr uint8_t kValHasOther = 8;
constexpr uint8_t kValHasNumbers = 16;
constexpr uint8_t kValHasStrings = 32;
constexpr uint8_t kValStrMaxTruncated = 64;
constexpr uint8_t kValExact = 128;

template <typename T>
int Sign(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

// Exact comparison of a double with an integer: no conversion of the integer to double,
// which would round above 2^53. REQUIRES: d is not NaN.
int CompareDoubleInt(double d, int64_t i) {
  if (d < -9223372036854775808.0) return -1;
  if (d >= 9223372036854775808.0) return 1;
  // d in [-2^63, 2^63): its truncation fits, and d - t is computed exactly.
  const int64_t t = static_cast<int64_t>(d);
  if (t != i) return Sign(t, i);
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? 1 : (frac < 0 ? -1 : 0);
}

int CompareDoubleUint(double d, uint64_t u) {
  if (d < 0) return -1;
  if (d >= 18446744073709551616.0) return 1;
  const uint64_t t = static_cast<uint64_t>(d);
  if (t != u) return Sign(t, u);
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? 1 : (frac < 0 ? -1 : 0);
}

int CompareIntUint(int64_t i, uint64_t u) {
  if (i < 0) return -1;
  return Sign(static_cast<uint64_t>(i), u);
}

std::string Cut(const std::string& s) {
  return s.size() <= kMaxSummaryStringBytes ? s : s.substr(0, kMaxSummaryStringBytes);
}

bool NumberLess(const SummaryNumber& a, const SummaryNumber& b) {
  const int c = CompareSummaryNumbers(a, b);
  return c != 0 ? c < 0 : a.kind < b.kind;  // deterministic order among equal values
}

void DropExact(ValueSummary* vs) {
  vs->exact = false;
  vs->numbers.clear();
  vs->numbers.shrink_to_fit();
  vs->strings.clear();
  vs->strings.shrink_to_fit();
}

// Makes room for one more exact value; false (and the set is dropped) when it is full.
bool RoomForExact(ValueSummary* vs) {
  if (vs->numbers.size() + vs->strings.size() < kMaxSummaryExactValues) return true;
  DropExact(vs);
  return false;
}

void AddNumber(ValueSummary* vs, const SummaryNumber& n) {
  if (!vs->has_numbers) {
    vs->has_numbers = true;
    vs->num_min = vs->num_max = n;
  } else {
    if (CompareSummaryNumbers(n, vs->num_min) < 0) vs->num_min = n;
    if (CompareSummaryNumbers(n, vs->num_max) > 0) vs->num_max = n;
  }
  if (!vs->exact) return;
  if (std::find(vs->numbers.begin(), vs->numbers.end(), n) != vs->numbers.end()) return;
  if (RoomForExact(vs)) vs->numbers.push_back(n);
}

void AddString(ValueSummary* vs, const std::string& s) {
  std::string c = Cut(s);
  const bool cut = s.size() > kMaxSummaryStringBytes;
  if (!vs->has_strings) {
    vs->has_strings = true;
    vs->str_min = c;
    vs->str_max = c;
    vs->str_max_truncated = cut;
  } else {
    // Cutting is monotone (a <= b implies Cut(a) <= Cut(b)), so the minimum of the cuts is
    // the cut of the minimum, and likewise for the maximum.
    if (c < vs->str_min) vs->str_min = c;
    if (c > vs->str_max) {
      vs->str_max = c;
      vs->str_max_truncated = cut;
    } else if (c == vs->str_max) {
      vs->str_max_truncated = vs->str_max_truncated || cut;
    }
  }
  if (!vs->exact) return;
  if (cut) {
    DropExact(vs);
    return;
  }
  if (std::find(vs->strings.begin(), vs->strings.end(), s) != vs->strings.end()) return;
  if (RoomForExact(vs)) vs->strings.push_back(s);
}

void AddValue(ValueSummary* vs, const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      vs->has_null = true;
      return;
    case json::value_t::boolean:
      (v.get<bool>() ? vs->has_true : vs->has_false) = true;
      return;
    case json::value_t::number_integer: {
      SummaryNumber n;
      n.kind = SummaryNumber::Kind::kInt;
      n.i = *v.get_ptr<const json::number_integer_t*>();
      AddNumber(vs, n);
      return;
    }
    case json::value_t::number_unsigned: {
      SummaryNumber n;
      n.kind = SummaryNumber::Kind::kUint;
      n.u = *v.get_ptr<const json::number_unsigned_t*>();
      AddNumber(vs, n);
      return;
    }
    case json::value_t::number_float: {
      const double d = *v.get_ptr<const json::number_float_t*>();
      if (std::isnan(d)) {
        vs->has_other = true;  // NaN equals and orders with nothing
        return;
      }
      SummaryNumber n;
      n.kind = SummaryNumber::Kind::kFloat;
      n.d = d == 0 ? 0.0 : d;  // -0.0 == 0.0 by value; store one spelling
      AddNumber(vs, n);
      return;
    }
    case json::value_t::string:
      AddString(vs, *v.get_ptr<const json::string_t*>());
      return;
    default:
      vs->has_other = true;  // object, array, binary, discarded
      return;
  }
}

void FinishValues(ValueSummary* vs) {
  std::sort(vs->numbers.begin(), vs->numbers.end(), NumberLess);
  std::sort(vs->strings.begin(), vs->strings.end());
}

size_t ValueSummaryHeapBytes(const ValueSummary& vs) {
  size_t n = vs.numbers.capacity() * sizeof(SummaryNumber) +
             vs.strings.capacity() * sizeof(std::string) + vs.str_min.capacity() +
             vs.str_max.capacity();
  for (const auto& s : vs.strings) n += s.capacity();
  return n;
}

// ---------------------------------------------------------------------------------------------
// Encoding.

void PutU8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }

// A short string: u8 length, bytes. REQUIRES: s.size() <= 255.
void PutShortString(std::string* dst, std::string_view s) {
  PutU8(dst, static_cast<uint8_t>(s.size()));
  dst->append(s.data(), s.size());
}

void PutNumber(std::string* dst, const SummaryNumber& n) {
  PutU8(dst, static_cast<uint8_t>(n.kind));
  switch (n.kind) {
    case SummaryNumber::Kind::kInt:
      PutFixed64(dst, static_cast<uint64_t>(n.i));
      break;
    case SummaryNumber::Kind::kUint:
      PutFixed64(dst, n.u);
      break;
    case SummaryNumber::Kind::kFloat: {
      uint64_t bits;
      std::memcpy(&bits, &n.d, sizeof(bits));
      PutFixed64(dst, bits);
      break;
    }
  }
}

void PutValueSummary(std::string* dst, const ValueSummary& vs) {
  uint8_t flags = 0;
  if (vs.has_true) flags |= kValHasTrue;
  if (vs.has_false) flags |= kValHasFalse;
  if (vs.has_null) flags |= kValHasNull;
  if (vs.has_other) flags |= kValHasOther;
  if (vs.has_numbers) flags |= kValHasNumbers;
  if (vs.has_strings) flags |= kValHasStrings;
  if (vs.has_strings && vs.str_max_truncated) flags |= kValStrMaxTruncated;
  if (vs.exact) flags |= kValExact;
  PutU8(dst, flags);
  if (vs.has_numbers) {
    PutNumber(dst, vs.num_min);
    PutNumber(dst, vs.num_max);
  }
  if (vs.has_strings) {
    PutShortString(dst, vs.str_min);
    PutShortString(dst, vs.str_max);
  }
  if (vs.exact) {
    PutU8(dst, static_cast<uint8_t>(vs.numbers.size()));
    for (const auto& n : vs.numbers) PutNumber(dst, n);
    PutU8(dst, static_cast<uint8_t>(vs.strings.size()));
    for (const auto& s : vs.strings) PutShortString(dst, s);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding. Every count and length is bounded by the limits in the header before anything
// is allocated, so a hostile input cannot make the decoder allocate much.

Status Bad(std::string_view what) {
  return Status::Corruption("posting summary: " + std::string(what));
}

Status ReadShortString(Decoder* d, size_t max_bytes, std::string* out, std::string_view what) {
  uint8_t len;
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&len, what));
  if (len > max_bytes) return Bad(std::string(what) + " too long");
  std::string_view bytes;
  VECPUFF_RETURN_IF_ERROR(d->ReadBytes(len, &bytes, what));
  out->assign(bytes.data(), bytes.size());
  return Status::OK();
}

Status ReadNumber(Decoder* d, SummaryNumber* n) {
  uint8_t kind;
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&kind, "number kind"));
  uint64_t bits;
  VECPUFF_RETURN_IF_ERROR(d->ReadU64(&bits, "number"));
  *n = SummaryNumber();
  switch (kind) {
    case 0:
      n->kind = SummaryNumber::Kind::kInt;
      n->i = static_cast<int64_t>(bits);
      return Status::OK();
    case 1:
      n->kind = SummaryNumber::Kind::kUint;
      n->u = bits;
      return Status::OK();
    case 2:
      n->kind = SummaryNumber::Kind::kFloat;
      std::memcpy(&n->d, &bits, sizeof(bits));
      if (std::isnan(n->d)) return Bad("NaN number");
      return Status::OK();
    default:
      return Bad("unknown number kind");
  }
}

Status ReadValueSummary(Decoder* d, bool element, ValueSummary* vs) {
  uint8_t flags;
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&flags, "value flags"));
  vs->has_true = (flags & kValHasTrue) != 0;
  vs->has_false = (flags & kValHasFalse) != 0;
  vs->has_null = (flags & kValHasNull) != 0;
  vs->has_other = (flags & kValHasOther) != 0;
  vs->has_numbers = (flags & kValHasNumbers) != 0;
  vs->has_strings = (flags & kValHasStrings) != 0;
  vs->str_max_truncated = (flags & kValStrMaxTruncated) != 0;
  vs->exact = (flags & kValExact) != 0;
  if (vs->has_null && !element) return Bad("null among non-array values");
  if (vs->str_max_truncated && !vs->has_strings) return Bad("truncation flag without strings");
  if (vs->has_numbers) {
    VECPUFF_RETURN_IF_ERROR(ReadNumber(d, &vs->num_min));
    VECPUFF_RETURN_IF_ERROR(ReadNumber(d, &vs->num_max));
    if (CompareSummaryNumbers(vs->num_min, vs->num_max) > 0) return Bad("number min > max");
  }
  if (vs->has_strings) {
    VECPUFF_RETURN_IF_ERROR(ReadShortString(d, kMaxSummaryStringBytes, &vs->str_min, "str_min"));
    VECPUFF_RETURN_IF_ERROR(ReadShortString(d, kMaxSummaryStringBytes, &vs->str_max, "str_max"));
    if (vs->str_min > vs->str_max) return Bad("string min > max");
  }
  if (vs->exact) {
    uint8_t count;
    VECPUFF_RETURN_IF_ERROR(d->ReadU8(&count, "exact number count"));
    if (count > kMaxSummaryExactValues) return Bad("too many exact values");
    vs->numbers.resize(count);
    for (auto& n : vs->numbers) VECPUFF_RETURN_IF_ERROR(ReadNumber(d, &n));
    VECPUFF_RETURN_IF_ERROR(d->ReadU8(&count, "exact string count"));
    if (vs->numbers.size() + count > kMaxSummaryExactValues) return Bad("too many exact values");
    vs->strings.resize(count);
    for (auto& s : vs->strings) {
      VECPUFF_RETURN_IF_ERROR(ReadShortString(d, kMaxSummaryStringBytes, &s, "exact string"));
    }
    // The exact sets must agree with the ranges they refine: MayMatch trusts either.
    if (vs->numbers.empty() == vs->has_numbers) return Bad("exact numbers disagree");
    if (vs->strings.empty() == vs->has_strings) return Bad("exact strings disagree");
    for (const auto& n : vs->numbers) {
      if (CompareSummaryNumbers(n, vs->num_min) < 0 || CompareSummaryNumbers(n, vs->num_max) > 0) {
        return Bad("exact number out of range");
      }
    }
    for (size_t i = 0; i < vs->strings.size(); ++i) {
      if (i > 0 && !(vs->strings[i - 1] < vs->strings[i])) return Bad("exact strings unsorted");
      if (vs->strings[i] < vs->str_min) return Bad("exact string out of range");
    }
  }
  return Status::OK();
}

}  // namespace

int CompareSummaryNumbers(const SummaryNumber& a, const SummaryNumber& b) {
  using K = SummaryNumber::Kind;
  switch (a.kind) {
    case K::kInt:
      if (b.kind == K::kInt) return Sign(a.i, b.i);
      if (b.kind == K::kUint) return CompareIntUint(a.i, b.u);
      return -CompareDoubleInt(b.d, a.i);
    case K::kUint:
      if (b.kind == K::kInt) return -CompareIntUint(b.i, a.u);
      if (b.kind == K::kUint) return Sign(a.u, b.u);
      return -CompareDoubleUint(b.d, a.u);
    case K::kFloat:
      if (b.kind == K::kInt) return CompareDoubleInt(a.d, b.i);
      if (b.kind == K::kUint) return CompareDoubleUint(a.d, b.u);
      return Sign(a.d, b.d);
  }
  return 0;
}

const AttributeSummary* PostingSummary::Find(std::string_view name) const {
  auto it = std::lower_bound(
      attributes.begin(), attributes.end(), name,
      [](const AttributeSummary& a, std::string_view n) { return std::string_view(a.name) < n; });
  if (it == attributes.end() || it->name != name) return nullptr;
  return &*it;
}

size_t PostingSummary::MemoryBytes() const {
  size_t n = sizeof(PostingSummary) + attributes.capacity() * sizeof(AttributeSummary);
  for (const auto& a : attributes) {
    n += a.name.capacity() + ValueSummaryHeapBytes(a.scalars) + ValueSummaryHeapBytes(a.elements);
  }
  return n;
}

PostingSummary SummarizePosting(const std::vector<json>& attributes) {
  PostingSummary s;
  s.num_entries = attributes.size();

  // Names with a non-null value, and how many entries have one.
  std::map<std::string, size_t, std::less<>> counts;
  for (const json& attrs : attributes) {
    if (!attrs.is_object()) continue;
    for (auto it = attrs.begin(); it != attrs.end(); ++it) {
      if (it.value().is_null()) continue;  // null == missing: nothing to record
      if (it.key().size() > kMaxSummaryNameBytes) {
        s.complete = false;
        continue;
      }
      ++counts[it.key()];
    }
  }
  std::vector<std::pair<std::string, size_t>> names(counts.begin(), counts.end());
  // Most frequent first (ties by name): the order in which attributes are kept.
  std::stable_sort(names.begin(), names.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  if (names.size() > kMaxSummaryAttributes) {
    s.complete = false;
    names.resize(kMaxSummaryAttributes);
  }

  s.attributes.reserve(names.size());
  for (const auto& [name, count] : names) {
    AttributeSummary a;
    a.name = name;
    a.has_missing = count < attributes.size();
    for (const json& attrs : attributes) {
      if (!attrs.is_object()) continue;
      auto it = attrs.find(name);
      if (it == attrs.end() || it->is_null()) continue;
      if (it->is_array()) {
        a.has_arrays = true;
        for (const json& e : *it) AddValue(&a.elements, e);
      } else {
        AddValue(&a.scalars, *it);
      }
    }
    FinishValues(&a.scalars);
    FinishValues(&a.elements);
    s.attributes.push_back(std::move(a));
  }

  // Within the byte budget: first without exact sets, then without the least frequent
  // attributes (still in frequency order here).
  if (EncodePostingSummary(s).size() > kMaxSummaryEncodedBytes) {
    for (auto& a : s.attributes) {
      DropExact(&a.scalars);
      DropExact(&a.elements);
    }
    while (!s.attributes.empty() && EncodePostingSummary(s).size() > kMaxSummaryEncodedBytes) {
      s.attributes.pop_back();
      s.complete = false;
    }
  }
  std::sort(s.attributes.begin(), s.attributes.end(),
            [](const AttributeSummary& a, const AttributeSummary& b) { return a.name < b.name; });
  return s;
}

std::string EncodePostingSummary(const PostingSummary& s) {
  std::string body;
  PutFixed64(&body, s.num_entries);
  PutU8(&body, s.complete ? kSummaryComplete : 0);
  PutU8(&body, static_cast<uint8_t>(s.attributes.size()));
  for (const auto& a : s.attributes) {
    PutShortString(&body, a.name);
    uint8_t flags = 0;
    if (a.has_missing) flags |= kAttrHasMissing;
    if (a.has_arrays) flags |= kAttrHasArrays;
    PutU8(&body, flags);
    PutValueSummary(&body, a.scalars);
    PutValueSummary(&body, a.elements);
  }
  std::string out;
  out.reserve(kPostingSummaryHeaderBytes + body.size() + kPostingSummaryTrailerBytes);
  PutU8(&out, kPostingSummaryVersion);
  PutFixed32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  PutFixed64(&out, Checksum64(out));
  return out;
}

Result<PostingSummary> DecodePostingSummary(std::string_view bytes) {
  if (bytes.size() < kPostingSummaryHeaderBytes + kPostingSummaryTrailerBytes) {
    return Bad("truncated");
  }
  const auto version = static_cast<uint8_t>(bytes[0]);
  if (version != kPostingSummaryVersion) return Bad("unknown version");
  const uint32_t body_size = DecodeFixed32(bytes.data() + 1);
  if (bytes.size() - kPostingSummaryHeaderBytes - kPostingSummaryTrailerBytes != body_size) {
    return Bad("size mismatch");
  }
  const size_t checked = kPostingSummaryHeaderBytes + body_size;
  if (Checksum64(bytes.substr(0, checked)) != DecodeFixed64(bytes.data() + checked)) {
    return Bad("checksum mismatch");
  }

  Decoder d(bytes.substr(kPostingSummaryHeaderBytes, body_size));
  PostingSummary s;
  VECPUFF_RETURN_IF_ERROR(d.ReadU64(&s.num_entries, "num_entries"));
  uint8_t flags;
  VECPUFF_RETURN_IF_ERROR(d.ReadU8(&flags, "summary flags"));
  if ((flags & ~kSummaryComplete) != 0) return Bad("unknown summary flags");
  s.complete = (flags & kSummaryComplete) != 0;
  uint8_t count;
  VECPUFF_RETURN_IF_ERROR(d.ReadU8(&count, "attribute count"));
  if (count > kMaxSummaryAttributes) return Bad("too many attributes");
  s.attributes.resize(count);
  for (size_t i = 0; i < s.attributes.size(); ++i) {
    AttributeSummary& a = s.attributes[i];
    VECPUFF_RETURN_IF_ERROR(ReadShortString(&d, kMaxSummaryNameBytes, &a.name, "name"));
    if (i > 0 && !(s.attributes[i - 1].name < a.name)) return Bad("attributes unsorted");
    uint8_t aflags;
    VECPUFF_RETURN_IF_ERROR(d.ReadU8(&aflags, "attribute flags"));
    if ((aflags & ~(kAttrHasMissing | kAttrHasArrays)) != 0) return Bad("unknown attribute flags");
    a.has_missing = (aflags & kAttrHasMissing) != 0;
    a.has_arrays = (aflags & kAttrHasArrays) != 0;
    VECPUFF_RETURN_IF_ERROR(ReadValueSummary(&d, /*element=*/false, &a.scalars));
    VECPUFF_RETURN_IF_ERROR(ReadValueSummary(&d, /*element=*/true, &a.elements));
    if (!a.has_arrays && a.elements.Any()) return Bad("elements without arrays");
  }
  if (!d.done()) return Bad("trailing bytes in body");
  return s;
}

}  // namespace vecpuff
