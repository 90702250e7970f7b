#include "query/value_order.h"

#include <gtest/gtest.h>

namespace vecpuff {
namespace {

using nlohmann::json;

TEST(ValueOrderTest, ValuesOrderByKindThenValue) {
  EXPECT_LT(CompareValues(nullptr, false), 0);
  EXPECT_LT(CompareValues(true, 0), 0);
  EXPECT_LT(CompareValues(-1, 0.5), 0);
  EXPECT_EQ(CompareValues(5, 5.0), 0);
  EXPECT_GT(CompareValues(5.5, 5), 0);
  EXPECT_LT(CompareValues(uint64_t{18446744073709551614u}, uint64_t{18446744073709551615u}), 0);
  EXPECT_LT(CompareValues(9007199254740993, 9007199254740994.0), 0);  // 2^53+1 < 2^53+2
  EXPECT_LT(CompareValues(100, "a"), 0);
  EXPECT_LT(CompareValues("B", "a"), 0);
  EXPECT_LT(CompareValues("z", json::array({1})), 0);
  EXPECT_LT(CompareValues(json::array({1, 2}), json::array({1, 3})), 0);
}

}  // namespace
}  // namespace vecpuff
