// Thin POSIX helpers for the local-directory store: the one place where errno becomes a
// Status, and loops that finish partial reads and writes and restart calls interrupted by a
// signal (EINTR). Internal to storage/.
//
// Thread safety: free functions; they share no state.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vecpuff::storage_internal {

// Maps `err` (an errno value) from an operation on `path` to a Status. The only place the
// storage module turns errno into a Status, as leveldb's PosixError() is:
//   ENOENT                      NotFound
//   EEXIST                      PreconditionFailed (a create that found the name taken)
//   ENOSPC, EDQUOT              ResourceExhausted  (disk or quota full; retrying soon will
//                               not help, freeing space will)
//   EMFILE, ENFILE              ResourceExhausted  (out of file descriptors)
//   ENAMETOOLONG                InvalidArgument
//   EAGAIN, ETIMEDOUT           Unavailable        (transient)
//   anything else, incl. ENOTDIR, EACCES, EIO, EROFS
//                               IOError
// The message is "<context> <path>: <strerror>". EINTR never reaches here: the helpers
// below restart interrupted calls.
Status PosixError(std::string_view context, std::string_view path, int err);

// Calls `f` until it does not fail with EINTR; returns its last result.
template <typename F>
auto RetryOnEintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

// Writes all of `data` to `fd` at its current offset. `path` is for messages.
Status WriteFully(int fd, std::string_view data, std::string_view path);

// Reads exactly `length` bytes at `offset` into `dst` (resized to `length`). Corruption if
// the file ends first (the store's files are immutable, so a short file is damage).
Status PReadFully(int fd, uint64_t offset, uint64_t length, std::string* dst,
                  std::string_view path);

// fsyncs the directory `rel_dir` ("" for the directory itself) relative to `dir_fd`, so
// that entries created, renamed or removed in it survive a crash. `path` is for messages.
Status FsyncDirAt(int dir_fd, const std::string& rel_dir, std::string_view path);

// Closes `fd` if it is >= 0, ignoring errors (read-only or already-synced descriptors).
void CloseQuietly(int fd);

}  // namespace vecpuff::storage_internal
