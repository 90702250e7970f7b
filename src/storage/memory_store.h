// MemoryStore: an ObjectStore held in process memory, for unit tests and benchmarks that
// want S3 semantics without disk or network.
//
// It implements the object_store.h contract exactly (conditional puts, etags, ranges, List
// with delimiter and pagination) and applies the same key rules as the local store
// (storage/store_rules.h), so code tested against it runs unchanged against a directory.
// Nothing is durable beyond the life of the object. Etags are "m" + a per-store counter
// in hex, so every version ever written has a distinct etag.
//
// Thread safety: safe for concurrent use by many threads; every operation is atomic
// (linearizable) with respect to the others.
#pragma once

#include <memory>

#include "storage/object_store.h"

namespace vecpuff {

// Returns an empty in-memory store. Never fails.
std::unique_ptr<ObjectStore> NewMemoryStore();

}  // namespace vecpuff
