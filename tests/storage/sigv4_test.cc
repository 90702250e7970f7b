// The SigV4 signer against AWS's published S3 examples, against vectors signed by botocore
// (tests/storage/testdata/sigv4_vectors.json, written by tools/gen_sigv4_vectors.py), and
// unit tests of its parts: UriEncode, CanonicalUri, CanonicalQueryString, header
// canonicalization and the session token.

#include "storage/s3/sigv4.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace vecpuff::s3 {
namespace {

using std::chrono::system_clock;

// AWS's documented example credentials (not live keys).
constexpr char kAccessKeyId[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecretAccessKey[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
// 2013-05-24T00:00:00Z, the time of AWS's examples.
constexpr int64_t kDocEpochSeconds = 1369353600;

Credentials DocCredentials() { return Credentials{kAccessKeyId, kSecretAccessKey, ""}; }
system_clock::time_point DocTime() { return system_clock::from_time_t(kDocEpochSeconds); }

// The value of `name` among the headers SignRequest returned, if present.
std::optional<std::string> Find(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

// The second-to-last line of a canonical request: its signed-header list.
std::string SignedHeadersLine(const std::string& canonical_request) {
  const size_t last = canonical_request.rfind('\n');
  const size_t prev = canonical_request.rfind('\n', last - 1);
  return canonical_request.substr(prev + 1, last - prev - 1);
}

// ---------------------------------------------------------------------------------------
// AWS's worked examples for header-based auth: "Examples: Signature Calculations" in
// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html.
// Bucket examplebucket, us-east-1, 20130524T000000Z.

struct DocExample {
  const char* name;
  SigningRequest request;
  const char* canonical_request;
  const char* string_to_sign;
  const char* signature;
  const char* signed_headers;
};

std::vector<DocExample> DocExamples() {
  const std::string empty(kEmptyPayloadSha256);
  return {
      {"GetObject",
       {"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {{"Range", "bytes=0-9"}}, empty},
       "GET\n"
       "/test.txt\n"
       "\n"
       "host:examplebucket.s3.amazonaws.com\n"
       "range:bytes=0-9\n"
       "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
       "x-amz-date:20130524T000000Z\n"
       "\n"
       "host;range;x-amz-content-sha256;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n"
       "20130524T000000Z\n"
       "20130524/us-east-1/s3/aws4_request\n"
       "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
       "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
       "host;range;x-amz-content-sha256;x-amz-date"},
      // PUT test$file.text with a Date header besides x-amz-date; '$' must become %24.
      {"PutObject",
       {"PUT",
        "examplebucket.s3.amazonaws.com",
        "/test$file.text",
        {},
        {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        Sha256Hex("Welcome to Amazon S3.")},
       "PUT\n"
       "/test%24file.text\n"
       "\n"
       "date:Fri, 24 May 2013 00:00:00 GMT\n"
       "host:examplebucket.s3.amazonaws.com\n"
       "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
       "x-amz-date:20130524T000000Z\n"
       "x-amz-storage-class:REDUCED_REDUNDANCY\n"
       "\n"
       "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
       "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
       "AWS4-HMAC-SHA256\n"
       "20130524T000000Z\n"
       "20130524/us-east-1/s3/aws4_request\n"
       "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
       "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
       "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"},
      // GET ?lifecycle: a parameter without a value is signed as "lifecycle=".
      {"GetBucketLifecycle",
       {"GET", "examplebucket.s3.amazonaws.com", "/", {{"lifecycle", ""}}, {}, empty},
       "GET\n"
       "/\n"
       "lifecycle=\n"
       "host:examplebucket.s3.amazonaws.com\n"
       "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
       "x-amz-date:20130524T000000Z\n"
       "\n"
       "host;x-amz-content-sha256;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n"
       "20130524T000000Z\n"
       "20130524/us-east-1/s3/aws4_request\n"
       "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
       "host;x-amz-content-sha256;x-amz-date"},
      // GET ?max-keys=2&prefix=J, given out of order to exercise the sort.
      {"ListObjects",
       {"GET",
        "examplebucket.s3.amazonaws.com",
        "/",
        {{"prefix", "J"}, {"max-keys", "2"}},
        {},
        empty},
       "GET\n"
       "/\n"
       "max-keys=2&prefix=J\n"
       "host:examplebucket.s3.amazonaws.com\n"
       "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
       "x-amz-date:20130524T000000Z\n"
       "\n"
       "host;x-amz-content-sha256;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "AWS4-HMAC-SHA256\n"
       "20130524T000000Z\n"
       "20130524/us-east-1/s3/aws4_request\n"
       "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
       "host;x-amz-content-sha256;x-amz-date"},
  };
}

TEST(SigV4DocExampleTest, PutObjectPayloadHashIsTheDocumentedOne) {
  EXPECT_EQ(Sha256Hex("Welcome to Amazon S3."),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(Sha256Hex(""), kEmptyPayloadSha256);
}

TEST(SigV4DocExampleTest, CanonicalRequestStringToSignAndSignatureMatchAws) {
  for (const DocExample& ex : DocExamples()) {
    SCOPED_TRACE(ex.name);
    const SigningDebug d =
        SignRequestDebug(ex.request, DocCredentials(), "us-east-1", "s3", DocTime());
    EXPECT_EQ(d.canonical_request, ex.canonical_request);
    EXPECT_EQ(d.string_to_sign, ex.string_to_sign);
    EXPECT_EQ(d.signature, ex.signature);
  }
}

TEST(SigV4DocExampleTest, HeadersToSendCarryTheDocumentedSignature) {
  for (const DocExample& ex : DocExamples()) {
    SCOPED_TRACE(ex.name);
    const HeaderList h = SignRequest(ex.request, DocCredentials(), "us-east-1", "s3", DocTime());
    // AWS prints the header with bare commas; ", " (what botocore sends) is equally valid.
    EXPECT_EQ(Find(h, "Authorization"),
              std::string("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/"
                          "s3/aws4_request, SignedHeaders=") +
                  ex.signed_headers + ", Signature=" + ex.signature);
    EXPECT_EQ(Find(h, "x-amz-date"), "20130524T000000Z");
    EXPECT_EQ(Find(h, "x-amz-content-sha256"), ex.request.payload_sha256);
    EXPECT_EQ(Find(h, "x-amz-security-token"), std::nullopt);
    EXPECT_EQ(h.size(), 3u);
  }
}

// ---------------------------------------------------------------------------------------
// Vectors signed by botocore's S3SigV4Auth.

struct BotocoreVector {
  std::string name;
  SigningRequest request;
  Credentials credentials;
  std::string region;
  std::string service;
  int64_t epoch_seconds = 0;
  std::string botocore_url;
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;
  std::string authorization;
  std::string amz_date;
  std::string security_token;  // expected x-amz-security-token; empty when none
};

// gtest prints a failing parameter with this instead of a byte dump.
void PrintTo(const BotocoreVector& v, std::ostream* os) { *os << v.name; }

std::filesystem::path VectorsPath() {
  return std::filesystem::path(__FILE__).parent_path() / "testdata" / "sigv4_vectors.json";
}

// The vectors, or an error message. nlohmann throws on malformed input; the exception is
// caught here so a bad file fails one test instead of aborting the binary at registration.
struct LoadedVectors {
  std::vector<BotocoreVector> vectors;
  std::string error;
};

LoadedVectors LoadVectorsUncached() {
  LoadedVectors out;
  std::ifstream in(VectorsPath(), std::ios::binary);
  if (!in) {
    out.error = "cannot open " + VectorsPath().string();
    return out;
  }
  try {
    const nlohmann::json doc = nlohmann::json::parse(in);
    for (const nlohmann::json& c : doc.at("cases")) {
      const nlohmann::json& in_ = c.at("input");
      const nlohmann::json& ex = c.at("expected");
      BotocoreVector v;
      v.name = c.at("name").get<std::string>();
      v.request.method = in_.at("method").get<std::string>();
      v.request.host = in_.at("host").get<std::string>();
      v.request.raw_path = in_.at("raw_path").get<std::string>();
      for (const auto& kv : in_.at("query")) {
        v.request.query.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
      }
      for (const auto& kv : in_.at("headers")) {
        v.request.headers.emplace_back(kv.at(0).get<std::string>(), kv.at(1).get<std::string>());
      }
      v.request.payload_sha256 = in_.at("payload_sha256").get<std::string>();
      v.credentials.access_key_id = in_.at("access_key_id").get<std::string>();
      v.credentials.secret_access_key = in_.at("secret_access_key").get<std::string>();
      v.credentials.session_token = in_.at("session_token").get<std::string>();
      v.region = in_.at("region").get<std::string>();
      v.service = in_.at("service").get<std::string>();
      v.epoch_seconds = in_.at("epoch_seconds").get<int64_t>();
      v.botocore_url = c.at("botocore_url").get<std::string>();
      v.canonical_request = ex.at("canonical_request").get<std::string>();
      v.string_to_sign = ex.at("string_to_sign").get<std::string>();
      v.signature = ex.at("signature").get<std::string>();
      v.authorization = ex.at("authorization").get<std::string>();
      const nlohmann::json& h = ex.at("headers");
      v.amz_date = h.at("x-amz-date").get<std::string>();
      if (h.contains("x-amz-security-token")) {
        v.security_token = h.at("x-amz-security-token").get<std::string>();
      }
      out.vectors.push_back(std::move(v));
    }
  } catch (const std::exception& e) {
    out.vectors.clear();
    out.error = VectorsPath().string() + ": " + e.what();
  }
  return out;
}

const LoadedVectors& LoadVectors() {
  static const LoadedVectors* loaded = new LoadedVectors(LoadVectorsUncached());
  return *loaded;
}

// The path of a URL "scheme://host/path?query", still percent-encoded.
std::string UrlPath(const std::string& url) {
  const size_t host = url.find("://");
  const size_t path = url.find('/', host + 3);
  if (path == std::string::npos) return "/";
  return url.substr(path, url.find('?', path) - path);
}

TEST(SigV4BotocoreVectorsTest, FileLoadsWithEveryCase) {
  const LoadedVectors& loaded = LoadVectors();
  ASSERT_EQ(loaded.error, "");
  // tools/gen_sigv4_vectors.py writes 29; fewer means the file was truncated or replaced.
  EXPECT_GE(loaded.vectors.size(), 29u);
}

class SigV4BotocoreTest : public ::testing::TestWithParam<BotocoreVector> {};

TEST_P(SigV4BotocoreTest, MatchesBotocore) {
  const BotocoreVector& v = GetParam();
  const auto now = system_clock::from_time_t(static_cast<std::time_t>(v.epoch_seconds));
  const SigningDebug d = SignRequestDebug(v.request, v.credentials, v.region, v.service, now);
  EXPECT_EQ(d.canonical_request, v.canonical_request);
  EXPECT_EQ(d.string_to_sign, v.string_to_sign);
  EXPECT_EQ(d.signature, v.signature);

  const HeaderList h = SignRequest(v.request, v.credentials, v.region, v.service, now);
  EXPECT_EQ(Find(h, "Authorization"), v.authorization);
  EXPECT_EQ(Find(h, "x-amz-date"), v.amz_date);
  EXPECT_EQ(Find(h, "x-amz-content-sha256"), v.request.payload_sha256);
  if (v.security_token.empty()) {
    EXPECT_EQ(Find(h, "x-amz-security-token"), std::nullopt);
  } else {
    EXPECT_EQ(Find(h, "x-amz-security-token"), v.security_token);
  }
  // The Authorization header names exactly the headers the canonical request signed.
  EXPECT_NE(v.authorization.find("SignedHeaders=" + SignedHeadersLine(d.canonical_request) + ","),
            std::string::npos);
  // botocore's S3 client would put this path on the wire; ours must send the same bytes.
  EXPECT_EQ(CanonicalUri(v.request.raw_path), UrlPath(v.botocore_url));
}

// Named SigV4/SigV4BotocoreTest.MatchesBotocore/<case> so --gtest_filter='SigV4*' selects it.
INSTANTIATE_TEST_SUITE_P(SigV4, SigV4BotocoreTest, ::testing::ValuesIn(LoadVectors().vectors),
                         [](const ::testing::TestParamInfo<BotocoreVector>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------
// UriEncode.

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

TEST(SigV4UriEncodeTest, KeepsExactlyTheUnreservedBytes) {
  static const char* kHex = "0123456789ABCDEF";
  for (int i = 0; i < 256; ++i) {
    const unsigned char c = static_cast<unsigned char>(i);
    const std::string in(1, static_cast<char>(c));
    const std::string escaped = std::string("%") + kHex[c >> 4] + kHex[c & 0xf];
    SCOPED_TRACE(i);
    EXPECT_EQ(UriEncode(in, /*encode_slash=*/true), Unreserved(c) ? in : escaped);
    const bool kept = Unreserved(c) || c == '/';
    EXPECT_EQ(UriEncode(in, /*encode_slash=*/false), kept ? in : escaped);
  }
}

TEST(SigV4UriEncodeTest, EncodesTheCharactersOtherEncodersLeaveAlone) {
  // Not '+' for space (form encoding), and none of encodeURIComponent's !*'() exceptions.
  EXPECT_EQ(UriEncode("a b+c", true), "a%20b%2Bc");
  EXPECT_EQ(UriEncode("!*'()", true), "%21%2A%27%28%29");
  EXPECT_EQ(UriEncode("=&?#%", true), "%3D%26%3F%23%25");
  EXPECT_EQ(UriEncode("a~b.c_d-e", true), "a~b.c_d-e");
}

TEST(SigV4UriEncodeTest, EncodesUtf8BytesWithUpperCaseHex) {
  EXPECT_EQ(UriEncode("ü/日本", false), "%C3%BC/%E6%97%A5%E6%9C%AC");
  EXPECT_EQ(UriEncode("ü/日本", true), "%C3%BC%2F%E6%97%A5%E6%9C%AC");
}

TEST(SigV4UriEncodeTest, EncodesNulAndEmpty) {
  EXPECT_EQ(UriEncode(std::string_view("a\0b", 3), true), "a%00b");
  EXPECT_EQ(UriEncode("", true), "");
}

// ---------------------------------------------------------------------------------------
// CanonicalUri.

TEST(SigV4CanonicalUriTest, EmptyPathIsSlash) {
  EXPECT_EQ(CanonicalUri(""), "/");
  EXPECT_EQ(CanonicalUri("/"), "/");
}

TEST(SigV4CanonicalUriTest, EncodesOnceKeepingSlashes) {
  EXPECT_EQ(CanonicalUri("/bucket/a b+c~d%e=f!g*h"), "/bucket/a%20b%2Bc~d%25e%3Df%21g%2Ah");
  EXPECT_EQ(CanonicalUri("/test$file.text"), "/test%24file.text");
  // The raw path is the key itself: a literal "%20" in a key is sent as %2520, and S3
  // (unlike other services) does not encode the path a second time for signing.
  EXPECT_EQ(CanonicalUri("/a%20b"), "/a%2520b");
}

TEST(SigV4CanonicalUriTest, DoesNotNormalizeThePath) {
  EXPECT_EQ(CanonicalUri("/a//b/./c/../d"), "/a//b/./c/../d");
  EXPECT_EQ(CanonicalUri("/bucket/dir/"), "/bucket/dir/");
}

// ---------------------------------------------------------------------------------------
// CanonicalQueryString.

TEST(SigV4CanonicalQueryTest, EmptyQueryIsEmptyString) { EXPECT_EQ(CanonicalQueryString({}), ""); }

TEST(SigV4CanonicalQueryTest, ParameterWithoutValueKeepsItsEqualsSign) {
  EXPECT_EQ(CanonicalQueryString({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(CanonicalQueryString({{"delete", ""}}), "delete=");
}

TEST(SigV4CanonicalQueryTest, SortsByName) {
  EXPECT_EQ(CanonicalQueryString({{"uploadId", "u"}, {"partNumber", "1"}}),
            "partNumber=1&uploadId=u");
  // Byte order: upper case before lower case.
  EXPECT_EQ(CanonicalQueryString({{"b", "1"}, {"a", "2"}, {"B", "3"}}), "B=3&a=2&b=1");
}

TEST(SigV4CanonicalQueryTest, SortsRepeatedNamesByValue) {
  EXPECT_EQ(CanonicalQueryString({{"a", "2"}, {"a", "1"}, {"a", ""}}), "a=&a=1&a=2");
}

TEST(SigV4CanonicalQueryTest, SortsByEncodedNameNotRawName) {
  // Raw, "x_" < "x{" < "xü"; encoded, "x%7B" < "x%C3%BC" < "x_".
  EXPECT_EQ(CanonicalQueryString({{"x_", "2"}, {"x{", "3"}, {"xü", "4"}}), "x%7B=3&x%C3%BC=4&x_=2");
}

TEST(SigV4CanonicalQueryTest, EncodesNamesAndValuesIncludingSlash) {
  EXPECT_EQ(CanonicalQueryString({{"list-type", "2"},
                                  {"prefix", "ns/wal/"},
                                  {"delimiter", "/"},
                                  {"continuation-token", "a/b+c=="},
                                  {"start-after", "ü x"}}),
            "continuation-token=a%2Fb%2Bc%3D%3D&delimiter=%2F&list-type=2&prefix=ns%2Fwal%2F&"
            "start-after=%C3%BC%20x");
}

// ---------------------------------------------------------------------------------------
// Canonical headers.

SigningRequest GetRequest(HeaderList headers) {
  return SigningRequest{"GET", "b.s3.amazonaws.com", "/k",
                        {},    std::move(headers),   std::string(kEmptyPayloadSha256)};
}

// The canonical-headers block of a canonical request (between the query line and the
// blank line).
std::string CanonicalHeaders(const SigningRequest& r, const Credentials& c = DocCredentials()) {
  const std::string cr = SignRequestDebug(r, c, "us-east-1", "s3", DocTime()).canonical_request;
  size_t start = 0;
  for (int i = 0; i < 3; ++i) start = cr.find('\n', start) + 1;
  return cr.substr(start, cr.find("\n\n", start) + 1 - start);
}

constexpr char kFixedHeaders[] =
    "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
    "x-amz-date:20130524T000000Z\n";

TEST(SigV4HeaderTest, LowercasesNamesAndSortsThem) {
  EXPECT_EQ(
      CanonicalHeaders(GetRequest({{"Range", "bytes=0-9"}, {"Content-MD5", "abc=="}})),
      std::string("content-md5:abc==\nhost:b.s3.amazonaws.com\nrange:bytes=0-9\n") + kFixedHeaders);
}

TEST(SigV4HeaderTest, TrimsValuesAndFoldsInnerWhitespace) {
  EXPECT_EQ(CanonicalHeaders(GetRequest({{"x-amz-meta-a", "  a   b  "},
                                         {"x-amz-meta-b", "\ta\t\tb \t c\t"},
                                         {"x-amz-meta-c", "   "},
                                         {"x-amz-meta-d", ""}})),
            std::string("host:b.s3.amazonaws.com\n") + kFixedHeaders +
                "x-amz-meta-a:a b\nx-amz-meta-b:a b c\nx-amz-meta-c:\nx-amz-meta-d:\n");
}

TEST(SigV4HeaderTest, KeepsQuotesAndStarInConditionalHeaders) {
  EXPECT_EQ(CanonicalHeaders(GetRequest({{"If-Match", "\"3858f622\""}, {"If-None-Match", "*"}})),
            std::string("host:b.s3.amazonaws.com\nif-match:\"3858f622\"\nif-none-match:*\n") +
                kFixedHeaders);
}

TEST(SigV4HeaderTest, RepeatedNameSignedOnceWithValuesJoinedInOrder) {
  const SigningRequest r = GetRequest({{"X-Amz-Meta-Tag", " second "},
                                       {"Range", "bytes=0-1"},
                                       {"x-amz-meta-tag", "first"},
                                       {"X-AMZ-META-TAG", "third  value"}});
  EXPECT_EQ(CanonicalHeaders(r), std::string("host:b.s3.amazonaws.com\nrange:bytes=0-1\n") +
                                     kFixedHeaders + "x-amz-meta-tag:second,first,third value\n");
  const SigningDebug d = SignRequestDebug(r, DocCredentials(), "us-east-1", "s3", DocTime());
  EXPECT_EQ(SignedHeadersLine(d.canonical_request),
            "host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-tag");
  const HeaderList h = SignRequest(r, DocCredentials(), "us-east-1", "s3", DocTime());
  EXPECT_NE(Find(h, "Authorization")
                ->find("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-meta-tag, "
                       "Signature=" +
                       d.signature),
            std::string::npos);
}

TEST(SigV4HeaderTest, HeaderOrderDoesNotChangeTheSignature) {
  const SigningRequest a = GetRequest({{"Range", "bytes=0-9"}, {"If-Match", "\"e\""}});
  const SigningRequest b = GetRequest({{"if-match", "\"e\""}, {"range", "bytes=0-9"}});
  EXPECT_EQ(SignRequestDebug(a, DocCredentials(), "us-east-1", "s3", DocTime()).signature,
            SignRequestDebug(b, DocCredentials(), "us-east-1", "s3", DocTime()).signature);
}

// ---------------------------------------------------------------------------------------
// Session token, scope and time.

TEST(SigV4SessionTokenTest, TokenIsSignedAndReturned) {
  const Credentials creds{kAccessKeyId, kSecretAccessKey, "token/with+plus=="};
  const SigningRequest r = GetRequest({});
  EXPECT_EQ(CanonicalHeaders(r, creds), std::string("host:b.s3.amazonaws.com\n") + kFixedHeaders +
                                            "x-amz-security-token:token/with+plus==\n");
  const SigningDebug d = SignRequestDebug(r, creds, "us-east-1", "s3", DocTime());
  EXPECT_EQ(SignedHeadersLine(d.canonical_request),
            "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  const HeaderList h = SignRequest(r, creds, "us-east-1", "s3", DocTime());
  EXPECT_EQ(Find(h, "x-amz-security-token"), "token/with+plus==");
  EXPECT_NE(Find(h, "Authorization")
                ->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
  // The token changes the signature even though the secret is the same.
  EXPECT_NE(d.signature,
            SignRequestDebug(r, DocCredentials(), "us-east-1", "s3", DocTime()).signature);
}

TEST(SigV4SessionTokenTest, NoTokenNoHeader) {
  const HeaderList h = SignRequest(GetRequest({}), DocCredentials(), "us-east-1", "s3", DocTime());
  EXPECT_EQ(Find(h, "x-amz-security-token"), std::nullopt);
  EXPECT_EQ(Find(h, "Authorization")->find("x-amz-security-token"), std::string::npos);
}

TEST(SigV4ScopeTest, RegionServiceAndDateAreInTheScope) {
  const auto t = system_clock::from_time_t(1709251199);  // 2024-02-29T23:59:59Z
  const SigningDebug d = SignRequestDebug(GetRequest({}), DocCredentials(), "eu-west-1", "s3", t);
  EXPECT_EQ(d.string_to_sign.substr(0, d.string_to_sign.rfind('\n')),
            "AWS4-HMAC-SHA256\n20240229T235959Z\n20240229/eu-west-1/s3/aws4_request");
  const HeaderList h = SignRequest(GetRequest({}), DocCredentials(), "eu-west-1", "s3", t);
  EXPECT_EQ(Find(h, "Authorization")
                ->rfind("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/"
                        "20240229/eu-west-1/s3/aws4_request, ",
                        0),
            0u);
  EXPECT_NE(d.signature,
            SignRequestDebug(GetRequest({}), DocCredentials(), "us-east-1", "s3", t).signature);
}

TEST(SigV4ScopeTest, SubSecondTimeIsTruncated) {
  const auto t = DocTime() + std::chrono::milliseconds(999);
  const HeaderList h = SignRequest(GetRequest({}), DocCredentials(), "us-east-1", "s3", t);
  EXPECT_EQ(Find(h, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(
      SignRequestDebug(GetRequest({}), DocCredentials(), "us-east-1", "s3", t).signature,
      SignRequestDebug(GetRequest({}), DocCredentials(), "us-east-1", "s3", DocTime()).signature);
}

TEST(SigV4ScopeTest, UnsignedPayloadIsSignedLiterally) {
  SigningRequest r = GetRequest({});
  r.method = "PUT";
  r.payload_sha256 = std::string(kUnsignedPayload);
  const SigningDebug d = SignRequestDebug(r, DocCredentials(), "us-east-1", "s3", DocTime());
  EXPECT_NE(d.canonical_request.find("\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"),
            std::string::npos);
  EXPECT_EQ(d.canonical_request.substr(d.canonical_request.rfind('\n') + 1), "UNSIGNED-PAYLOAD");
  const HeaderList h = SignRequest(r, DocCredentials(), "us-east-1", "s3", DocTime());
  EXPECT_EQ(Find(h, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
}

}  // namespace
}  // namespace vecpuff::s3
