// The config file format: TOML parsing and its errors, value checks, ValidateOptions,
// DescribeOptions, and the guards that keep config.toml and docs/configuration.md in step
// with Options.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "config/config.h"
#include "config/options.h"
#include "config_test_util.h"

namespace vecpuff {
namespace {

using ::testing::AllOf;
using testing::ConfigTest;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ReadFileOrDie;
using testing::RepoRoot;

// Applies `toml` (named "config.toml" in messages) to default options.
Status Apply(const std::string& toml, Options* options) {
  return ApplyConfigToml(toml, "config.toml", options);
}

Status ApplyToDefaults(const std::string& toml) {
  Options options;
  return Apply(toml, &options);
}

TEST(OptionsTest, DefaultsAreTheDocumentedOnes) {
  const Options o;
  EXPECT_EQ(o.server.host, "127.0.0.1");
  EXPECT_EQ(o.server.port, 3000);
  EXPECT_EQ(o.server.threads, 32);
  EXPECT_EQ(o.server.read_timeout_ms, 30000);
  EXPECT_EQ(o.server.write_timeout_ms, 30000);
  EXPECT_EQ(o.server.max_body_bytes, 256u << 20);
  EXPECT_EQ(o.log.level, "info");
  EXPECT_EQ(o.limits.max_dimensions, 10752u);
  EXPECT_EQ(o.limits.max_id_bytes, 64u);
  EXPECT_EQ(o.storage.backend, "local");
  EXPECT_EQ(o.storage.local_root, "./data/store");
  EXPECT_EQ(o.storage.region, "us-east-1");
  EXPECT_EQ(o.storage.retry_max_attempts, 6);
  EXPECT_EQ(o.storage.retry_base_backoff_ms, 10);
  EXPECT_EQ(o.storage.retry_max_backoff_ms, 1000);
  EXPECT_EQ(o.storage.retry_budget_ms, 10000);
  EXPECT_EQ(o.cache.path, "./data/cache");
  EXPECT_EQ(o.indexing.max_unindexed_bytes, size_t{2} << 30);
  EXPECT_TRUE(o.compactor.enabled);
  EXPECT_TRUE(o.auth.api_keys.empty());
  EXPECT_FALSE(o.auth.allow_anonymous);
}

TEST(OptionsTest, DefaultsAreValid) { EXPECT_TRUE(ValidateOptions(Options{}).ok()); }

// --- config.toml and the docs never drift from the code --------------------------------

TEST_F(ConfigTest, RepoConfigTomlHoldsExactlyTheDefaults) {
  const std::string path = (RepoRoot() / "config.toml").string();
  auto loaded = Load({"--config", path});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config_file, path);
  EXPECT_TRUE(loaded->options == Options{})
      << "config.toml differs from Options{}:\n--- config.toml\n"
      << DescribeOptions(loaded->options) << "--- Options{}\n"
      << DescribeOptions(Options{});
}

TEST(ConfigKeysTest, RepoConfigTomlListsEveryKey) {
  // The strict parser already rejects keys config.toml has and the table lacks; here the
  // other direction. config.toml is simple enough to scan line by line.
  std::istringstream in(ReadFileOrDie(RepoRoot() / "config.toml"));
  std::set<std::string> present;
  std::string section;
  for (std::string line; std::getline(in, line);) {
    const size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    if (line[start] == '[') {
      section = line.substr(start + 1, line.find(']') - start - 1);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = line.substr(start, eq - start);
    key.erase(key.find_last_not_of(" \t") + 1);
    present.insert(section + "." + key);
  }
  for (const std::string& key : ConfigKeys()) {
    EXPECT_TRUE(present.count(key)) << key << " is missing from config.toml";
  }
  EXPECT_EQ(present.size(), ConfigKeys().size());
}

TEST(ConfigKeysTest, DocsDescribeEveryKeyVariableAndFlag) {
  const std::string docs = ReadFileOrDie(RepoRoot() / "docs" / "configuration.md");
  for (const std::string& key : ConfigKeys()) {
    EXPECT_THAT(docs, HasSubstr("`" + key + "`")) << "docs/configuration.md lacks " << key;
  }
  for (const char* name :
       {"VECPUFF_CONFIG", "VECPUFF_STORAGE", "S3_ENDPOINT", "S3_REGION", "S3_BUCKET",
        "LOCAL_CACHE_PATH", "VECPUFF_API_KEYS", "RUST_LOG", "VECPUFF_LOG", "--config", "--host",
        "--port", "--data-dir", "--storage", "--log-level", "--help"}) {
    EXPECT_THAT(docs, HasSubstr(std::string("`") + name)) << "docs lack " << name;
  }
}

TEST(ConfigKeysTest, KeysAreUniqueAndQualified) {
  const std::vector<std::string> keys = ConfigKeys();
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), keys.size());
  EXPECT_EQ(keys.front(), "server.host");
  for (const std::string& key : keys) EXPECT_NE(key.find('.'), std::string::npos) << key;
}

// --- Parsing ---------------------------------------------------------------------------

TEST(ApplyConfigTomlTest, EmptyDocumentChangesNothing) {
  Options options;
  ASSERT_TRUE(Apply("", &options).ok());
  EXPECT_TRUE(options == Options{});
}

TEST(ApplyConfigTomlTest, SetsEveryKind) {
  Options options;
  Status s = Apply(R"(
[server]
host = "0.0.0.0"
port = 8080
max_body_bytes = 1_048_576
[log]
level = "debug"
[compactor]
enabled = false
[storage]
backend = "s3"
bucket = "vectors"
prefix = "prod/"
endpoint = "http://localhost:9000"
force_path_style = true
[auth]
api_keys = ["k1", "k2"]
)",
                   &options);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(options.server.host, "0.0.0.0");
  EXPECT_EQ(options.server.port, 8080);
  EXPECT_EQ(options.server.max_body_bytes, 1u << 20);
  EXPECT_EQ(options.log.level, "debug");
  EXPECT_FALSE(options.compactor.enabled);
  EXPECT_EQ(options.storage.backend, "s3");
  EXPECT_EQ(options.storage.bucket, "vectors");
  EXPECT_EQ(options.storage.prefix, "prod/");
  EXPECT_EQ(options.storage.endpoint, "http://localhost:9000");
  EXPECT_TRUE(options.storage.force_path_style);
  EXPECT_EQ(options.auth.api_keys, (std::vector<std::string>{"k1", "k2"}));
  // Untouched keys keep their defaults.
  EXPECT_EQ(options.server.threads, 32);
  EXPECT_EQ(options.storage.region, "us-east-1");
}

TEST(ApplyConfigTomlTest, DottedKeysAreTheSameAsSections) {
  Options options;
  ASSERT_TRUE(Apply("server.port = 4000\nlimits.max_top_k = 5\n", &options).ok());
  EXPECT_EQ(options.server.port, 4000);
  EXPECT_EQ(options.limits.max_top_k, 5u);
}

TEST(ApplyConfigTomlTest, NegativeValueNamesKeyFileAndLine) {
  Status s = ApplyToDefaults("[limits]\nmax_dimensions = -3\n");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "config.toml:2: [limits] max_dimensions: expected a positive integer, got -3");
}

TEST(ApplyConfigTomlTest, ZeroWhereNotAllowed) {
  Status s = ApplyToDefaults("[server]\nthreads = 0\n");
  EXPECT_EQ(s.message(), "config.toml:2: [server] threads: expected a positive integer, got 0");
}

TEST(ApplyConfigTomlTest, NegativeWhereZeroIsAllowed) {
  Status s = ApplyToDefaults("[batching]\nwindow_ms = -1\n");
  EXPECT_EQ(s.message(),
            "config.toml:2: [batching] window_ms: expected a non-negative integer, got -1");
}

TEST(ApplyConfigTomlTest, PortOutOfRange) {
  Status s = ApplyToDefaults("[server]\nport = 70000\n");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "config.toml:2: [server] port: expected an integer <= 65535 (the maximum), got 70000");
}

TEST(ApplyConfigTomlTest, DimensionsAboveHardMaximum) {
  EXPECT_TRUE(ApplyToDefaults("[limits]\nmax_dimensions = 65536\n").ok());
  Status s = ApplyToDefaults("[limits]\nmax_dimensions = 65537\n");
  EXPECT_THAT(s.message(), HasSubstr("[limits] max_dimensions: expected an integer <= 65536"));
}

TEST(ApplyConfigTomlTest, HugeUnsignedValueIsRejectedNotWrapped) {
  Status s = ApplyToDefaults("[cache]\nsize_bytes = 9223372036854775807\n");
  EXPECT_THAT(s.message(), HasSubstr("[cache] size_bytes: expected an integer <="));
}

TEST(ApplyConfigTomlTest, WrongTypes) {
  EXPECT_EQ(ApplyToDefaults("[server]\nport = \"80\"\n").message(),
            "config.toml:2: [server] port: expected an integer, got string \"80\"");
  EXPECT_EQ(ApplyToDefaults("[server]\nport = 80.5\n").message(),
            "config.toml:2: [server] port: expected an integer, got float 80.5");
  EXPECT_EQ(ApplyToDefaults("[server]\nhost = 1\n").message(),
            "config.toml:2: [server] host: expected a string, got integer 1");
  EXPECT_EQ(ApplyToDefaults("[compactor]\nenabled = \"yes\"\n").message(),
            "config.toml:2: [compactor] enabled: expected a boolean (true or false), got "
            "string \"yes\"");
  EXPECT_EQ(ApplyToDefaults("[auth]\napi_keys = \"k\"\n").message(),
            "config.toml:2: [auth] api_keys: expected an array of strings, got string \"k\"");
  EXPECT_EQ(ApplyToDefaults("[auth]\napi_keys = [\"k\", 3]\n").message(),
            "config.toml:2: [auth] api_keys: expected an array of strings, got integer 3 at "
            "index 1");
}

TEST(ApplyConfigTomlTest, UnknownKeySuggestsTheClosestOne) {
  Status s = ApplyToDefaults("[server]\nport = 1\nprot = 3000\n");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(), "config.toml:3: unknown key [server] prot (did you mean port?)");
}

TEST(ApplyConfigTomlTest, UnknownKeyWithNothingClose) {
  EXPECT_EQ(ApplyToDefaults("[server]\nfrobnicate = 1\n").message(),
            "config.toml:2: unknown key [server] frobnicate");
}

TEST(ApplyConfigTomlTest, UnknownSection) {
  EXPECT_EQ(ApplyToDefaults("\n[sever]\nport = 1\n").message(),
            "config.toml:2: unknown section [sever] (did you mean server?)");
  EXPECT_THAT(ApplyToDefaults("[server.tls]\ncert = \"x\"\n").message(),
              HasSubstr("unknown key [server] tls"));
}

TEST(ApplyConfigTomlTest, KeyOutsideAnySection) {
  EXPECT_THAT(ApplyToDefaults("port = 3000\n").message(),
              AllOf(HasSubstr("config.toml:1: unknown key port outside any section"),
                    HasSubstr("[server]")));
}

TEST(ApplyConfigTomlTest, SectionThatIsNotATable) {
  EXPECT_EQ(ApplyToDefaults("server = 3\n").message(),
            "config.toml:1: [server]: expected a table (a section), got integer 3");
}

TEST(ApplyConfigTomlTest, InvalidStrings) {
  EXPECT_THAT(ApplyToDefaults("[storage]\nbackend = \"ftp\"\n").message(),
              HasSubstr("[storage] backend: expected one of \"local\", \"s3\", got \"ftp\""));
  EXPECT_THAT(ApplyToDefaults("[log]\nlevel = \"loud\"\n").message(),
              HasSubstr("[log] level: expected one of \"trace\", \"debug\""));
  EXPECT_THAT(ApplyToDefaults("[log]\nlevel = \"INFO\"\n").message(),
              HasSubstr("[log] level: expected one of"));
  EXPECT_THAT(ApplyToDefaults("[storage]\nendpoint = \"localhost:9000\"\n").message(),
              HasSubstr("[storage] endpoint: expected \"\" or a URL starting with http://"));
  EXPECT_THAT(ApplyToDefaults("[storage]\nprefix = \"prod\"\n").message(),
              HasSubstr("[storage] prefix: expected \"\" or a prefix that ends with \"/\""));
  EXPECT_THAT(ApplyToDefaults("[storage]\nprefix = \"/prod/\"\n").message(),
              HasSubstr("[storage] prefix"));
  EXPECT_THAT(ApplyToDefaults("[server]\nhost = \"\"\n").message(),
              HasSubstr("[server] host: expected a non-empty string"));
}

TEST(ApplyConfigTomlTest, BadApiKeyIsReportedWithoutEchoingIt) {
  Status s = ApplyToDefaults("[auth]\napi_keys = [\"good\", \"bad secret\"]\n");
  EXPECT_THAT(s.message(), HasSubstr("[auth] api_keys: item 1: expected a key without spaces"));
  EXPECT_THAT(s.message(), Not(HasSubstr("bad secret")));
}

TEST(ApplyConfigTomlTest, EveryErrorIsReportedInFileOrder) {
  Status s = ApplyToDefaults(R"([server]
port = -1
threads = "many"
[zzz]
[limits]
max_top_k = 0
)");
  ASSERT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(),
            "config.toml:2: [server] port: expected a non-negative integer, got -1\n"
            "config.toml:3: [server] threads: expected an integer, got string \"many\"\n"
            "config.toml:4: unknown section [zzz]\n"
            "config.toml:6: [limits] max_top_k: expected a positive integer, got 0");
}

TEST(ApplyConfigTomlTest, SyntaxErrorNamesLineAndColumn) {
  Status s = ApplyToDefaults("[server]\nport = = 3\n");
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("config.toml:2:"));
  EXPECT_THAT(s.message(), HasSubstr("invalid TOML"));
}

TEST(ApplyConfigTomlTest, DuplicateKeyIsASyntaxError) {
  Status s = ApplyToDefaults("[server]\nport = 1\nport = 2\n");
  EXPECT_THAT(s.message(), HasSubstr("config.toml:3:"));
}

TEST(ApplyConfigTomlTest, OptionsAreUnchangedOnError) {
  Options options;
  ASSERT_FALSE(Apply("[server]\nport = 9\nthreads = -1\n", &options).ok());
  EXPECT_TRUE(options == Options{});
}

// --- ValidateOptions ---------------------------------------------------------------------

TEST(ValidateOptionsTest, ChecksFieldsSetInCode) {
  Options options;
  options.server.port = 70000;
  EXPECT_THAT(ValidateOptions(options).message(), HasSubstr("[server] port"));

  options = Options{};
  options.limits.max_dimensions = 0;
  EXPECT_THAT(ValidateOptions(options).message(),
              HasSubstr("[limits] max_dimensions: expected a positive integer, got 0"));

  options = Options{};
  options.cache.size_bytes = SIZE_MAX;  // must not wrap to a negative number
  EXPECT_THAT(ValidateOptions(options).message(),
              HasSubstr("[cache] size_bytes: expected an integer <="));
}

TEST(ValidateOptionsTest, S3NeedsABucket) {
  Options options;
  options.storage.backend = "s3";
  Status s = ValidateOptions(options);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_THAT(s.message(), HasSubstr("[storage] bucket: required"));
  options.storage.bucket = "b";
  EXPECT_TRUE(ValidateOptions(options).ok());
}

TEST(ValidateOptionsTest, BackoffBaseMustNotExceedMax) {
  Options options;
  options.storage.retry_base_backoff_ms = 2000;
  EXPECT_THAT(ValidateOptions(options).message(),
              HasSubstr("[storage] retry_base_backoff_ms: must not exceed"));
}

TEST(ValidateOptionsTest, IndexingTriggerBelowBackpressure) {
  Options options;
  options.indexing.unindexed_bytes_trigger = options.indexing.max_unindexed_bytes;
  EXPECT_THAT(ValidateOptions(options).message(),
              HasSubstr("[indexing] unindexed_bytes_trigger: must be less than"));
}

// --- DescribeOptions ---------------------------------------------------------------------

TEST(DescribeOptionsTest, OneLinePerKey) {
  const std::string text = DescribeOptions(Options{});
  EXPECT_EQ(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')), ConfigKeys().size());
  EXPECT_THAT(text, HasSubstr("server.port = 3000\n"));
  EXPECT_THAT(text, HasSubstr("server.host = \"127.0.0.1\"\n"));
  EXPECT_THAT(text, HasSubstr("server.max_body_bytes = 268435456  # 256 MiB\n"));
  EXPECT_THAT(text, HasSubstr("compactor.enabled = true\n"));
  EXPECT_THAT(text, HasSubstr("auth.api_keys = []\n"));
}

TEST(DescribeOptionsTest, MasksApiKeys) {
  Options options;
  options.auth.api_keys = {"sk-secret-1", "sk-secret-2"};
  std::string text = DescribeOptions(options);
  EXPECT_THAT(text, HasSubstr("auth.api_keys = <2 keys>\n"));
  EXPECT_THAT(text, Not(HasSubstr("sk-secret")));
  options.auth.api_keys = {"sk-secret-1"};
  EXPECT_THAT(DescribeOptions(options), HasSubstr("auth.api_keys = <1 key>\n"));
}

TEST(DescribeOptionsTest, IsTomlThatReadsBackTheSameOptions) {
  Options options;
  options.server.host = "a \"quoted\" \\ host";
  options.server.port = 1234;
  options.storage.backend = "s3";
  options.storage.bucket = "b";
  options.compactor.enabled = false;
  Options parsed;
  Status s = ApplyConfigToml(DescribeOptions(options), "described", &parsed);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(parsed == options);
}

}  // namespace
}  // namespace vecpuff
