// Where a namespace's objects live in the store. Changing any of these breaks every
// existing store: never change them.
//
//   {prefix}namespaces/{ns}/manifest
//   {prefix}namespaces/{ns}/wal/{seq, 20 decimal digits}
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace vecpuff {

inline std::string NamespacesPrefix(std::string_view prefix) {
  return std::string(prefix) + "namespaces/";
}
inline std::string NamespaceRoot(std::string_view prefix, std::string_view ns) {
  return NamespacesPrefix(prefix) + std::string(ns) + "/";
}
inline std::string ManifestKey(std::string_view prefix, std::string_view ns) {
  return NamespaceRoot(prefix, ns) + "manifest";
}
inline std::string WalPrefix(std::string_view prefix, std::string_view ns) {
  return NamespaceRoot(prefix, ns) + "wal/";
}
// Zero-padded so that key order is sequence order.
inline std::string WalKey(std::string_view prefix, std::string_view ns, uint64_t seq) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(seq));
  return WalPrefix(prefix, ns) + buf;
}

// Index objects (docs/segment_format.md): immutable, created once, never modified. `gen` is
// the generation the writing compactor meant to commit and `writer` its process id, so two
// compactors racing for one generation never write the same key.
inline std::string IndexPrefix(std::string_view prefix, std::string_view ns) {
  return NamespaceRoot(prefix, ns) + "index/";
}
inline std::string IndexObjectKey(std::string_view prefix, std::string_view ns, uint64_t gen,
                                  uint64_t writer, std::string_view name) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%020llu-%016llx/", static_cast<unsigned long long>(gen),
                static_cast<unsigned long long>(writer));
  return IndexPrefix(prefix, ns) + buf + std::string(name);
}

// True for keys of index objects, which are immutable: safe to cache by key forever.
inline bool IsImmutableObjectKey(std::string_view key) {
  return key.find("/index/") != std::string_view::npos;
}

// True for keys of index metas (IndexObjectKey(..., "meta")), the index objects read whole;
// posting packs are only ever read by range.
inline bool IsIndexMetaKey(std::string_view key) {
  return IsImmutableObjectKey(key) && key.ends_with("/meta");
}

}  // namespace vecpuff
