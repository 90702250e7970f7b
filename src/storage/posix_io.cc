#include "storage/posix_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <utility>

namespace vecpuff::storage_internal {

Status PosixError(std::string_view context, std::string_view path, int err) {
  char buf[256];
  // The GNU strerror_r (g++ defines _GNU_SOURCE) returns the message, thread-safely.
  std::string message =
      std::string(context) + " " + std::string(path) + ": " + ::strerror_r(err, buf, sizeof(buf));
  switch (err) {
    case ENOENT:
      return Status::NotFound(std::move(message));
    case EEXIST:
      return Status::PreconditionFailed(std::move(message));
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return Status::ResourceExhausted(std::move(message));
    case ENAMETOOLONG:
      return Status::InvalidArgument(std::move(message));
    case EAGAIN:
    case ETIMEDOUT:
      return Status::Unavailable(std::move(message));
    default:
      return Status::IOError(std::move(message));
  }
}

Status WriteFully(int fd, std::string_view data, std::string_view path) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = RetryOnEintr([&] { return ::write(fd, p, left); });
    if (n < 0) return PosixError("write", path, errno);
    p += n;
    left -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status PReadFully(int fd, uint64_t offset, uint64_t length, std::string* dst,
                  std::string_view path) {
  dst->resize(length);
  uint64_t done = 0;
  while (done < length) {
    const ssize_t n = RetryOnEintr([&] {
      return ::pread(fd, dst->data() + done, length - done, static_cast<off_t>(offset + done));
    });
    if (n < 0) return PosixError("read", path, errno);
    if (n == 0) {
      return Status::Corruption("object file " + std::string(path) + " ended after " +
                                std::to_string(offset + done) + " bytes, expected " +
                                std::to_string(offset + length));
    }
    done += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status FsyncDirAt(int dir_fd, const std::string& rel_dir, std::string_view path) {
  const char* name = rel_dir.empty() ? "." : rel_dir.c_str();
  const int fd =
      RetryOnEintr([&] { return ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return PosixError("open directory", path, errno);
  Status s;
  if (RetryOnEintr([&] { return ::fsync(fd); }) != 0)
    s = PosixError("fsync directory", path, errno);
  ::close(fd);
  return s;
}

void CloseQuietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace vecpuff::storage_internal
