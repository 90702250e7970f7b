#include "config/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

// toml++ throws (the installed shared library is built with exceptions); every call into it
// is wrapped in ApplyConfigToml, so no exception leaves this file.
#include <toml++/toml.h>

extern char** environ;  // POSIX; not declared by every libc header set.

namespace vecpuff {
namespace {

constexpr int64_t kKiB = int64_t{1} << 10;
constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kTiB = int64_t{1} << 40;
constexpr int64_t kHourMs = int64_t{3600} * 1000;
constexpr int64_t kDayMs = 24 * kHourMs;

// ---------------------------------------------------------------------------------------
// Values and their text forms.

enum class ValueKind { kBool, kInteger, kString, kStringList };

// A value of one config key, whichever source it came from. The alternative held always
// matches the key's ValueKind (callers convert before calling OptionSpec::set).
using ConfigValue = std::variant<bool, int64_t, std::string, std::vector<std::string>>;

std::string_view KindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kBool:
      return "a boolean (true or false)";
    case ValueKind::kInteger:
      return "an integer";
    case ValueKind::kString:
      return "a string";
    case ValueKind::kStringList:
      return "an array of strings";
  }
  return "?";
}

// `s` as a TOML basic string, quotes included.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    parts.push_back(
        s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Parses text from an environment variable or a flag as a value of `kind`. Lists are
// comma-separated ("a,b"); integers are decimal.
Result<ConfigValue> ValueFromText(std::string_view text, ValueKind kind) {
  switch (kind) {
    case ValueKind::kBool:
      if (text == "true") return ConfigValue(true);
      if (text == "false") return ConfigValue(false);
      return Status::InvalidArgument(
          fmt::format("expected {}, got {}", KindName(kind), Quote(text)));
    case ValueKind::kInteger: {
      int64_t v = 0;
      const char* end = text.data() + text.size();
      auto [ptr, ec] = std::from_chars(text.data(), end, v);
      if (text.empty() || ec != std::errc() || ptr != end) {
        return Status::InvalidArgument(
            fmt::format("expected {}, got {}",
                        ec == std::errc::result_out_of_range ? "a 64-bit integer" : KindName(kind),
                        Quote(text)));
      }
      return ConfigValue(v);
    }
    case ValueKind::kString:
      return ConfigValue(std::string(text));
    case ValueKind::kStringList: {
      std::vector<std::string> items;
      for (std::string_view item : Split(text, ',')) items.emplace_back(Trim(item));
      return ConfigValue(std::move(items));
    }
  }
  return Status::Internal("unknown value kind");
}

// What a TOML node holds, for "expected X, got Y" messages.
std::string DescribeTomlNode(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string " + Quote(*node.value<std::string>());
    case toml::node_type::integer:
      return fmt::format("integer {}", *node.value<int64_t>());
    case toml::node_type::floating_point:
      return fmt::format("float {}", *node.value<double>());
    case toml::node_type::boolean:
      return fmt::format("boolean {}", *node.value<bool>());
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

Result<ConfigValue> ValueFromToml(const toml::node& node, ValueKind kind) {
  auto mismatch = [&] {
    return Status::InvalidArgument(
        fmt::format("expected {}, got {}", KindName(kind), DescribeTomlNode(node)));
  };
  switch (kind) {
    case ValueKind::kBool:
      if (!node.is_boolean()) return mismatch();
      return ConfigValue(*node.value<bool>());
    case ValueKind::kInteger:
      if (!node.is_integer()) return mismatch();
      return ConfigValue(*node.value<int64_t>());
    case ValueKind::kString:
      if (!node.is_string()) return mismatch();
      return ConfigValue(*node.value<std::string>());
    case ValueKind::kStringList: {
      const toml::array* array = node.as_array();
      if (array == nullptr) return mismatch();
      std::vector<std::string> items;
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& item = *array->get(i);
        if (!item.is_string()) {
          return Status::InvalidArgument(fmt::format("expected {}, got {} at index {}",
                                                     KindName(kind), DescribeTomlNode(item), i));
        }
        items.push_back(*item.value<std::string>());
      }
      return ConfigValue(std::move(items));
    }
  }
  return Status::Internal("unknown value kind");
}

// "10 GiB" for exact multiples of a binary unit, else "".
std::string HumanBytes(int64_t bytes) {
  if (bytes <= 0) return "";
  constexpr std::pair<int64_t, std::string_view> kUnits[] = {
      {kTiB, "TiB"}, {kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const auto& [size, name] : kUnits) {
    if (bytes % size == 0) return fmt::format("{} {}", bytes / size, name);
  }
  return "";
}

// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean X?)" naming the closest candidate, if one is close; else "".
std::string DidYouMean(std::string_view word, const std::vector<std::string_view>& candidates,
                       std::string_view candidate_prefix = "") {
  std::string_view best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (std::string_view candidate : candidates) {
    const size_t d = EditDistance(word, candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best.empty()) return "";
  return fmt::format(" (did you mean {}{}?)", candidate_prefix, best);
}

// ---------------------------------------------------------------------------------------
// Value checks. Each returns OK or InvalidArgument saying what was expected and what was
// given, without naming the key (the caller prefixes that).

constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
constexpr std::string_view kBackends[] = {"local", "s3"};

bool IsLogLevel(std::string_view s) {
  return std::find(std::begin(kLogLevels), std::end(kLogLevels), s) != std::end(kLogLevels);
}

std::string QuotedList(const std::string_view* begin, const std::string_view* end) {
  std::string out;
  for (const std::string_view* it = begin; it != end; ++it) {
    if (!out.empty()) out += ", ";
    out += Quote(*it);
  }
  return out;
}

Status CheckIntegerRange(int64_t v, int64_t min, int64_t max) {
  if (v >= min && v <= max) return Status::OK();
  if (v < min) {
    if (min == 0)
      return Status::InvalidArgument(fmt::format("expected a non-negative integer, got {}", v));
    if (min == 1)
      return Status::InvalidArgument(fmt::format("expected a positive integer, got {}", v));
    return Status::InvalidArgument(fmt::format("expected an integer >= {}, got {}", min, v));
  }
  return Status::InvalidArgument(
      fmt::format("expected an integer <= {} (the maximum), got {}", max, v));
}

using StringCheck = Status (*)(std::string_view);

Status AnyString(std::string_view) { return Status::OK(); }

Status NonEmpty(std::string_view s) {
  if (!s.empty()) return Status::OK();
  return Status::InvalidArgument("expected a non-empty string, got \"\"");
}

Status LogLevel(std::string_view s) {
  if (IsLogLevel(s)) return Status::OK();
  return Status::InvalidArgument(
      fmt::format("expected one of {}, got {}",
                  QuotedList(std::begin(kLogLevels), std::end(kLogLevels)), Quote(s)));
}

Status Backend(std::string_view s) {
  if (std::find(std::begin(kBackends), std::end(kBackends), s) != std::end(kBackends)) {
    return Status::OK();
  }
  return Status::InvalidArgument(fmt::format("expected one of {}, got {}",
                                             QuotedList(std::begin(kBackends), std::end(kBackends)),
                                             Quote(s)));
}

Status EndpointUrl(std::string_view s) {
  if (s.empty() || s.starts_with("http://") || s.starts_with("https://")) {
    return Status::OK();
  }
  return Status::InvalidArgument(
      fmt::format("expected \"\" or a URL starting with http:// or https://, got {}", Quote(s)));
}

Status KeyPrefix(std::string_view s) {
  if (s.empty() || (s.back() == '/' && s.front() != '/')) return Status::OK();
  return Status::InvalidArgument(fmt::format(
      "expected \"\" or a prefix that ends with \"/\" and does not start with \"/\" (e.g. "
      "\"prod/\"), got {}",
      Quote(s)));
}

// API keys are secrets: messages say where the problem is, never what the key is.
Status ApiKey(std::string_view s) {
  if (s.empty()) return Status::InvalidArgument("expected a non-empty key");
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Status::InvalidArgument("expected a key without spaces or control characters");
    }
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------
// The option table: one entry per config key. Parsing, environment variables, flags,
// validation, description and ConfigKeys() all go through it, so a key added here is
// handled everywhere alike.

struct OptionSpec {
  std::string_view section;
  std::string_view key;
  ValueKind kind;
  bool secret;  // never printed; errors do not echo it
  // The current value of the key in `options`.
  std::function<ConfigValue(const Options& options)> get;
  // Checks `value` (which holds the alternative for `kind`) and stores it in `*options`.
  // On failure returns InvalidArgument saying what was expected, and leaves *options as it
  // was.
  std::function<Status(const ConfigValue& value, Options* options)> set;
};

template <typename Section, typename T>
OptionSpec IntegerOption(std::string_view section, std::string_view key, Section Options::*group,
                         T Section::*field, int64_t min, int64_t max) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  // Invariant relied on by `set`: every value in [min, max] is representable in T.
  assert(min <= max);
  assert(min >= 0 || std::is_signed_v<T>);
  assert(static_cast<uint64_t>(max) <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
  return OptionSpec{section,
                    key,
                    ValueKind::kInteger,
                    false,
                    [=](const Options& options) -> ConfigValue {
                      const T v = options.*group.*field;
                      // A value set in code may exceed int64; clamp so that validation reports it
                      // as too large rather than as a negative number.
                      if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
                        if (v > static_cast<T>(std::numeric_limits<int64_t>::max())) {
                          return std::numeric_limits<int64_t>::max();
                        }
                      }
                      return static_cast<int64_t>(v);
                    },
                    [=](const ConfigValue& value, Options* options) -> Status {
                      const int64_t v = std::get<int64_t>(value);
                      VECPUFF_RETURN_IF_ERROR(CheckIntegerRange(v, min, max));
                      options->*group.*field = static_cast<T>(v);
                      return Status::OK();
                    }};
}

template <typename Section>
OptionSpec BoolOption(std::string_view section, std::string_view key, Section Options::*group,
                      bool Section::*field) {
  return OptionSpec{section,
                    key,
                    ValueKind::kBool,
                    false,
                    [=](const Options& options) -> ConfigValue { return options.*group.*field; },
                    [=](const ConfigValue& value, Options* options) -> Status {
                      options->*group.*field = std::get<bool>(value);
                      return Status::OK();
                    }};
}

template <typename Section>
OptionSpec StringOption(std::string_view section, std::string_view key, Section Options::*group,
                        std::string Section::*field, StringCheck check) {
  return OptionSpec{section,
                    key,
                    ValueKind::kString,
                    false,
                    [=](const Options& options) -> ConfigValue { return options.*group.*field; },
                    [=](const ConfigValue& value, Options* options) -> Status {
                      const std::string& v = std::get<std::string>(value);
                      VECPUFF_RETURN_IF_ERROR(check(v));
                      options->*group.*field = v;
                      return Status::OK();
                    }};
}

// A string that is a secret (credentials): described as "<set>" or "", never echoed.
template <typename Section>
OptionSpec SecretStringOption(std::string_view section, std::string_view key,
                              Section Options::*group, std::string Section::*field) {
  OptionSpec spec = StringOption(section, key, group, field, AnyString);
  spec.secret = true;
  return spec;
}

template <typename Section>
OptionSpec SecretListOption(std::string_view section, std::string_view key, Section Options::*group,
                            std::vector<std::string> Section::*field, StringCheck check) {
  return OptionSpec{section,
                    key,
                    ValueKind::kStringList,
                    true,
                    [=](const Options& options) -> ConfigValue { return options.*group.*field; },
                    [=](const ConfigValue& value, Options* options) -> Status {
                      const auto& items = std::get<std::vector<std::string>>(value);
                      for (size_t i = 0; i < items.size(); ++i) {
                        Status s = check(items[i]);
                        if (!s.ok()) return s.WithContext(fmt::format("item {}", i));
                      }
                      options->*group.*field = items;
                      return Status::OK();
                    }};
}

const std::vector<OptionSpec>& Specs() {
  // Order is config.toml order; DescribeOptions and ConfigKeys follow it.
  static const std::vector<OptionSpec> specs = [] {
    using O = Options;
    using Srv = ServerOptions;
    using Lim = LimitsOptions;
    using Bat = BatchingOptions;
    using Idx = IndexingOptions;
    using Cmp = CompactorOptions;
    using Sto = StorageOptions;
    using Cch = CacheOptions;
    using Au = AuthOptions;
    return std::vector<OptionSpec>{
        StringOption("server", "host", &O::server, &Srv::host, NonEmpty),
        IntegerOption("server", "port", &O::server, &Srv::port, 0, 65535),
        IntegerOption("server", "threads", &O::server, &Srv::threads, 1, 1024),
        IntegerOption("server", "read_timeout_ms", &O::server, &Srv::read_timeout_ms, 1, kDayMs),
        IntegerOption("server", "write_timeout_ms", &O::server, &Srv::write_timeout_ms, 1, kDayMs),
        IntegerOption("server", "idle_timeout_ms", &O::server, &Srv::idle_timeout_ms, 1, kHourMs),
        // At most 1 GiB each: a batch (max_batch_bytes plus one request) must stay far below
        // the 4 GiB a WAL entry may hold (wal/wal_format.h, kMaxWalPayloadBytes).
        IntegerOption("server", "max_body_bytes", &O::server, &Srv::max_body_bytes, 1, kGiB),

        StringOption("log", "level", &O::log, &LogOptions::level, LogLevel),

        IntegerOption("limits", "max_dimensions", &O::limits, &Lim::max_dimensions, 1,
                      kMaxDimensionsHardLimit),
        IntegerOption("limits", "max_id_bytes", &O::limits, &Lim::max_id_bytes, 1, 4096),
        IntegerOption("limits", "max_attribute_bytes", &O::limits, &Lim::max_attribute_bytes, 1,
                      kGiB),
        IntegerOption("limits", "max_document_bytes", &O::limits, &Lim::max_document_bytes, 1,
                      kGiB),
        IntegerOption("limits", "max_rows_per_request", &O::limits, &Lim::max_rows_per_request, 1,
                      100'000'000),
        IntegerOption("limits", "max_top_k", &O::limits, &Lim::max_top_k, 1, 1'000'000),

        IntegerOption("batching", "window_ms", &O::batching, &Bat::window_ms, 0, 10'000),
        IntegerOption("batching", "max_batch_bytes", &O::batching, &Bat::max_batch_bytes, 1, kGiB),
        IntegerOption("batching", "max_batch_rows", &O::batching, &Bat::max_batch_rows, 1,
                      100'000'000),

        IntegerOption("indexing", "unindexed_bytes_trigger", &O::indexing,
                      &Idx::unindexed_bytes_trigger, 1, kTiB),
        IntegerOption("indexing", "unindexed_rows_trigger", &O::indexing,
                      &Idx::unindexed_rows_trigger, 1, 1'000'000'000),
        IntegerOption("indexing", "max_age_ms", &O::indexing, &Idx::max_age_ms, 1, kDayMs),
        IntegerOption("indexing", "max_unindexed_bytes", &O::indexing, &Idx::max_unindexed_bytes, 1,
                      kTiB),
        IntegerOption("indexing", "ann_probes", &O::indexing, &Idx::ann_probes, 1, 100'000),

        BoolOption("compactor", "enabled", &O::compactor, &Cmp::enabled),
        IntegerOption("compactor", "interval_ms", &O::compactor, &Cmp::interval_ms, 1, kDayMs),
        IntegerOption("compactor", "max_concurrent", &O::compactor, &Cmp::max_concurrent, 1, 256),
        IntegerOption("compactor", "gc_grace_period_ms", &O::compactor, &Cmp::gc_grace_period_ms, 0,
                      30 * kDayMs),

        StringOption("storage", "backend", &O::storage, &Sto::backend, Backend),
        StringOption("storage", "local_root", &O::storage, &Sto::local_root, NonEmpty),
        StringOption("storage", "bucket", &O::storage, &Sto::bucket, AnyString),
        StringOption("storage", "prefix", &O::storage, &Sto::prefix, KeyPrefix),
        StringOption("storage", "endpoint", &O::storage, &Sto::endpoint, EndpointUrl),
        StringOption("storage", "region", &O::storage, &Sto::region, NonEmpty),
        BoolOption("storage", "force_path_style", &O::storage, &Sto::force_path_style),
        IntegerOption("storage", "retry_max_attempts", &O::storage, &Sto::retry_max_attempts, 1,
                      100),
        IntegerOption("storage", "retry_base_backoff_ms", &O::storage, &Sto::retry_base_backoff_ms,
                      1, 60'000),
        IntegerOption("storage", "retry_max_backoff_ms", &O::storage, &Sto::retry_max_backoff_ms, 1,
                      600'000),
        IntegerOption("storage", "retry_budget_ms", &O::storage, &Sto::retry_budget_ms, 1, kDayMs),
        SecretStringOption("storage", "access_key_id", &O::storage, &Sto::access_key_id),
        SecretStringOption("storage", "secret_access_key", &O::storage, &Sto::secret_access_key),
        SecretStringOption("storage", "session_token", &O::storage, &Sto::session_token),
        IntegerOption("storage", "connect_timeout_ms", &O::storage, &Sto::connect_timeout_ms, 1,
                      600'000),
        IntegerOption("storage", "request_timeout_ms", &O::storage, &Sto::request_timeout_ms, 1,
                      kDayMs),
        IntegerOption("storage", "max_connections", &O::storage, &Sto::max_connections, 1, 4096),
        IntegerOption("storage", "multipart_threshold_bytes", &O::storage,
                      &Sto::multipart_threshold_bytes, 5 * kMiB, 5 * kGiB),
        IntegerOption("storage", "multipart_part_bytes", &O::storage, &Sto::multipart_part_bytes,
                      5 * kMiB, 5 * kGiB),

        StringOption("cache", "path", &O::cache, &Cch::path, NonEmpty),
        IntegerOption("cache", "size_bytes", &O::cache, &Cch::size_bytes, 0, 1024 * kTiB),
        IntegerOption("cache", "memory_bytes", &O::cache, &Cch::memory_bytes, 0, kTiB),

        SecretListOption("auth", "api_keys", &O::auth, &Au::api_keys, ApiKey),
        StringOption("auth", "api_keys_file", &O::auth, &Au::api_keys_file, AnyString),
        BoolOption("auth", "allow_anonymous", &O::auth, &Au::allow_anonymous),
    };
  }();
  return specs;
}

const OptionSpec* FindSpec(std::string_view section, std::string_view key) {
  for (const OptionSpec& spec : Specs()) {
    if (spec.section == section && spec.key == key) return &spec;
  }
  return nullptr;
}

// "section.key" -> spec; REQUIRES the key to exist (used with names from the tables below).
const OptionSpec& SpecByName(std::string_view dotted) {
  const size_t dot = dotted.find('.');
  const OptionSpec* spec = FindSpec(dotted.substr(0, dot), dotted.substr(dot + 1));
  assert(spec != nullptr);
  return *spec;
}

std::vector<std::string_view> Sections() {
  std::vector<std::string_view> sections;
  for (const OptionSpec& spec : Specs()) {
    if (std::find(sections.begin(), sections.end(), spec.section) == sections.end()) {
      sections.push_back(spec.section);
    }
  }
  return sections;
}

std::vector<std::string_view> KeysOf(std::string_view section) {
  std::vector<std::string_view> keys;
  for (const OptionSpec& spec : Specs()) {
    if (spec.section == section) keys.push_back(spec.key);
  }
  return keys;
}

// "[section] key", as errors name a key.
std::string KeyName(const OptionSpec& spec) {
  return fmt::format("[{}] {}", spec.section, spec.key);
}

std::string RenderValue(const OptionSpec& spec, const ConfigValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<int64_t>(&value)) {
    std::string out = fmt::format("{}", *i);
    if (spec.key.ends_with("_bytes") || spec.key.ends_with("_bytes_trigger")) {
      const std::string human = HumanBytes(*i);
      if (!human.empty()) out += "  # " + human;
    }
    return out;
  }
  if (const auto* s = std::get_if<std::string>(&value)) {
    if (spec.secret) return s->empty() ? "\"\"" : "\"<set>\"";
    return Quote(*s);
  }
  const auto& items = std::get<std::vector<std::string>>(value);
  if (spec.secret && !items.empty()) {
    return fmt::format("<{} key{}>", items.size(), items.size() == 1 ? "" : "s");
  }
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += Quote(items[i]);
  }
  return out + "]";
}

// ---------------------------------------------------------------------------------------
// RUST_LOG, accepted for compatibility with the original (Rust) VecPuff.

// Whether `s` can be an env_logger target (a Rust module path such as "hyper::client").
bool IsLogTarget(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == ':' || c == '-' || c == '.';
  });
}

// Reduces an env_logger filter ("info", "vecpuff=debug,hyper=info", "warn/regex") to one
// level for VecPuff: that of a "vecpuff" directive, else the bare (global) level; nullopt if
// neither is given. A bare target without a level means "trace" for it, as in env_logger.
// Directives for other targets only have to be well-formed.
Result<std::optional<std::string>> LevelFromRustLog(std::string_view filter) {
  filter = filter.substr(0, filter.find('/'));  // drop the message regex
  std::optional<std::string> global;
  std::optional<std::string> ours;
  for (std::string_view directive : Split(filter, ',')) {
    directive = Trim(directive);
    if (directive.empty()) continue;
    const size_t eq = directive.find('=');
    if (eq == std::string_view::npos) {
      const std::string level = ToLower(directive);
      if (IsLogLevel(level)) {
        global = level;
      } else if (IsLogTarget(directive)) {
        if (directive == "vecpuff") ours = "trace";
      } else {
        return Status::InvalidArgument(
            fmt::format("expected a level or a module path in directive {}", Quote(directive)));
      }
      continue;
    }
    const std::string_view target = Trim(directive.substr(0, eq));
    const std::string level = ToLower(Trim(directive.substr(eq + 1)));
    if (!IsLogTarget(target)) {
      return Status::InvalidArgument(
          fmt::format("expected a module path before \"=\" in directive {}", Quote(directive)));
    }
    if (!IsLogLevel(level)) {
      return Status::InvalidArgument(
          fmt::format("expected a level ({}) after \"=\" in directive {}",
                      QuotedList(std::begin(kLogLevels), std::end(kLogLevels)), Quote(directive)));
    }
    if (target == "vecpuff") ours = level;
  }
  return ours ? ours : global;
}

// ---------------------------------------------------------------------------------------
// Environment variables and flags. Each maps to one key of the table above.

struct EnvBinding {
  std::string_view name;
  std::string_view key;  // "section.key"; empty for VECPUFF_CONFIG (handled separately)
  std::string_view help;
  // If set, turns the raw value into the text for `key`; nullopt leaves `key` alone.
  Result<std::optional<std::string>> (*transform)(std::string_view) = nullptr;
  // If this variable is set (non-empty), `name` is ignored.
  std::string_view overridden_by = {};
};

// Applied in this order, so a later one wins over an earlier one for the same key.
constexpr EnvBinding kEnvBindings[] = {
    {"VECPUFF_CONFIG", "", "config file to read (instead of ./config.toml)"},
    {"VECPUFF_STORAGE", "storage.backend", "storage backend: local or s3"},
    {"S3_ENDPOINT", "storage.endpoint", "S3 endpoint URL, e.g. http://localhost:9000"},
    {"S3_REGION", "storage.region", "S3 region"},
    {"S3_BUCKET", "storage.bucket",
     "S3 bucket; also selects backend s3 unless VECPUFF_STORAGE is set"},
    {"AWS_ACCESS_KEY_ID", "storage.access_key_id", "S3 access key id"},
    {"AWS_SECRET_ACCESS_KEY", "storage.secret_access_key", "S3 secret access key"},
    {"AWS_SESSION_TOKEN", "storage.session_token", "S3 session token (temporary credentials)"},
    {"LOCAL_CACHE_PATH", "cache.path", "local cache directory"},
    {"VECPUFF_API_KEYS", "auth.api_keys", "comma-separated API keys"},
    {"VECPUFF_API_KEYS_FILE", "auth.api_keys_file", "file of API keys, one per line"},
    {"RUST_LOG", "log.level",
     "log level, env_logger syntax (\"debug\", \"vecpuff=debug,hyper=info\"); "
     "ignored if VECPUFF_LOG is set",
     LevelFromRustLog, "VECPUFF_LOG"},
    {"VECPUFF_LOG", "log.level", "log level: trace, debug, info, warn, error, critical, off"},
};

struct FlagBinding {
  std::string_view name;     // with the leading "--"
  std::string_view metavar;  // empty: the flag takes no value
  std::string_view key;      // "section.key"; empty for --config and --help
  std::string_view help;
};

constexpr FlagBinding kFlagBindings[] = {
    {"--config", "PATH", "", "config file to read (instead of $VECPUFF_CONFIG, ./config.toml)"},
    {"--host", "HOST", "server.host", "address to listen on"},
    {"--port", "PORT", "server.port", "TCP port to listen on (0: any free port)"},
    {"--data-dir", "PATH", "storage.local_root", "root directory of the local store"},
    {"--storage", "BACKEND", "storage.backend", "storage backend: local or s3"},
    {"--log-level", "LEVEL", "log.level",
     "log level: trace, debug, info, warn, error, critical, off"},
    {"--help", "", "", "print this help and exit"},
};

const FlagBinding* FindFlag(std::string_view name) {
  if (name == "-h") name = "--help";
  for (const FlagBinding& flag : kFlagBindings) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::string EnvValue(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

// Sets `spec` from text given by a variable or a flag; `origin` names it in errors.
Status ApplyText(const OptionSpec& spec, std::string_view text, std::string_view origin,
                 Options* options) {
  Result<ConfigValue> value = ValueFromText(text, spec.kind);
  const Status status = value.ok() ? spec.set(*value, options) : value.status();
  if (status.ok()) return status;
  return Status::InvalidArgument(
      fmt::format("{} ({}.{}): {}", origin, spec.section, spec.key, status.message()));
}

Status ApplyEnvironment(const Environment& env, Options* options) {
  for (const EnvBinding& binding : kEnvBindings) {
    if (binding.key.empty()) continue;
    // An empty variable counts as unset, as `VAR=` in a compose file usually means.
    const std::string raw = EnvValue(env, binding.name);
    if (raw.empty()) continue;
    if (!binding.overridden_by.empty() && !EnvValue(env, binding.overridden_by).empty()) {
      continue;
    }
    const std::string origin = fmt::format("environment variable {}", binding.name);
    std::string text = raw;
    if (binding.transform != nullptr) {
      Result<std::optional<std::string>> transformed = binding.transform(raw);
      if (!transformed.ok()) {
        return Status::InvalidArgument(
            fmt::format("{}: {}", origin, transformed.status().message()));
      }
      if (!transformed->has_value()) continue;
      text = **transformed;
    }
    VECPUFF_RETURN_IF_ERROR(ApplyText(SpecByName(binding.key), text, origin, options));
  }
  // As in the original VecPuff, naming a bucket in the environment means "serve from S3",
  // unless VECPUFF_STORAGE chooses the backend explicitly (a --storage flag still wins).
  if (!EnvValue(env, "S3_BUCKET").empty() && EnvValue(env, "VECPUFF_STORAGE").empty()) {
    options->storage.backend = "s3";
  }
  return Status::OK();
}

struct ParsedArgs {
  bool help = false;
  std::optional<std::string> config_file;
  std::vector<std::pair<const FlagBinding*, std::string>> settings;  // in argv order
};

Result<ParsedArgs> ParseArgs(int argc, const char* const* argv) {
  ParsedArgs parsed;
  Status first_error;
  auto fail = [&](std::string message) {
    if (first_error.ok()) first_error = Status::InvalidArgument(std::move(message));
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("-") || arg == "-" || arg == "--") {
      fail(fmt::format("unexpected argument {} (see --help)", Quote(arg)));
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const FlagBinding* flag = FindFlag(name);
    if (flag == nullptr) {
      std::vector<std::string_view> names;
      for (const FlagBinding& f : kFlagBindings) names.push_back(f.name.substr(2));
      fail(fmt::format("unknown flag {}{}", name,
                       name.starts_with("--") ? DidYouMean(name.substr(2), names, "--") : ""));
      continue;
    }
    if (flag->metavar.empty()) {  // --help
      if (eq != std::string_view::npos) {
        fail(fmt::format("flag {} takes no value", flag->name));
      } else {
        parsed.help = true;
      }
      continue;
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc && !std::string_view(argv[i + 1]).starts_with("--")) {
      value = argv[++i];
    } else {
      fail(fmt::format("flag {} requires a value: {} {} (or {}={})", flag->name, flag->name,
                       flag->metavar, flag->name, flag->metavar));
      continue;
    }
    if (flag->key.empty()) {  // --config
      if (value.empty()) {
        fail(fmt::format("flag {}: expected a path, got \"\"", flag->name));
      } else {
        parsed.config_file = std::move(value);
      }
    } else {
      parsed.settings.emplace_back(flag, std::move(value));
    }
  }
  // --help wins over any other problem on the command line: it is how users find out
  // what the problem is.
  if (parsed.help) return parsed;
  if (!first_error.ok()) return first_error;
  return parsed;
}

// Reads the whole file, or NotFound / IOError naming it and `origin` (where its name came
// from).
Result<std::string> ReadConfigFile(const std::string& path, std::string_view origin) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) {
    return Status::NotFound(fmt::format("config file {} (from {}) does not exist", path, origin));
  }
  if (ec) {
    return Status::IOError(fmt::format("config file {} (from {}): {}", path, origin, ec.message()));
  }
  if (!std::filesystem::is_regular_file(status)) {
    return Status::IOError(
        fmt::format("config file {} (from {}) is not a regular file", path, origin));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return Status::IOError(fmt::format("config file {} (from {}): cannot open", path, origin));
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    return Status::IOError(fmt::format("config file {} (from {}): read failed", path, origin));
  }
  return text;
}

struct LocatedError {
  uint32_t line;  // 0 if unknown
  std::string message;
};

std::string Where(std::string_view source, const toml::source_region& region) {
  if (region.begin.line == 0) return std::string(source);
  return fmt::format("{}:{}", source, region.begin.line);
}

void ApplyTomlTable(const toml::table& root, std::string_view source, Options* options,
                    std::vector<LocatedError>* errors) {
  const std::vector<std::string_view> sections = Sections();
  for (const auto& [name, node] : root) {
    const std::string_view section = name.str();
    const bool known = std::find(sections.begin(), sections.end(), section) != sections.end();
    const toml::table* table = node.as_table();
    if (!known) {
      errors->push_back(
          {name.source().begin.line,
           table != nullptr
               ? fmt::format("{}: unknown section [{}]{}", Where(source, name.source()), section,
                             DidYouMean(section, sections))
               : fmt::format("{}: unknown key {} outside any section (keys go in a section "
                             "such as [server])",
                             Where(source, name.source()), section)});
      continue;
    }
    if (table == nullptr) {
      errors->push_back(
          {node.source().begin.line,
           fmt::format("{}: [{}]: expected a table (a section), got {}",
                       Where(source, node.source()), section, DescribeTomlNode(node))});
      continue;
    }
    for (const auto& [key, value_node] : *table) {
      const OptionSpec* spec = FindSpec(section, key.str());
      if (spec == nullptr) {
        errors->push_back(
            {key.source().begin.line,
             fmt::format("{}: unknown key [{}] {}{}", Where(source, key.source()), section,
                         key.str(), DidYouMean(key.str(), KeysOf(section)))});
        continue;
      }
      Result<ConfigValue> value = ValueFromToml(value_node, spec->kind);
      Status status = value.ok() ? spec->set(*value, options) : value.status();
      if (!status.ok()) {
        errors->push_back({value_node.source().begin.line,
                           fmt::format("{}: {}: {}", Where(source, value_node.source()),
                                       KeyName(*spec), status.message())});
      }
    }
  }
}

}  // namespace

Environment CaptureProcessEnvironment() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view kv = *entry;
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

Status ApplyConfigToml(std::string_view toml_text, std::string_view source_name, Options* options) {
  assert(options != nullptr);
  Options updated = *options;
  std::vector<LocatedError> errors;
  try {
    const toml::table root = toml::parse(toml_text, source_name);
    ApplyTomlTable(root, source_name, &updated, &errors);
  } catch (const toml::parse_error& e) {
    const toml::source_position& pos = e.source().begin;
    return Status::InvalidArgument(fmt::format("{}:{}:{}: invalid TOML: {}", source_name, pos.line,
                                               pos.column, e.description()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(fmt::format("{}: cannot parse: {}", source_name, e.what()));
  }
  if (errors.empty()) {
    *options = std::move(updated);
    return Status::OK();
  }
  // toml::table iterates in key order; report in file order.
  std::stable_sort(errors.begin(), errors.end(),
                   [](const LocatedError& a, const LocatedError& b) { return a.line < b.line; });
  std::string message;
  for (const LocatedError& error : errors) {
    if (!message.empty()) message += '\n';
    message += error.message;
  }
  return Status::InvalidArgument(std::move(message));
}

bool IsLoopbackHost(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8 in dotted-quad form.
  if (!host.starts_with("127.")) return false;
  int parts = 2;  // "127" and the one being read
  int digits = 0;
  int value = 0;
  for (char c : std::string_view(host).substr(4)) {
    if (c == '.') {
      if (digits == 0) return false;
      ++parts;
      digits = value = 0;
    } else if (c >= '0' && c <= '9') {
      value = value * 10 + (c - '0');
      if (++digits > 3 || value > 255) return false;
    } else {
      return false;
    }
  }
  return parts == 4 && digits > 0;
}

Status ValidateOptions(const Options& options) {
  // Every key on its own: run the value through the same check as the config file does.
  Options scratch = options;
  for (const OptionSpec& spec : Specs()) {
    Status status = spec.set(spec.get(options), &scratch);
    if (!status.ok()) {
      return Status::InvalidArgument(fmt::format("{}: {}", KeyName(spec), status.message()));
    }
  }
  // Combinations.
  const StorageOptions& storage = options.storage;
  if (storage.backend == "s3" && storage.bucket.empty()) {
    return Status::InvalidArgument(
        "[storage] bucket: required when [storage] backend is \"s3\" (set it in the config "
        "file or with S3_BUCKET)");
  }
  if (storage.retry_base_backoff_ms > storage.retry_max_backoff_ms) {
    return Status::InvalidArgument(fmt::format(
        "[storage] retry_base_backoff_ms: must not exceed retry_max_backoff_ms ({}), got {}",
        storage.retry_max_backoff_ms, storage.retry_base_backoff_ms));
  }
  const IndexingOptions& indexing = options.indexing;
  if (indexing.unindexed_bytes_trigger >= indexing.max_unindexed_bytes) {
    return Status::InvalidArgument(fmt::format(
        "[indexing] unindexed_bytes_trigger: must be less than max_unindexed_bytes ({}), "
        "got {} (writes would be refused before indexing starts)",
        indexing.max_unindexed_bytes, indexing.unindexed_bytes_trigger));
  }
  const AuthOptions& auth = options.auth;
  if (auth.api_keys.empty() && auth.api_keys_file.empty() && !auth.allow_anonymous &&
      !IsLoopbackHost(options.server.host)) {
    return Status::InvalidArgument(fmt::format(
        "[server] host: {} is not a loopback address and no API keys are configured; set "
        "[auth] api_keys (or api_keys_file, VECPUFF_API_KEYS), or set [auth] "
        "allow_anonymous = true to serve anyone who can connect",
        Quote(options.server.host)));
  }
  return Status::OK();
}

Result<std::vector<std::string>> ReadApiKeyFile(const std::string& path) {
  VECPUFF_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(path, "[auth] api_keys_file"));
  std::vector<std::string> keys;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    // Secrets: the message says where, never what.
    Status valid = ApiKey(line);
    if (!valid.ok())
      return valid.WithContext(fmt::format("API key file {} line {}", path, line_no));
    keys.emplace_back(line);
  }
  if (keys.empty()) {
    return Status::InvalidArgument(fmt::format("API key file {} holds no key", path));
  }
  return keys;
}

Result<LoadedOptions> LoadOptions(int argc, const char* const* argv, const Environment& env) {
  VECPUFF_ASSIGN_OR_RETURN(ParsedArgs args, ParseArgs(argc, argv));
  LoadedOptions loaded;
  if (args.help) {
    loaded.help_requested = true;
    return loaded;
  }

  // 1. Config file.
  std::string origin;
  if (args.config_file) {
    loaded.config_file = *args.config_file;
    origin = "--config";
  } else if (std::string from_env = EnvValue(env, "VECPUFF_CONFIG"); !from_env.empty()) {
    loaded.config_file = std::move(from_env);
    origin = "VECPUFF_CONFIG";
  } else {
    std::error_code ec;
    if (std::filesystem::exists("config.toml", ec)) {
      loaded.config_file = "config.toml";
      origin = "the working directory";
    }
  }
  if (!loaded.config_file.empty()) {
    VECPUFF_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(loaded.config_file, origin));
    VECPUFF_RETURN_IF_ERROR(ApplyConfigToml(text, loaded.config_file, &loaded.options));
  }

  // 2. Environment.
  VECPUFF_RETURN_IF_ERROR(ApplyEnvironment(env, &loaded.options));

  // 3. Flags, in argv order (a repeated flag: the last one wins).
  for (const auto& [flag, value] : args.settings) {
    VECPUFF_RETURN_IF_ERROR(ApplyText(SpecByName(flag->key), value,
                                      fmt::format("flag {}", flag->name), &loaded.options));
  }

  // 4. Keys from the key file join the others.
  if (!loaded.options.auth.api_keys_file.empty()) {
    auto keys = ReadApiKeyFile(loaded.options.auth.api_keys_file);
    if (!keys.ok()) return keys.status().WithContext("[auth] api_keys_file");
    auto& all = loaded.options.auth.api_keys;
    all.insert(all.end(), keys->begin(), keys->end());
  }

  // 5. Combinations (each value was checked as it was set).
  Status valid = ValidateOptions(loaded.options);
  if (!valid.ok()) return valid.WithContext("invalid configuration");
  return loaded;
}

std::string DescribeOptions(const Options& options) {
  std::string out;
  for (const OptionSpec& spec : Specs()) {
    out +=
        fmt::format("{}.{} = {}\n", spec.section, spec.key, RenderValue(spec, spec.get(options)));
  }
  return out;
}

std::string UsageText(std::string_view program_name) {
  std::string out = fmt::format(
      "Usage: {} [flags]\n\n"
      "Configuration comes from, each overriding the one before:\n"
      "  defaults < config file < environment variables < flags\n"
      "The config file is --config PATH, else $VECPUFF_CONFIG, else ./config.toml if it "
      "exists.\n"
      "Every config file key is listed in config.toml and docs/configuration.md.\n\n"
      "Flags (also as --flag=value):\n",
      program_name);
  for (const FlagBinding& flag : kFlagBindings) {
    std::string usage = std::string(flag.name);
    if (!flag.metavar.empty()) usage += fmt::format(" {}", flag.metavar);
    if (flag.name == "--help") usage = "-h, --help";
    std::string help(flag.help);
    if (!flag.key.empty()) help += fmt::format(" [{}]", flag.key);
    out += fmt::format("  {:<20}  {}\n", usage, help);
  }
  out += "\nEnvironment variables (empty counts as unset):\n";
  for (const EnvBinding& binding : kEnvBindings) {
    std::string help(binding.help);
    if (!binding.key.empty()) help += fmt::format(" [{}]", binding.key);
    out += fmt::format("  {:<20}  {}\n", binding.name, help);
  }
  return out;
}

std::vector<std::string> ConfigKeys() {
  std::vector<std::string> keys;
  for (const OptionSpec& spec : Specs()) {
    keys.push_back(fmt::format("{}.{}", spec.section, spec.key));
  }
  return keys;
}

}  // namespace vecpuff
