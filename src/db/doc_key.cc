#include "db/doc_key.h"

namespace vecpuff {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The 16 bytes of a canonical UUID string, or false.
bool ParseUuid(std::string_view s, std::string* bytes) {
  if (s.size() != 36) return false;
  bytes->clear();
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
      ++i;
      continue;
    }
    const int hi = HexValue(s[i]), lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string U64Key(uint64_t value) {
  std::string key(9, kU64KeyTag);
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>(value >> (56 - 8 * i));
  return key;
}

Result<std::string> DocKeyFromJson(const nlohmann::json& id, std::string_view path,
                                   size_t max_bytes) {
  if (id.is_number_unsigned()) return U64Key(id.get<uint64_t>());
  if (id.is_number_integer() && id.get<int64_t>() >= 0) {
    return U64Key(static_cast<uint64_t>(id.get<int64_t>()));
  }
  if (id.is_number_integer()) {
    return Status::InvalidArgument(std::string(path) +
                                   ": an integer id must be between 0 and 2^64-1");
  }
  if (!id.is_string()) {
    return Status::InvalidArgument(
        std::string(path) + ": id must be an unsigned integer, a UUID or a string, not " +
        std::string(id.is_number() ? "a fractional number" : id.type_name()));
  }
  const std::string& s = id.get_ref<const std::string&>();
  std::string uuid;
  if (ParseUuid(s, &uuid)) return std::string(1, kUuidKeyTag) + uuid;
  if (s.empty()) return Status::InvalidArgument(std::string(path) + ": id must not be empty");
  if (s.size() > max_bytes) {
    return Status::InvalidArgument(std::string(path) + ": id is " + std::to_string(s.size()) +
                                   " bytes; the limit is " + std::to_string(max_bytes));
  }
  return s;
}

nlohmann::json DocKeyToJson(std::string_view key) {
  if (key.size() == 9 && key[0] == kU64KeyTag) {
    uint64_t v = 0;
    for (int i = 1; i < 9; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
    return v;
  }
  if (key.size() == 17 && key[0] == kUuidKeyTag) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(36);
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) s.push_back('-');
      const auto b = static_cast<uint8_t>(key[1 + i]);
      s.push_back(kHex[b >> 4]);
      s.push_back(kHex[b & 15]);
    }
    return s;
  }
  return std::string(key);
}

}  // namespace vecpuff
