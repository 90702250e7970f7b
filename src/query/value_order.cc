#include "query/value_order.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace vecpuff {
namespace {

using nlohmann::json;

__extension__ typedef __int128 Int128;

int TypeRank(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return 0;
    case json::value_t::boolean:
      return 1;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return 2;
    case json::value_t::string:
      return 3;
    case json::value_t::array:
      return 4;
    default:
      return 5;
  }
}

Int128 AsInt128(const json& v) {
  return v.is_number_unsigned() ? static_cast<Int128>(v.get<uint64_t>())
                                : static_cast<Int128>(v.get<int64_t>());
}

// Compares a double with an integer exactly.
int CompareDoubleInt(double d, Int128 i) {
  constexpr double kTwo127 = 1.7014118346046923e38;  // 2^127
  if (d >= kTwo127) return 1;
  if (d <= -kTwo127) return -1;
  const double f = std::floor(d);
  const Int128 fi = static_cast<Int128>(f);
  if (fi != i) return fi < i ? -1 : 1;
  return d > f ? 1 : 0;
}

int CompareNumbers(const json& a, const json& b) {
  const bool fa = a.is_number_float(), fb = b.is_number_float();
  if (fa && fb) {
    const double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : (y < x ? 1 : 0);
  }
  if (!fa && !fb) {
    const Int128 x = AsInt128(a), y = AsInt128(b);
    return x < y ? -1 : (y < x ? 1 : 0);
  }
  if (fa) return CompareDoubleInt(a.get<double>(), AsInt128(b));
  return -CompareDoubleInt(b.get<double>(), AsInt128(a));
}

}  // namespace

int CompareValues(const json& a, const json& b) {
  const int ra = TypeRank(a), rb = TypeRank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 1:
      return static_cast<int>(a.get<bool>()) - static_cast<int>(b.get<bool>());
    case 2:
      return CompareNumbers(a, b);
    case 3: {
      const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case 4: {
      const size_t n = std::min(a.size(), b.size());
      for (size_t i = 0; i < n; ++i) {
        if (int c = CompareValues(a[i], b[i]); c != 0) return c;
      }
      return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
    }
    case 5:
      return a < b ? -1 : (b < a ? 1 : 0);
    default:
      return 0;
  }
}

}  // namespace vecpuff
