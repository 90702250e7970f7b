// LocalStore: an ObjectStore over a directory of a local POSIX filesystem, with the S3
// semantics of object_store.h, for development, tests and single-machine deployments.
//
// On-disk layout (docs/local_store.md has the details and the reasoning):
//   <root>/<dir segments>/.vp-obj.<last segment>   one file per object, e.g. key "a/b/c"
//                                                  is <root>/a/b/.vp-obj.c
//   <root>/<dir>/.vp-tmp.<pid>.<tid>.<n>.<rand>    a Put in progress (never listed)
//   <root>/.vp-locks/stripe-NN                     cross-process lock stripes for
//                                                  overwrite, If-Match and delete
// Object files carry a reserved prefix so that a key ("a/b") and a prefix of other keys
// ("a/b/c") can coexist, as they can in S3. Keys follow storage/store_rules.h: segments
// that start with ".vp-" or are longer than 247 bytes are InvalidArgument.
//
// Guarantees: a Put is written to a temp file, fsynced, then published atomically (link(2)
// for create-only, rename(2) otherwise) and its directory fsynced before Put returns. The
// etag is "<inode>-<mtime ns>-<size>" in hex, read with fstat from the very file that a
// Get reads. Requires link(2) and open-file-description locks (Linux >= 3.15; ext4, xfs,
// btrfs, tmpfs); not for NFS or other network filesystems.
//
// Thread safety: safe for concurrent use by many threads, and by many processes (each
// with its own LocalStore) sharing the directory.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "storage/object_store.h"

namespace vecpuff {

// Opens the store rooted at `root_dir`, creating the directory (and its parents) if
// missing. Fails with InvalidArgument for an empty path, or with the mapped error if the
// directory cannot be created or opened, or if the filesystem lacks the locks the store
// needs. The caller owns the returned store; it keeps a descriptor of the directory open
// until destroyed.
Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root_dir);

}  // namespace vecpuff
