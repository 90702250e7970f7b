#include "common/coding.h"

#include <gtest/gtest.h>

#include "common/status.h"

namespace vecpuff {
namespace {

TEST(Coding, FixedWidthRoundTrip) {
  std::string s;
  PutFixed16(&s, 0xbeef);
  PutFixed32(&s, 0xdeadbeef);
  PutFixed64(&s, 0x0123456789abcdefULL);
  PutLengthPrefixed(&s, "hello");
  Decoder d(s);
  uint16_t a;
  uint32_t b;
  uint64_t c;
  std::string_view str;
  ASSERT_TRUE(d.ReadU16(&a, "a").ok());
  ASSERT_TRUE(d.ReadU32(&b, "b").ok());
  ASSERT_TRUE(d.ReadU64(&c, "c").ok());
  ASSERT_TRUE(d.ReadLengthPrefixed(&str, "s").ok());
  EXPECT_EQ(a, 0xbeef);
  EXPECT_EQ(b, 0xdeadbeefu);
  EXPECT_EQ(c, 0x0123456789abcdefULL);
  EXPECT_EQ(str, "hello");
  EXPECT_TRUE(d.done());
}

TEST(Coding, LittleEndianOnTheWire) {
  std::string s;
  PutFixed32(&s, 0x04030201);
  EXPECT_EQ(s, std::string("\x01\x02\x03\x04", 4));
}

TEST(Coding, ShortReadIsCorruptionNamingTheField) {
  std::string s =
      "\x05\x00\x00\x00"
      "ab";  // claims 5 bytes, has 2
  Decoder d(s);
  std::string_view out;
  Status st = d.ReadLengthPrefixed(&out, "doc id");
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("doc id"), std::string::npos);
}

TEST(StatusTest, ResultCarriesValueOrError) {
  Result<int> good = 5;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 5);
  Result<int> bad = Status::NotFound("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
  EXPECT_EQ(bad.status().ToString(), "NotFound: nope");
  EXPECT_EQ(Status::IOError("x").WithContext("reading").message(), "reading: x");
  // A Result built from an OK status is a bug, reported as Internal rather than UB.
  Result<int> odd = Status::OK();
  EXPECT_FALSE(odd.ok());
  EXPECT_EQ(odd.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace vecpuff
