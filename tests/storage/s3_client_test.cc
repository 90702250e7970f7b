// S3 client without a server: endpoint validation, path-style and virtual-hosted addressing,
// URL encoding of what is signed, and timeouts against a socket that never answers.

#include "storage/s3/s3_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace vecpuff::s3 {
namespace {

std::unique_ptr<Client> MustCreate(const std::string& endpoint, bool force_path_style = false) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.force_path_style = force_path_style;
  o.credentials = {"AKID", "secret", ""};
  Result<std::unique_ptr<Client>> c = Client::Create(o);
  EXPECT_TRUE(c.ok()) << endpoint << ": " << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

Request Get(std::string bucket, std::string key) {
  Request r;
  r.method = "GET";
  r.bucket = std::move(bucket);
  r.key = std::move(key);
  return r;
}

TEST(S3ClientTest, RejectsBadEndpoints) {
  for (const char* e : {"", "127.0.0.1:9000", "ftp://host", "http://", "http://host/path",
                        "http://user@host", "http://host:", "http://host:12ab", "http://[::1"}) {
    ClientOptions o;
    o.endpoint = e;
    EXPECT_TRUE(Client::Create(o).status().IsInvalidArgument()) << e;
  }
  ClientOptions o;
  o.endpoint = "http://host";
  o.max_connections = 0;
  EXPECT_TRUE(Client::Create(o).status().IsInvalidArgument());
  o.max_connections = 1;
  o.request_timeout_ms = 0;
  EXPECT_TRUE(Client::Create(o).status().IsInvalidArgument());
}

TEST(S3ClientTest, TrailingSlashAndCaseAreNormalized) {
  auto c = MustCreate("HTTPS://S3.Example.COM:8443/");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->endpoint(), "https://s3.example.com:8443");
}

TEST(S3ClientTest, VirtualHostedAddressing) {
  auto c = MustCreate("https://s3.us-east-1.amazonaws.com");
  ASSERT_NE(c, nullptr);
  EXPECT_FALSE(c->UsesPathStyle("my-bucket"));
  const Address a = c->AddressOf(Get("my-bucket", "a b/c+d/ü"));
  EXPECT_EQ(a.host, "my-bucket.s3.us-east-1.amazonaws.com");
  EXPECT_EQ(a.raw_path, "/a b/c+d/ü");
  EXPECT_EQ(a.url, "https://my-bucket.s3.us-east-1.amazonaws.com/a%20b/c%2Bd/%C3%BC");

  Request list = Get("my-bucket", "");
  list.query = {{"prefix", "a/b c"}, {"list-type", "2"}, {"uploads", ""}};
  EXPECT_EQ(c->AddressOf(list).url,
            "https://my-bucket.s3.us-east-1.amazonaws.com/?list-type=2&prefix=a%2Fb%20c&uploads=");
}

TEST(S3ClientTest, PathStyleAddressing) {
  auto forced = MustCreate("http://minio.internal:9000", /*force_path_style=*/true);
  ASSERT_NE(forced, nullptr);
  Address a = forced->AddressOf(Get("bkt", "k/./../x"));
  EXPECT_EQ(a.host, "minio.internal:9000");
  EXPECT_EQ(a.raw_path, "/bkt/k/./../x");
  EXPECT_EQ(a.url, "http://minio.internal:9000/bkt/k/./../x") << "dot segments sent as is";
  EXPECT_EQ(forced->AddressOf(Get("bkt", "")).url, "http://minio.internal:9000/bkt");

  // IP addresses and localhost cannot take a bucket label: path style without being asked.
  for (const char* e :
       {"http://127.0.0.1:5000", "http://localhost:9000", "http://[::1]:9000", "http://10.1.2.3"}) {
    auto c = MustCreate(e);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->UsesPathStyle("bkt")) << e;
  }
  // "s3.localhost" is a host name like any other.
  EXPECT_FALSE(MustCreate("http://s3.localhost:9000")->UsesPathStyle("bkt"));
}

TEST(S3ClientTest, BucketsThatCannotBeHostLabelsUsePathStyle) {
  auto https = MustCreate("https://s3.amazonaws.com");
  auto http = MustCreate("http://s3.example.com");
  ASSERT_NE(https, nullptr);
  ASSERT_NE(http, nullptr);
  EXPECT_TRUE(https->UsesPathStyle("my.dotted.bucket")) << "TLS wildcard would not match";
  EXPECT_FALSE(http->UsesPathStyle("my.dotted.bucket"));
  EXPECT_TRUE(https->UsesPathStyle("Upper"));
  EXPECT_TRUE(https->UsesPathStyle("under_score"));
  EXPECT_TRUE(https->UsesPathStyle("ab"));
  EXPECT_TRUE(https->UsesPathStyle("-dash"));
  EXPECT_FALSE(https->UsesPathStyle("ok-bucket-123"));
}

// A listening socket that never accepts: connections complete (kernel backlog), requests
// are sent, and nothing ever answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len)) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(S3ClientTest, RequestTimeoutIsUnavailableNamingTheEndpoint) {
  SilentServer server;
  ASSERT_NE(server.port(), 0);
  ClientOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(server.port());
  o.credentials = {"AKID", "secret", ""};
  o.request_timeout_ms = 200;
  Result<std::unique_ptr<Client>> c = Client::Create(o);
  ASSERT_TRUE(c.ok());
  Result<Response> r = (*c)->Send(Get("bkt", "k"), "GET");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(o.endpoint), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("GET s3://bkt/k"), std::string::npos)
      << r.status().ToString();
}

TEST(S3ClientTest, RefusedConnectionIsUnavailable) {
  ClientOptions o;
  o.endpoint = "http://127.0.0.1:1";
  o.credentials = {"AKID", "secret", ""};
  Result<std::unique_ptr<Client>> c = Client::Create(o);
  ASSERT_TRUE(c.ok());
  Result<Response> r = (*c)->Send(Get("bkt", "k"), "GET");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("http://127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace vecpuff::s3
