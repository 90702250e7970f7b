// LoadOptions: finding the config file, environment variables (RUST_LOG included), flags,
// and the precedence defaults < file < environment < flags.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"
#include "config/options.h"
#include "config_test_util.h"

namespace vecpuff {
namespace {

using testing::ConfigTest;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// --- Finding the config file ---------------------------------------------------------

TEST_F(ConfigTest, NoConfigFileGivesDefaults) {
  auto loaded = Load({});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->options == Options{});
  EXPECT_EQ(loaded->config_file, "");
  EXPECT_FALSE(loaded->help_requested);
}

TEST_F(ConfigTest, ArgcZeroIsFine) {
  auto loaded = LoadOptions(0, nullptr, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->options == Options{});
}

TEST_F(ConfigTest, ReadsConfigTomlInTheWorkingDirectory) {
  WriteFile("config.toml", "[server]\nport = 4000\n");
  auto loaded = Load({});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.port, 4000);
  EXPECT_EQ(loaded->config_file, "config.toml");
}

TEST_F(ConfigTest, ConfigFlagBeatsEnvironmentBeatsWorkingDirectory) {
  WriteFile("config.toml", "[server]\nport = 1\n");
  const std::string from_env = WriteFile("env.toml", "[server]\nport = 2\n");
  const std::string from_flag = WriteFile("flag.toml", "[server]\nport = 3\n");

  auto loaded = Load({}, {{"VECPUFF_CONFIG", from_env}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.port, 2);
  EXPECT_EQ(loaded->config_file, from_env);

  loaded = Load({"--config", from_flag}, {{"VECPUFF_CONFIG", from_env}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.port, 3);
  EXPECT_EQ(loaded->config_file, from_flag);
}

TEST_F(ConfigTest, MissingConfigFileGivenByFlagIsAnError) {
  auto loaded = Load({"--config", "/nonexistent/vecpuff.toml"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsNotFound());
  EXPECT_EQ(loaded.status().message(),
            "config file /nonexistent/vecpuff.toml (from --config) does not exist");
}

TEST_F(ConfigTest, MissingConfigFileGivenByEnvironmentIsAnError) {
  auto loaded = Load({}, {{"VECPUFF_CONFIG", "nope.toml"}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsNotFound());
  EXPECT_THAT(loaded.status().message(), HasSubstr("nope.toml (from VECPUFF_CONFIG)"));
}

TEST_F(ConfigTest, ConfigFileThatIsADirectoryIsAnError) {
  auto loaded = Load({"--config", "."});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("not a regular file"));
}

TEST_F(ConfigTest, ErrorsInTheFileNameThePath) {
  const std::string path = WriteFile("bad.toml", "[limits]\nmax_dimensions = -3\n");
  auto loaded = Load({"--config", path});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsInvalidArgument());
  EXPECT_EQ(loaded.status().message(),
            path + ":2: [limits] max_dimensions: expected a positive integer, got -3");
}

TEST_F(ConfigTest, InconsistentCombinationIsAnError) {
  auto loaded = Load({"--storage", "s3"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsInvalidArgument());
  EXPECT_THAT(loaded.status().message(),
              StartsWith("invalid configuration: [storage] bucket: required"));
  EXPECT_TRUE(Load({"--storage", "s3"}, {{"S3_BUCKET", "b"}}).ok());
}

// --- Precedence ------------------------------------------------------------------------

TEST_F(ConfigTest, FileOverridesDefaultsEnvironmentOverridesFileFlagsOverrideEnvironment) {
  const std::string path = WriteFile("c.toml", R"(
[server]
host = "file-host"
port = 1111
[log]
level = "warn"
[storage]
backend = "s3"
bucket = "file-bucket"
region = "file-region"
local_root = "/file/root"
[cache]
path = "/file/cache"
[auth]
allow_anonymous = true
)");
  // File only.
  auto loaded = Load({"--config", path});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.host, "file-host");
  EXPECT_EQ(loaded->options.log.level, "warn");
  EXPECT_EQ(loaded->options.storage.region, "file-region");
  EXPECT_EQ(loaded->options.server.threads, 32);  // not in the file: default

  // Environment over file.
  const Environment env = {{"S3_REGION", "env-region"},
                           {"S3_BUCKET", "env-bucket"},
                           {"LOCAL_CACHE_PATH", "/env/cache"},
                           {"VECPUFF_LOG", "debug"},
                           {"VECPUFF_STORAGE", "local"}};
  loaded = Load({"--config", path}, env);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.storage.region, "env-region");
  EXPECT_EQ(loaded->options.storage.bucket, "env-bucket");
  EXPECT_EQ(loaded->options.cache.path, "/env/cache");
  EXPECT_EQ(loaded->options.log.level, "debug");
  EXPECT_EQ(loaded->options.storage.backend, "local");
  EXPECT_EQ(loaded->options.server.port, 1111);  // no variable for it: the file's

  // Flags over environment.
  loaded = Load({"--config", path, "--log-level", "error", "--storage", "s3", "--port", "2222",
                 "--host", "flag-host", "--data-dir", "/flag/root"},
                env);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.log.level, "error");
  EXPECT_EQ(loaded->options.storage.backend, "s3");
  EXPECT_EQ(loaded->options.server.port, 2222);
  EXPECT_EQ(loaded->options.server.host, "flag-host");
  EXPECT_EQ(loaded->options.storage.local_root, "/flag/root");
  EXPECT_EQ(loaded->options.storage.region, "env-region");  // no flag for it: the env's
}

// --- Environment -------------------------------------------------------------------------

TEST_F(ConfigTest, EnvironmentVariablesSetTheirKeys) {
  auto loaded = Load({}, {{"S3_ENDPOINT", "http://minio:9000"},
                          {"S3_REGION", "eu-west-1"},
                          {"S3_BUCKET", "vec"},
                          {"VECPUFF_STORAGE", "s3"},
                          {"LOCAL_CACHE_PATH", "/tmp/c"},
                          {"VECPUFF_API_KEYS", "k1, k2"},
                          {"UNRELATED", "ignored"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Options& o = loaded->options;
  EXPECT_EQ(o.storage.endpoint, "http://minio:9000");
  EXPECT_EQ(o.storage.region, "eu-west-1");
  EXPECT_EQ(o.storage.bucket, "vec");
  EXPECT_EQ(o.storage.backend, "s3");
  EXPECT_EQ(o.cache.path, "/tmp/c");
  EXPECT_EQ(o.auth.api_keys, (std::vector<std::string>{"k1", "k2"}));
}

TEST_F(ConfigTest, S3BucketInTheEnvironmentSelectsS3UnlessTheBackendIsNamed) {
  auto implied = Load({}, {{"S3_BUCKET", "vec"}});
  ASSERT_TRUE(implied.ok()) << implied.status().ToString();
  EXPECT_EQ(implied->options.storage.backend, "s3");
  auto named = Load({}, {{"S3_BUCKET", "vec"}, {"VECPUFF_STORAGE", "local"}});
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->options.storage.backend, "local");
  auto flag = Load({"--storage", "local"}, {{"S3_BUCKET", "vec"}});
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->options.storage.backend, "local");
  auto none = Load({}, {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->options.storage.backend, "local");
}

TEST_F(ConfigTest, AwsCredentialsComeFromTheEnvironmentAndAreNeverDescribed) {
  auto loaded = Load({}, {{"AWS_ACCESS_KEY_ID", "AKIDSECRETID"},
                          {"AWS_SECRET_ACCESS_KEY", "topsecretkey"},
                          {"AWS_SESSION_TOKEN", "tokentoken"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const Options& o = loaded->options;
  EXPECT_EQ(o.storage.access_key_id, "AKIDSECRETID");
  EXPECT_EQ(o.storage.secret_access_key, "topsecretkey");
  EXPECT_EQ(o.storage.session_token, "tokentoken");
  const std::string described = DescribeOptions(o);
  EXPECT_EQ(described.find("AKIDSECRETID"), std::string::npos);
  EXPECT_EQ(described.find("topsecretkey"), std::string::npos);
  EXPECT_EQ(described.find("tokentoken"), std::string::npos);
  EXPECT_NE(described.find("storage.secret_access_key = \"<set>\""), std::string::npos);
}

TEST_F(ConfigTest, EmptyEnvironmentVariableCountsAsUnset) {
  auto loaded = Load({}, {{"S3_REGION", ""}, {"VECPUFF_STORAGE", ""}, {"VECPUFF_CONFIG", ""}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->options == Options{});
}

TEST_F(ConfigTest, InvalidEnvironmentValueNamesTheVariable) {
  auto loaded = Load({}, {{"VECPUFF_STORAGE", "ftp"}});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsInvalidArgument());
  EXPECT_EQ(loaded.status().message(),
            "environment variable VECPUFF_STORAGE (storage.backend): expected one of "
            "\"local\", \"s3\", got \"ftp\"");

  loaded = Load({}, {{"S3_ENDPOINT", "minio:9000"}});
  EXPECT_THAT(loaded.status().message(), StartsWith("environment variable S3_ENDPOINT"));

  loaded = Load({}, {{"VECPUFF_LOG", "loud"}});
  EXPECT_THAT(loaded.status().message(), StartsWith("environment variable VECPUFF_LOG"));

  loaded = Load({}, {{"VECPUFF_API_KEYS", "a,,b"}});
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("VECPUFF_API_KEYS (auth.api_keys): item 1: expected a non-empty key"));
}

// --- RUST_LOG ----------------------------------------------------------------------------

std::string LevelFor(const std::string& rust_log) {
  Environment env = {{"RUST_LOG", rust_log}};
  std::vector<const char*> argv = {"vecpuff"};
  auto loaded = LoadOptions(1, argv.data(), env);
  if (!loaded.ok()) return "error: " + loaded.status().message();
  return loaded->options.log.level;
}

TEST_F(ConfigTest, RustLogBareLevel) {
  EXPECT_EQ(LevelFor("info"), "info");
  EXPECT_EQ(LevelFor("debug"), "debug");
  EXPECT_EQ(LevelFor("TRACE"), "trace");
  EXPECT_EQ(LevelFor("off"), "off");
  EXPECT_EQ(LevelFor(" warn "), "warn");
}

TEST_F(ConfigTest, RustLogTakesTheVecpuffDirective) {
  EXPECT_EQ(LevelFor("vecpuff=debug,hyper=info"), "debug");
  EXPECT_EQ(LevelFor("warn,vecpuff=trace"), "trace");
  EXPECT_EQ(LevelFor("vecpuff=error,warn"), "error");  // the target beats the bare level
  EXPECT_EQ(LevelFor("vecpuff"), "trace");             // a bare target means trace
  EXPECT_EQ(LevelFor("info/some.*regex"), "info");     // the filter regex is ignored
}

TEST_F(ConfigTest, RustLogForOtherTargetsOnlyKeepsTheDefault) {
  EXPECT_EQ(LevelFor("hyper=debug"), "info");
  EXPECT_EQ(LevelFor("hyper"), "info");
  EXPECT_EQ(LevelFor("vecpuff::wal=debug"), "info");
  EXPECT_EQ(LevelFor(","), "info");
}

TEST_F(ConfigTest, InvalidRustLogNamesTheVariable) {
  EXPECT_THAT(LevelFor("vecpuff=loud"),
              StartsWith("error: environment variable RUST_LOG: expected a level"));
  EXPECT_THAT(LevelFor("hyper=loud"), StartsWith("error: environment variable RUST_LOG:"));
  EXPECT_THAT(LevelFor("=debug"), StartsWith("error: environment variable RUST_LOG:"));
  EXPECT_THAT(LevelFor("not a level"), StartsWith("error: environment variable RUST_LOG:"));
}

TEST_F(ConfigTest, VecpuffLogWinsOverRustLog) {
  auto loaded = Load({}, {{"RUST_LOG", "debug"}, {"VECPUFF_LOG", "warn"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.log.level, "warn");
  // RUST_LOG is not even parsed then: other programs' filters cannot break start-up.
  loaded = Load({}, {{"RUST_LOG", "vecpuff=loud"}, {"VECPUFF_LOG", "warn"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.log.level, "warn");
}

// --- Flags -------------------------------------------------------------------------------

TEST_F(ConfigTest, FlagsInBothForms) {
  auto loaded = Load({"--port=8080", "--host", "0.0.0.0", "--data-dir=/d", "--log-level=trace",
                      "--storage", "local"},
                     {{"VECPUFF_API_KEYS", "k1"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.port, 8080);
  EXPECT_EQ(loaded->options.server.host, "0.0.0.0");
  EXPECT_EQ(loaded->options.storage.local_root, "/d");
  EXPECT_EQ(loaded->options.log.level, "trace");
}

TEST_F(ConfigTest, ConfigFlagWithEquals) {
  const std::string path = WriteFile("c.toml", "[server]\nport = 5\n");
  auto loaded = Load({"--config=" + path});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.server.port, 5);
}

TEST_F(ConfigTest, RepeatedFlagLastWins) {
  auto loaded = Load({"--port", "1", "--port=2"});
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->options.server.port, 2);
}

TEST_F(ConfigTest, UnknownFlagIsAnError) {
  auto loaded = Load({"--prot", "3000"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(loaded.status().IsInvalidArgument());
  EXPECT_EQ(loaded.status().message(), "unknown flag --prot (did you mean --port?)");
  EXPECT_EQ(Load({"-x"}).status().message(), "unknown flag -x");
}

TEST_F(ConfigTest, PositionalArgumentIsAnError) {
  EXPECT_EQ(Load({"serve"}).status().message(), "unexpected argument \"serve\" (see --help)");
}

TEST_F(ConfigTest, MissingFlagValueIsAnError) {
  EXPECT_THAT(Load({"--port"}).status().message(), StartsWith("flag --port requires a value"));
  EXPECT_THAT(Load({"--host", "--port", "1"}).status().message(),
              StartsWith("flag --host requires a value"));
  EXPECT_THAT(Load({"--config"}).status().message(), StartsWith("flag --config requires"));
  EXPECT_THAT(Load({"--config="}).status().message(), HasSubstr("expected a path"));
}

TEST_F(ConfigTest, InvalidFlagValueNamesTheFlag) {
  EXPECT_EQ(Load({"--port", "http"}).status().message(),
            "flag --port (server.port): expected an integer, got \"http\"");
  EXPECT_EQ(Load({"--port=99999"}).status().message(),
            "flag --port (server.port): expected an integer <= 65535 (the maximum), got 99999");
  EXPECT_EQ(Load({"--port=99999999999999999999"}).status().message(),
            "flag --port (server.port): expected a 64-bit integer, got "
            "\"99999999999999999999\"");
  EXPECT_THAT(Load({"--storage=ftp"}).status().message(),
              StartsWith("flag --storage (storage.backend): expected one of"));
  EXPECT_THAT(Load({"--host="}).status().message(),
              StartsWith("flag --host (server.host): expected a non-empty string"));
}

TEST_F(ConfigTest, HelpIsReportedAndNothingElseIsRead) {
  for (const char* help : {"--help", "-h"}) {
    // A broken config file and a bad flag do not get in the way of --help.
    auto loaded =
        Load({"--config", "/nonexistent.toml", "--bogus", help}, {{"VECPUFF_STORAGE", "ftp"}});
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_TRUE(loaded->help_requested);
    EXPECT_TRUE(loaded->options == Options{});
  }
  EXPECT_EQ(Load({"--help=yes"}).status().message(), "flag --help takes no value");
}

TEST(UsageTextTest, ListsEveryFlagAndVariable) {
  const std::string usage = UsageText("vecpuff-server");
  EXPECT_THAT(usage, StartsWith("Usage: vecpuff-server [flags]\n"));
  for (const char* name :
       {"--config PATH", "--host HOST", "--port PORT", "--data-dir PATH", "--storage BACKEND",
        "--log-level LEVEL", "-h, --help", "VECPUFF_CONFIG", "VECPUFF_STORAGE", "S3_ENDPOINT",
        "S3_REGION", "S3_BUCKET", "LOCAL_CACHE_PATH", "VECPUFF_API_KEYS", "RUST_LOG", "VECPUFF_LOG",
        "[storage.local_root]"}) {
    EXPECT_THAT(usage, HasSubstr(name));
  }
  EXPECT_EQ(usage.back(), '\n');
}

TEST(CaptureProcessEnvironmentTest, SeesTheProcessEnvironment) {
  // PATH is set in any sane test environment; only read here, never modified.
  const Environment env = CaptureProcessEnvironment();
  const char* path = std::getenv("PATH");
  if (path == nullptr) GTEST_SKIP() << "PATH is not set";
  ASSERT_TRUE(env.count("PATH"));
  EXPECT_EQ(env.at("PATH"), path);
}

// --- API keys and the listen address ----------------------------------------------------

TEST(IsLoopbackHostTest, OnlyLoopbackAddressesCount) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "127.255.255.255", "localhost", "::1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "127.0.0", "127.0.0.1.5", "127.0.0.256",
        "127..0.1", "127.0.0.1 ", "localhost.example.com", "1270.0.0.1", "example.com"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST_F(ConfigTest, NonLoopbackHostNeedsKeysOrAllowAnonymous) {
  auto open = Load({"--host", "0.0.0.0"});
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(open.status().message(),
              HasSubstr("[server] host: \"0.0.0.0\" is not a loopback address and no API keys "
                        "are configured"));
  EXPECT_THAT(open.status().message(), HasSubstr("allow_anonymous = true"));

  WriteFile("anon.toml", "[server]\nhost = \"0.0.0.0\"\n[auth]\nallow_anonymous = true\n");
  EXPECT_TRUE(Load({"--config", "anon.toml"}).ok());
  EXPECT_TRUE(Load({"--host", "0.0.0.0"}, {{"VECPUFF_API_KEYS", "k1"}}).ok());
  EXPECT_TRUE(Load({"--host", "127.0.0.1"}).ok());
}

TEST_F(ConfigTest, ApiKeyFileAddsItsKeys) {
  const std::string file = WriteFile("keys.txt",
                                     "# production keys\n"
                                     "  key-from-file-1  \n"
                                     "\n"
                                     "key-from-file-2\r\n");
  auto loaded = Load({"--host", "0.0.0.0"},
                     {{"VECPUFF_API_KEYS_FILE", file}, {"VECPUFF_API_KEYS", "key-from-env"}});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->options.auth.api_keys,
            (std::vector<std::string>{"key-from-env", "key-from-file-1", "key-from-file-2"}));
  EXPECT_EQ(loaded->options.auth.api_keys_file, file);
}

TEST_F(ConfigTest, BadApiKeyFileStopsStartupWithoutEchoingTheKey) {
  const std::string missing =
      Load({}, {{"VECPUFF_API_KEYS_FILE", "/nonexistent/keys"}}).status().message();
  EXPECT_THAT(missing, HasSubstr("/nonexistent/keys"));
  EXPECT_THAT(missing, HasSubstr("does not exist"));

  const std::string empty = WriteFile("empty.txt", "# nothing here\n\n");
  EXPECT_THAT(Load({}, {{"VECPUFF_API_KEYS_FILE", empty}}).status().message(),
              HasSubstr("holds no key"));

  const std::string bad = WriteFile("bad.txt", "good-key\nsecret\x01part\n");
  const std::string message = Load({}, {{"VECPUFF_API_KEYS_FILE", bad}}).status().message();
  EXPECT_THAT(message, HasSubstr("line 2"));
  EXPECT_THAT(message, HasSubstr("control characters"));
  EXPECT_EQ(message.find("secret"), std::string::npos) << message;
}

}  // namespace
}  // namespace vecpuff
