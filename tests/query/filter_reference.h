// A deliberately simple reference evaluator for turbopuffer filters, used by filter_test.cc
// to check Filter::Matches on random documents and filters. It interprets the raw filter JSON
// directly on every call and shares no code with src/query: numbers compare as long double
// (exact for int64, uint64 and double on x86-64), timestamps parse with std::regex and
// timegm(), globs are expanded into their {a,b} alternatives and matched by plain recursion,
// and regexes run on std::wregex. It assumes a valid filter (Filter::Parse accepted it) and
// globs without "**" (the random generator never writes one).
//
// Thread safety: none (it memoizes parsed timestamps and compiled regexes).
#pragma once

#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace vecpuff::filter_reference {

static_assert(std::numeric_limits<long double>::digits >= 64,
              "the reference compares int64/uint64/double exactly as long double");

using json = nlohmann::json;

inline std::u32string DecodeUtf8(const std::string& s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : 4;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

class Reference {
 public:
  bool Eval(const json& f, const json& id, const json& attrs) {
    const std::string head = f[0].get<std::string>();
    const bool connective =
        (head == "And" || head == "Or" || head == "Not") && !(f.size() == 3 && f[1].is_string());
    if (connective) {
      if (head == "Not") return !Eval(f[1], id, attrs);
      if (head == "And") {
        for (const json& c : f[1]) {
          if (!Eval(c, id, attrs)) return false;
        }
        return true;
      }
      for (const json& c : f[1]) {
        if (Eval(c, id, attrs)) return true;
      }
      return false;
    }
    const std::string& attr = head;
    const std::string op = f[1].get<std::string>();
    const json& x = f[2];
    json v;  // null: missing
    if (attr == "id") {
      v = id;
    } else if (attrs.is_object() && attrs.contains(attr)) {
      v = attrs.at(attr);
    }
    const bool present = !v.is_null();

    if (op == "Eq") return Eq(v, x);
    if (op == "NotEq") return !Eq(v, x);
    if (op == "In") return In(v, x);
    if (op == "NotIn") return !In(v, x);
    if (op == "Contains") return Contains(v, x);
    if (op == "NotContains") return !Contains(v, x);
    if (op == "ContainsAny") return ContainsAny(v, x);
    if (op == "NotContainsAny") return !ContainsAny(v, x);
    if (op == "Lt" || op == "Lte" || op == "Gt" || op == "Gte") return Ordered(op, v, x);
    if (op == "AnyLt" || op == "AnyLte" || op == "AnyGt" || op == "AnyGte") {
      const std::string base = op.substr(3);
      if (!present) return Ordered(base, v, x);
      if (!v.is_array()) return false;
      for (const json& e : v) {
        if (Ordered(base, e, x)) return true;
      }
      return false;
    }
    if (op == "Glob") return AnyGlob(v, x.get<std::string>(), false);
    if (op == "NotGlob") return !AnyGlob(v, x.get<std::string>(), false);
    if (op == "IGlob") return AnyGlob(v, x.get<std::string>(), true);
    if (op == "NotIGlob") return !AnyGlob(v, x.get<std::string>(), true);
    if (op == "Regex") {
      if (!v.is_string()) return false;
      const std::u32string t = DecodeUtf8(v.get<std::string>());
      return std::regex_search(std::wstring(t.begin(), t.end()), Regex(x.get<std::string>()));
    }
    throw std::logic_error("reference: unknown operator " + op);
  }

 private:
  // --- values ---

  static long double Number(const json& j) {
    if (j.is_number_unsigned()) return static_cast<long double>(j.get<uint64_t>());
    if (j.is_number_integer()) return static_cast<long double>(j.get<int64_t>());
    return static_cast<long double>(j.get<double>());
  }

  static int Sign(long double a, long double b) { return a < b ? -1 : (a > b ? 1 : 0); }

  // Seconds and nanoseconds since the epoch, if `s` is an RFC 3339 timestamp.
  std::optional<std::pair<int64_t, int64_t>> Time(const std::string& s) {
    auto it = time_cache_.find(s);
    if (it != time_cache_.end()) return it->second;
    static const std::regex kRfc3339(
        R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.(\d+))?([Zz]|([+-])(\d{2}):(\d{2}))$)");
    std::optional<std::pair<int64_t, int64_t>> result;
    std::smatch m;
    if (std::regex_match(s, m, kRfc3339)) {
      std::tm tm{};
      tm.tm_year = std::stoi(m[1]) - 1900;
      tm.tm_mon = std::stoi(m[2]) - 1;
      tm.tm_mday = std::stoi(m[3]);
      tm.tm_hour = std::stoi(m[4]);
      tm.tm_min = std::stoi(m[5]);
      tm.tm_sec = std::stoi(m[6]);
      const std::tm given = tm;
      const time_t t = timegm(&tm);
      std::tm back{};
      gmtime_r(&t, &back);
      // timegm normalizes out-of-range fields (Feb 30, hour 24, second 60): reject those.
      const bool valid = back.tm_year == given.tm_year && back.tm_mon == given.tm_mon &&
                         back.tm_mday == given.tm_mday && back.tm_hour == given.tm_hour &&
                         back.tm_min == given.tm_min && back.tm_sec == given.tm_sec;
      int64_t offset = 0;
      bool offset_ok = true;
      if (m[10].matched) {
        const int oh = std::stoi(m[11]), om = std::stoi(m[12]);
        offset_ok = oh <= 23 && om <= 59;
        offset = (m[10] == "-" ? -1 : 1) * (oh * 3600 + om * 60);
      }
      if (valid && offset_ok) {
        std::string frac = m[8].matched ? m[8].str() : "";
        frac = frac.substr(0, 9);
        frac.resize(9, '0');
        result = std::make_pair(static_cast<int64_t>(t) - offset, std::stoll(frac));
      }
    }
    time_cache_.emplace(s, result);
    return result;
  }

  int CompareStrings(const std::string& a, const std::string& b) {
    auto ta = Time(a), tb = Time(b);
    if (ta && tb) return *ta < *tb ? -1 : (*ta > *tb ? 1 : 0);
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      const auto ca = static_cast<unsigned char>(a[i]), cb = static_cast<unsigned char>(b[i]);
      if (ca != cb) return ca < cb ? -1 : 1;
    }
    return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
  }

  // `x` is a non-null scalar from the filter.
  bool EqScalar(const json& a, const json& x) {
    if (x.is_boolean()) return a.is_boolean() && a.get<bool>() == x.get<bool>();
    if (x.is_number()) return a.is_number() && Number(a) == Number(x);
    if (x.is_string()) {
      return a.is_string() && CompareStrings(a.get<std::string>(), x.get<std::string>()) == 0;
    }
    return false;
  }

  // `x` is a non-null scalar or an array of them.
  bool EqValue(const json& a, const json& x) {
    if (!x.is_array()) return EqScalar(a, x);
    if (!a.is_array() || a.size() != x.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!EqScalar(a[i], x[i])) return false;
    }
    return true;
  }

  bool Eq(const json& v, const json& x) {
    if (x.is_null()) return v.is_null();
    return !v.is_null() && EqValue(v, x);
  }

  bool In(const json& v, const json& xs) {
    if (v.is_null()) return false;
    for (const json& x : xs) {
      if (EqValue(v, x)) return true;
    }
    return false;
  }

  bool Contains(const json& v, const json& x) {
    if (!v.is_array()) return false;
    for (const json& e : v) {
      if (EqScalar(e, x)) return true;
    }
    return false;
  }

  bool ContainsAny(const json& v, const json& xs) {
    for (const json& x : xs) {
      if (Contains(v, x)) return true;
    }
    return false;
  }

  // Lt/Lte/Gt/Gte where null (missing) sorts below everything.
  bool Ordered(const std::string& op, const json& v, const json& x) {
    int c;
    if (x.is_null()) {
      c = v.is_null() ? 0 : 1;
    } else if (v.is_null()) {
      c = -1;
    } else if (x.is_number() && v.is_number()) {
      c = Sign(Number(v), Number(x));
    } else if (x.is_string() && v.is_string()) {
      c = CompareStrings(v.get<std::string>(), x.get<std::string>());
    } else {
      return false;
    }
    if (op == "Lt") return c < 0;
    if (op == "Lte") return c <= 0;
    if (op == "Gt") return c > 0;
    return c >= 0;
  }

  // --- globs ---

  // Index just past the class that starts at p[i] == '['.
  static size_t ClassEnd(const std::u32string& p, size_t i) {
    size_t j = i + 1;
    if (p[j] == U'!' || p[j] == U'^') ++j;
    ++j;  // the first member, which may be ']'
    while (p[j] != U']') ++j;
    return j + 1;
  }

  // "a{b,c}d" -> {"abd", "acd"}; empty alternatives are dropped.
  static std::vector<std::u32string> Expand(const std::u32string& p) {
    std::vector<std::u32string> out = {U""};
    auto append = [&out](const std::u32string& s) {
      for (auto& o : out) o += s;
    };
    size_t i = 0;
    while (i < p.size()) {
      if (p[i] == U'\\') {
        append(p.substr(i, 2));
        i += 2;
      } else if (p[i] == U'[') {
        const size_t end = ClassEnd(p, i);
        append(p.substr(i, end - i));
        i = end;
      } else if (p[i] == U'{') {
        std::vector<std::u32string> alts;
        std::u32string cur;
        ++i;
        while (p[i] != U'}') {
          if (p[i] == U'\\') {
            cur += p.substr(i, 2);
            i += 2;
          } else if (p[i] == U'[') {
            const size_t end = ClassEnd(p, i);
            cur += p.substr(i, end - i);
            i = end;
          } else if (p[i] == U',') {
            alts.push_back(cur);
            cur.clear();
            ++i;
          } else {
            cur += p[i++];
          }
        }
        alts.push_back(cur);
        ++i;
        std::vector<std::u32string> nonempty;
        for (auto& a : alts) {
          if (!a.empty()) nonempty.push_back(a);
        }
        if (nonempty.empty()) continue;
        std::vector<std::u32string> next;
        for (const auto& o : out) {
          for (const auto& a : nonempty) next.push_back(o + a);
        }
        out = std::move(next);
      } else {
        append(std::u32string(1, p[i]));
        ++i;
      }
    }
    return out;
  }

  static char32_t SwapAsciiCase(char32_t c) {
    if (c >= U'a' && c <= U'z') return c - 32;
    if (c >= U'A' && c <= U'Z') return c + 32;
    return c;
  }

  static bool CharEq(char32_t p, char32_t t, bool fold) {
    return p == t || (fold && SwapAsciiCase(p) == t);
  }

  // Whether `c` is a member of the class p[i..end) (without the negation).
  static bool InClass(const std::u32string& p, size_t i, char32_t c) {
    size_t j = i + 1;
    if (p[j] == U'!' || p[j] == U'^') ++j;
    bool first = true;
    while (first || p[j] != U']') {
      first = false;
      const char32_t lo = p[j];
      if (p[j + 1] == U'-' && p[j + 2] != U']') {
        if (lo <= c && c <= p[j + 2]) return true;
        j += 3;
      } else {
        if (c == lo) return true;
        ++j;
      }
    }
    return false;
  }

  static bool MatchAt(const std::u32string& p, size_t i, const std::u32string& t, size_t j,
                      bool fold) {
    if (i == p.size()) return j == t.size();
    switch (p[i]) {
      case U'*':
        for (size_t k = j; k <= t.size(); ++k) {
          if (MatchAt(p, i + 1, t, k, fold)) return true;
        }
        return false;
      case U'?':
        return j < t.size() && MatchAt(p, i + 1, t, j + 1, fold);
      case U'[': {
        if (j >= t.size()) return false;
        const bool negated = p[i + 1] == U'!' || p[i + 1] == U'^';
        const bool in = InClass(p, i, t[j]) || (fold && InClass(p, i, SwapAsciiCase(t[j])));
        return in != negated && MatchAt(p, ClassEnd(p, i), t, j + 1, fold);
      }
      case U'\\':
        return j < t.size() && CharEq(p[i + 1], t[j], fold) && MatchAt(p, i + 2, t, j + 1, fold);
      default:
        return j < t.size() && CharEq(p[i], t[j], fold) && MatchAt(p, i + 1, t, j + 1, fold);
    }
  }

  static bool Glob(const std::string& pattern, const std::string& text, bool fold) {
    const std::u32string t = DecodeUtf8(text);
    for (const auto& alt : Expand(DecodeUtf8(pattern))) {
      if (MatchAt(alt, 0, t, 0, fold)) return true;
    }
    return false;
  }

  static bool AnyGlob(const json& v, const std::string& pattern, bool fold) {
    if (v.is_string()) return Glob(pattern, v.get<std::string>(), fold);
    if (v.is_array()) {
      for (const json& e : v) {
        if (e.is_string() && Glob(pattern, e.get<std::string>(), fold)) return true;
      }
    }
    return false;
  }

  // --- regexes ---

  const std::wregex& Regex(const std::string& pattern) {
    auto it = regex_cache_.find(pattern);
    if (it == regex_cache_.end()) {
      const std::u32string p = DecodeUtf8(pattern);
      it = regex_cache_
               .emplace(pattern, std::wregex(std::wstring(p.begin(), p.end()),
                                             std::regex_constants::ECMAScript))
               .first;
    }
    return it->second;
  }

  std::map<std::string, std::optional<std::pair<int64_t, int64_t>>> time_cache_;
  std::map<std::string, std::wregex> regex_cache_;
};

}  // namespace vecpuff::filter_reference
