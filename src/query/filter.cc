#include "query/filter.h"

#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <compare>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "query/filter_internal.h"

namespace vecpuff {

using namespace filter_internal;  // NOLINT(google-build-using-namespace): this file defines it

namespace {

using json = nlohmann::json;

struct OpName {
  std::string_view name;
  Op op;
};

// The condition operators ([attribute, operator, value]).
constexpr OpName kConditionOps[] = {
    {"Eq", Op::kEq},
    {"NotEq", Op::kNotEq},
    {"In", Op::kIn},
    {"NotIn", Op::kNotIn},
    {"Contains", Op::kContains},
    {"NotContains", Op::kNotContains},
    {"ContainsAny", Op::kContainsAny},
    {"NotContainsAny", Op::kNotContainsAny},
    {"Lt", Op::kLt},
    {"Lte", Op::kLte},
    {"Gt", Op::kGt},
    {"Gte", Op::kGte},
    {"AnyLt", Op::kAnyLt},
    {"AnyLte", Op::kAnyLte},
    {"AnyGt", Op::kAnyGt},
    {"AnyGte", Op::kAnyGte},
    {"Glob", Op::kGlob},
    {"NotGlob", Op::kNotGlob},
    {"IGlob", Op::kIGlob},
    {"NotIGlob", Op::kNotIGlob},
    {"Regex", Op::kRegex},
};

constexpr std::string_view kFullTextOps[] = {"ContainsAllTokens", "ContainsAnyToken",
                                             "ContainsTokenSequence", "Fuzzy"};

// ---------------------------------------------------------------------------------------------
// RFC 3339 timestamps.

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` ASCII digits at s[pos...].
bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<Instant> filter_internal::ParseRfc3339(std::string_view s) {
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !ReadDigits(s, 0, 4, &year) || s[4] != '-' || !ReadDigits(s, 5, 2, &month) ||
      s[7] != '-' || !ReadDigits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !ReadDigits(s, 11, 2, &hour) || s[13] != ':' || !ReadDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ReadDigits(s, 17, 2, &second)) {
    return std::nullopt;
  }
  size_t pos = 19;
  int32_t nsec = 0;
  if (s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && IsDigit(s[pos])) {
      if (digits < 9) {
        nsec = nsec * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (; digits < 9; ++digits) nsec *= 10;
  }
  if (pos >= s.size()) return std::nullopt;
  int64_t offset_sec = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int off_hour, off_minute;
    if (!ReadDigits(s, pos + 1, 2, &off_hour) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadDigits(s, pos + 4, 2, &off_minute) || off_hour > 23 || off_minute > 59) {
      return std::nullopt;
    }
    offset_sec = (s[pos] == '-' ? -1 : 1) * (off_hour * 3600 + off_minute * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  Instant t;
  t.sec = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_sec;
  t.nsec = nsec;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Numbers: exact comparison across JSON's three number representations.

std::optional<Num> filter_internal::AsNum(const json& j) {
  Num n;
  switch (j.type()) {
    case json::value_t::number_integer:
      n.kind = Num::Kind::kInt;
      n.i = *j.get_ptr<const json::number_integer_t*>();
      return n;
    case json::value_t::number_unsigned:
      n.kind = Num::Kind::kUint;
      n.u = *j.get_ptr<const json::number_unsigned_t*>();
      return n;
    case json::value_t::number_float:
      n.kind = Num::Kind::kFloat;
      n.d = *j.get_ptr<const json::number_float_t*>();
      return n;
    default:
      return std::nullopt;
  }
}

namespace {

template <typename T>
int Sign(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

int CompareIntUint(int64_t i, uint64_t u) {
  if (i < 0) return -1;
  return Sign(static_cast<uint64_t>(i), u);
}

// Exact comparison of a double with an integer; nullopt for NaN. No conversion of the
// integer to double, which would round above 2^53.
std::optional<int> CompareDoubleInt(double d, int64_t i) {
  if (std::isnan(d)) return std::nullopt;
  if (d < -9223372036854775808.0) return -1;  // -2^63
  if (d >= 9223372036854775808.0) return 1;   // 2^63
  // Now d is in [-2^63, 2^63), so its truncation fits in int64. If |d| >= 2^53, d is an
  // integer and the truncation is exact; otherwise (double)t is exact. Either way the
  // fractional part below is computed exactly.
  const int64_t t = static_cast<int64_t>(d);
  if (t != i) return Sign(t, i);
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? 1 : (frac < 0 ? -1 : 0);
}

std::optional<int> CompareDoubleUint(double d, uint64_t u) {
  if (std::isnan(d)) return std::nullopt;
  if (d < 0) return -1;                       // -0.0 is not < 0 and compares as 0 below
  if (d >= 18446744073709551616.0) return 1;  // 2^64
  const uint64_t t = static_cast<uint64_t>(d);
  if (t != u) return Sign(t, u);
  const double frac = d - static_cast<double>(t);
  return frac > 0 ? 1 : (frac < 0 ? -1 : 0);
}

}  // namespace

std::optional<int> filter_internal::CompareNum(const Num& a, const Num& b) {
  using K = Num::Kind;
  switch (a.kind) {
    case K::kInt:
      switch (b.kind) {
        case K::kInt:
          return Sign(a.i, b.i);
        case K::kUint:
          return CompareIntUint(a.i, b.u);
        case K::kFloat: {
          auto c = CompareDoubleInt(b.d, a.i);
          if (!c) return std::nullopt;
          return -*c;
        }
      }
      break;
    case K::kUint:
      switch (b.kind) {
        case K::kInt:
          return -CompareIntUint(b.i, a.u);
        case K::kUint:
          return Sign(a.u, b.u);
        case K::kFloat: {
          auto c = CompareDoubleUint(b.d, a.u);
          if (!c) return std::nullopt;
          return -*c;
        }
      }
      break;
    case K::kFloat:
      switch (b.kind) {
        case K::kInt:
          return CompareDoubleInt(a.d, b.i);
        case K::kUint:
          return CompareDoubleUint(a.d, b.u);
        case K::kFloat:
          if (std::isnan(a.d) || std::isnan(b.d)) return std::nullopt;
          return Sign(a.d, b.d);
      }
      break;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Filter values.

namespace {

// Bytewise (unsigned byte) three-way comparison: std::char_traits<char> compares as
// unsigned char, so this is UTF-8 code point order.
int CompareBytes(std::string_view a, std::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// Compares an attribute string with a filter string: as instants when both are RFC 3339
// timestamps, else bytewise.
int CompareStrings(std::string_view attr, const Scalar& x) {
  if (x.instant) {
    if (auto t = ParseRfc3339(attr)) {
      return *t < *x.instant ? -1 : (*t > *x.instant ? 1 : 0);
    }
  }
  return CompareBytes(attr, x.str);
}

// Three-way comparison of an attribute value with a number or string filter value; nullopt
// when they are of different kinds (or NaN is involved).
std::optional<int> CompareOrdered(const json& a, const Scalar& x) {
  if (x.kind == Scalar::Kind::kNumber) {
    auto n = AsNum(a);
    if (!n) return std::nullopt;
    return CompareNum(*n, x.num);
  }
  if (x.kind == Scalar::Kind::kString) {
    const auto* s = a.get_ptr<const json::string_t*>();
    if (s == nullptr) return std::nullopt;
    return CompareStrings(*s, x);
  }
  return std::nullopt;
}

// Whether an attribute value (or array element) equals a non-null filter scalar.
bool EqualScalar(const json& a, const Scalar& x) {
  switch (x.kind) {
    case Scalar::Kind::kNull:
      return a.is_null();
    case Scalar::Kind::kBool: {
      const auto* b = a.get_ptr<const json::boolean_t*>();
      return b != nullptr && *b == x.b;
    }
    case Scalar::Kind::kNumber:
    case Scalar::Kind::kString: {
      auto c = CompareOrdered(a, x);
      return c && *c == 0;
    }
  }
  return false;
}

}  // namespace

bool filter_internal::EqualArray(const json& a, const std::vector<Scalar>& xs) {
  if (!a.is_array() || a.size() != xs.size()) return false;
  size_t i = 0;
  for (const json& e : a) {
    if (!EqualScalar(e, xs[i++])) return false;
  }
  return true;
}

void ValueSet::Add(Scalar x) {
  switch (x.kind) {
    case Scalar::Kind::kNull:
      break;  // rejected at parse
    case Scalar::Kind::kBool:
      (x.b ? has_true : has_false) = true;
      break;
    case Scalar::Kind::kNumber:
      nums.push_back(x.num);
      break;
    case Scalar::Kind::kString:
      if (x.instant) {
        instants.push_back(*x.instant);
      } else {
        strings.push_back(std::move(x.str));
      }
      break;
  }
}

void ValueSet::Finish() {
  auto num_less = [](const Num& a, const Num& b) { return CompareNum(a, b) == -1; };
  std::sort(nums.begin(), nums.end(), num_less);
  nums.erase(std::unique(nums.begin(), nums.end(),
                         [](const Num& a, const Num& b) { return CompareNum(a, b) == 0; }),
             nums.end());
  std::sort(strings.begin(), strings.end());
  strings.erase(std::unique(strings.begin(), strings.end()), strings.end());
  std::sort(instants.begin(), instants.end());
  instants.erase(std::unique(instants.begin(), instants.end()), instants.end());
}

bool ValueSet::ContainsScalar(const json& a) const {
  switch (a.type()) {
    case json::value_t::boolean:
      return *a.get_ptr<const json::boolean_t*>() ? has_true : has_false;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      if (nums.empty()) return false;
      const Num n = *AsNum(a);
      auto it = std::lower_bound(nums.begin(), nums.end(), n,
                                 [](const Num& e, const Num& v) { return CompareNum(e, v) == -1; });
      if (it == nums.end()) return false;
      auto c = CompareNum(*it, n);
      return c && *c == 0;
    }
    case json::value_t::string: {
      const std::string& s = *a.get_ptr<const json::string_t*>();
      if (!instants.empty()) {
        if (auto t = ParseRfc3339(s)) {
          return std::binary_search(instants.begin(), instants.end(), *t);
        }
      }
      return std::binary_search(strings.begin(), strings.end(), s);
    }
    default:
      return false;
  }
}

bool ValueSet::ContainsValue(const json& a) const {
  if (a.is_array()) {
    for (const auto& xs : arrays) {
      if (EqualArray(a, xs)) return true;
    }
    return false;
  }
  return ContainsScalar(a);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Globs: parsed like globset (github.com/BurntSushi/ripgrep, crates/globset/src/glob.rs),
// then translated to an RE2 program, as globset translates to a Rust regex. RE2 runs in time
// linear in the text for a fixed program and never backtracks.

struct GlobToken {
  enum class Kind : uint8_t {
    kLiteral,
    kAny,                  // ?
    kZeroOrMore,           // *
    kRecursivePrefix,      // **/ at the start
    kRecursiveSuffix,      // /** at the end
    kRecursiveZeroOrMore,  // /**/
    kClass,                // [...]
    kAlternates,           // {a,b}
  };
  Kind kind = Kind::kLiteral;
  char32_t c = 0;
  bool negated = false;
  std::vector<std::pair<char32_t, char32_t>> ranges;
  std::vector<std::vector<GlobToken>> alternates;
};

// Decodes UTF-8 into code points; false on malformed input.
bool DecodeUtf8(std::string_view s, std::u32string* out) {
  out->clear();
  out->reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len;
    char32_t cp;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    out->push_back(cp);
    i += len;
  }
  return true;
}

class GlobParser {
 public:
  explicit GlobParser(std::u32string glob) : glob_(std::move(glob)) {}

  // Parses the whole glob; on error returns a description of what is wrong.
  Result<std::vector<GlobToken>> Parse() {
    stack_.emplace_back();
    while (Bump()) {
      const char32_t c = cur_;
      Status st;
      switch (c) {
        case U'?':
          Push(Token(GlobToken::Kind::kAny));
          break;
        case U'*':
          ParseStar();
          break;
        case U'[':
          st = ParseClass();
          break;
        case U'{':
          if (stack_.size() > 1) return Status::InvalidArgument("nested alternate groups");
          stack_.emplace_back();
          break;
        case U'}':
          st = PopAlternates();
          break;
        case U',':
          if (stack_.size() <= 1) {
            Push(Literal(U','));
          } else {
            stack_.emplace_back();
          }
          break;
        case U'\\':
          if (!Bump()) return Status::InvalidArgument("dangling '\\'");
          Push(Literal(cur_));
          break;
        default:
          Push(Literal(c));
          break;
      }
      VECPUFF_RETURN_IF_ERROR(st);
    }
    if (stack_.size() > 1) {
      return Status::InvalidArgument("unclosed alternate group; missing '}'");
    }
    return std::move(stack_[0]);
  }

 private:
  static GlobToken Token(GlobToken::Kind kind) {
    GlobToken t;
    t.kind = kind;
    return t;
  }
  static GlobToken Literal(char32_t c) {
    GlobToken t;
    t.c = c;
    return t;
  }

  bool Bump() {
    prev_ = cur_;
    if (pos_ >= glob_.size()) {
      cur_ = kNone;
      return false;
    }
    cur_ = glob_[pos_++];
    return true;
  }
  char32_t Peek() const { return pos_ < glob_.size() ? glob_[pos_] : kNone; }
  void Push(GlobToken t) { stack_.back().push_back(std::move(t)); }

  // globset's parse_star: decides whether "**" is a recursive wildcard (adjacent to '/' or
  // the start/end of the glob or of an alternative) or just two '*'.
  void ParseStar() {
    const char32_t prev = prev_;
    if (Peek() != U'*') {
      Push(Token(GlobToken::Kind::kZeroOrMore));
      return;
    }
    Bump();  // the second '*'
    auto push_two_stars = [this] {
      Push(Token(GlobToken::Kind::kZeroOrMore));
      Push(Token(GlobToken::Kind::kZeroOrMore));
    };
    if (stack_.back().empty()) {
      if (Peek() != kNone && Peek() != U'/') {
        push_two_stars();
      } else {
        Push(Token(GlobToken::Kind::kRecursivePrefix));
        if (Peek() == U'/') Bump();
      }
      return;
    }
    if (prev != U'/') {
      if (stack_.size() <= 1 || (prev != U',' && prev != U'{')) {
        push_two_stars();
        return;
      }
    }
    bool is_suffix;
    const char32_t next = Peek();
    if (next == kNone) {
      is_suffix = true;
    } else if ((next == U',' || next == U'}') && stack_.size() >= 2) {
      is_suffix = true;
    } else if (next == U'/') {
      Bump();
      is_suffix = false;
    } else {
      push_two_stars();
      return;
    }
    // Invariant: the current group is not empty (checked above), and its last token is the
    // '/' before "**" or a recursive token that consumed it.
    const GlobToken::Kind last = stack_.back().back().kind;
    stack_.back().pop_back();
    if (last == GlobToken::Kind::kRecursivePrefix || last == GlobToken::Kind::kRecursiveSuffix) {
      Push(Token(last));
    } else {
      Push(Token(is_suffix ? GlobToken::Kind::kRecursiveSuffix
                           : GlobToken::Kind::kRecursiveZeroOrMore));
    }
  }

  Status ParseClass() {
    GlobToken t = Token(GlobToken::Kind::kClass);
    if (Peek() == U'!' || Peek() == U'^') {
      Bump();
      t.negated = true;
    }
    bool first = true;
    bool in_range = false;
    for (;;) {
      if (!Bump()) return Status::InvalidArgument("unclosed character class; missing ']'");
      const char32_t c = cur_;
      if (c == U']') {
        if (!first) break;
        t.ranges.emplace_back(c, c);
      } else if (c == U'-') {
        if (first) {
          t.ranges.emplace_back(c, c);
        } else if (in_range) {
          VECPUFF_RETURN_IF_ERROR(CloseRange(&t.ranges.back(), c));
          in_range = false;
        } else {
          in_range = true;
        }
      } else {
        if (in_range) {
          VECPUFF_RETURN_IF_ERROR(CloseRange(&t.ranges.back(), c));
        } else {
          t.ranges.emplace_back(c, c);
        }
        in_range = false;
      }
      first = false;
    }
    if (in_range) t.ranges.emplace_back(U'-', U'-');  // a trailing '-' is literal
    Push(std::move(t));
    return Status::OK();
  }

  static Status CloseRange(std::pair<char32_t, char32_t>* r, char32_t hi) {
    r->second = hi;
    if (r->second < r->first) return Status::InvalidArgument("invalid character range");
    return Status::OK();
  }

  Status PopAlternates() {
    if (stack_.size() < 2) {
      return Status::InvalidArgument("unopened alternate group; missing '{' (escape '}' as '[}]')");
    }
    GlobToken t = Token(GlobToken::Kind::kAlternates);
    for (size_t i = 1; i < stack_.size(); ++i) t.alternates.push_back(std::move(stack_[i]));
    stack_.resize(1);
    Push(std::move(t));
    return Status::OK();
  }

  static constexpr char32_t kNone = 0xFFFFFFFF;
  std::u32string glob_;
  size_t pos_ = 0;
  char32_t prev_ = kNone;
  char32_t cur_ = kNone;
  std::vector<std::vector<GlobToken>> stack_;
};

void AppendCodePoint(char32_t c, std::string* re) {
  static constexpr char kHex[] = "0123456789abcdef";
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    re->push_back(static_cast<char>(c));
    return;
  }
  std::string hex;
  for (char32_t v = c; v != 0 || hex.empty(); v >>= 4) hex.insert(hex.begin(), kHex[v & 0xF]);
  re->append("\\x{").append(hex).append("}");
}

void AppendClassRange(char32_t lo, char32_t hi, std::string* re) {
  AppendCodePoint(lo, re);
  if (hi != lo) {
    re->push_back('-');
    AppendCodePoint(hi, re);
  }
}

void TokensToRegex(const std::vector<GlobToken>& tokens, bool fold_ascii, std::string* re) {
  using K = GlobToken::Kind;
  for (const GlobToken& t : tokens) {
    switch (t.kind) {
      case K::kLiteral:
        if (fold_ascii && ((t.c >= 'a' && t.c <= 'z') || (t.c >= 'A' && t.c <= 'Z'))) {
          const char lower = static_cast<char>(t.c | 0x20);
          re->append("[").append(1, static_cast<char>(lower - 32)).append(1, lower).append("]");
        } else {
          AppendCodePoint(t.c, re);
        }
        break;
      case K::kAny:
        re->append(".");
        break;
      case K::kZeroOrMore:
        re->append(".*");
        break;
      case K::kRecursivePrefix:
        re->append("(?:/?|.*/)");
        break;
      case K::kRecursiveSuffix:
        re->append("/.*");
        break;
      case K::kRecursiveZeroOrMore:
        re->append("(?:/|/.*/)");
        break;
      case K::kClass:
        re->append(t.negated ? "[^" : "[");
        for (const auto& [lo, hi] : t.ranges) {
          AppendClassRange(lo, hi, re);
          if (fold_ascii) {
            // Add the other case of the range's ASCII letters; a negated class then
            // excludes both cases, as with globset's (?i).
            const char32_t ulo = std::max<char32_t>(lo, 'A'), uhi = std::min<char32_t>(hi, 'Z');
            if (ulo <= uhi) AppendClassRange(ulo + 32, uhi + 32, re);
            const char32_t llo = std::max<char32_t>(lo, 'a'), lhi = std::min<char32_t>(hi, 'z');
            if (llo <= lhi) AppendClassRange(llo - 32, lhi - 32, re);
          }
        }
        re->append("]");
        break;
      case K::kAlternates: {
        std::vector<std::string> parts;
        for (const auto& alt : t.alternates) {
          std::string part;
          TokensToRegex(alt, fold_ascii, &part);
          if (!part.empty()) parts.push_back(std::move(part));  // globset drops empty ones
        }
        if (parts.empty()) break;
        re->append("(?:");
        for (size_t i = 0; i < parts.size(); ++i) {
          if (i > 0) re->append("|");
          re->append(parts[i]);
        }
        re->append(")");
        break;
      }
    }
  }
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// The RE2 pattern (for FullMatch) equivalent to a glob, and in *literal_prefix the bytes
// every string it matches starts with: the UTF-8 of its leading literal characters, up to
// the first ASCII letter when folding case.
Result<std::string> GlobToRegex(std::string_view glob, bool fold_ascii,
                                std::string* literal_prefix) {
  std::u32string cps;
  if (!DecodeUtf8(glob, &cps)) return Status::InvalidArgument("pattern is not valid UTF-8");
  VECPUFF_ASSIGN_OR_RETURN(std::vector<GlobToken> tokens, GlobParser(std::move(cps)).Parse());
  literal_prefix->clear();
  for (const GlobToken& t : tokens) {
    if (t.kind != GlobToken::Kind::kLiteral) break;
    const bool letter = (t.c >= 'a' && t.c <= 'z') || (t.c >= 'A' && t.c <= 'Z');
    if (fold_ascii && letter) break;
    AppendUtf8(t.c, literal_prefix);
  }
  std::string re = "(?s)";  // '?' and '*' match newlines too
  if (tokens.size() == 1 && tokens[0].kind == GlobToken::Kind::kRecursivePrefix) {
    re.append(".*");  // "**" alone matches everything
  } else {
    TokensToRegex(tokens, fold_ascii, &re);
  }
  return re;
}

RE2::Options Re2Options() {
  RE2::Options opts;
  opts.set_encoding(RE2::Options::EncodingUTF8);
  opts.set_log_errors(false);
  opts.set_case_sensitive(true);
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

std::string TypeName(const json& j) { return std::string(j.type_name()); }

std::string Index(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Recursive-descent parser; depth is bounded by kMaxFilterDepth, so recursion is too.
class FilterParser {
 public:
  std::vector<std::string> attributes;

  Status ParseNode(const json& j, const std::string& path, int depth, Filter::Node* out) {
    if (depth > kMaxFilterDepth) {
      return Status::InvalidArgument(path + ": filters nest more than " +
                                     std::to_string(kMaxFilterDepth) + " levels deep");
    }
    if (!j.is_array()) {
      return Status::InvalidArgument(path + ": expected a filter array, got " + TypeName(j));
    }
    if (j.empty()) {
      return Status::InvalidArgument(
          path +
          ": expected a filter ([attribute, operator, value], [\"And\", [filters]], "
          "[\"Or\", [filters]] or [\"Not\", filter]), got an empty array");
    }
    const auto* head = j[0].get_ptr<const json::string_t*>();
    if (head == nullptr) {
      return Status::InvalidArgument(
          Index(path, 0) + ": expected an attribute name or And/Or/Not, got " + TypeName(j[0]));
    }
    // ["And", "Eq", 1] is a condition on an attribute named "And"; any other shape starting
    // with And/Or/Not is a connective.
    const bool connective =
        (*head == "And" || *head == "Or" || *head == "Not") && !(j.size() == 3 && j[1].is_string());
    if (connective) {
      if (j.size() != 2) {
        return Status::InvalidArgument(path + ": " + *head + " takes exactly one operand, got " +
                                       std::to_string(j.size() - 1));
      }
      if (*head == "Not") {
        out->op = Op::kNot;
        out->children.resize(1);
        return ParseNode(j[1], Index(path, 1), depth + 1, &out->children[0]);
      }
      out->op = *head == "And" ? Op::kAnd : Op::kOr;
      const json& list = j[1];
      const std::string list_path = Index(path, 1);
      if (!list.is_array()) {
        return Status::InvalidArgument(list_path + ": expected an array of filters for " + *head +
                                       ", got " + TypeName(list));
      }
      out->children.resize(list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        VECPUFF_RETURN_IF_ERROR(
            ParseNode(list[i], Index(list_path, i), depth + 1, &out->children[i]));
      }
      return Status::OK();
    }
    return ParseCondition(j, path, *head, out);
  }

 private:
  Status ParseCondition(const json& j, const std::string& path, const std::string& attribute,
                        Filter::Node* out) {
    if (j.size() < 2) {
      return Status::InvalidArgument(path +
                                     ": expected [attribute, operator, value], got an array "
                                     "of 1 element");
    }
    const auto* op_name = j[1].get_ptr<const json::string_t*>();
    const std::string op_path = Index(path, 1);
    if (op_name == nullptr) {
      return Status::InvalidArgument(op_path + ": expected an operator name, got " +
                                     TypeName(j[1]));
    }
    for (std::string_view ft : kFullTextOps) {
      if (*op_name == ft) {
        return Status::InvalidArgument(op_path + ": operator '" + *op_name +
                                       "' is not supported (full-text search is not "
                                       "implemented)");
      }
    }
    const OpName* found = nullptr;
    for (const OpName& o : kConditionOps) {
      if (*op_name == o.name) found = &o;
    }
    if (found == nullptr) {
      return Status::InvalidArgument(op_path + ": unknown operator '" + *op_name + "'");
    }
    const std::string op(found->name);
    if (j.size() != 3) {
      return Status::InvalidArgument(path + ": expected [attribute, operator, value] for " + op +
                                     ", got an array of " + std::to_string(j.size()) + " elements");
    }
    if (attribute.empty()) {
      return Status::InvalidArgument(Index(path, 0) + ": attribute name is empty");
    }
    out->op = found->op;
    out->attribute = attribute;
    out->is_id = attribute == "id";
    if (std::find(attributes.begin(), attributes.end(), attribute) == attributes.end()) {
      attributes.push_back(attribute);
    }

    const json& v = j[2];
    const std::string vpath = Index(path, 2);
    switch (out->op) {
      case Op::kEq:
      case Op::kNotEq:
        if (v.is_null()) return Status::OK();  // value stays kNull
        if (v.is_array()) {
          out->value_is_array = true;
          return ParseScalarArray(v, vpath, op, &out->array_value);
        }
        return ParseScalar(v, vpath, op, &out->value);
      case Op::kIn:
      case Op::kNotIn:
      case Op::kContainsAny:
      case Op::kNotContainsAny: {
        if (!v.is_array()) {
          return Status::InvalidArgument(vpath + ": expected a value array for " + op + ", got " +
                                         TypeName(v));
        }
        if (v.size() > kMaxFilterListValues) {
          return Status::InvalidArgument(vpath + ": " + op + " has " + std::to_string(v.size()) +
                                         " values; at most " +
                                         std::to_string(kMaxFilterListValues) + " are allowed");
        }
        const bool in = out->op == Op::kIn || out->op == Op::kNotIn;
        for (size_t i = 0; i < v.size(); ++i) {
          if (in && v[i].is_array()) {
            std::vector<Scalar> xs;
            VECPUFF_RETURN_IF_ERROR(ParseScalarArray(v[i], Index(vpath, i), op, &xs));
            out->set.arrays.push_back(std::move(xs));
            continue;
          }
          Scalar x;
          VECPUFF_RETURN_IF_ERROR(ParseScalar(v[i], Index(vpath, i), op, &x));
          out->set.Add(std::move(x));
        }
        out->set.Finish();
        return Status::OK();
      }
      case Op::kContains:
      case Op::kNotContains:
        return ParseScalar(v, vpath, op, &out->value);
      case Op::kGlob:
      case Op::kNotGlob:
      case Op::kIGlob:
      case Op::kNotIGlob:
      case Op::kRegex:
        return ParsePattern(v, path, vpath, op, out);
      default:
        break;
    }
    // Lt..AnyGte: a number, a string (or datetime), or null (ordered below every value).
    if (v.is_null()) return Status::OK();
    if (!v.is_number() && !v.is_string()) {
      return Status::InvalidArgument(vpath + ": " + op +
                                     " compares numbers, strings or datetimes, got " + TypeName(v));
    }
    return ParseScalar(v, vpath, op, &out->value);
  }

  // A non-null string, number or boolean.
  static Status ParseScalar(const json& v, const std::string& vpath, const std::string& op,
                            Scalar* x) {
    switch (v.type()) {
      case json::value_t::boolean:
        x->kind = Scalar::Kind::kBool;
        x->b = *v.get_ptr<const json::boolean_t*>();
        return Status::OK();
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float:
        x->kind = Scalar::Kind::kNumber;
        x->num = *AsNum(v);
        if (x->num.kind == Num::Kind::kFloat && !std::isfinite(x->num.d)) {
          return Status::InvalidArgument(vpath + ": expected a finite number for " + op);
        }
        return Status::OK();
      case json::value_t::string:
        x->kind = Scalar::Kind::kString;
        x->str = *v.get_ptr<const json::string_t*>();
        x->instant = ParseRfc3339(x->str);
        return Status::OK();
      default:
        return Status::InvalidArgument(vpath + ": expected a string, number or boolean for " + op +
                                       ", got " + TypeName(v));
    }
  }

  static Status ParseScalarArray(const json& v, const std::string& vpath, const std::string& op,
                                 std::vector<Scalar>* xs) {
    xs->resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      VECPUFF_RETURN_IF_ERROR(ParseScalar(v[i], Index(vpath, i), op, &(*xs)[i]));
    }
    return Status::OK();
  }

  static Status ParsePattern(const json& v, const std::string& path, const std::string& vpath,
                             const std::string& op, Filter::Node* out) {
    const auto* pattern = v.get_ptr<const json::string_t*>();
    if (pattern == nullptr) {
      return Status::InvalidArgument(vpath + ": expected a pattern string for " + op + ", got " +
                                     TypeName(v));
    }
    if (pattern->size() > kMaxFilterPatternBytes) {
      return Status::InvalidArgument(vpath + ": " + op + " pattern is " +
                                     std::to_string(pattern->size()) + " bytes; at most " +
                                     std::to_string(kMaxFilterPatternBytes) + " are allowed");
    }
    std::string regex;
    if (out->op == Op::kRegex) {
      regex = *pattern;
    } else {
      const bool fold = out->op == Op::kIGlob || out->op == Op::kNotIGlob;
      auto r = GlobToRegex(*pattern, fold, &out->literal_prefix);
      if (!r.ok()) {
        return Status::InvalidArgument(path + ": " + op +
                                       ": invalid glob pattern: " + r.status().message());
      }
      regex = std::move(r).value();
    }
    auto re = std::make_unique<RE2>(regex, Re2Options());
    if (!re->ok()) {
      if (out->op == Op::kRegex) {
        return Status::InvalidArgument(path +
                                       ": Regex: invalid regular expression: " + re->error());
      }
      // Only a size limit can make a translated glob fail to compile.
      return Status::InvalidArgument(path + ": " + op +
                                     ": glob pattern is too complex: " + re->error());
    }
    out->re = std::move(re);
    return Status::OK();
  }
};

// ---------------------------------------------------------------------------------------------
// Evaluation. `v` is the attribute value, nullptr when missing or null.

// Lt/Lte/Gt/Gte on one value, with missing (and null) ordered below every value.
bool OrderedMatch(Op op, const json* v, const Scalar& x) {
  int c;  // sign of (v - x)
  if (x.kind == Scalar::Kind::kNull) {
    c = v == nullptr ? 0 : 1;
  } else if (v == nullptr) {
    c = -1;
  } else {
    auto cmp = CompareOrdered(*v, x);
    if (!cmp) return false;
    c = *cmp;
  }
  return OrderHolds(op, c).value_or(false);
}

const json* NullToMissing(const json& j) { return j.is_null() ? nullptr : &j; }

bool GlobMatch(const RE2& re, const json* v) {
  if (v == nullptr) return false;
  if (const auto* s = v->get_ptr<const json::string_t*>()) return RE2::FullMatch(*s, re);
  if (v->is_array()) {
    for (const json& e : *v) {
      const auto* s = e.get_ptr<const json::string_t*>();
      if (s != nullptr && RE2::FullMatch(*s, re)) return true;
    }
  }
  return false;
}

bool Eval(const Filter::Node& n, const json& id, const json& attrs) {
  switch (n.op) {
    case Op::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(c, id, attrs)) return false;
      }
      return true;
    case Op::kOr:
      for (const auto& c : n.children) {
        if (Eval(c, id, attrs)) return true;
      }
      return false;
    case Op::kNot:
      return !Eval(n.children[0], id, attrs);
    default:
      break;
  }

  const json* v = nullptr;
  if (n.is_id) {
    v = NullToMissing(id);
  } else if (attrs.is_object()) {
    auto it = attrs.find(n.attribute);
    if (it != attrs.end()) v = NullToMissing(*it);
  }

  switch (n.op) {
    case Op::kEq:
    case Op::kNotEq: {
      bool eq;
      if (n.value_is_array) {
        eq = v != nullptr && EqualArray(*v, n.array_value);
      } else if (n.value.kind == Scalar::Kind::kNull) {
        eq = v == nullptr;
      } else {
        eq = v != nullptr && EqualScalar(*v, n.value);
      }
      return eq == (n.op == Op::kEq);
    }
    case Op::kIn:
    case Op::kNotIn:
      return (v != nullptr && n.set.ContainsValue(*v)) == (n.op == Op::kIn);
    case Op::kContains:
    case Op::kNotContains: {
      bool found = false;
      if (v != nullptr && v->is_array()) {
        for (const json& e : *v) {
          if (EqualScalar(e, n.value)) {
            found = true;
            break;
          }
        }
      }
      return found == (n.op == Op::kContains);
    }
    case Op::kContainsAny:
    case Op::kNotContainsAny: {
      bool found = false;
      if (v != nullptr && v->is_array()) {
        for (const json& e : *v) {
          if (n.set.ContainsScalar(e)) {
            found = true;
            break;
          }
        }
      }
      return found == (n.op == Op::kContainsAny);
    }
    case Op::kLt:
    case Op::kLte:
    case Op::kGt:
    case Op::kGte:
      return OrderedMatch(n.op, v, n.value);
    case Op::kAnyLt:
    case Op::kAnyLte:
    case Op::kAnyGt:
    case Op::kAnyGte:
      if (v == nullptr) return OrderedMatch(n.op, nullptr, n.value);
      if (!v->is_array()) return false;
      for (const json& e : *v) {
        if (OrderedMatch(n.op, NullToMissing(e), n.value)) return true;
      }
      return false;
    case Op::kGlob:
    case Op::kIGlob:
      return GlobMatch(*n.re, v);
    case Op::kNotGlob:
    case Op::kNotIGlob:
      return !GlobMatch(*n.re, v);
    case Op::kRegex: {
      const auto* s = v == nullptr ? nullptr : v->get_ptr<const json::string_t*>();
      return s != nullptr && RE2::PartialMatch(*s, *n.re);
    }
    default:
      return false;
  }
}

}  // namespace

Filter::Filter() = default;
Filter::~Filter() = default;

const Filter::Node& Filter::root() const { return *root_; }

Result<std::shared_ptr<const Filter>> Filter::Parse(const nlohmann::json& filter,
                                                    const std::string& path) {
  try {
    FilterParser parser;
    auto root = std::make_unique<Node>();
    VECPUFF_RETURN_IF_ERROR(parser.ParseNode(filter, path, 1, root.get()));
    std::shared_ptr<Filter> f(new Filter());
    f->root_ = std::move(root);
    f->attributes_ = std::move(parser.attributes);
    return std::shared_ptr<const Filter>(std::move(f));
  } catch (const std::exception& e) {
    // Only allocation failure can get here; the parser uses no throwing accessors.
    return Status::Internal(path + ": parsing the filter failed: " + e.what());
  }
}

bool Filter::Matches(const nlohmann::json& id, const nlohmann::json& attributes) const {
  try {
    return Eval(*root_, id, attributes);
  } catch (...) {
    // Unreachable: evaluation uses only non-throwing accessors and does not allocate except
    // inside RE2, which does not throw. Kept so no exception can escape a query.
    return false;
  }
}

std::optional<std::string> CanonicalDatetime(std::string_view s) {
  const std::optional<Instant> t = ParseRfc3339(s);
  if (!t) return std::nullopt;
  // H. Hinnant's civil_from_days, the inverse of DaysFromCivil.
  const int64_t days = t->sec >= 0 ? t->sec / 86400 : -((-t->sec + 86399) / 86400);
  const int64_t rem = t->sec - days * 86400;
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  if (y < 0 || y > 9999) return std::nullopt;  // the canonical form has four year digits
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", static_cast<int>(y),
                static_cast<int>(m), static_cast<int>(d), static_cast<int>(rem / 3600),
                static_cast<int>(rem % 3600 / 60), static_cast<int>(rem % 60),
                static_cast<int>(t->nsec / 1000000));
  return std::string(buf);
}

}  // namespace vecpuff
