#include "storage/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/hash.h"
#include "storage/posix_io.h"
#include "storage/store_rules.h"

namespace vecpuff {

namespace {

using storage_internal::CloseQuietly;
using storage_internal::ListBound;
using storage_internal::PageBuilder;
using storage_internal::PosixError;
using storage_internal::RetryOnEintr;

// Names inside the root. Part of the on-disk format: never change them (processes of
// different versions sharing a directory must agree on every one).
constexpr std::string_view kObjectFilePrefix = ".vp-obj.";
constexpr std::string_view kTempFilePrefix = ".vp-tmp.";
constexpr const char* kLockDir = ".vp-locks";
// Keys are mapped to lock stripes by Checksum64(key) % kLockStripes; never change either.
constexpr uint64_t kLockStripes = 64;

// A concurrent Delete may remove a directory between our mkdir and our create in it; we
// then start over. Each round needs the race to be lost again, so a small bound suffices.
constexpr int kMaxCreateAttempts = 100;

static_assert(storage_internal::kReservedPrefix == ".vp-");

// Where an object lives, relative to the root: key "a/b/c" -> dir "a/b",
// file "a/b/.vp-obj.c"; key "c" -> dir "", file ".vp-obj.c".
struct ObjectPath {
  std::string dir;
  std::string file;
};

ObjectPath PathOf(std::string_view key) {
  ObjectPath p;
  const size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) {
    p.file = std::string(kObjectFilePrefix) + std::string(key);
  } else {
    p.dir = std::string(key.substr(0, slash));
    p.file = p.dir + "/" + std::string(kObjectFilePrefix) + std::string(key.substr(slash + 1));
  }
  return p;
}

std::string JoinRel(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

const char* RelOrDot(const std::string& rel) { return rel.empty() ? "." : rel.c_str(); }

// Etag of a file version: inode, mtime in ns and size, in hex. A replacement is a new file
// created while the old one still exists, so its inode differs from the current version's;
// the mtime, set to a process-unique ns timestamp at write (UniqueTimestamp), keeps an
// inode recycled later from repeating an old etag.
std::string EtagOf(const struct stat& st) {
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                           static_cast<int64_t>(st.st_mtim.tv_nsec);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%" PRIx64 "-%" PRIx64 "-%" PRIx64,
                static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(mtime_ns),
                static_cast<uint64_t>(st.st_size));
  return buf;
}

ObjectMeta MetaOf(std::string_view key, const struct stat& st) {
  ObjectMeta meta;
  meta.key = std::string(key);
  meta.size_bytes = static_cast<uint64_t>(st.st_size);
  meta.etag = EtagOf(st);
  meta.last_modified_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 +
                          static_cast<int64_t>(st.st_mtim.tv_nsec) / 1'000'000;
  return meta;
}

// The current time, strictly increasing across calls in this process, so two versions
// written by this process never share an mtime.
struct timespec UniqueTimestamp() {
  static std::atomic<int64_t> last_ns{0};
  struct timespec now;
  ::clock_gettime(CLOCK_REALTIME, &now);
  int64_t ns = static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  int64_t prev = last_ns.load(std::memory_order_relaxed);
  while (true) {
    const int64_t next = ns > prev ? ns : prev + 1;
    if (last_ns.compare_exchange_weak(prev, next, std::memory_order_relaxed)) {
      ns = next;
      break;
    }
  }
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

// A temp-file name unique across processes, threads and calls: pid, tid, a process-wide
// counter and 64 random bits (the random part guards against pid reuse in a container
// restarted over the same directory).
std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  uint64_t random = 0;
  if (::getrandom(&random, sizeof(random), GRND_NONBLOCK) != sizeof(random)) {
    random = static_cast<uint64_t>(UniqueTimestamp().tv_nsec);
  }
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%d.%d.%" PRIu64 ".%016" PRIx64, static_cast<int>(::getpid()),
                static_cast<int>(::gettid()), counter.fetch_add(1, std::memory_order_relaxed),
                random);
  return std::string(kTempFilePrefix) + buf;
}

// A fully written and fsynced temp file, removed on destruction unless Release()d (after
// it has been renamed into place).
class TempFile {
 public:
  TempFile(int dir_fd, std::string rel_path, const struct stat& st)
      : dir_fd_(dir_fd), rel_path_(std::move(rel_path)), st_(st) {}
  TempFile(TempFile&& other) noexcept
      : dir_fd_(other.dir_fd_), rel_path_(std::move(other.rel_path_)), st_(other.st_) {
    other.rel_path_.clear();
  }
  TempFile& operator=(TempFile&&) = delete;
  ~TempFile() {
    if (!rel_path_.empty()) ::unlinkat(dir_fd_, rel_path_.c_str(), 0);
  }

  const std::string& rel_path() const { return rel_path_; }
  const struct stat& stat() const { return st_; }
  void Release() { rel_path_.clear(); }

 private:
  int dir_fd_;
  std::string rel_path_;
  struct stat st_;
};

// An exclusive open-file-description lock on one stripe file, released on destruction.
// OFD locks belong to the open file, not the process, so two threads of one process that
// each open the stripe exclude each other just as two processes do.
class StripeLock {
 public:
  explicit StripeLock(int fd) : fd_(fd) {}
  StripeLock(StripeLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StripeLock& operator=(StripeLock&&) = delete;
  ~StripeLock() { CloseQuietly(fd_); }  // closing the description releases the lock

 private:
  int fd_;
};

class LocalStore final : public ObjectStore {
 public:
  LocalStore(std::string root, int root_fd) : root_(std::move(root)), root_fd_(root_fd) {}
  ~LocalStore() override { CloseQuietly(root_fd_); }

  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    const ObjectPath path = PathOf(key);
    const int fd =
        RetryOnEintr([&] { return ::openat(root_fd_, path.file.c_str(), O_RDONLY | O_CLOEXEC); });
    if (fd < 0) return PosixError("open", Abs(path.file), errno);
    // Size, etag and bytes all come from this descriptor, i.e. from one version: a rename
    // that replaces the object meanwhile does not change the file we hold open.
    struct stat st;
    Status s;
    GetResult result;
    if (::fstat(fd, &st) != 0) {
      s = PosixError("fstat", Abs(path.file), errno);
    } else {
      result.meta = MetaOf(key, st);
      uint64_t begin = 0;
      uint64_t length = 0;
      s = storage_internal::ResolveRange(range, result.meta.size_bytes, &begin, &length);
      if (s.ok()) s = storage_internal::PReadFully(fd, begin, length, &result.data, Abs(path.file));
    }
    ::close(fd);
    if (!s.ok()) return s;
    return result;
  }

  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    const ObjectPath path = PathOf(key);
    switch (options.mode) {
      case PutMode::kOverwrite:
        return PutOverwrite(key, path, data);
      case PutMode::kCreateOnly:
        return PutCreateOnly(key, path, data);
      case PutMode::kIfMatch:
        if (options.if_match_etag.empty()) {
          return Status::InvalidArgument("kIfMatch put without an etag");
        }
        return PutIfMatch(key, path, data, options.if_match_etag);
    }
    return Status::InvalidArgument("unknown put mode");
  }

  Result<ObjectMeta> Head(std::string_view key) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    const ObjectPath path = PathOf(key);
    struct stat st;
    VECPUFF_RETURN_IF_ERROR(StatObject(path.file, &st));
    return MetaOf(key, st);
  }

  Result<ListPage> List(const ListOptions& options) override {
    ListBound bound;
    int max_keys = 0;
    VECPUFF_RETURN_IF_ERROR(storage_internal::PrepareList(options, &bound, &max_keys));
    PageBuilder page(max_keys);

    // Only the directory the prefix names is walked: prefix "a/b/x" -> directory "a/b",
    // entries whose names start with "x".
    const std::string& prefix = options.prefix;
    const size_t slash = prefix.rfind('/');
    const std::string key_prefix = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
    const std::string name_filter = prefix.substr(key_prefix.size());
    std::string dir;
    if (!key_prefix.empty()) {
      dir = key_prefix.substr(0, key_prefix.size() - 1);
      // A prefix whose directory part no valid key can have matches nothing.
      if (!storage_internal::ValidateKey(dir).ok()) return page.Finish();
    }
    if (name_filter.find('\0') != std::string::npos) return page.Finish();

    const bool roll_up = !options.delimiter.empty();
    VECPUFF_RETURN_IF_ERROR(Walk(
        dir, key_prefix, name_filter, bound, /*descend=*/!roll_up, [&](Entry e) -> Result<bool> {
          if (!e.is_dir) return page.AddObject(std::move(e.meta));
          // Only a directory that holds an admitted object becomes a common prefix; one
          // left empty by a crash or a delete stays invisible.
          const std::string sub_prefix = key_prefix + e.name + "/";
          bool found = false;
          VECPUFF_RETURN_IF_ERROR(Walk(JoinRel(dir, e.name), sub_prefix, "", bound,
                                       /*descend=*/true, [&](Entry) -> Result<bool> {
                                         found = true;
                                         return false;
                                       }));
          return !found || page.AddCommonPrefix(sub_prefix);
        }));
    return page.Finish();
  }

  Status Delete(std::string_view key) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    const ObjectPath path = PathOf(key);
    bool removed = false;
    {
      VECPUFF_ASSIGN_OR_RETURN(StripeLock lock, LockStripe(key));
      if (::unlinkat(root_fd_, path.file.c_str(), 0) == 0) {
        removed = true;
      } else if (errno != ENOENT) {
        return PosixError("unlink", Abs(path.file), errno);
      }
    }
    if (!removed) return Status::OK();  // absent is OK, as in S3
    VECPUFF_RETURN_IF_ERROR(SyncDir(path.dir));
    RemoveEmptyDirs(path.dir);
    return Status::OK();
  }

  std::string Describe() const override { return "local:" + root_; }

  // Checks, once at open, that the filesystem supports the locks the store relies on.
  Status CheckLocks() { return LockStripe("").status(); }

 private:
  // One entry of a directory walk: an object (with its metadata) or, when not descending,
  // a subdirectory.
  struct Entry {
    std::string name;  // the key segment
    bool is_dir = false;
    ObjectMeta meta;  // objects only
  };

  std::string Abs(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }

  // Makes the entries of `dir` durable after a link, rename or unlink in it. A directory
  // that is gone (a concurrent Delete emptied and pruned it) has nothing left to persist.
  Status SyncDir(const std::string& dir) {
    Status s = storage_internal::FsyncDirAt(root_fd_, dir, Abs(dir));
    return s.IsNotFound() ? Status::OK() : s;
  }

  Status StatObject(const std::string& rel_file, struct stat* st) {
    if (::fstatat(root_fd_, rel_file.c_str(), st, 0) != 0) {
      return PosixError("stat", Abs(rel_file), errno);
    }
    if (!S_ISREG(st->st_mode)) return Status::IOError(Abs(rel_file) + " is not a regular file");
    return Status::OK();
  }

  // Takes the stripe lock of `key`, blocking until it is free.
  Result<StripeLock> LockStripe(std::string_view key) {
    char name[48];
    std::snprintf(name, sizeof(name), "%s/stripe-%02u", kLockDir,
                  static_cast<unsigned>(Checksum64(key) % kLockStripes));
    int fd = -1;
    for (int attempt = 0; attempt < 2 && fd < 0; ++attempt) {
      fd = RetryOnEintr(
          [&] { return ::openat(root_fd_, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644); });
      // Someone removed the lock directory: recreate it once.
      if (fd < 0 && errno == ENOENT && attempt == 0) ::mkdirat(root_fd_, kLockDir, 0755);
    }
    if (fd < 0) return PosixError("open lock", Abs(name), errno);
    StripeLock lock(fd);
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;  // the whole file
    if (RetryOnEintr([&] { return ::fcntl(fd, F_OFD_SETLKW, &fl); }) != 0) {
      return PosixError("lock", Abs(name), errno);
    }
    return lock;
  }

  // Creates `dir` and any missing parents, fsyncing the parent of each directory it
  // creates. Sets *vanished if a parent disappeared meanwhile (a concurrent Delete pruned
  // it); the caller then starts over.
  Status MakeDirs(const std::string& dir, bool* vanished) {
    *vanished = false;
    if (dir.empty()) return Status::IOError("store root " + root_ + " is gone");
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = dir.find('/', pos + 1);
      const std::string partial = dir.substr(0, pos);
      if (::mkdirat(root_fd_, partial.c_str(), 0755) == 0) {
        const size_t cut = partial.rfind('/');
        const std::string parent = cut == std::string::npos ? "" : partial.substr(0, cut);
        Status s = storage_internal::FsyncDirAt(root_fd_, parent, Abs(parent));
        if (s.IsNotFound()) {  // pruned again (with our new child) before we synced it
          *vanished = true;
          return Status::OK();
        }
        VECPUFF_RETURN_IF_ERROR(s);
      } else if (errno == ENOENT) {
        *vanished = true;
        return Status::OK();
      } else if (errno != EEXIST) {
        return PosixError("mkdir", Abs(partial), errno);
      }
    }
    return Status::OK();
  }

  // Writes `data` to a new temp file in `dir`, sets its mtime to a unique timestamp and
  // fsyncs it. With create_dirs, creates `dir` if needed; without, NotFound if it is gone.
  Result<TempFile> WriteTemp(std::string_view key, const std::string& dir, std::string_view data,
                             bool create_dirs) {
    for (int attempt = 0; attempt < kMaxCreateAttempts; ++attempt) {
      const std::string rel = JoinRel(dir, TempName());
      const int fd = RetryOnEintr([&] {
        return ::openat(root_fd_, rel.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      });
      if (fd < 0) {
        const int err = errno;
        if (err == EEXIST) continue;  // a name collision: draw another name
        if (err != ENOENT) return PosixError("create", Abs(rel), err);
        if (!create_dirs) return Status::NotFound("no object " + std::string(key));
        bool vanished = false;
        VECPUFF_RETURN_IF_ERROR(MakeDirs(dir, &vanished));
        continue;
      }
      Status s = storage_internal::WriteFully(fd, data, Abs(rel));
      struct stat st;
      if (s.ok()) {
        const struct timespec now = UniqueTimestamp();
        const struct timespec ts[2] = {now, now};
        if (::futimens(fd, ts) != 0) s = PosixError("futimens", Abs(rel), errno);
      }
      if (s.ok() && RetryOnEintr([&] { return ::fsync(fd); }) != 0) {
        s = PosixError("fsync", Abs(rel), errno);
      }
      if (s.ok() && ::fstat(fd, &st) != 0) s = PosixError("fstat", Abs(rel), errno);
      if (::close(fd) != 0 && s.ok()) s = PosixError("close", Abs(rel), errno);
      if (!s.ok()) {
        ::unlinkat(root_fd_, rel.c_str(), 0);
        return s;
      }
      return TempFile(root_fd_, rel, st);
    }
    return Status::IOError("could not create a temp file in " + Abs(dir) + " after " +
                           std::to_string(kMaxCreateAttempts) + " attempts");
  }

  Result<ObjectMeta> PutOverwrite(std::string_view key, const ObjectPath& path,
                                  std::string_view data) {
    VECPUFF_ASSIGN_OR_RETURN(TempFile tmp, WriteTemp(key, path.dir, data, true));
    {
      // Under the stripe lock so that an If-Match put cannot check the etag, lose the CPU
      // to this rename, and then replace our version unseen.
      VECPUFF_ASSIGN_OR_RETURN(StripeLock lock, LockStripe(key));
      if (::renameat(root_fd_, tmp.rel_path().c_str(), root_fd_, path.file.c_str()) != 0) {
        return PosixError("rename to", Abs(path.file), errno);
      }
      tmp.Release();
    }
    VECPUFF_RETURN_IF_ERROR(SyncDir(path.dir));
    return MetaOf(key, tmp.stat());
  }

  Result<ObjectMeta> PutCreateOnly(std::string_view key, const ObjectPath& path,
                                   std::string_view data) {
    VECPUFF_ASSIGN_OR_RETURN(TempFile tmp, WriteTemp(key, path.dir, data, true));
    // link(2) fails with EEXIST if the name exists, atomically: of concurrent creators in
    // any number of processes exactly one succeeds. No lock needed: an If-Match put or a
    // delete that runs concurrently is ordered before or after the link by the directory.
    if (::linkat(root_fd_, tmp.rel_path().c_str(), root_fd_, path.file.c_str(), 0) != 0) {
      const int err = errno;
      if (err == EEXIST) {
        return Status::PreconditionFailed("create-only put of existing key " + std::string(key));
      }
      return PosixError("link to", Abs(path.file), err);
    }
    VECPUFF_RETURN_IF_ERROR(SyncDir(path.dir));
    return MetaOf(key, tmp.stat());  // ~TempFile unlinks the temp name; the object stays
  }

  Result<ObjectMeta> PutIfMatch(std::string_view key, const ObjectPath& path, std::string_view data,
                                const std::string& if_match_etag) {
    // Fail fast, without writing, when the etag is already stale; checked again under lock.
    struct stat st;
    VECPUFF_RETURN_IF_ERROR(StatObject(path.file, &st));
    if (EtagOf(st) != if_match_etag) return EtagMismatch(key);
    VECPUFF_ASSIGN_OR_RETURN(TempFile tmp, WriteTemp(key, path.dir, data, false));
    {
      // Overwrite, If-Match and Delete of this key all hold this lock while they change the
      // name, so the check and the rename below are one atomic step: linearizable CAS.
      VECPUFF_ASSIGN_OR_RETURN(StripeLock lock, LockStripe(key));
      VECPUFF_RETURN_IF_ERROR(StatObject(path.file, &st));
      if (EtagOf(st) != if_match_etag) return EtagMismatch(key);
      if (::renameat(root_fd_, tmp.rel_path().c_str(), root_fd_, path.file.c_str()) != 0) {
        return PosixError("rename to", Abs(path.file), errno);
      }
      tmp.Release();
    }
    VECPUFF_RETURN_IF_ERROR(SyncDir(path.dir));
    return MetaOf(key, tmp.stat());
  }

  static Status EtagMismatch(std::string_view key) {
    return Status::PreconditionFailed("etag mismatch on " + std::string(key));
  }

  // Best effort: removes `dir` and then its parents while they are empty. A creator that
  // loses a directory this way recreates it (WriteTemp), and an empty directory that
  // survives a crash is never listed, so failures here are ignored.
  void RemoveEmptyDirs(std::string dir) {
    while (!dir.empty()) {
      if (::unlinkat(root_fd_, dir.c_str(), AT_REMOVEDIR) != 0) return;
      const size_t cut = dir.rfind('/');
      dir = cut == std::string::npos ? "" : dir.substr(0, cut);
    }
  }

  // Reads one directory: its objects and subdirectories whose names start with `filter`,
  // sorted by the keys they stand for (an object "x" as "x", a directory "x" as "x/", so
  // that every key under "x/" sorts between its neighbours). A missing directory is empty.
  Status ReadDir(const std::string& dir, std::string_view filter, std::vector<Entry>* out) {
    out->clear();
    const int fd = RetryOnEintr(
        [&] { return ::openat(root_fd_, RelOrDot(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    if (fd < 0) {
      if (errno == ENOENT) return Status::OK();  // removed by a concurrent Delete
      return PosixError("open directory", Abs(dir), errno);
    }
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      const int err = errno;
      ::close(fd);
      return PosixError("opendir", Abs(dir), err);
    }
    Status s;
    while (true) {
      errno = 0;
      const struct dirent* de = ::readdir(d);
      if (de == nullptr) {
        if (errno != 0) s = PosixError("readdir", Abs(dir), errno);
        break;
      }
      std::string_view name(de->d_name);
      Entry e;
      if (name.starts_with(kObjectFilePrefix)) {
        name.remove_prefix(kObjectFilePrefix.size());
        if (name.empty() || !name.starts_with(filter)) continue;
        e.name = std::string(name);
      } else if (name.starts_with(storage_internal::kReservedPrefix) || name == "." ||
                 name == ".." || !name.starts_with(filter)) {
        continue;  // temp and lock files, and anything not under the prefix
      } else {
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
          struct stat st;
          is_dir = ::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                   S_ISDIR(st.st_mode);
        }
        if (!is_dir) continue;  // not ours: objects are always .vp-obj.* files
        e.name = std::string(name);
        e.is_dir = true;
      }
      out->push_back(std::move(e));
    }
    ::closedir(d);  // closes fd
    if (!s.ok()) return s;
    auto sort_key = [](const Entry& e) { return e.is_dir ? e.name + "/" : e.name; };
    std::sort(out->begin(), out->end(),
              [&](const Entry& a, const Entry& b) { return sort_key(a) < sort_key(b); });
    return Status::OK();
  }

  // Offers `visit`, in ascending key order, each object under directory `dir` (whose keys
  // start with `key_prefix`) that passes `filter` and `bound`; subdirectories holding
  // admitted keys are descended into or, without `descend`, offered as entries. `visit`
  // returns true to go on, false to end the walk, or an error to fail it. Returns OK, or
  // the first error (then the walk has ended too). Each directory is read whole and closed
  // before recursing, so a walk holds one descriptor at a time.
  template <typename Visit>
  Status Walk(const std::string& dir, const std::string& key_prefix, std::string_view filter,
              const ListBound& bound, bool descend, Visit&& visit) {
    bool stopped = false;
    return WalkImpl(dir, key_prefix, filter, bound, descend, visit, &stopped);
  }

  template <typename Visit>
  Status WalkImpl(const std::string& dir, const std::string& key_prefix, std::string_view filter,
                  const ListBound& bound, bool descend, Visit& visit, bool* stopped) {
    std::vector<Entry> entries;
    VECPUFF_RETURN_IF_ERROR(ReadDir(dir, filter, &entries));
    for (Entry& e : entries) {
      if (e.is_dir) {
        const std::string sub_prefix = key_prefix + e.name + "/";
        if (bound.Classify(sub_prefix) == ListBound::Subtree::kNoneAdmitted) continue;
        if (descend) {
          VECPUFF_RETURN_IF_ERROR(
              WalkImpl(JoinRel(dir, e.name), sub_prefix, "", bound, true, visit, stopped));
          if (*stopped) return Status::OK();
          continue;
        }
      } else {
        const std::string key = key_prefix + e.name;
        if (!bound.Admits(key)) continue;
        const std::string rel = JoinRel(dir, std::string(kObjectFilePrefix) + e.name);
        struct stat st;
        if (::fstatat(root_fd_, rel.c_str(), &st, 0) != 0) {
          if (errno == ENOENT) continue;  // deleted since readdir
          return PosixError("stat", Abs(rel), errno);
        }
        if (!S_ISREG(st.st_mode)) continue;
        e.meta = MetaOf(key, st);
      }
      VECPUFF_ASSIGN_OR_RETURN(const bool go_on, visit(std::move(e)));
      if (!go_on) {
        *stopped = true;
        return Status::OK();
      }
    }
    return Status::OK();
  }

  const std::string root_;
  const int root_fd_;
};

}  // namespace

Result<std::unique_ptr<ObjectStore>> OpenLocalStore(const std::string& root_dir) {
  if (root_dir.empty()) return Status::InvalidArgument("empty local store root");
  std::error_code ec;
  std::filesystem::path root = std::filesystem::absolute(root_dir, ec);
  if (ec) return PosixError("resolve", root_dir, ec.value());
  root = root.lexically_normal();
  std::string root_str = root.string();
  while (root_str.size() > 1 && root_str.back() == '/') root_str.pop_back();
  std::filesystem::create_directories(root, ec);
  if (ec) return PosixError("create directory", root_str, ec.value());

  const int fd =
      RetryOnEintr([&] { return ::open(root_str.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd < 0) return PosixError("open directory", root_str, errno);
  auto store = std::make_unique<LocalStore>(root_str, fd);  // owns fd from here
  if (::mkdirat(fd, kLockDir, 0755) == 0) {
    VECPUFF_RETURN_IF_ERROR(storage_internal::FsyncDirAt(fd, "", root_str));
  } else if (errno != EEXIST) {
    return PosixError("mkdir", root_str + "/" + kLockDir, errno);
  }
  VECPUFF_RETURN_IF_ERROR(store->CheckLocks());
  return std::unique_ptr<ObjectStore>(std::move(store));
}

}  // namespace vecpuff
