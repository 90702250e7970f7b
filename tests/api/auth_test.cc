// ApiKeyAuth: which Authorization headers pass, and that messages never echo a key.
#include "api/auth.h"

#include <gtest/gtest.h>

namespace vecpuff {
namespace {

TEST(ApiKeyAuthTest, WithoutKeysEveryRequestIsAnonymous) {
  ApiKeyAuth auth({}, /*allow_anonymous=*/false);
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.Check("").ok());
  EXPECT_TRUE(auth.Check("Bearer anything").ok());
}

TEST(ApiKeyAuthTest, OnlyAConfiguredKeyPasses) {
  ApiKeyAuth auth({"key-one", "key-two"}, /*allow_anonymous=*/false);
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.Check("Bearer key-one").ok());
  EXPECT_TRUE(auth.Check("Bearer key-two").ok());
  EXPECT_TRUE(auth.Check("bearer key-two").ok());  // the scheme is case-insensitive
  EXPECT_TRUE(auth.Check("Bearer   key-one").ok());
  for (const char* header :
       {"", "Bearer", "Bearer ", "Bearer key-on", "Bearer key-one1", "Bearer KEY-ONE",
        "Basic a2V5LW9uZQ==", "key-one", "Bearerkey-one", "Bearer key-one key-two"}) {
    Status s = auth.Check(header);
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << header;
    EXPECT_FALSE(s.message().empty());
    EXPECT_EQ(s.message().find("key-one"), std::string::npos) << s.message();
  }
}

TEST(ApiKeyAuthTest, AllowAnonymousAcceptsAMissingKeyButNotAWrongOne) {
  ApiKeyAuth auth({"key-one"}, /*allow_anonymous=*/true);
  EXPECT_TRUE(auth.Check("").ok());
  EXPECT_TRUE(auth.Check("Bearer key-one").ok());
  EXPECT_EQ(auth.Check("Bearer wrong").code(), StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace vecpuff
