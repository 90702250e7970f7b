// Configuration loading: config file + environment + command line -> validated Options.
//
// Each source overrides the one before it:
//
//   defaults (Options{})  <  config file  <  environment variables  <  command-line flags
//
// The config file is the one named by --config PATH, else by $VECPUFF_CONFIG, else
// ./config.toml if that exists (none is fine: the defaults apply). A file named by the flag
// or the variable must exist. The file is TOML with one table per Options section; every key
// is optional, and config.toml at the repository root lists them all with their defaults.
// docs/configuration.md documents every key, variable and flag.
//
// Anything wrong is an error, never silently ignored: an unknown section, key or flag, a
// value of the wrong type, or a value out of range. Errors are InvalidArgument (NotFound /
// IOError for an unreadable config file) and their message names the culprit and where it
// came from, e.g.
//   "config.toml:12: [limits] max_dimensions: expected a positive integer, got -3"
//   "environment variable VECPUFF_STORAGE: expected one of "local", "s3", got "ftp""
//   "unknown flag --prot (did you mean --port?)"
// Errors in the config file are all reported at once, one per line, in file order.
//
// Thread safety: every function here is reentrant and may be called from any thread.
// LoadOptions reads the config file but never the process environment (it is passed in);
// only CaptureProcessEnvironment reads that.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/options.h"

namespace vecpuff {

// Environment variables by name. LoadOptions takes one explicitly so that tests can inject
// values without touching the real process environment.
using Environment = std::map<std::string, std::string, std::less<>>;

// Returns a copy of the process environment. Not safe to call concurrently with setenv(),
// putenv() or unsetenv() (the C library's environment is not synchronized).
Environment CaptureProcessEnvironment();

struct LoadedOptions {
  // The effective configuration; it has passed ValidateOptions().
  Options options;

  // The config file that was read, as given (or "config.toml" if found in the working
  // directory); empty if none was read.
  std::string config_file;

  // --help (or -h) was given: nothing else was read or checked and `options` holds the
  // defaults. The caller prints UsageText() to stdout and exits with status 0.
  bool help_requested = false;
};

// Builds the effective Options from the defaults, the config file, `env` and the flags in
// argv[1..argc) (argv[0], the program name, is skipped). Flags are "--name value" or
// "--name=value"; see UsageText() for the list. `env` is usually
// CaptureProcessEnvironment().
//
// Returns:
//  - InvalidArgument for an unknown or malformed flag, a bad value in the config file, the
//    environment or a flag, a TOML syntax error, or an inconsistent combination of values
//    (e.g. storage.backend "s3" without a bucket). The message names the key, variable or
//    flag, and the file and line where there is one.
//  - NotFound if the config file named by --config or $VECPUFF_CONFIG does not exist.
//  - IOError if the config file cannot be read.
// REQUIRES: argv[0..argc) are non-null, NUL-terminated strings (argc may be 0).
Result<LoadedOptions> LoadOptions(int argc, const char* const* argv, const Environment& env);

// Applies the TOML document `toml_text` on top of `*options` (the config-file step of
// LoadOptions, exposed for tests and tools). `source_name` names the document in error
// messages (normally its path). Keys absent from the document keep their value. Checks each
// value but not combinations of values (see ValidateOptions).
// Returns InvalidArgument, listing every problem found, if the document is not valid TOML
// or has an unknown section or key, a value of the wrong type or out of range; `*options` is
// then left unchanged.
// REQUIRES: options != nullptr.
Status ApplyConfigToml(std::string_view toml_text, std::string_view source_name, Options* options);

// Checks every field of `options` against its documented range, and the rules that tie
// fields together (storage.backend "s3" needs a bucket; retry_base_backoff_ms <=
// retry_max_backoff_ms; indexing.unindexed_bytes_trigger < indexing.max_unindexed_bytes;
// a server.host that is not loopback needs API keys or auth.allow_anonymous).
// Returns OK or InvalidArgument naming the first offending key. Use it on Options built in
// code; LoadOptions already calls it.
Status ValidateOptions(const Options& options);

// The keys in an API key file (auth.api_keys_file): one per line, blank lines and lines
// starting with '#' skipped, surrounding spaces trimmed. NotFound/IOError if the file cannot
// be read; InvalidArgument naming the line (never the key) for an invalid key, or if the
// file holds no key. LoadOptions calls it and adds the keys to auth.api_keys.
Result<std::vector<std::string>> ReadApiKeyFile(const std::string& path);

// The effective configuration as text for the start-up log: one "section.key = value" line
// per key, in config.toml order (valid TOML apart from masked secrets). Secrets are never
// printed: auth.api_keys shows as "<2 keys>".
std::string DescribeOptions(const Options& options);

// The --help text: usage line, every flag, every environment variable, and the precedence
// order. Ends with a newline.
std::string UsageText(std::string_view program_name = "vecpuff");

// Every config file key as "section.key", in config.toml order. For tests and tooling that
// must cover every key (e.g. checking that config.toml and the docs list them all).
std::vector<std::string> ConfigKeys();

}  // namespace vecpuff
