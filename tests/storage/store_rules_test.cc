// Key validation, range resolution, list bounds, and the errno mapping.

#include "storage/store_rules.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "storage/posix_io.h"

namespace vecpuff::storage_internal {
namespace {

// 1024 bytes in segments of at most 200.
std::string MaxLengthKey() {
  std::string key;
  while (key.size() + 201 < 1024) key += std::string(200, 'y') + "/";
  return key + std::string(1024 - key.size(), 'z');
}

TEST(ValidateKeyTest, AcceptsOrdinaryKeys) {
  for (const std::string& k :
       {std::string("a"), std::string("namespaces/ns/wal/00000000000000000001"),
        std::string("with space"), std::string("ü/キー"), std::string(".hidden/.dot"),
        std::string("...") /* not "." or ".." */, std::string("a.vp-/b"), std::string(247, 'x'),
        MaxLengthKey()}) {
    EXPECT_TRUE(ValidateKey(k).ok()) << k << ": " << ValidateKey(k).ToString();
  }
}

TEST(ValidateKeyTest, RejectsWhatTheStoresCannotHold) {
  const std::string bad[] = {"",
                             std::string(1025, 'x'),
                             std::string("a\0b", 3),
                             "/abs",
                             "a//b",
                             "a/",
                             ".",
                             "..",
                             "a/./b",
                             "a/..",
                             ".vp-locks",
                             "a/.vp-tmp.1",
                             "a/.vp-obj.b/c",
                             std::string(248, 'x')};
  for (const std::string& k : bad) {
    Status s = ValidateKey(k);
    EXPECT_TRUE(s.IsInvalidArgument()) << "'" << k << "' " << s.ToString();
  }
  // Messages quote control bytes and stay short.
  EXPECT_NE(ValidateKey(std::string("a\0b", 3)).message().find("\\x00"), std::string::npos);
  EXPECT_LT(ValidateKey(std::string(5000, 'x')).message().size(), 200u);
}

TEST(ResolveRangeTest, FollowsS3) {
  uint64_t begin = 0;
  uint64_t length = 0;
  ASSERT_TRUE(ResolveRange(std::nullopt, 10, &begin, &length).ok());
  EXPECT_EQ(begin, 0u);
  EXPECT_EQ(length, 10u);
  ASSERT_TRUE(ResolveRange(ByteRange{4, 100}, 10, &begin, &length).ok());
  EXPECT_EQ(begin, 4u);
  EXPECT_EQ(length, 6u);
  ASSERT_TRUE(ResolveRange(ByteRange{4, UINT64_MAX}, 10, &begin, &length).ok());
  EXPECT_EQ(length, 6u) << "no overflow";
  EXPECT_TRUE(ResolveRange(ByteRange{10, 1}, 10, &begin, &length).IsInvalidArgument());
  EXPECT_TRUE(ResolveRange(ByteRange{0, 0}, 10, &begin, &length).IsInvalidArgument());
  ASSERT_TRUE(ResolveRange(ByteRange{5, 1}, 0, &begin, &length).ok());
  EXPECT_EQ(length, 0u);
}

TEST(ListBoundTest, AdmitsAndClassifies) {
  const ListBound none;
  EXPECT_TRUE(none.Admits("a"));
  EXPECT_EQ(none.Classify("a/"), ListBound::Subtree::kAllAdmitted);

  const ListBound after_key{"b/c", false};
  EXPECT_FALSE(after_key.Admits("b/c"));
  EXPECT_FALSE(after_key.Admits("a"));
  EXPECT_TRUE(after_key.Admits("b/c/d"));
  EXPECT_TRUE(after_key.Admits("b/d"));
  EXPECT_EQ(after_key.Classify("a/"), ListBound::Subtree::kNoneAdmitted);
  EXPECT_EQ(after_key.Classify("b/"), ListBound::Subtree::kSomeAdmitted);
  EXPECT_EQ(after_key.Classify("b/c/"), ListBound::Subtree::kAllAdmitted);
  EXPECT_EQ(after_key.Classify("c/"), ListBound::Subtree::kAllAdmitted);
  EXPECT_EQ(after_key.Classify("b-/"), ListBound::Subtree::kNoneAdmitted);  // '-' < '/'

  const ListBound after_prefix{"b/", true};
  EXPECT_FALSE(after_prefix.Admits("b/zzz"));
  EXPECT_TRUE(after_prefix.Admits("b0"));
  EXPECT_EQ(after_prefix.Classify("b/x/"), ListBound::Subtree::kNoneAdmitted);
  EXPECT_EQ(after_prefix.Classify("c/"), ListBound::Subtree::kAllAdmitted);
}

TEST(PrepareListTest, TokenWinsOverStartAfterAndMaxKeysIsClamped) {
  ListBound bound;
  int max_keys = 0;
  ListOptions o;
  o.start_after = "a";
  o.continuation_token = "p/";
  o.max_keys = 5000;
  ASSERT_TRUE(PrepareList(o, &bound, &max_keys).ok());
  EXPECT_EQ(bound.key, "p/");
  EXPECT_TRUE(bound.is_prefix);
  EXPECT_EQ(max_keys, 1000);
  o.continuation_token.clear();
  ASSERT_TRUE(PrepareList(o, &bound, &max_keys).ok());
  EXPECT_EQ(bound.key, "a");
  EXPECT_FALSE(bound.is_prefix);
}

TEST(PageBuilderTest, SetsTheTokenOnlyWhenMoreEntriesExist) {
  PageBuilder exact(2);
  EXPECT_TRUE(exact.AddObject(ObjectMeta{"a", 1, "e", 0}));
  EXPECT_TRUE(exact.AddCommonPrefix("b/"));
  EXPECT_TRUE(exact.Finish().next_continuation_token.empty());

  PageBuilder more(2);
  EXPECT_TRUE(more.AddObject(ObjectMeta{"a", 1, "e", 0}));
  EXPECT_TRUE(more.AddCommonPrefix("b/"));
  EXPECT_FALSE(more.AddObject(ObjectMeta{"c", 1, "e", 0}));
  const ListPage page = more.Finish();
  EXPECT_EQ(page.next_continuation_token, "b/");
  EXPECT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.common_prefixes.size(), 1u);
}

TEST(PrefixSuccessorTest, IncrementsTheLastByteThatCan) {
  EXPECT_EQ(PrefixSuccessor("a/"), "a0");
  EXPECT_EQ(PrefixSuccessor(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixSuccessor(std::string("\xff\xff", 2)), "");
}

TEST(PosixErrorTest, MapsErrnoByMeaning) {
  EXPECT_EQ(PosixError("open", "/p", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(PosixError("link", "/p", EEXIST).code(), StatusCode::kPreconditionFailed);
  EXPECT_EQ(PosixError("write", "/p", ENOSPC).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(PosixError("write", "/p", EDQUOT).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(PosixError("open", "/p", EMFILE).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(PosixError("open", "/p", ENAMETOOLONG).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PosixError("read", "/p", EAGAIN).code(), StatusCode::kUnavailable);
  EXPECT_EQ(PosixError("open", "/p", EACCES).code(), StatusCode::kIOError);
  EXPECT_EQ(PosixError("open", "/p", ENOTDIR).code(), StatusCode::kIOError);
  EXPECT_EQ(PosixError("read", "/p", EIO).code(), StatusCode::kIOError);
  const Status s = PosixError("open", "/some/path", EACCES);
  EXPECT_NE(s.message().find("open /some/path: "), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ermission"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace vecpuff::storage_internal
