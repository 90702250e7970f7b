#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

namespace vecpuff {

ApiKeyAuth::ApiKeyAuth(const std::vector<std::string>& keys, bool allow_anonymous)
    : allow_anonymous_(allow_anonymous) {
  digests_.reserve(keys.size());
  for (const std::string& key : keys) digests_.push_back(Hash(key));
}

ApiKeyAuth::Digest ApiKeyAuth::Hash(std::string_view key) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

Status ApiKeyAuth::Check(std::string_view authorization) const {
  if (digests_.empty()) return Status::OK();
  if (authorization.empty()) {
    if (allow_anonymous_) return Status::OK();
    return Status::Unauthenticated(
        "missing API key: send the header \"Authorization: Bearer <key>\"");
  }
  // The scheme is case-insensitive (RFC 9110); one or more spaces follow it.
  constexpr std::string_view kScheme = "bearer ";
  bool bearer = authorization.size() > kScheme.size();
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) {
    bearer = (authorization[i] | 0x20) == kScheme[i];
  }
  if (!bearer) {
    return Status::Unauthenticated(
        "unsupported Authorization header: expected \"Authorization: Bearer <key>\"");
  }
  std::string_view key = authorization.substr(kScheme.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  const Digest presented = Hash(key);
  int matched = 0;
  for (const Digest& d : digests_) {
    matched |= CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  }
  if (matched) return Status::OK();
  return Status::Unauthenticated("invalid API key");
}

}  // namespace vecpuff
