// The S3 XML documents: listings as AWS and moto encode them, multipart and batch-delete
// bodies and results.

#include "storage/s3/s3_xml.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vecpuff::s3 {
namespace {

TEST(S3XmlTest, UrlDecodeHandlesAwsAndMotoEncodings) {
  // AWS encodes a space as '+' and '+' as %2B; moto encodes a space as %20.
  EXPECT_EQ(UrlDecode("with+space/a%2Bb").value(), "with space/a+b");
  EXPECT_EQ(UrlDecode("with%20space/a%2Bb").value(), "with space/a+b");
  EXPECT_EQ(UrlDecode("%C3%BCn%C3%AF/%F0%9F%99%82").value(), "ün\xc3\xaf/🙂");
  EXPECT_EQ(UrlDecode("percent%252Fslash").value(), "percent%2Fslash");
  EXPECT_EQ(UrlDecode("tab%09x").value(), "tab\tx");
  EXPECT_EQ(UrlDecode("").value(), "");
  EXPECT_FALSE(UrlDecode("bad%2").ok());
  EXPECT_FALSE(UrlDecode("bad%").ok());
  EXPECT_FALSE(UrlDecode("bad%zz").ok());
}

TEST(S3XmlTest, EtagsAreQuotedConsistently) {
  EXPECT_EQ(NormalizeEtag("\"abc\""), "\"abc\"");
  EXPECT_EQ(NormalizeEtag("abc"), "\"abc\"");
  EXPECT_EQ(NormalizeEtag("W/\"abc\""), "W/\"abc\"");
  EXPECT_EQ(NormalizeEtag(""), "");
}

TEST(S3XmlTest, ParsesIso8601) {
  EXPECT_EQ(ParseIso8601Ms("1970-01-01T00:00:01.500Z"), 1500);
  EXPECT_EQ(ParseIso8601Ms("2024-05-01T12:34:56.000Z"), 1714566896000);
  EXPECT_EQ(ParseIso8601Ms("garbage"), 0);
}

TEST(S3XmlTest, ParsesUrlEncodedListing) {
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bkt</Name><Prefix>d%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <Delimiter>%2F</Delimiter><EncodingType>url</EncodingType>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>d/a+b%2Bc</Key><LastModified>2024-05-01T12:34:56.000Z</LastModified>
    <ETag>"9e3669d19b675bd57058fd4664205d2a"</ETag><Size>11</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>d/x%26y</Key><LastModified>2024-05-01T12:34:56.000Z</LastModified>
    <ETag>&quot;abc-2&quot;</ETag><Size>10485760</Size></Contents>
  <CommonPrefixes><Prefix>d/sub%20dir/</Prefix></CommonPrefixes>
</ListBucketResult>)";
  Result<ListObjectsV2Page> page = ParseListObjectsV2(xml, /*url_encoded=*/true);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "d/a b+c");
  EXPECT_EQ(page->objects[0].size_bytes, 11u);
  EXPECT_EQ(page->objects[0].etag, "\"9e3669d19b675bd57058fd4664205d2a\"");
  EXPECT_EQ(page->objects[0].last_modified_ms, 1714566896000);
  EXPECT_EQ(page->objects[1].key, "d/x&y");
  EXPECT_EQ(page->objects[1].etag, "\"abc-2\"");
  EXPECT_EQ(page->objects[1].size_bytes, 10485760u);
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"d/sub dir/"}));
  EXPECT_TRUE(page->is_truncated);
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3XmlTest, ParsesPlainListingAndRejectsWrongDocuments) {
  Result<ListObjectsV2Page> page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b</Key>"
      "<Size>1</Size><ETag>e</ETag></Contents></ListBucketResult>",
      /*url_encoded=*/false);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->objects[0].key, "a+b");
  EXPECT_FALSE(page->is_truncated);
  EXPECT_TRUE(page->next_continuation_token.empty());

  EXPECT_TRUE(ParseListObjectsV2("<Error><Code>x</Code></Error>", true).status().IsCorruption());
  EXPECT_TRUE(ParseListObjectsV2("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size>"
                                 "</Contents></ListBucketResult>",
                                 true)
                  .status()
                  .IsCorruption());
  EXPECT_TRUE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                 "</ListBucketResult>",
                                 true)
                  .status()
                  .IsCorruption())
      << "truncated without a token would loop or stop early";
  EXPECT_TRUE(ParseListObjectsV2("<html>", true).status().IsCorruption());
}

TEST(S3XmlTest, MultipartDocuments) {
  Result<std::string> id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>VXBsb2FkSWQ</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkSWQ");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());

  EXPECT_EQ(BuildCompleteMultipartUpload({"\"e1\"", "\"e2\""}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag></Part>"
            "</CompleteMultipartUpload>");

  Result<CompleteMultipartResult> ok = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><Location>x</Location><Bucket>b</Bucket><Key>k</Key>"
      "<ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(ok.ok());
  EXPECT_FALSE(ok->is_error);
  EXPECT_EQ(ok->etag, "\"3858f62230ac3c915f300c664312c11f-9\"");

  // moto's name for the document.
  Result<CompleteMultipartResult> moto = ParseCompleteMultipartUpload(
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CompleteMultipartUploadResponse "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key>"
      "<ETag>\"bccb8986cc6b395e4f045d410c776698-1\"</ETag></CompleteMultipartUploadResponse>");
  ASSERT_TRUE(moto.ok()) << moto.status().ToString();
  EXPECT_EQ(moto->etag, "\"bccb8986cc6b395e4f045d410c776698-1\"");
  EXPECT_FALSE(ParseCompleteMultipartUpload("<Something/>").ok());

  // A 200 that failed after all.
  Result<CompleteMultipartResult> failed = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  ASSERT_TRUE(failed.ok());
  EXPECT_TRUE(failed->is_error);
  EXPECT_EQ(failed->error_code, "InternalError");
}

TEST(S3XmlTest, DeleteObjectsDocuments) {
  const std::vector<std::string> keys = {"skip", "a<b>&\"c'", "ü/x y", "skip too"};
  const std::string body = BuildDeleteObjects(keys, 1, 3);
  EXPECT_EQ(body,
            "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            "<Object><Key>a&lt;b&gt;&amp;\"c'</Key></Object>"
            "<Object><Key>ü/x y</Key></Object></Delete>");

  Result<std::vector<DeleteError>> none =
      ParseDeleteObjectsErrors("<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  Result<std::vector<DeleteError>> some = ParseDeleteObjectsErrors(
      "<DeleteResult><Deleted><Key>ok</Key></Deleted><Error><Key>k&amp;1</Key>"
      "<Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>");
  ASSERT_TRUE(some.ok());
  ASSERT_EQ(some->size(), 1u);
  EXPECT_EQ((*some)[0].key, "k&1");
  EXPECT_EQ((*some)[0].code, "AccessDenied");
  EXPECT_EQ((*some)[0].message, "Access Denied");

  EXPECT_TRUE(ParseDeleteObjectsErrors("<Error/>").status().IsCorruption());
}

}  // namespace
}  // namespace vecpuff::s3
