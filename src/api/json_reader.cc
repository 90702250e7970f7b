#include "api/json_reader.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace vecpuff {
namespace {

using nlohmann::json;

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline bool IsWhitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string TypeName(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) starting at p, or 0 if there is none. REQUIRES: *p >= 0x80.
size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  auto cont = [&](size_t i, unsigned char lo, unsigned char hi) {
    return p + i < end && p[i] >= lo && p[i] <= hi;
  };
  unsigned char c = p[0];
  if (c >= 0xC2 && c <= 0xDF) return cont(1, 0x80, 0xBF) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) ? 3 : 0;
  }
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2, 0x80, 0xBF) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) {
    return cont(1, 0x80, 0xBF) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  }
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2, 0x80, 0xBF) && cont(3, 0x80, 0xBF) ? 4 : 0;
  return 0;
}

// Exact powers of ten as doubles (10^22 is the largest a double holds exactly).
constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

// The common case of a vector element, in one pass: a valid JSON number with at most 19
// digits, a mantissa of at most 2^53 and a decimal exponent within +-22. Then the mantissa
// and the power of ten are exact doubles, and one IEEE multiplication or division rounds
// correctly (Clinger's fast path), so the result equals std::from_chars'. Returns false,
// consuming nothing, for anything else (other numbers, and invalid ones, which the general
// path reports).
inline bool FastDouble(const char* p, const char* end, const char** token_end, double* out,
                       bool* is_integer) {
  const char* q = p;
  bool negative = false;
  if (q < end && *q == '-') {
    negative = true;
    ++q;
  }
  if (q >= end || !IsDigit(*q)) return false;
  uint64_t mantissa = 0;
  int digits = 0;
  if (*q == '0') {
    ++q;
    if (q < end && IsDigit(*q)) return false;
  } else {
    for (; q < end && IsDigit(*q); ++q, ++digits) mantissa = mantissa * 10 + (*q - '0');
  }
  int exponent = 0;
  bool integer = true;
  if (q < end && *q == '.') {
    integer = false;
    const char* fraction = ++q;
    for (; q < end && IsDigit(*q); ++q, ++digits) mantissa = mantissa * 10 + (*q - '0');
    if (q == fraction) return false;
    exponent = -static_cast<int>(q - fraction);
  }
  if (q < end && (*q == 'e' || *q == 'E')) {
    integer = false;
    ++q;
    bool exp_negative = false;
    if (q < end && (*q == '+' || *q == '-')) exp_negative = *q++ == '-';
    if (q >= end || !IsDigit(*q)) return false;
    int e = 0;
    for (; q < end && IsDigit(*q); ++q) e = std::min(e * 10 + (*q - '0'), 100000);
    exponent += exp_negative ? -e : e;
  }
  // 19 digits cannot overflow the mantissa; more might have.
  if (digits > 19 || mantissa > (uint64_t{1} << 53) || exponent < -22 || exponent > 22) {
    return false;
  }
  double d = static_cast<double>(mantissa);
  d = exponent < 0 ? d / kPow10[-exponent] : d * kPow10[exponent];
  *out = negative ? -d : d;
  *token_end = q;
  *is_integer = integer;
  return true;
}

// An integer of 1 to 9 digits (no fraction, no exponent) followed by a delimiter (',', ']',
// '}' or whitespace): exact as a double, and as a float once below 2^24. Returns false,
// consuming nothing, for anything else. "-0" is +0.0, as nlohmann read it (the integer 0).
inline bool SmallIntegerScalar(const char* p, const char* end, const char** token_end,
                               double* out) {
  const char* q = p;
  const bool negative = q < end && *q == '-';
  if (negative) ++q;
  const char* digits = q;
  uint32_t v = 0;
  while (q < end && IsDigit(*q) && q - digits < 10) v = v * 10 + static_cast<uint32_t>(*q++ - '0');
  const ptrdiff_t n = q - digits;
  // No digits, more than 9 (the 10th was consumed), a leading zero, or the end of input
  // (the general path reports what is wrong or missing).
  if (n == 0 || n > 9 || (n > 1 && *digits == '0') || q >= end) return false;
  const char c = *q;
  if (c != ',' && c != ']' && c != '}' && !IsWhitespace(c)) return false;
  *out = negative && v != 0 ? -static_cast<double>(v) : static_cast<double>(v);
  *token_end = q;
  return true;
}

// The value of the `n` (1 to 8) ASCII digits at p, on a little-endian machine: the digits'
// values, shifted so that missing leading digits are zeros ("00000255"), are combined
// pairwise (8 digits into 4 two-digit values, 2 four-digit ones, one) with multiplications.
// REQUIRES: 8 bytes readable at p.
inline uint64_t DigitsValue(const char* p, int n) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  uint64_t v = (x - 0x3030303030303030ULL) << (8 * (8 - n));
  v = (v * 10) + (v >> 8);
  return (((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
          (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >>
         32;
}

// SmallIntegerScalar for integers of 1 to 7 digits, without a branch per digit: the 8 bytes
// after the sign are classified and converted at once (SWAR), so that numbers of varying
// length (0, 7, 255) cost no mispredicted branches. Falls back to the scalar version near
// the end of the input and for longer numbers.
inline bool SmallInteger(const char* p, const char* end, const char** token_end, double* out) {
  if constexpr (std::endian::native != std::endian::little) {
    return SmallIntegerScalar(p, end, token_end, out);
  } else {
    const bool negative = *p == '-';
    const char* q = p + (negative ? 1 : 0);
    if (end - q < 9) return SmallIntegerScalar(p, end, token_end, out);
    uint64_t x;
    std::memcpy(&x, q, 8);  // the first character in the lowest byte
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    // A byte is a digit if its high nibble is 3 and its low nibble is at most 9; neither
    // test carries into the next byte.
    const uint64_t not_digit = ((x & (0xF0 * kOnes)) ^ (0x30 * kOnes)) |
                               (((x & (0x0F * kOnes)) + 0x06 * kOnes) & (0xF0 * kOnes));
    // The high bit of every byte that is not a digit, then the count of leading digits.
    const uint64_t marks =
        (((not_digit & (0x7F * kOnes)) + 0x7F * kOnes) | not_digit) & (0x80 * kOnes);
    const int n = marks == 0 ? 8 : std::countr_zero(marks) >> 3;
    if (n == 0 || n == 8 || (n > 1 && *q == '0')) {
      return n == 8 ? SmallIntegerScalar(p, end, token_end, out) : false;
    }
    const char c = q[n];  // in bounds: n < 8 < end - q
    if (c != ',' && c != ']' && c != '}' && !IsWhitespace(c)) return false;
    const uint64_t v = DigitsValue(q, n);
    *out = negative && v != 0 ? -static_cast<double>(v) : static_cast<double>(v);
    *token_end = q + n;
    return true;
  }
}

#if defined(__SSE2__)
// The bytes of [p, p + 64) as bit masks (bit i for p[i]): digits, commas and spaces.
inline void ClassifyBlock(const char* p, uint64_t* digits, uint64_t* commas, uint64_t* spaces) {
  const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
  const __m128i comma = _mm_set1_epi8(','), space = _mm_set1_epi8(' ');
  uint64_t d = 0, c = 0, s = 0;
  for (int i = 0; i < 4; ++i) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    // x - '0' is at most 9 (unsigned) exactly for the digits.
    const __m128i v = _mm_sub_epi8(x, zero);
    const __m128i is_digit = _mm_cmpeq_epi8(_mm_max_epu8(v, nine), nine);
    d |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(is_digit))} << (16 * i);
    c |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, comma)))} << (16 * i);
    s |= uint64_t{static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(x, space)))} << (16 * i);
  }
  *digits = d;
  *commas = c;
  *spaces = s;
}

// Reads integer elements from the 64 bytes at p, as many as are complete there: each one a
// run of 1 to 8 digits without a leading zero, between optional spaces, followed by a
// comma. Returns the bytes consumed (up to and including the last such comma), 0 if the
// first element is not of that form. Everything else (signs, fractions, exponents, other
// whitespace, the last element before ']', errors) is left to the general path.
//
// Element by element, the reader's cost is the latency of finding where each number ends
// before it can look at the next. Here the delimiters of 64 bytes are found at once, so the
// numbers are independent of each other and convert in parallel.
// REQUIRES: 72 bytes readable at p.
inline size_t ReadIntegerBlock(const char* p, std::vector<float>* out) {
  uint64_t digits, commas, spaces;
  ClassifyBlock(p, &digits, &commas, &spaces);
  // Only the prefix made of digits, commas and spaces, up to its last comma, qualifies.
  const uint64_t other = ~(digits | commas | spaces);
  const uint64_t valid = other == 0 ? ~uint64_t{0} : (uint64_t{1} << std::countr_zero(other)) - 1;
  uint64_t ends = commas & valid;
  if (ends == 0) return 0;
  // At most 32 elements end in 64 bytes. Collected here and appended at once: push_back
  // would store and reload the vector's end for every element.
  float values[32];
  size_t count = 0;
  size_t start = 0;
  while (ends != 0) {
    const int comma = std::countr_zero(ends);
    ends &= ends - 1;
    // The element's digits: the digit bits in [start, comma), which must be one run.
    const uint64_t range = ((uint64_t{1} << comma) - 1) & ~((uint64_t{1} << start) - 1);
    const uint64_t d = digits & range;
    if (d == 0) break;
    const int first = std::countr_zero(d);
    const int n = 64 - std::countl_zero(d) - first;
    if (n > 8 || (d >> first) != (uint64_t{1} << n) - 1 || (n > 1 && p[first] == '0')) break;
    values[count++] = static_cast<float>(static_cast<double>(DigitsValue(p + first, n)));
    start = static_cast<size_t>(comma) + 1;
  }
  out->insert(out->end(), values, values + count);
  return start;
}
#endif

}  // namespace

JsonReader::JsonReader(std::string_view text)
    : begin_(text.data()), end_(text.data() + text.size()), p_(text.data()) {
  // nlohmann::json::parse skips a UTF-8 byte order mark; so do we.
  if (text.size() >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;
}

Status JsonReader::Syntax(std::string_view what) const { return Syntax(what, p_); }

Status JsonReader::Syntax(std::string_view what, const char* at) const {
  if (at >= end_) {
    return Status::InvalidArgument("malformed JSON at byte " + std::to_string(end_ - begin_) +
                                   ": unexpected end of input (" + std::string(what) + ")");
  }
  return Status::InvalidArgument("malformed JSON at byte " + std::to_string(at - begin_) + ": " +
                                 std::string(what));
}

inline void JsonReader::SkipWhitespace() {
  while (p_ < end_ && IsWhitespace(*p_)) ++p_;
}

char JsonReader::Peek() {
  SkipWhitespace();
  return p_ < end_ ? *p_ : '\0';
}

Status JsonReader::BeginObject() {
  if (depth_ >= kMaxJsonDepth) {
    return Status::InvalidArgument("request body is nested deeper than " +
                                   std::to_string(kMaxJsonDepth) + " levels");
  }
  ++depth_;
  ++p_;
  return Status::OK();
}

Status JsonReader::BeginArray() { return BeginObject(); }

Status JsonReader::NextMember(bool* first, std::string* key, bool* more) {
  SkipWhitespace();
  if (p_ < end_ && *p_ == '}') {
    // Also right after '{'; a '}' right after ',' is caught below as a missing key.
    ++p_;
    --depth_;
    *more = false;
    return Status::OK();
  }
  if (!*first) {
    if (p_ >= end_ || *p_ != ',') return Syntax("expected ',' or '}' after an object member");
    ++p_;
    SkipWhitespace();
  }
  *first = false;
  if (p_ >= end_ || *p_ != '"') return Syntax("expected a string as object key");
  VECPUFF_RETURN_IF_ERROR(ReadStringInto(key));
  SkipWhitespace();
  if (p_ >= end_ || *p_ != ':') return Syntax("expected ':' after an object key");
  ++p_;
  *more = true;
  return Status::OK();
}

Status JsonReader::NextElement(bool* first, bool* more) {
  SkipWhitespace();
  if (p_ < end_ && *p_ == ']') {
    // Also right after '['; a ']' right after ',' fails later as a missing value.
    ++p_;
    --depth_;
    *more = false;
    return Status::OK();
  }
  if (!*first) {
    if (p_ >= end_ || *p_ != ',') return Syntax("expected ',' or ']' after an array element");
    ++p_;
  }
  *first = false;
  *more = true;
  return Status::OK();
}

Status JsonReader::ReadString(std::string* out) {
  SkipWhitespace();
  if (p_ >= end_ || *p_ != '"') return Syntax("expected a string");
  return ReadStringInto(out);
}

// REQUIRES: *p_ == '"'.
Status JsonReader::ReadStringInto(std::string* out) {
  out->clear();
  ++p_;
  while (true) {
    // The common case: a run of printable ASCII without quotes or escapes.
    const char* run = p_;
    while (p_ < end_) {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++p_;
    }
    out->append(run, p_);
    if (p_ >= end_) return Syntax("unterminated string");
    unsigned char c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      ++p_;
      return Status::OK();
    }
    if (c < 0x20) return Syntax("control character in string (must be escaped)");
    if (c >= 0x80) {
      size_t n = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_),
                                    reinterpret_cast<const unsigned char*>(end_));
      if (n == 0) return Syntax("invalid UTF-8 in string");
      out->append(p_, n);
      p_ += n;
      continue;
    }
    // Escape sequence.
    const char* escape = p_;
    if (++p_ >= end_) return Syntax("unterminated string");
    switch (*p_++) {
      case '"':
        out->push_back('"');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '/':
        out->push_back('/');
        break;
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'u': {
        auto hex4 = [&](uint32_t* cp) {
          if (end_ - p_ < 4) return false;
          uint32_t v = 0;
          for (int i = 0; i < 4; ++i) {
            int h = HexValue(p_[i]);
            if (h < 0) return false;
            v = v << 4 | static_cast<uint32_t>(h);
          }
          p_ += 4;
          *cp = v;
          return true;
        };
        uint32_t cp = 0;
        if (!hex4(&cp)) return Syntax("'\\u' must be followed by 4 hex digits", escape);
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return Syntax("unpaired low surrogate in \\u escape", escape);
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t low = 0;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
            return Syntax("high surrogate must be followed by a \\u low surrogate", escape);
          }
          p_ += 2;
          if (!hex4(&low) || low < 0xDC00 || low > 0xDFFF) {
            return Syntax("high surrogate must be followed by a \\u low surrogate", escape);
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        AppendUtf8(cp, out);
        break;
      }
      default:
        return Syntax("invalid escape in string", escape);
    }
  }
}

Status JsonReader::ReadBool(bool* out) {
  SkipWhitespace();
  if (p_ < end_ && *p_ == 't') {
    *out = true;
    return ReadLiteral("true");
  }
  *out = false;
  return ReadLiteral("false");
}

bool JsonReader::ConsumeNull() {
  SkipWhitespace();
  if (end_ - p_ >= 4 && std::memcmp(p_, "null", 4) == 0) {
    p_ += 4;
    return true;
  }
  return false;
}

Status JsonReader::ReadLiteral(std::string_view word) {
  if (static_cast<size_t>(end_ - p_) < word.size() ||
      std::memcmp(p_, word.data(), word.size()) != 0) {
    return Syntax("invalid literal");
  }
  p_ += word.size();
  return Status::OK();
}

const char* JsonReader::ScanNumber(bool* is_integer, Status* error) const {
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  const char* q = p_;
  if (q < end_ && *q == '-') ++q;
  if (q >= end_ || !IsDigit(*q)) {
    *error = Syntax("invalid number", q);
    return nullptr;
  }
  if (*q == '0') {
    ++q;
    if (q < end_ && IsDigit(*q)) {
      *error = Syntax("invalid number (leading zero)", q);
      return nullptr;
    }
  } else {
    while (q < end_ && IsDigit(*q)) ++q;
  }
  *is_integer = true;
  if (q < end_ && *q == '.') {
    *is_integer = false;
    ++q;
    if (q >= end_ || !IsDigit(*q)) {
      *error = Syntax("invalid number (digit expected after '.')", q);
      return nullptr;
    }
    while (q < end_ && IsDigit(*q)) ++q;
  }
  if (q < end_ && (*q == 'e' || *q == 'E')) {
    *is_integer = false;
    ++q;
    if (q < end_ && (*q == '+' || *q == '-')) ++q;
    if (q >= end_ || !IsDigit(*q)) {
      *error = Syntax("invalid number (digit expected in exponent)", q);
      return nullptr;
    }
    while (q < end_ && IsDigit(*q)) ++q;
  }
  return q;
}

Status JsonReader::ToDouble(const char* start, const char* end, double* out) const {
  auto [ptr, ec] = std::from_chars(start, end, *out);
  if (ec == std::errc() && ptr == end) return Status::OK();
  if (ec != std::errc::result_out_of_range) return Syntax("invalid number", start);
  // from_chars reports both overflow and underflow as out of range. Tell them apart by
  // the decimal exponent of the first significant digit: it is >= 308 for an overflow
  // and <= -324 for an underflow, so its sign settles it.
  const char* q = start;
  bool negative = *q == '-';
  if (negative) ++q;
  int64_t lead = 0;  // position of the first non-zero digit relative to the decimal point
  bool found = false;
  int64_t int_digits = 0;
  for (; q < end && IsDigit(*q); ++q, ++int_digits) {
    if (!found && *q != '0') {
      found = true;
      lead = int_digits;
    }
  }
  int64_t magnitude = 0;  // exponent of the first significant digit, before 'e'
  if (found) {
    magnitude = int_digits - lead - 1;
  } else if (q < end && *q == '.') {
    int64_t zeros = 0;
    for (++q; q < end && *q == '0'; ++q) ++zeros;
    magnitude = -zeros - 1;
  }
  while (q < end && *q != 'e' && *q != 'E') ++q;
  int64_t exponent = 0;
  if (q < end) {
    ++q;
    bool exp_negative = *q == '-';
    if (*q == '+' || *q == '-') ++q;
    for (; q < end; ++q) exponent = std::min<int64_t>(exponent * 10 + (*q - '0'), 1 << 30);
    if (exp_negative) exponent = -exponent;
  }
  if (magnitude + exponent > 0) return Syntax("number out of the range of a double", start);
  *out = negative ? -0.0 : 0.0;
  return Status::OK();
}

Status JsonReader::ReadIntegerToken(IntegerToken* out) {
  SkipWhitespace();
  Status error;
  bool is_integer = false;
  const char* end = ScanNumber(&is_integer, &error);
  if (end == nullptr) return error;
  *out = IntegerToken{};
  out->is_integer = is_integer;
  out->negative = *p_ == '-';
  if (is_integer) {
    const char* digits = p_ + (out->negative ? 1 : 0);
    auto [ptr, ec] = std::from_chars(digits, end, out->value);
    // Overflow where nlohmann's parser would fall back to a double: beyond uint64, or
    // for negative numbers beyond int64.
    out->overflow =
        ec != std::errc() || ptr != end || (out->negative && out->value > (uint64_t{1} << 63));
  } else {
    double ignored = 0;
    VECPUFF_RETURN_IF_ERROR(ToDouble(p_, end, &ignored));
  }
  p_ = end;
  return Status::OK();
}

Status JsonReader::ReadFloatArray(const std::string& path, std::vector<float>* out,
                                  size_t size_hint) {
  if (Peek() != '[') return TypeError(path, "an array of numbers");
  VECPUFF_RETURN_IF_ERROR(BeginArray());
  out->clear();
  out->reserve(size_hint);
  SkipWhitespace();
  if (p_ < end_ && *p_ == ']') {
    ++p_;
    --depth_;
    return Status::OK();
  }
#if defined(__SSE2__)
  // Whether to try ReadIntegerBlock: until it finds nothing to read in this array.
  bool blocks = true;
#endif
  // After an element: past a ',' (nothing: read the next element), past the closing ']'
  // (OK: the array is done), or a syntax error.
  auto after_element = [&]() -> std::optional<Status> {
    SkipWhitespace();
    if (p_ < end_ && *p_ == ',') {
      ++p_;
      return std::nullopt;
    }
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      --depth_;
      return Status::OK();
    }
    return Syntax("expected ',' or ']' after an array element");
  };
  while (true) {
    SkipWhitespace();
#if defined(__SSE2__)
    if (blocks && end_ - p_ >= 72) {
      const size_t n = ReadIntegerBlock(p_, out);
      p_ += n;  // past a comma: at the next element, as after the ',' below
      if (n > 0) continue;
      blocks = false;
    }
#endif
    if (p_ >= end_ || !(IsDigit(*p_) || *p_ == '-')) {
      return TypeError(path + "[" + std::to_string(out->size()) + "]", "a number");
    }
    bool is_integer = false;
    const char* end = nullptr;
    double d = 0;
    if (SmallInteger(p_, end_, &end, &d)) {
      // Pixels, counts, quantized values: the commonest vector element of all.
      out->push_back(static_cast<float>(d));
      p_ = end;
      if (*p_ == ',') {  // SmallInteger saw a delimiter here, so p_ < end_
        ++p_;
        continue;
      }
      if (std::optional<Status> done = after_element()) return *done;
      continue;
    }
    if (!FastDouble(p_, end_, &end, &d, &is_integer)) {
      Status error;
      end = ScanNumber(&is_integer, &error);
      if (end == nullptr) return error;
      VECPUFF_RETURN_IF_ERROR(ToDouble(p_, end, &d));
    }
    // nlohmann read "-0" as the integer 0, which became +0.0.
    if (is_integer && d == 0) d = 0;
    // The same check, and the same rounding (double first, then float), as the decoder
    // that parsed with nlohmann had, so every body decodes to the same floats.
    if (std::fabs(d) > std::numeric_limits<float>::max()) {
      return Status::InvalidArgument(path + "[" + std::to_string(out->size()) +
                                     "]: not a finite 32-bit float");
    }
    out->push_back(static_cast<float>(d));
    p_ = end;
    if (std::optional<Status> done = after_element()) return *done;
  }
}

Status JsonReader::ReadValue(json* out) {
  SkipWhitespace();
  return ReadValueAt(out);
}

Status JsonReader::ReadValueAt(json* out) {
  if (p_ >= end_) return Syntax("expected a value");
  switch (*p_) {
    case '{': {
      VECPUFF_RETURN_IF_ERROR(BeginObject());
      *out = json::object();
      json::object_t& object = out->get_ref<json::object_t&>();
      bool first = true, more = true;
      std::string key;
      while (true) {
        VECPUFF_RETURN_IF_ERROR(NextMember(&first, &key, &more));
        if (!more) return Status::OK();
        json value;
        VECPUFF_RETURN_IF_ERROR(ReadValue(&value));
        // A repeated key keeps its last value, as nlohmann's parser does.
        object.insert_or_assign(key, std::move(value));
      }
    }
    case '[': {
      VECPUFF_RETURN_IF_ERROR(BeginArray());
      *out = json::array();
      json::array_t& array = out->get_ref<json::array_t&>();
      bool first = true, more = true;
      while (true) {
        VECPUFF_RETURN_IF_ERROR(NextElement(&first, &more));
        if (!more) return Status::OK();
        array.emplace_back();
        VECPUFF_RETURN_IF_ERROR(ReadValue(&array.back()));
      }
    }
    case '"': {
      std::string s;
      VECPUFF_RETURN_IF_ERROR(ReadStringInto(&s));
      *out = std::move(s);
      return Status::OK();
    }
    case 't':
      *out = true;
      return ReadLiteral("true");
    case 'f':
      *out = false;
      return ReadLiteral("false");
    case 'n':
      *out = nullptr;
      return ReadLiteral("null");
    default:
      if (*p_ == '-' || IsDigit(*p_)) return ReadNumber(out);
      return Syntax("expected a value");
  }
}

Status JsonReader::ReadNumber(json* out) {
  Status error;
  bool is_integer = false;
  const char* end = ScanNumber(&is_integer, &error);
  if (end == nullptr) return error;
  // nlohmann's types: negative integers int64, others uint64, and any integer that does
  // not fit, or any number with a fraction or exponent, a double.
  if (is_integer) {
    if (*p_ == '-') {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(p_, end, v);
      if (ec == std::errc() && ptr == end) {
        *out = v;
        p_ = end;
        return Status::OK();
      }
    } else {
      uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(p_, end, v);
      if (ec == std::errc() && ptr == end) {
        *out = v;
        p_ = end;
        return Status::OK();
      }
    }
  }
  double d = 0;
  VECPUFF_RETURN_IF_ERROR(ToDouble(p_, end, &d));
  *out = d;
  p_ = end;
  return Status::OK();
}

Status JsonReader::TypeError(std::string_view path, std::string_view what) {
  json value;
  VECPUFF_RETURN_IF_ERROR(ReadValue(&value));
  return Status::InvalidArgument(std::string(path) + ": expected " + std::string(what) + ", got " +
                                 TypeName(value));
}

Status JsonReader::ExpectEnd() {
  SkipWhitespace();
  if (p_ != end_) return Syntax("unexpected content after the value");
  return Status::OK();
}

}  // namespace vecpuff
