// GCC 12 reports a false -Wmaybe-uninitialized inside std::function when the std::regex of
// the reference evaluator is compiled with -fsanitize=address. The warning is located in the
// standard headers, so it has to be silenced before any of them is included.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "query/filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "filter_random.h"
#include "filter_reference.h"

namespace vecpuff {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses `filter` (JSON text) and evaluates it on a document; fails the test if the filter
// does not parse.
bool Match(const std::string& filter, const std::string& attributes, const json& id = 1) {
  auto f = Filter::Parse(json::parse(filter));
  EXPECT_TRUE(f.ok()) << filter << ": " << f.status().ToString();
  if (!f.ok()) return false;
  return (*f)->Matches(id, json::parse(attributes));
}

// The InvalidArgument message Parse returns for `filter`, or "<parsed>".
std::string ParseError(const json& filter) {
  auto f = Filter::Parse(filter);
  if (f.ok()) return "<parsed>";
  EXPECT_TRUE(f.status().IsInvalidArgument()) << f.status().ToString();
  return f.status().message();
}
std::string ParseError(const char* filter) { return ParseError(json::parse(filter)); }

// --- Eq / NotEq ---------------------------------------------------------------------------

TEST(FilterEq, ScalarsOfEachKind) {
  EXPECT_TRUE(Match(R"(["a","Eq",5])", R"({"a":5})"));
  EXPECT_FALSE(Match(R"(["a","Eq",5])", R"({"a":6})"));
  EXPECT_TRUE(Match(R"(["a","Eq","x"])", R"({"a":"x"})"));
  EXPECT_FALSE(Match(R"(["a","Eq","x"])", R"({"a":"X"})"));
  EXPECT_TRUE(Match(R"(["a","Eq",true])", R"({"a":true})"));
  EXPECT_FALSE(Match(R"(["a","Eq",true])", R"({"a":false})"));
}

TEST(FilterEq, DifferentKindsNeverEqual) {
  EXPECT_FALSE(Match(R"(["a","Eq","5"])", R"({"a":5})"));
  EXPECT_FALSE(Match(R"(["a","Eq",5])", R"({"a":"5"})"));
  EXPECT_FALSE(Match(R"(["a","Eq",true])", R"({"a":1})"));
  EXPECT_FALSE(Match(R"(["a","Eq",1])", R"({"a":true})"));
  EXPECT_FALSE(Match(R"(["a","Eq",1])", R"({"a":{"b":1}})"));
  EXPECT_TRUE(Match(R"(["a","NotEq","5"])", R"({"a":5})"));
}

TEST(FilterEq, IntegersAndFloatsCompareByValue) {
  EXPECT_TRUE(Match(R"(["a","Eq",5])", R"({"a":5.0})"));
  EXPECT_TRUE(Match(R"(["a","Eq",5.0])", R"({"a":5})"));
  EXPECT_TRUE(Match(R"(["a","Eq",-5])", R"({"a":-5.0})"));
  EXPECT_FALSE(Match(R"(["a","Eq",5])", R"({"a":5.5})"));
  EXPECT_TRUE(Match(R"(["a","Eq",0])", R"({"a":-0.0})"));
  EXPECT_TRUE(Match(R"(["a","Eq",0.1])", R"({"a":0.1})"));
  // nlohmann keeps non-negative integers as uint64 and negative ones as int64; a json built in
  // code holds int64 either way. All must agree.
  auto f = Filter::Parse(json::parse(R"(["a","Eq",7])"));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->Matches(1, json{{"a", int64_t{7}}}));
  EXPECT_TRUE((*f)->Matches(1, json{{"a", uint64_t{7}}}));
  EXPECT_TRUE((*f)->Matches(1, json{{"a", 7.0}}));
}

TEST(FilterEq, LargeIntegersCompareExactly) {
  // 2^64-1 and 2^64-2 are distinct although they convert to the same double.
  EXPECT_TRUE(Match(R"(["a","Eq",18446744073709551615])", R"({"a":18446744073709551615})"));
  EXPECT_FALSE(Match(R"(["a","Eq",18446744073709551615])", R"({"a":18446744073709551614})"));
  EXPECT_FALSE(Match(R"(["a","Eq",18446744073709551614])", R"({"a":1.8446744073709552e19})"));
  // 2^53+1 is not representable as a double; 2^53 is.
  EXPECT_FALSE(Match(R"(["a","Eq",9007199254740993])", R"({"a":9007199254740992.0})"));
  EXPECT_TRUE(Match(R"(["a","Eq",9007199254740992])", R"({"a":9007199254740992.0})"));
  EXPECT_TRUE(Match(R"(["a","Eq",-9223372036854775808])", R"({"a":-9.223372036854775808e18})"));
  EXPECT_FALSE(Match(R"(["a","Eq",9223372036854775807])", R"({"a":9.223372036854775808e18})"));
  EXPECT_TRUE(Match(R"(["a","Gt",9223372036854775807])", R"({"a":9223372036854775808})"));
  EXPECT_TRUE(Match(R"(["a","Lt",-1])", R"({"a":-9223372036854775808})"));
  EXPECT_TRUE(Match(R"(["a","Lt",18446744073709551615])", R"({"a":18446744073709551614})"));
  EXPECT_TRUE(Match(R"(["a","Gt",18446744073709551615])", R"({"a":1e300})"));
  EXPECT_TRUE(Match(R"(["a","Lt",-9223372036854775808])", R"({"a":-1e300})"));
  EXPECT_TRUE(Match(R"(["a","Gt",9007199254740992])", R"({"a":9007199254740993})"));
  EXPECT_TRUE(Match(R"(["a","Lt",9007199254740993])", R"({"a":9007199254740992.0})"));
}

TEST(FilterEq, NullMatchesMissingAndNull) {
  EXPECT_TRUE(Match(R"(["a","Eq",null])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","Eq",null])", R"({"a":null})"));
  EXPECT_FALSE(Match(R"(["a","Eq",null])", R"({"a":0})"));
  EXPECT_FALSE(Match(R"(["a","Eq",null])", R"({"a":""})"));
  EXPECT_FALSE(Match(R"(["a","Eq",null])", R"({"a":[]})"));
  EXPECT_FALSE(Match(R"(["a","Eq",null])", R"({"a":false})"));
}

TEST(FilterEq, NotEqNullMatchesPresent) {
  EXPECT_FALSE(Match(R"(["a","NotEq",null])", R"({})"));
  EXPECT_FALSE(Match(R"(["a","NotEq",null])", R"({"a":null})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",null])", R"({"a":0})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",null])", R"({"a":[]})"));
}

TEST(FilterEq, NotEqIsTheInverseSoMissingMatches) {
  EXPECT_TRUE(Match(R"(["a","NotEq",5])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",5])", R"({"a":null})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",5])", R"({"a":6})"));
  EXPECT_FALSE(Match(R"(["a","NotEq",5])", R"({"a":5.0})"));
}

TEST(FilterEq, ArraysCompareAsWholeArrays) {
  EXPECT_TRUE(Match(R"(["a","Eq",[1,2]])", R"({"a":[1,2.0]})"));
  EXPECT_FALSE(Match(R"(["a","Eq",[1,2]])", R"({"a":[2,1]})"));
  EXPECT_FALSE(Match(R"(["a","Eq",[1,2]])", R"({"a":[1,2,3]})"));
  EXPECT_FALSE(Match(R"(["a","Eq",[1]])", R"({"a":1})"));
  EXPECT_FALSE(Match(R"(["a","Eq",1])", R"({"a":[1]})"));
  EXPECT_TRUE(Match(R"(["a","Eq",[]])", R"({"a":[]})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",[1,2]])", R"({"a":[1]})"));
  EXPECT_TRUE(Match(R"(["a","NotEq",[1,2]])", R"({})"));
}

TEST(FilterEq, MissingAttributesObjectIsEmpty) {
  auto f = Filter::Parse(json::parse(R"(["a","Eq",null])"));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE((*f)->Matches(1, json()));
  EXPECT_TRUE((*f)->Matches(1, json::array({1, 2})));
  EXPECT_TRUE((*f)->Matches(1, json("a")));
}

// --- In / NotIn ---------------------------------------------------------------------------

TEST(FilterIn, MatchesAnyListedValue) {
  EXPECT_TRUE(Match(R"(["a","In",[1,"x",true]])", R"({"a":1.0})"));
  EXPECT_TRUE(Match(R"(["a","In",[1,"x",true]])", R"({"a":"x"})"));
  EXPECT_TRUE(Match(R"(["a","In",[1,"x",true]])", R"({"a":true})"));
  EXPECT_FALSE(Match(R"(["a","In",[1,"x",true]])", R"({"a":false})"));
  EXPECT_FALSE(Match(R"(["a","In",[1,"x",true]])", R"({"a":"1"})"));
  EXPECT_FALSE(Match(R"(["a","In",[]])", R"({"a":1})"));
  EXPECT_TRUE(
      Match(R"(["a","In",[18446744073709551615, -3, 2.5]])", R"({"a":18446744073709551615})"));
  EXPECT_FALSE(
      Match(R"(["a","In",[18446744073709551615, -3, 2.5]])", R"({"a":18446744073709551614})"));
  EXPECT_TRUE(Match(R"(["a","In",[18446744073709551615, -3, 2.5]])", R"({"a":-3.0})"));
  EXPECT_TRUE(Match(R"(["a","In",[18446744073709551615, -3, 2.5]])", R"({"a":2.5})"));
}

TEST(FilterIn, MissingNeverInButAlwaysNotIn) {
  EXPECT_FALSE(Match(R"(["a","In",[1,2]])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","NotIn",[1,2]])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","NotIn",[1,2]])", R"({"a":null})"));
  EXPECT_TRUE(Match(R"(["a","NotIn",[1,2]])", R"({"a":3})"));
  EXPECT_FALSE(Match(R"(["a","NotIn",[1,2]])", R"({"a":2})"));
}

TEST(FilterIn, ArrayAttributeMustEqualAListedArray) {
  EXPECT_FALSE(Match(R"(["a","In",[1,2]])", R"({"a":[1]})"));
  EXPECT_TRUE(Match(R"(["a","In",[[1,2],[3]]])", R"({"a":[3]})"));
  EXPECT_TRUE(Match(R"(["a","In",[[1,2],7]])", R"({"a":[1,2]})"));
  EXPECT_FALSE(Match(R"(["a","In",[[1,2],7]])", R"({"a":[1]})"));
  EXPECT_TRUE(Match(R"(["a","In",[[1,2],7]])", R"({"a":7})"));
}

TEST(FilterIn, LargeListsWork) {
  json list = json::array();
  for (int i = 0; i < 10000; ++i) list.push_back(i * 3);
  auto f = Filter::Parse(json::array({"a", "In", list}));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_TRUE((*f)->Matches(1, {{"a", 2997}}));
  EXPECT_TRUE((*f)->Matches(1, {{"a", 29997.0}}));
  EXPECT_FALSE((*f)->Matches(1, {{"a", 2998}}));
  EXPECT_FALSE((*f)->Matches(1, {{"a", 30000}}));
}

// --- Contains / ContainsAny ---------------------------------------------------------------

TEST(FilterContains, TestsArrayElements) {
  EXPECT_TRUE(Match(R"(["t","Contains","b"])", R"({"t":["a","b"]})"));
  EXPECT_FALSE(Match(R"(["t","Contains","c"])", R"({"t":["a","b"]})"));
  EXPECT_TRUE(Match(R"(["t","Contains",2])", R"({"t":[1,2.0]})"));
  EXPECT_FALSE(Match(R"(["t","Contains",2])", R"({"t":["2"]})"));
  EXPECT_FALSE(Match(R"(["t","Contains","a"])", R"({"t":"a"})"));  // not an array
  EXPECT_FALSE(Match(R"(["t","Contains","a"])", R"({})"));
  EXPECT_FALSE(Match(R"(["t","Contains","a"])", R"({"t":[]})"));
  EXPECT_FALSE(Match(R"(["t","Contains","a"])", R"({"t":[["a"]]})"));
}

TEST(FilterContains, NotContainsIsTheInverse) {
  EXPECT_FALSE(Match(R"(["t","NotContains","b"])", R"({"t":["a","b"]})"));
  EXPECT_TRUE(Match(R"(["t","NotContains","c"])", R"({"t":["a","b"]})"));
  EXPECT_TRUE(Match(R"(["t","NotContains","c"])", R"({})"));
  EXPECT_TRUE(Match(R"(["t","NotContains","a"])", R"({"t":"a"})"));
}

TEST(FilterContains, ContainsAnyIntersects) {
  EXPECT_TRUE(Match(R"(["t","ContainsAny",["x","b"]])", R"({"t":["a","b"]})"));
  EXPECT_FALSE(Match(R"(["t","ContainsAny",["x","y"]])", R"({"t":["a","b"]})"));
  EXPECT_FALSE(Match(R"(["t","ContainsAny",[]])", R"({"t":["a","b"]})"));
  EXPECT_TRUE(Match(R"(["t","ContainsAny",[5,true]])", R"({"t":[false,true]})"));
  EXPECT_FALSE(Match(R"(["t","ContainsAny",["a"]])", R"({})"));
  EXPECT_TRUE(Match(R"(["t","NotContainsAny",["a"]])", R"({})"));
  EXPECT_FALSE(Match(R"(["t","NotContainsAny",["x","a"]])", R"({"t":["a"]})"));
  EXPECT_TRUE(Match(R"(["t","NotContainsAny",["x","y"]])", R"({"t":["a"]})"));
}

// --- Lt / Lte / Gt / Gte --------------------------------------------------------------------

TEST(FilterCompare, Numbers) {
  EXPECT_TRUE(Match(R"(["a","Lt",5])", R"({"a":4.5})"));
  EXPECT_FALSE(Match(R"(["a","Lt",5])", R"({"a":5.0})"));
  EXPECT_TRUE(Match(R"(["a","Lte",5])", R"({"a":5.0})"));
  EXPECT_TRUE(Match(R"(["a","Gt",-1])", R"({"a":0})"));
  EXPECT_FALSE(Match(R"(["a","Gt",0])", R"({"a":0})"));
  EXPECT_TRUE(Match(R"(["a","Gte",0])", R"({"a":0})"));
  EXPECT_TRUE(Match(R"(["a","Gte",2.5])", R"({"a":3})"));
}

TEST(FilterCompare, StringsAreBytewise) {
  EXPECT_TRUE(Match(R"(["a","Lt","b"])", R"({"a":"abc"})"));
  EXPECT_TRUE(Match(R"(["a","Lt","a"])", R"({"a":""})"));
  EXPECT_TRUE(Match(R"(["a","Lt","a"])", R"({"a":"B"})"));   // 'B' < 'a'
  EXPECT_TRUE(Match(R"(["a","Gt","z"])", R"({"a":"é"})"));   // UTF-8 bytes above ASCII
  EXPECT_TRUE(Match(R"(["a","Gt","é"])", R"({"a":"日"})"));  // code point order
  EXPECT_TRUE(Match(R"(["a","Gte","ab"])", R"({"a":"ab"})"));
  EXPECT_FALSE(Match(R"(["a","Gt","ab"])", R"({"a":"ab"})"));
}

TEST(FilterCompare, DifferentKindsNeverMatch) {
  for (const char* op : {"Lt", "Lte", "Gt", "Gte"}) {
    SCOPED_TRACE(op);
    EXPECT_FALSE(Match(json::array({"a", op, 5}).dump(), R"({"a":"5"})"));
    EXPECT_FALSE(Match(json::array({"a", op, "5"}).dump(), R"({"a":5})"));
    EXPECT_FALSE(Match(json::array({"a", op, 5}).dump(), R"({"a":true})"));
    EXPECT_FALSE(Match(json::array({"a", op, 5}).dump(), R"({"a":[5]})"));
    EXPECT_FALSE(Match(json::array({"a", op, 5}).dump(), R"({"a":{"x":5}})"));
  }
}

// turbopuffer documents that Lt and Lte match documents whose attribute is null/missing:
// missing values order below every value.
TEST(FilterCompare, MissingOrdersBelowEveryValue) {
  EXPECT_TRUE(Match(R"(["a","Lt",5])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","Lt",""])", R"({"a":null})"));
  EXPECT_TRUE(Match(R"(["a","Lte",-1e300])", R"({})"));
  EXPECT_FALSE(Match(R"(["a","Gt",-1e300])", R"({})"));
  EXPECT_FALSE(Match(R"(["a","Gte",-1e300])", R"({})"));
  // Not(Gte x) is therefore Lt x, missing included.
  EXPECT_TRUE(Match(R"(["Not",["a","Gte",5]])", R"({})"));
}

TEST(FilterCompare, NullValue) {
  EXPECT_FALSE(Match(R"(["a","Lt",null])", R"({})"));
  EXPECT_FALSE(Match(R"(["a","Lt",null])", R"({"a":1})"));
  EXPECT_TRUE(Match(R"(["a","Lte",null])", R"({})"));
  EXPECT_FALSE(Match(R"(["a","Lte",null])", R"({"a":1})"));
  EXPECT_FALSE(Match(R"(["a","Gt",null])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","Gt",null])", R"({"a":"x"})"));
  EXPECT_TRUE(Match(R"(["a","Gte",null])", R"({})"));
  EXPECT_TRUE(Match(R"(["a","Gte",null])", R"({"a":false})"));
}

TEST(FilterCompare, DatetimesCompareAsInstants) {
  // 00:30 at +01:00 is 23:30 the previous day in UTC.
  EXPECT_TRUE(
      Match(R"(["t","Lt","2024-03-01T00:00:00Z"])", R"({"t":"2024-03-01T00:30:00+01:00"})"));
  EXPECT_TRUE(
      Match(R"(["t","Eq","2024-03-01T00:00:00Z"])", R"({"t":"2024-03-01T01:00:00+01:00"})"));
  EXPECT_TRUE(Match(R"(["t","Eq","2024-03-01T00:00:00Z"])", R"({"t":"2024-03-01t00:00:00.000z"})"));
  EXPECT_TRUE(Match(R"(["t","Eq","2024-03-01T00:00:00Z"])", R"({"t":"2024-03-01 00:00:00Z"})"));
  EXPECT_TRUE(
      Match(R"(["t","Gt","2024-03-01T00:00:00Z"])", R"({"t":"2024-03-01T00:00:00.000000001Z"})"));
  EXPECT_TRUE(Match(R"(["t","Gt","2024-02-29T23:59:59.999Z"])", R"({"t":"2024-03-01T00:00:00Z"})"));
  EXPECT_TRUE(Match(R"(["t","Lt","1970-01-01T00:00:00Z"])", R"({"t":"1969-12-31T23:59:59.5Z"})"));
  EXPECT_TRUE(
      Match(R"(["t","Lt","1970-01-01T00:00:00Z"])", R"({"t":"0000-01-01T00:00:00-23:59"})"));
  EXPECT_TRUE(
      Match(R"(["t","Gt","9999-12-31T23:59:59+23:59"])", R"({"t":"9999-12-31T23:59:59Z"})"));
  EXPECT_TRUE(
      Match(R"(["t","In",["2024-03-01T00:00:00Z","x"]])", R"({"t":"2024-03-01T02:00:00+02:00"})"));
  EXPECT_TRUE(Match(R"(["t","In",["2024-03-01T00:00:00Z","x"]])", R"({"t":"x"})"));
  EXPECT_FALSE(
      Match(R"(["t","In",["2024-03-01T00:00:00Z","x"]])", R"({"t":"2024-03-01T00:00:01Z"})"));
  EXPECT_TRUE(Match(R"(["t","Contains","2024-03-01T00:00:00Z"])",
                    R"({"t":["2024-03-01T00:00:00.0+00:00"]})"));
}

TEST(FilterCompare, MalformedDatetimesCompareBytewise) {
  // Feb 30 is not a date, so both sides compare as bytes.
  EXPECT_FALSE(
      Match(R"(["t","Eq","2024-02-30T00:00:00Z"])", R"({"t":"2024-02-30T01:00:00+01:00"})"));
  EXPECT_TRUE(
      Match(R"(["t","Gt","2024-02-30T00:00:00Z"])", R"({"t":"2024-02-30T01:00:00+01:00"})"));
  // No offset: not RFC 3339.
  EXPECT_FALSE(Match(R"(["t","Eq","2024-03-01T00:00:00"])", R"({"t":"2024-03-01T00:00:00Z"})"));
  // One side a timestamp, the other not: bytewise.
  EXPECT_TRUE(Match(R"(["t","Lt","2024-03-01T00:00:00Z"])", R"({"t":"2024"})"));
  for (const char* bad :
       {"2024-13-01T00:00:00Z", "2024-03-01T24:00:00Z", "2024-03-01T00:60:00Z",
        "2024-03-01T00:00:60Z", "2023-02-29T00:00:00Z", "2024-03-01T00:00:00+24:00",
        "2024-03-01T00:00:00.Z", "2024-03-01T00:00:00+0100", "2024-3-01T00:00:00Z"}) {
    SCOPED_TRACE(bad);
    // Were `bad` parsed as an instant, it would equal some well-formed spelling; bytewise it
    // only equals itself.
    EXPECT_TRUE(Match(json::array({"t", "Eq", bad}).dump(), json{{"t", bad}}.dump()));
    EXPECT_FALSE(Match(json::array({"t", "Eq", bad}).dump(), R"({"t":"2024-03-01T00:00:00Z"})"));
  }
}

TEST(FilterCompare, AnyComparisonsOnArrays) {
  EXPECT_TRUE(Match(R"(["n","AnyLt",3])", R"({"n":[10,2,7]})"));
  EXPECT_FALSE(Match(R"(["n","AnyLt",2])", R"({"n":[10,2,7]})"));
  EXPECT_TRUE(Match(R"(["n","AnyLte",2])", R"({"n":[10,2,7]})"));
  EXPECT_TRUE(Match(R"(["n","AnyGt",9.5])", R"({"n":[10,2,7]})"));
  EXPECT_FALSE(Match(R"(["n","AnyGt",10])", R"({"n":[10,2,7]})"));
  EXPECT_TRUE(Match(R"(["n","AnyGte",10])", R"({"n":[10,2,7]})"));
  EXPECT_TRUE(Match(R"(["n","AnyGt","b"])", R"({"n":["a",1,"c"]})"));
  EXPECT_FALSE(Match(R"(["n","AnyLt",100])", R"({"n":[]})"));
  EXPECT_FALSE(Match(R"(["n","AnyLt",100])", R"({"n":5})"));  // not an array
  // A missing array is judged like a missing value under Lt..Gte.
  EXPECT_TRUE(Match(R"(["n","AnyLt",100])", R"({})"));
  EXPECT_FALSE(Match(R"(["n","AnyGt",100])", R"({})"));
}

// --- Glob / IGlob -------------------------------------------------------------------------

bool Glob(const std::string& pattern, const std::string& text, const char* op = "Glob") {
  return Match(json::array({"s", op, pattern}).dump(), json{{"s", text}}.dump());
}

TEST(FilterGlob, Wildcards) {
  EXPECT_TRUE(Glob("foo*", "foo"));
  EXPECT_TRUE(Glob("foo*", "foobar"));
  EXPECT_FALSE(Glob("foo*", "fo"));
  EXPECT_TRUE(Glob("*", ""));
  EXPECT_TRUE(Glob("a*b", "ab"));  // '*' across the empty string
  EXPECT_TRUE(Glob("a*b*c", "abc"));
  EXPECT_TRUE(Glob("a*b*c", "a-b-b-c"));
  EXPECT_FALSE(Glob("a*b*c", "a-b-b-cd"));
  EXPECT_TRUE(Glob("*.tsx", "src/app/page.tsx"));  // '*' crosses '/'
  EXPECT_TRUE(Glob("?", "é"));                     // one character, not one byte
  EXPECT_FALSE(Glob("?", "ab"));
  EXPECT_FALSE(Glob("?", ""));
  EXPECT_TRUE(Glob("a?c", "a\nc"));  // wildcards match newlines
  EXPECT_TRUE(Glob("", ""));
  EXPECT_FALSE(Glob("", "a"));
  EXPECT_FALSE(Glob("abc", "ABC"));  // case sensitive
  EXPECT_TRUE(Glob("abc", "abc"));
  EXPECT_FALSE(Glob("abc", "abcd"));  // anchored at both ends
  EXPECT_FALSE(Glob("bc", "abc"));
}

TEST(FilterGlob, CharacterClasses) {
  EXPECT_TRUE(Glob("[abc]", "b"));
  EXPECT_FALSE(Glob("[abc]", "d"));
  EXPECT_TRUE(Glob("[a-z]x", "qx"));
  EXPECT_FALSE(Glob("[a-z]", "Q"));
  EXPECT_TRUE(Glob("[!a]", "b"));
  EXPECT_FALSE(Glob("[!a]", "a"));
  EXPECT_TRUE(Glob("[^a]", "b"));
  EXPECT_FALSE(Glob("[^a]", "a"));
  EXPECT_FALSE(Glob("[!a]", ""));
  EXPECT_TRUE(Glob("[]]", "]"));  // ']' first is a member
  EXPECT_TRUE(Glob("[!]]", "a"));
  EXPECT_FALSE(Glob("[!]]", "]"));
  EXPECT_TRUE(Glob("[-a]", "-"));
  EXPECT_TRUE(Glob("[a-]", "-"));
  EXPECT_TRUE(Glob("[*?]", "*"));  // metacharacters are literal in a class
  EXPECT_FALSE(Glob("[*?]", "x"));
  EXPECT_TRUE(Glob("[\\]", "\\"));  // so is a backslash
  EXPECT_TRUE(Glob("[é-ê]", "é"));
  EXPECT_TRUE(Glob("[!é]", "e"));
  EXPECT_FALSE(Glob("[!é]", "é"));
}

TEST(FilterGlob, EscapesAndAlternates) {
  EXPECT_TRUE(Glob("a\\*", "a*"));
  EXPECT_FALSE(Glob("a\\*", "ab"));
  EXPECT_TRUE(Glob("\\?", "?"));
  EXPECT_FALSE(Glob("\\?", "x"));
  EXPECT_TRUE(Glob("\\[a]", "[a]"));
  EXPECT_TRUE(Glob("\\\\", "\\"));
  EXPECT_TRUE(Glob("\\q", "q"));  // escaping a plain character is harmless
  EXPECT_TRUE(Glob("*.{js,tsx}", "a.tsx"));
  EXPECT_TRUE(Glob("*.{js,tsx}", "a.js"));
  EXPECT_FALSE(Glob("*.{js,tsx}", "a.ts"));
  EXPECT_TRUE(Glob("foo{,.txt}", "foo.txt"));
  EXPECT_FALSE(Glob("foo{,.txt}", "foo"));  // globset drops empty alternatives
  EXPECT_TRUE(Glob("a{}b", "ab"));
  EXPECT_TRUE(Glob("a,b", "a,b"));  // a comma outside braces is literal
  EXPECT_TRUE(Glob("{a\\,b,c}", "a,b"));
  EXPECT_TRUE(Glob("{[,]x,y}", ",x"));
}

TEST(FilterGlob, RecursiveWildcards) {
  EXPECT_TRUE(Glob("**", ""));
  EXPECT_TRUE(Glob("**", "a/b/c"));
  EXPECT_TRUE(Glob("**/foo", "foo"));
  EXPECT_TRUE(Glob("**/foo", "a/b/foo"));
  EXPECT_TRUE(Glob("**/foo", "/foo"));
  EXPECT_FALSE(Glob("**/foo", "afoo"));
  EXPECT_FALSE(Glob("**/foo", "foo/bar"));
  EXPECT_TRUE(Glob("foo/**", "foo/a"));
  EXPECT_TRUE(Glob("foo/**", "foo/a/b"));
  EXPECT_FALSE(Glob("foo/**", "foo"));
  EXPECT_TRUE(Glob("a/**/b", "a/b"));
  EXPECT_TRUE(Glob("a/**/b", "a/x/y/b"));
  EXPECT_FALSE(Glob("a/**/b", "axb"));
  EXPECT_TRUE(Glob("**.tsx", "a/b.tsx"));  // "**" not next to '/' is "*"
  EXPECT_TRUE(Glob("a**b", "ab"));
  EXPECT_TRUE(Glob("/vendor/**", "/vendor/x/y.js"));
  EXPECT_FALSE(Glob("/vendor/**", "/vendored/x"));
  EXPECT_TRUE(Glob("{**/a,b}", "x/a"));
}

TEST(FilterGlob, IGlobFoldsAsciiCase) {
  EXPECT_TRUE(Glob("FOO*", "foobar", "IGlob"));
  EXPECT_TRUE(Glob("foo*", "FOOBAR", "IGlob"));
  EXPECT_TRUE(Glob("[a-c]x", "BX", "IGlob"));
  EXPECT_TRUE(Glob("[A-C]x", "bX", "IGlob"));
  EXPECT_FALSE(Glob("[!a]", "A", "IGlob"));
  EXPECT_TRUE(Glob("[!a]", "b", "IGlob"));
  EXPECT_FALSE(Glob("é", "É", "IGlob"));  // ASCII folding only
  EXPECT_FALSE(Glob("FOO*", "foobar", "Glob"));
  EXPECT_TRUE(Glob("FOO*", "foobar", "NotGlob"));
  EXPECT_FALSE(Glob("FOO*", "foobar", "NotIGlob"));
}

TEST(FilterGlob, ArraysMatchIfAnyStringElementMatches) {
  EXPECT_TRUE(Match(R"(["s","Glob","b*"])", R"({"s":["a","bc"]})"));
  EXPECT_FALSE(Match(R"(["s","Glob","b*"])", R"({"s":["a","c"]})"));
  EXPECT_FALSE(Match(R"(["s","Glob","*"])", R"({"s":[1,2]})"));
  EXPECT_FALSE(Match(R"(["s","NotGlob","b*"])", R"({"s":["a","bc"]})"));
  EXPECT_TRUE(Match(R"(["s","IGlob","B*"])", R"({"s":["a","bc"]})"));
}

TEST(FilterGlob, NonStringsAndMissing) {
  EXPECT_FALSE(Match(R"(["s","Glob","*"])", R"({"s":5})"));
  EXPECT_FALSE(Match(R"(["s","Glob","*"])", R"({})"));
  EXPECT_TRUE(Match(R"(["s","NotGlob","*"])", R"({})"));
  EXPECT_TRUE(Match(R"(["s","NotGlob","*"])", R"({"s":true})"));
  EXPECT_TRUE(Match(R"(["s","NotIGlob","*"])", R"({"s":null})"));
}

TEST(FilterGlob, PathologicalPatternsRunInPolynomialTime) {
  // A backtracking matcher takes exponential time on these.
  std::string pattern;
  for (int i = 0; i < 30; ++i) pattern += "a*";
  pattern += "b";
  const std::string text(20000, 'a');
  EXPECT_FALSE(Glob(pattern, text));
  EXPECT_TRUE(Glob(pattern, text + "b"));
  EXPECT_FALSE(Glob(pattern, text, "IGlob"));
  EXPECT_FALSE(Match(R"(["s","Regex","^(a+)+$"])", json{{"s", text + "!"}}.dump()));
}

// --- Regex ----------------------------------------------------------------------------------

TEST(FilterRegex, UnanchoredSearch) {
  EXPECT_TRUE(Match(R"(["s","Regex","b+c"])", R"({"s":"abbbcd"})"));
  EXPECT_FALSE(Match(R"(["s","Regex","^b"])", R"({"s":"abc"})"));
  EXPECT_TRUE(Match(R"(["s","Regex","^a.c$"])", R"({"s":"aéc"})"));
  EXPECT_TRUE(Match(R"(["s","Regex","(?i)ABC"])", R"({"s":"xabcx"})"));
  EXPECT_TRUE(Match(R"(["s","Regex",""])", R"({"s":""})"));
  EXPECT_FALSE(Match(R"(["s","Regex","a"])", R"({"s":["a"]})"));  // strings only
  EXPECT_FALSE(Match(R"(["s","Regex","1"])", R"({"s":1})"));
  EXPECT_FALSE(Match(R"(["s","Regex",".*"])", R"({})"));
  EXPECT_TRUE(Match(R"(["Not",["s","Regex","x"]])", R"({})"));
}

// --- And / Or / Not -------------------------------------------------------------------------

TEST(FilterLogic, AndOrNot) {
  const std::string doc = R"({"a":1,"b":"x"})";
  EXPECT_TRUE(Match(R"(["And",[["a","Eq",1],["b","Eq","x"]]])", doc));
  EXPECT_FALSE(Match(R"(["And",[["a","Eq",1],["b","Eq","y"]]])", doc));
  EXPECT_TRUE(Match(R"(["Or",[["a","Eq",2],["b","Eq","x"]]])", doc));
  EXPECT_FALSE(Match(R"(["Or",[["a","Eq",2],["b","Eq","y"]]])", doc));
  EXPECT_TRUE(Match(R"(["Not",["a","Eq",2]])", doc));
  EXPECT_FALSE(Match(R"(["Not",["Not",["a","Eq",2]]])", doc));
  EXPECT_TRUE(Match(R"(["And",[]])", doc));
  EXPECT_FALSE(Match(R"(["Or",[]])", doc));
  EXPECT_TRUE(Match(R"(["And",[["Or",[["a","Eq",3],["Not",["b","In",["y","z"]]]]],
                              ["Not",["And",[["a","Eq",1],["b","Eq","y"]]]]]])",
                    doc));
}

TEST(FilterLogic, AttributeNamedLikeAConnective) {
  EXPECT_TRUE(Match(R"(["And","Eq",1])", R"({"And":1})"));
  EXPECT_TRUE(Match(R"(["Not","NotEq",null])", R"({"Not":2})"));
  EXPECT_FALSE(Match(R"(["Or","Eq",null])", R"({"Or":2})"));
}

TEST(FilterLogic, DeepNestingUpToTheLimit) {
  json f = json::array({"a", "Eq", 1});
  for (int depth = 1; depth < kMaxFilterDepth; ++depth) f = json::array({"Not", f});
  auto parsed = Filter::Parse(f);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  // 63 Nots around Eq: odd, so the result is inverted.
  EXPECT_FALSE((*parsed)->Matches(1, {{"a", 1}}));
  EXPECT_TRUE((*parsed)->Matches(1, {{"a", 2}}));
  json deeper = json::array({"And", json::array({f})});
  EXPECT_THAT(ParseError(deeper), HasSubstr("nest more than 64 levels"));
}

// --- id -------------------------------------------------------------------------------------

TEST(FilterId, FiltersOnTheDocumentId) {
  EXPECT_TRUE(Match(R"(["id","In",[1,2,3]])", "{}", 2));
  EXPECT_FALSE(Match(R"(["id","In",[1,2,3]])", "{}", 4));
  EXPECT_TRUE(Match(R"(["id","Gte",100])", "{}", 100));
  EXPECT_FALSE(Match(R"(["id","Gte",100])", "{}", 99));
  EXPECT_TRUE(Match(R"(["id","Eq",18446744073709551615])", "{}", json(UINT64_MAX)));
  const json uuid = "3d7a7296-3d6a-4796-8fb0-f90406b1f621";
  EXPECT_TRUE(Match(R"(["id","Eq","3d7a7296-3d6a-4796-8fb0-f90406b1f621"])", "{}", uuid));
  EXPECT_TRUE(Match(R"(["id","Glob","3d7a*"])", "{}", uuid));
  EXPECT_FALSE(Match(R"(["id","Eq",1])", "{}", uuid));
  EXPECT_FALSE(Match(R"(["id","Eq",null])", "{}", 1));
  EXPECT_TRUE(Match(R"(["id","NotEq",null])", "{}", 1));
  // The id is not an attribute: an attribute named "id" is ignored.
  EXPECT_FALSE(Match(R"(["id","Eq",5])", R"({"id":5})", 6));
}

TEST(FilterAttributes, ListsEachNameOnceInOrder) {
  auto f = Filter::Parse(json::parse(
      R"(["And",[["b","Eq",1],["Or",[["a","Eq",1],["id","In",[1]]]],["Not",["b","Lt",3]]]])"));
  ASSERT_TRUE(f.ok());
  EXPECT_THAT((*f)->attributes(), ElementsAre("b", "a", "id"));
}

// --- Parse errors -------------------------------------------------------------------------

TEST(FilterParse, ErrorsNameThePath) {
  EXPECT_EQ(ParseError(R"(["Not",["a","Eqq",1]])"), "filters[1][1]: unknown operator 'Eqq'");
  EXPECT_EQ(ParseError(R"(["a","In",5])"), "filters[2]: expected a value array for In, got number");
  EXPECT_THAT(ParseError(R"(["s","Regex","(ab"])"),
              StartsWith("filters: Regex: invalid regular expression"));
  EXPECT_THAT(ParseError(R"(["And",[["a","Eq",1],["b","In",[1,{}]]]])"),
              StartsWith("filters[1][1][2][1]: expected a string, number or boolean for In"));
  EXPECT_THAT(ParseError(R"({"a":["Eq",1]})"),
              StartsWith("filters: expected a filter array, got object"));
  EXPECT_THAT(ParseError(R"(null)"), StartsWith("filters: expected a filter array, got null"));
  EXPECT_THAT(ParseError(R"([])"), StartsWith("filters: expected a filter"));
  EXPECT_THAT(ParseError(R"([1,"Eq",1])"), StartsWith("filters[0]: expected an attribute name"));
  EXPECT_THAT(ParseError(R"(["a",1,1])"), StartsWith("filters[1]: expected an operator name"));
  EXPECT_THAT(ParseError(R"(["a","Eq"])"),
              StartsWith("filters: expected [attribute, operator, value] for Eq"));
  EXPECT_THAT(ParseError(R"(["a","Eq",1,2])"),
              StartsWith("filters: expected [attribute, operator, value] for Eq"));
  EXPECT_THAT(ParseError(R"(["a"])"), StartsWith("filters: expected [attribute, operator, value]"));
  EXPECT_THAT(ParseError(R"(["","Eq",1])"), StartsWith("filters[0]: attribute name is empty"));
  EXPECT_THAT(ParseError(R"(["And",["a","Eq",1]])"),
              StartsWith("filters[1][0]: expected a filter array, got string"));
  EXPECT_THAT(ParseError(R"(["Or",{}])"),
              StartsWith("filters[1]: expected an array of filters for Or, got object"));
  EXPECT_THAT(ParseError(R"(["Not"])"), StartsWith("filters: Not takes exactly one operand"));
  EXPECT_THAT(ParseError(R"(["Not",["a","Eq",1],["b","Eq",1]])"),
              StartsWith("filters: Not takes exactly one operand, got 2"));
  EXPECT_THAT(ParseError(R"(["a","And",[]])"), StartsWith("filters[1]: unknown operator 'And'"));
}

TEST(FilterParse, ValueTypeErrors) {
  EXPECT_THAT(ParseError(R"(["a","Eq",{}])"),
              StartsWith("filters[2]: expected a string, number or boolean for Eq, got object"));
  EXPECT_THAT(ParseError(R"(["a","Eq",[1,[2]]])"),
              StartsWith("filters[2][1]: expected a string, number or boolean for Eq, got array"));
  EXPECT_THAT(ParseError(R"(["a","Eq",[null]])"), StartsWith("filters[2][0]: expected a string"));
  EXPECT_THAT(ParseError(R"(["a","In",[null]])"), StartsWith("filters[2][0]: expected a string"));
  EXPECT_THAT(ParseError(R"(["a","ContainsAny",[[1]]])"),
              StartsWith("filters[2][0]: expected a string, number or boolean for ContainsAny"));
  EXPECT_THAT(ParseError(R"(["a","NotContainsAny","x"])"),
              StartsWith("filters[2]: expected a value array for NotContainsAny, got string"));
  EXPECT_THAT(ParseError(R"(["a","Contains",null])"),
              StartsWith("filters[2]: expected a string, number or boolean for Contains"));
  EXPECT_THAT(ParseError(R"(["a","Contains",[1]])"),
              StartsWith("filters[2]: expected a string, number or boolean for Contains"));
  EXPECT_THAT(ParseError(R"(["a","Lt",true])"),
              StartsWith("filters[2]: Lt compares numbers, strings or datetimes, got boolean"));
  EXPECT_THAT(ParseError(R"(["a","AnyGte",[1]])"),
              StartsWith("filters[2]: AnyGte compares numbers, strings or datetimes, got array"));
  EXPECT_THAT(ParseError(R"(["a","Glob",1])"),
              StartsWith("filters[2]: expected a pattern string for Glob, got number"));
  EXPECT_THAT(ParseError(R"(["a","Regex",null])"),
              StartsWith("filters[2]: expected a pattern string for Regex, got null"));
  EXPECT_THAT(ParseError(json::array({"a", "Eq", std::numeric_limits<double>::infinity()})),
              StartsWith("filters[2]: expected a finite number for Eq"));
  EXPECT_THAT(ParseError(json::array({"a", "In", json::array({std::nan("")})})),
              StartsWith("filters[2][0]: expected a finite number for In"));
}

TEST(FilterParse, GlobSyntaxErrors) {
  EXPECT_THAT(ParseError(R"(["s","Glob","[abc"])"),
              StartsWith("filters: Glob: invalid glob pattern: unclosed character class"));
  EXPECT_THAT(ParseError(R"(["s","IGlob","[]"])"),
              StartsWith("filters: IGlob: invalid glob pattern: unclosed character class"));
  EXPECT_THAT(ParseError(R"(["s","NotGlob","[z-a]"])"),
              StartsWith("filters: NotGlob: invalid glob pattern: invalid character range"));
  EXPECT_THAT(ParseError(R"(["s","Glob","{a,b"])"),
              StartsWith("filters: Glob: invalid glob pattern: unclosed alternate group"));
  EXPECT_THAT(ParseError(R"(["s","Glob","a}"])"),
              StartsWith("filters: Glob: invalid glob pattern: unopened alternate group"));
  EXPECT_THAT(ParseError(R"(["s","Glob","{a,{b}}"])"),
              StartsWith("filters: Glob: invalid glob pattern: nested alternate groups"));
  EXPECT_THAT(ParseError(R"(["s","Glob","ab\\"])"),
              StartsWith("filters: Glob: invalid glob pattern: dangling '\\'"));
  EXPECT_THAT(ParseError(json::array({"s", "Glob", "\xff"})),
              StartsWith("filters: Glob: invalid glob pattern: pattern is not valid UTF-8"));
}

TEST(FilterParse, FullTextOperatorsAreNotSupported) {
  for (const char* op : {"ContainsAllTokens", "ContainsAnyToken", "ContainsTokenSequence"}) {
    EXPECT_EQ(ParseError(json::array({"text", op, "quick fox"})),
              std::string("filters[1]: operator '") + op +
                  "' is not supported (full-text search is not implemented)");
  }
  EXPECT_EQ(ParseError(R"(["text","ContainsAllTokens","lazy wal",{"last_as_prefix":true}])"),
            "filters[1]: operator 'ContainsAllTokens' is not supported (full-text search is not "
            "implemented)");
  EXPECT_EQ(ParseError(R"(["And",[["text","Fuzzy","tpuf",{"max_edit_distance":[]}]]])"),
            "filters[1][0][1]: operator 'Fuzzy' is not supported (full-text search is not "
            "implemented)");
}

TEST(FilterParse, CustomRootPath) {
  auto f = Filter::Parse(json::parse(R"(["a","Eqq",1])"), "queries[2].filters");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(), "queries[2].filters[1]: unknown operator 'Eqq'");
}

TEST(FilterParse, Limits) {
  json list = json::array();
  for (size_t i = 0; i <= kMaxFilterListValues; ++i) list.push_back(i);
  EXPECT_EQ(ParseError(json::array({"a", "In", list})),
            "filters[2]: In has 10001 values; at most 10000 are allowed");
  EXPECT_THAT(ParseError(json::array({"a", "ContainsAny", list})),
              StartsWith("filters[2]: ContainsAny has 10001 values"));
  list.erase(list.size() - 1);
  EXPECT_EQ(ParseError(json::array({"a", "NotIn", list})), "<parsed>");

  const std::string max_pattern(kMaxFilterPatternBytes, '*');
  EXPECT_EQ(ParseError(json::array({"s", "Glob", max_pattern})), "<parsed>");
  EXPECT_EQ(ParseError(json::array({"s", "Regex", std::string(kMaxFilterPatternBytes, 'a')})),
            "<parsed>");
  EXPECT_EQ(ParseError(json::array({"s", "Glob", max_pattern + "*"})),
            "filters[2]: Glob pattern is 4097 bytes; at most 4096 are allowed");
  EXPECT_THAT(ParseError(json::array({"s", "Regex", max_pattern + "*"})),
              StartsWith("filters[2]: Regex pattern is 4097 bytes"));
  // Patterns within the byte limit may still exceed RE2's program size limit: an error, not a
  // crash.
  EXPECT_THAT(ParseError(json::array({"s", "Regex", "((((a{100}){100}){100}){100})"})),
              StartsWith("filters: Regex: invalid regular expression"));
}

TEST(FilterParse, VeryDeepInputIsRejectedWithoutRecursingThroughIt) {
  // Built top-down, so the test itself stays linear in the depth.
  json f = json::array({"Not", nullptr});
  json* innermost = &f;
  for (int i = 0; i < 100000; ++i) {
    (*innermost)[1] = json::array({"Not", nullptr});
    innermost = &(*innermost)[1];
  }
  (*innermost)[1] = json::array({"a", "Eq", 1});
  EXPECT_EQ(ParseError(f).rfind("filters[1][1][1]", 0), 0u);
  EXPECT_THAT(ParseError(f), HasSubstr("nest more than 64 levels"));
}

TEST(FilterMatches, ConcurrentCallsAgree) {
  auto f = Filter::Parse(
      json::parse(R"(["Or",[["s","Glob","a*b?c"],["s","Regex","x+y"],["n","In",[1,2,3]]]])"));
  ASSERT_TRUE(f.ok());
  const std::vector<json> docs = {json::parse(R"({"s":"a--bxc"})"), json::parse(R"({"s":"xxy"})"),
                                  json::parse(R"({"n":2})"), json::parse(R"({"s":"abc"})")};
  std::vector<std::thread> threads;
  std::vector<int> counts(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) counts[t] += (*f)->Matches(1, docs[i % 4]);
    });
  }
  for (auto& th : threads) th.join();
  for (int c : counts) EXPECT_EQ(c, 1500);
}

// --- Differential test against the reference evaluator ------------------------------------

TEST(FilterDifferential, MatchesAgreeWithReferenceEvaluator) {
  constexpr int kDocs = 2000;
  constexpr int kFilters = 2000;
  filter_random::RandomFilters gen(20240301);
  std::vector<std::pair<json, json>> docs;  // (id, attributes)
  for (int i = 0; i < kDocs; ++i) {
    json id = gen.Id();
    docs.emplace_back(std::move(id), gen.Document());
  }

  filter_reference::Reference reference;
  std::map<std::string, std::pair<int64_t, int64_t>> outcomes;  // op -> (matches, misses)
  int64_t total_matches = 0, total = 0;
  int mismatches = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kFilters; ++i) {
    const json fj = gen.FilterJson();
    auto f = Filter::Parse(fj);
    ASSERT_TRUE(f.ok()) << fj.dump() << ": " << f.status().ToString();
    const std::string op =
        fj[1].is_string() && fj.size() == 3 ? fj[1].get<std::string>() : fj[0].get<std::string>();
    for (const auto& [id, attrs] : docs) {
      const bool got = (*f)->Matches(id, attrs);
      const bool want = reference.Eval(fj, id, attrs);
      ++total;
      total_matches += got;
      (got ? outcomes[op].first : outcomes[op].second)++;
      if (got != want && ++mismatches <= 10) {
        ADD_FAILURE() << "filter " << fj.dump() << "\n  id " << id.dump() << " attributes "
                      << attrs.dump() << "\n  Matches()=" << got << ", reference=" << want;
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(mismatches, 0);
  // The random data must exercise both outcomes of every operator, or agreement means little.
  EXPECT_EQ(outcomes.size(), 24u);
  for (const auto& [op, counts] : outcomes) {
    EXPECT_GT(counts.first, 0) << op << " never matched";
    EXPECT_GT(counts.second, 0) << op << " always matched";
  }
  const double rate = static_cast<double>(total_matches) / static_cast<double>(total);
  EXPECT_GT(rate, 0.1);
  EXPECT_LT(rate, 0.9);
  std::printf("[          ] %lld evaluations, match rate %.3f, %.2f s\n",
              static_cast<long long>(total), rate, seconds);
  for (const auto& [op, counts] : outcomes) {
    std::printf("[          ]   %-15s %8lld matches %8lld misses\n", op.c_str(),
                static_cast<long long>(counts.first), static_cast<long long>(counts.second));
  }
}

}  // namespace
}  // namespace vecpuff
