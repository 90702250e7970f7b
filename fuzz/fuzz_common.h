// Helpers shared by the libFuzzer targets in fuzz/ (see fuzz/README.md).
//
// The stored formats carry XXH64 checksums, which random mutations almost never keep
// valid, so most targets take a mode byte first and, in some modes, repair the checksum (or
// build the whole frame) around the fuzzer's bytes: the decoders' checks past the checksum
// are what is worth fuzzing. A property that fails calls FuzzCheck, which aborts with a
// message: libFuzzer reports it as a crash and saves the input.
//
// Thread safety: single-threaded, as libFuzzer runs a target.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/coding.h"
#include "common/hash.h"
#include "common/status.h"

namespace vecpuff::fuzz {

// Aborts (a finding) when a property does not hold.
inline void FuzzCheck(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

// A decoder may only fail with Corruption on stored bytes.
inline void CheckCorruption(const Status& s, const char* what) {
  if (s.ok() || s.code() == StatusCode::kCorruption) return;
  std::fprintf(stderr, "fuzz property violated: %s returned %s, not Corruption\n", what,
               s.ToString().c_str());
  std::abort();
}

// Writes the XXH64 of `object` (with its 8-byte checksum field at `at` zeroed) into that
// field, as every framed object of the store does. No-op if the object is too short.
inline void FixChecksum(std::string* object, size_t at) {
  if (object->size() < at + 8) return;
  EncodeFixed64(object->data() + at, 0);
  EncodeFixed64(object->data() + at, Checksum64(*object));
}

}  // namespace vecpuff::fuzz
