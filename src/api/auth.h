// ApiKeyAuth: checks the API key of an HTTP request ("Authorization: Bearer <key>").
//
// Keys are compared in constant time: each configured key is kept only as its SHA-256
// digest, the presented key is hashed the same way, and the digests are compared with
// CRYPTO_memcmp against every configured key, without stopping at the first match. So the
// time taken depends neither on how much of a key matched nor on which key matched, and
// equal-length digests hide the keys' lengths.
//
// Thread safety: immutable after construction; Check() may be called from any thread.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

class ApiKeyAuth {
 public:
  // `keys` are the accepted keys; with none, every request is anonymous. `allow_anonymous`
  // accepts requests without an Authorization header even when keys are configured.
  ApiKeyAuth(const std::vector<std::string>& keys, bool allow_anonymous);

  // OK if a request whose Authorization header is `authorization` ("" if absent) may
  // proceed; otherwise Unauthenticated with a message that never echoes the key.
  Status Check(std::string_view authorization) const;

  bool enabled() const { return !digests_.empty(); }

 private:
  using Digest = std::array<unsigned char, 32>;
  static Digest Hash(std::string_view key);

  std::vector<Digest> digests_;
  bool allow_anonymous_;
};

}  // namespace vecpuff
