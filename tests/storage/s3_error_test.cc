// MapS3Error and ParseErrorBody on synthetic responses: every row of the mapping table in
// s3_error.h, including the failures the S3 test server cannot produce (moto checks no
// signatures, never throttles).

#include "storage/s3/s3_error.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <string>

namespace vecpuff::s3 {
namespace {

FailedRequest Http(int status, std::string_view code, bool conditional = false) {
  FailedRequest r;
  r.operation = "PUT";
  r.endpoint = "http://127.0.0.1:9000";
  r.bucket = "bkt";
  r.key = "a/b";
  r.conditional_write = conditional;
  r.http_status = status;
  r.body.code = std::string(code);
  r.body.message = "server says why";
  r.body.request_id = "REQ123";
  return r;
}

FailedRequest Transport(CURLcode code) {
  FailedRequest r;
  r.operation = "GET";
  r.endpoint = "http://127.0.0.1:1";
  r.bucket = "bkt";
  r.key = "k";
  r.curl_code = static_cast<int>(code);
  r.curl_detail = "detail from curl";
  return r;
}

TEST(S3ErrorMappingTest, NotFound) {
  EXPECT_EQ(MapS3Error(Http(404, "NoSuchKey")).code(), StatusCode::kNotFound);
  EXPECT_EQ(MapS3Error(Http(404, "")).code(), StatusCode::kNotFound) << "HEAD: no body";
  EXPECT_EQ(MapS3Error(Http(404, "NoSuchUpload")).code(), StatusCode::kNotFound);
}

TEST(S3ErrorMappingTest, MissingBucketIsAnIOErrorAndSaysSo) {
  // Not NotFound: that means "no such object", and a freshness probe would take a missing
  // bucket for "no new WAL entry".
  const Status s = MapS3Error(Http(404, "NoSuchBucket"));
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("bucket 'bkt' does not exist"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("http://127.0.0.1:9000"), std::string::npos) << s.ToString();
}

TEST(S3ErrorMappingTest, PreconditionFailed) {
  EXPECT_EQ(MapS3Error(Http(412, "PreconditionFailed", true)).code(),
            StatusCode::kPreconditionFailed);
  EXPECT_EQ(MapS3Error(Http(412, "", true)).code(), StatusCode::kPreconditionFailed);
  // CompleteMultipartUpload may report it in a 200 body.
  EXPECT_EQ(MapS3Error(Http(200, "PreconditionFailed", true)).code(),
            StatusCode::kPreconditionFailed);
}

TEST(S3ErrorMappingTest, ConflictOnConditionalWriteIsRetryable) {
  EXPECT_EQ(MapS3Error(Http(409, "ConditionalRequestConflict", true)).code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(MapS3Error(Http(409, "", true)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(MapS3Error(Http(409, "OperationAborted", false)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(MapS3Error(Http(409, "BucketNotEmpty", false)).code(), StatusCode::kIOError);
}

TEST(S3ErrorMappingTest, ThrottlingAndServerErrorsAreUnavailable) {
  for (int status : {429, 500, 502, 503, 504}) {
    EXPECT_EQ(MapS3Error(Http(status, "")).code(), StatusCode::kUnavailable) << status;
  }
  EXPECT_EQ(MapS3Error(Http(503, "SlowDown")).code(), StatusCode::kUnavailable);
  EXPECT_EQ(MapS3Error(Http(500, "InternalError")).code(), StatusCode::kUnavailable);
  // RequestTimeout comes as a 400 but is transient.
  EXPECT_EQ(MapS3Error(Http(400, "RequestTimeout")).code(), StatusCode::kUnavailable);
  // And a 200 whose body says InternalError (CompleteMultipartUpload).
  EXPECT_EQ(MapS3Error(Http(200, "InternalError")).code(), StatusCode::kUnavailable);
}

TEST(S3ErrorMappingTest, CredentialProblemsAreIOErrorsAndNamed) {
  // IOError, not Unauthenticated: the server's S3 credentials are not the API client's.
  for (const char* code : {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}) {
    const Status s = MapS3Error(Http(403, code));
    EXPECT_EQ(s.code(), StatusCode::kIOError) << code;
    EXPECT_NE(s.message().find(code), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("server says why"), std::string::npos) << s.ToString();
  }
  EXPECT_EQ(MapS3Error(Http(403, "")).code(), StatusCode::kIOError) << "HEAD: no body";
  EXPECT_EQ(MapS3Error(Http(400, "ExpiredToken")).code(), StatusCode::kIOError);
  EXPECT_EQ(MapS3Error(Http(400, "AuthorizationHeaderMalformed")).code(), StatusCode::kIOError)
      << "a wrong region";
  EXPECT_EQ(MapS3Error(Http(403, "RequestTimeTooSkewed")).code(), StatusCode::kIOError);
}

TEST(S3ErrorMappingTest, BadRequestsAreInvalidArgument) {
  EXPECT_EQ(MapS3Error(Http(400, "InvalidArgument")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MapS3Error(Http(400, "EntityTooSmall")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MapS3Error(Http(400, "")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MapS3Error(Http(416, "InvalidRange")).code(), StatusCode::kInvalidArgument);
}

TEST(S3ErrorMappingTest, UnsupportedFeatureIsNotSupported) {
  // What a server without conditional writes answers to If-None-Match.
  EXPECT_EQ(MapS3Error(Http(501, "NotImplemented")).code(), StatusCode::kNotSupported);
}

TEST(S3ErrorMappingTest, AnythingElseIsIOErrorWithStatusAndCode) {
  const Status s = MapS3Error(Http(301, "PermanentRedirect"));
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("HTTP 301 PermanentRedirect"), std::string::npos) << s.ToString();
  EXPECT_EQ(MapS3Error(Http(405, "MethodNotAllowed")).code(), StatusCode::kIOError);
}

TEST(S3ErrorMappingTest, MessageNamesOperationObjectCodeAndRequestId) {
  const Status s = MapS3Error(Http(503, "SlowDown"));
  EXPECT_EQ(s.message(),
            "PUT s3://bkt/a/b: HTTP 503 SlowDown: server says why (request id REQ123)");
}

TEST(S3ErrorMappingTest, TransientTransportErrorsAreUnavailableNamingTheEndpoint) {
  for (CURLcode code : {CURLE_OPERATION_TIMEDOUT, CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST,
                        CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING,
                        CURLE_SSL_CONNECT_ERROR}) {
    const Status s = MapS3Error(Transport(code));
    EXPECT_EQ(s.code(), StatusCode::kUnavailable) << curl_easy_strerror(code);
    EXPECT_NE(s.message().find("http://127.0.0.1:1"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(curl_easy_strerror(code)), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("detail from curl"), std::string::npos) << s.ToString();
  }
}

TEST(S3ErrorMappingTest, PermanentTransportErrorsAreNotRetryable) {
  EXPECT_EQ(MapS3Error(Transport(CURLE_PEER_FAILED_VERIFICATION)).code(), StatusCode::kIOError);
  EXPECT_EQ(MapS3Error(Transport(CURLE_URL_MALFORMAT)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MapS3Error(Transport(CURLE_UNSUPPORTED_PROTOCOL)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MapS3Error(Transport(CURLE_OUT_OF_MEMORY)).code(), StatusCode::kIOError);
}

TEST(S3ErrorBodyTest, ParsesAwsErrorDocument) {
  ErrorBody body;
  ASSERT_TRUE(ParseErrorBody(R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><AWSAccessKeyId>AKIA</AWSAccessKeyId><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>)",
                             &body));
  EXPECT_EQ(body.code, "SignatureDoesNotMatch");
  EXPECT_EQ(body.message,
            "The request signature we calculated does not match the signature you provided.");
  EXPECT_EQ(body.request_id, "4442587FB7D0A2F9");

  ASSERT_TRUE(ParseErrorBody(
      "<Error><Code>InvalidRange</Code><ActualObjectSize>0</ActualObjectSize></Error>", &body));
  EXPECT_EQ(body.actual_object_size, "0");
}

TEST(S3ErrorBodyTest, RejectsWhatIsNotAnErrorDocument) {
  ErrorBody body;
  EXPECT_FALSE(ParseErrorBody("", &body));
  EXPECT_FALSE(ParseErrorBody("<html><body>502 Bad Gateway</body></html>", &body));
  EXPECT_FALSE(ParseErrorBody("not xml at all <", &body));
  EXPECT_TRUE(body.code.empty());
}

}  // namespace
}  // namespace vecpuff::s3
