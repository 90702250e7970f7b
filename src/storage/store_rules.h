// Key, range and listing rules shared by the stores that VecPuff implements itself (local
// directory, memory), so that code tested against the memory store runs unchanged against
// the local store.
//
// Keys: the object_store.h contract (non-empty, at most 1024 bytes, '/'-separated) plus the
// restrictions that a directory tree imposes, applied identically by both stores:
//  - no NUL byte, no leading '/', no empty, "." or ".." segment (so no trailing '/');
//  - no segment that starts with kReservedPrefix (".vp-"), the namespace of the local
//    store's own files (objects, temp files, locks);
//  - no segment longer than kMaxSegmentBytes (a file name is at most 255 bytes and the
//    local store prefixes object files with ".vp-obj.").
//
// Listing: a page resumes after a ListBound, made from start_after or from the opaque
// continuation token (which is the last key or common prefix of the previous page; a
// common prefix ends with '/', a valid key never does, so the token says which it is).
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/object_store.h"

namespace vecpuff::storage_internal {

// Part of the local store's on-disk format: never change.
inline constexpr std::string_view kReservedPrefix = ".vp-";
inline constexpr size_t kMaxKeyBytes = 1024;
inline constexpr size_t kMaxSegmentBytes = 247;  // 255 - strlen(".vp-obj.")
// S3 returns at most 1000 entries per page whatever max_keys asks for; so do we.
inline constexpr int kMaxKeysPerPage = 1000;

// OK if `key` is a valid key; InvalidArgument (naming the rule it breaks) otherwise.
Status ValidateKey(std::string_view key);

// Resolves `range` against an object of `size` bytes into the bytes
// [*begin, *begin + *length) to return (see ByteRange in object_store.h). InvalidArgument
// if the range starts at or past the end of a non-empty object, or asks for 0 bytes (S3
// cannot express an empty range). A range on an empty object yields the empty object.
Status ResolveRange(const std::optional<ByteRange>& range, uint64_t size, uint64_t* begin,
                    uint64_t* length);

// The exclusive lower bound of a listing: keys equal to `key` are excluded and, when
// `is_prefix`, so is every key that starts with `key` (a common prefix already returned).
struct ListBound {
  std::string key;  // empty: no bound
  bool is_prefix = false;

  // True if `k` comes after the bound (and so may be listed).
  bool Admits(std::string_view k) const;

  // What the bound does to the keys that start with `subtree` (a prefix ending with '/').
  enum class Subtree { kAllAdmitted, kSomeAdmitted, kNoneAdmitted };
  Subtree Classify(std::string_view subtree) const;
};

// Checks the options that no store accepts and computes where the page starts:
// InvalidArgument if max_keys <= 0, NotSupported for a delimiter other than "" or "/".
// On success sets *bound and *max_keys (clamped to kMaxKeysPerPage).
Status PrepareList(const ListOptions& options, ListBound* bound, int* max_keys);

// Assembles one page from entries offered in ascending order (objects and common prefixes
// interleaved as their strings sort). It keeps max_keys entries and, if one more is offered,
// marks the page truncated so that next_continuation_token is set exactly when more exist.
class PageBuilder {
 public:
  explicit PageBuilder(int max_keys) : max_keys_(max_keys) {}

  // Each adds the entry and returns true, or returns false if the page is already complete
  // (it is then marked truncated); the caller stops offering entries at the first false.
  bool AddObject(ObjectMeta meta);
  bool AddCommonPrefix(std::string prefix);

  ListPage Finish();

 private:
  bool Full();

  int max_keys_;
  int count_ = 0;
  bool truncated_ = false;
  std::string last_entry_;
  ListPage page_;
};

// The smallest string greater than every string that starts with `prefix`, or "" if there
// is none (prefix is all 0xff bytes). REQUIRES: !prefix.empty().
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace vecpuff::storage_internal
