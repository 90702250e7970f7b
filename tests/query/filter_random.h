// Random documents, ids and filters for the differential tests of the filter evaluators
// (filter_test.cc against filter_reference.h, attribute_index_test.cc against
// Filter::Matches). Values come from small pools with many near-collisions (5 vs 5.0 vs
// 2^53+1, one instant spelled several ways, strings differing in case or by one byte), so
// that equal and ordered pairs come up often. Every filter it writes parses.
//
// Thread safety: none; one generator per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace vecpuff::filter_random {

using json = nlohmann::json;

class RandomFilters {
 public:
  explicit RandomFilters(uint64_t seed) : rng_(seed) {}

  json Document() {
    json attrs = json::object();
    for (const char* name : kNames) {
      const int r = Int(100);
      if (r < 30) continue;  // missing
      focus_ = name;
      attrs[name] = r < 40 ? json() : Value(/*allow_array=*/true);
    }
    focus_ = "";
    if (Int(10) == 0) attrs["id"] = Scalar();  // must be ignored by id filters
    return attrs;
  }

  json Id() {
    if (Int(2) == 0) return Int(4) == 0 ? json(Pick(kUints)) : json(uint64_t(Int(8)));
    return Pick(kIds);
  }

  json FilterJson(int depth = 0) {
    const int r = Int(100);
    if (depth < 4 && r < 25) {
      if (r < 5) return json::array({"Not", FilterJson(depth + 1)});
      json list = json::array();
      for (int i = Int(4); i > 0; --i) list.push_back(FilterJson(depth + 1));
      return json::array({r < 15 ? "And" : "Or", list});
    }
    const std::string attr = Int(12) == 0 ? "id" : (Int(20) == 0 ? "zz" : Pick(kNames));
    const std::string op = kOps[Int(std::size(kOps))];
    focus_ = attr;
    return json::array({attr, op, ValueFor(op)});
  }

 private:
  static constexpr const char* kNames[] = {"a", "b", "s", "t", "n", "tags"};
  static constexpr const char* kOps[] = {
      "Eq",          "NotEq",          "In",    "NotIn",  "Contains", "NotContains",
      "ContainsAny", "NotContainsAny", "Lt",    "Lte",    "Gt",       "Gte",
      "AnyLt",       "AnyLte",         "AnyGt", "AnyGte", "Glob",     "NotGlob",
      "IGlob",       "NotIGlob",       "Regex"};
  inline static const std::vector<int64_t> kInts = {
      -3, -1, 0, 1, 2, 3, 5, 42, INT64_MIN, INT64_MAX, -9007199254740993};
  inline static const std::vector<uint64_t> kUints = {
      0, 1, 5, 42, 9007199254740993ULL, 9223372036854775808ULL, UINT64_MAX, UINT64_MAX - 1};
  inline static const std::vector<double> kFloats = {-1.5,
                                                     0.0,
                                                     -0.0,
                                                     0.5,
                                                     1.0,
                                                     2.0,
                                                     5.0,
                                                     42.0,
                                                     3.25,
                                                     9007199254740992.0,
                                                     1e300,
                                                     -1e300,
                                                     18446744073709551616.0,
                                                     9223372036854775808.0,
                                                     -9223372036854775808.0};
  inline static const std::vector<std::string> kStrings = {"",
                                                           "a",
                                                           "b",
                                                           "ab",
                                                           "abc",
                                                           "ABC",
                                                           "Abc",
                                                           "a/b",
                                                           "a/b/c",
                                                           "foo",
                                                           "foobar",
                                                           "fob",
                                                           "x*y",
                                                           "a,b",
                                                           "é",
                                                           "É",
                                                           "école",
                                                           "日本",
                                                           "a\\b",
                                                           "z",
                                                           "aa",
                                                           "ba",
                                                           "[a]",
                                                           "{x}",
                                                           "a-b",
                                                           "A/é",
                                                           "2024-03-01T00:00:00Z",
                                                           "2024",
                                                           "2024-03-01T00:00:00"};
  // Datetimes, several spelling the same instant (2024-03-01T00:00:00Z), and some that are
  // not RFC 3339 and so compare bytewise.
  inline static const std::vector<std::string> kTimes = {"2024-03-01T00:00:00Z",
                                                         "2024-03-01T01:00:00+01:00",
                                                         "2024-02-29T23:30:00-00:30",
                                                         "2024-03-01t00:00:00.000z",
                                                         "2024-03-01 00:00:00Z",
                                                         "2024-03-01T00:00:00.0000000001Z",
                                                         "2024-03-01T00:00:00.5Z",
                                                         "2024-03-01T00:00:00.000000001Z",
                                                         "2024-02-29T23:59:59Z",
                                                         "2024-03-01T00:00:00+23:59",
                                                         "1999-12-31T23:59:59.999999999-00:30",
                                                         "1969-12-31T23:59:59.9Z",
                                                         "0001-01-01T00:00:00Z",
                                                         "9999-12-31T23:59:59.999Z",
                                                         "2023-02-29T00:00:00Z",
                                                         "2024-03-01T00:00:00",
                                                         "2024-03-01T24:00:00Z",
                                                         "2024-03-01T00:00:00+01",
                                                         "2024-03-01T00:00:60Z"};
  inline static const std::vector<std::string> kIds = {"3d7a7296-3d6a-4796-8fb0-f90406b1f621",
                                                       "92ef7c95-a212-43a4-ae4e-0ebc96a65764", "a",
                                                       "b", "2024-03-01T00:00:00Z"};

  size_t Int(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Int(v.size())];
  }
  const char* Pick(const char* const (&v)[6]) { return v[Int(6)]; }

  // A random scalar, biased by the attribute it is for: "t" mostly holds datetimes, "s"
  // strings, "n" numbers, so that equal and ordered pairs come up often.
  json Scalar() {
    const size_t bias = Int(10);
    if (focus_ == "t" && bias < 7) return Pick(kTimes);
    if (focus_ == "s" && bias < 5) return Pick(kStrings);
    if (focus_ == "n" && bias < 5) return bias < 2 ? json(Pick(kInts)) : json(Pick(kFloats));
    switch (Int(6)) {
      case 0:
        return Pick(kInts);
      case 1:
        return Pick(kUints);
      case 2:
        return Pick(kFloats);
      case 3:
      case 4:
        return Pick(kStrings);
      default:
        return Int(2) == 0;
    }
  }

  json Value(bool allow_array) {
    const int r = Int(100);
    if (allow_array && r < 35) {
      json arr = json::array();
      const int kind = Int(4);  // mostly homogeneous arrays
      for (int i = Int(5); i > 0; --i) {
        if (Int(20) == 0) {
          arr.push_back(nullptr);
        } else if (kind == 0) {
          arr.push_back(Scalar());
        } else if (kind == 1) {
          arr.push_back(Pick(kStrings));
        } else if (kind == 2) {
          arr.push_back(Int(2) ? json(Pick(kInts)) : json(Pick(kFloats)));
        } else {
          arr.push_back(Int(2) ? json(Pick(kUints)) : json(Pick(kFloats)));
        }
      }
      return arr;
    }
    if (allow_array && r < 37) return json{{"k", 1}};
    return Scalar();
  }

  json ScalarArray() {
    json arr = json::array();
    for (int i = Int(4); i > 0; --i) arr.push_back(Scalar());
    return arr;
  }

  json ValueFor(const std::string& op) {
    if (op == "Eq" || op == "NotEq") {
      const int r = Int(100);
      if (r < 15) return nullptr;
      if (r < 30) return ScalarArray();
      return Scalar();
    }
    if (op == "In" || op == "NotIn" || op == "ContainsAny" || op == "NotContainsAny") {
      json list = json::array();
      for (int i = Int(6); i > 0; --i) {
        list.push_back((op == "In" || op == "NotIn") && Int(5) == 0 ? ScalarArray() : Scalar());
      }
      return list;
    }
    if (op == "Contains" || op == "NotContains") return Scalar();
    if (op.find("Glob") != std::string::npos) return RandomGlob();
    if (op == "Regex") return RandomRegex();
    // Lt..AnyGte
    const int r = Int(100);
    if (r < 10) return nullptr;
    if (r < 55) return focus_ == "t" || Int(4) == 0 ? Pick(kTimes) : Pick(kStrings);
    switch (Int(3)) {
      case 0:
        return Pick(kInts);
      case 1:
        return Pick(kUints);
      default:
        return Pick(kFloats);
    }
  }

  // A glob of literals (escaped where needed), '?', '*' (never two in a row, so no "**"),
  // classes and one level of {a,b} alternatives.
  std::string GlobPiece(bool in_group, std::string* out) {
    static const char* kLiterals[] = {"a", "b", "c", "A", "B", "/", "é", "É", "日", "-", "."};
    static const char* kEscaped[] = {"\\*", "\\?", "\\[", "\\{", "\\}", "\\\\", "\\,", "\\a"};
    static const char* kClassItems[] = {"a", "b-c", "A-Z", "é", "*", "/", "日", "a-b", "?", ","};
    const bool last_star = !out->empty() && out->back() == '*';
    switch (Int(in_group ? 5 : 6)) {
      case 0:
        return last_star ? "?" : "*";
      case 1:
        return "?";
      case 2: {
        std::string c = "[";
        const int neg = Int(4);
        if (neg == 1) c += "!";
        if (neg == 2) c += "^";
        // ']' or '-' first is a member; not both, which would make "]-x" a range.
        const int first = Int(8);
        if (first == 0) c += "]";
        if (first == 1) c += "-";
        for (int i = 1 + Int(3); i > 0; --i) c += kClassItems[Int(std::size(kClassItems))];
        if (Int(6) == 0) c += "-";
        return c + "]";
      }
      case 3:
        return kEscaped[Int(std::size(kEscaped))];
      case 4:
        return kLiterals[Int(std::size(kLiterals))];
      default: {
        std::string g = "{";
        for (int alt = 1 + Int(3); alt > 0; --alt) {
          std::string a;
          for (int i = Int(3); i > 0; --i) a += GlobPiece(true, &a);
          g += a;
          if (alt > 1) g += ",";
        }
        return g + "}";
      }
    }
  }

  std::string RandomGlob() {
    std::string g;
    for (int i = Int(6); i > 0; --i) {
      std::string piece = GlobPiece(false, &g);
      // Keep "*" + "{*...": the '{' separates the stars. Only a raw "**" is avoided.
      if (!g.empty() && g.back() == '*' && !piece.empty() && piece[0] == '*') continue;
      g += piece;
    }
    return g;
  }

  std::string RandomRegex() {
    static const char* kAtoms[] = {"a",     "b",     "c",      "A", "/",  "\\.", ".", "[a-c]",
                                   "[^ab]", "(a|b)", "(ab|c)", "é", "日", "o",   "f"};
    static const char* kQuantifiers[] = {"", "", "", "*", "+", "?"};
    std::string re = Int(4) == 0 ? "^" : "";
    for (int i = Int(5); i > 0; --i) {
      re += kAtoms[Int(std::size(kAtoms))];
      re += kQuantifiers[Int(std::size(kQuantifiers))];
    }
    if (Int(4) == 0) re += "$";
    return re;
  }

  std::mt19937_64 rng_;
  std::string focus_;  // the attribute a value is being generated for
};

}  // namespace vecpuff::filter_random
