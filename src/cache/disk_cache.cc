// DiskCache: one file per entry in a flat directory, an in-memory LRU index over them.
//
// Entry file layout, little-endian. Every constant below is part of the on-disk format and
// must never change; a different layout takes a new kFormatVersion (files of another
// version are deleted as unreadable at Open, which for a cache only costs refetches).
//
//   [0, 4)             magic kEntryMagic
//   [4, 12)            checksum: Checksum64 (XXH64, seed 0) of bytes [12, end of file),
//                      i.e. of the rest of the header, the key and the value
//   [12, 14)           format version, kFormatVersion
//   [14, 16)           key length k (1..65535)
//   [16, 24)           value length v
//   [24, 24 + k)       key
//   [24 + k, end)      value; the file is exactly kHeaderBytes + k + v bytes long
//
// File names: the 16 lowercase hex digits of Checksum64(key) followed by kEntrySuffix.
// Temporaries: kTempPrefix + "<pid>.<counter>", renamed onto the entry name when complete.
//
// Locking: `mu` guards the index (LRU list, hash map, byte count). Reading and writing
// file contents happens outside it; renames and unlinks happen under it, so that the index
// and the directory agree: an entry is in the index iff its file was renamed into place
// and not yet unlinked by us (another process, or a user, may still remove it; a Get then
// finds ENOENT and drops the entry).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack
#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <list>
#include <mutex>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/caching_store.h"
#include "common/coding.h"
#include "common/hash.h"
#include "storage/posix_io.h"

namespace vecpuff {

namespace {

using storage_internal::CloseQuietly;
using storage_internal::PosixError;
using storage_internal::PReadFully;
using storage_internal::RetryOnEintr;
using storage_internal::WriteFully;

// On-disk format constants: never change them (see the layout above).
constexpr uint32_t kEntryMagic = 0x45435056;  // "VPCE" read little-endian
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kChecksumOffset = 4;
constexpr size_t kChecksummedFrom = 12;  // the checksum covers [kChecksummedFrom, end)
constexpr size_t kHeaderBytes = 24;
constexpr size_t kMaxKeyBytes = 0xffff;  // the key length is a uint16
constexpr std::string_view kEntrySuffix = ".vpc";
constexpr size_t kHashHexDigits = 16;
constexpr std::string_view kTempPrefix = ".vpc-tmp.";

// A hit refreshes the file's mtime when it is older than this, so that the LRU order a
// restart rebuilds from mtimes follows use, not just insertion, at one futimens per entry
// per interval rather than per hit.
constexpr int64_t kRefreshMtimeAfterSeconds = 600;

// Temporaries are unique per process across all DiskCache instances (tests open several
// on one directory); the pid separates processes.
std::atomic<uint64_t> g_temp_counter{0};

// Logs the first few occurrences of a recurring problem, then only at powers of two, so a
// failing disk cannot flood the log.
bool ShouldLog(uint64_t occurrence) {
  return occurrence <= 8 || (occurrence & (occurrence - 1)) == 0;
}

std::string EntryFileName(uint64_t hash) {
  char buf[kHashHexDigits + 1];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, hash);
  return std::string(buf, kHashHexDigits) + std::string(kEntrySuffix);
}

// Parses an entry file name back to its hash; false for any other name.
bool ParseEntryFileName(std::string_view name, uint64_t* hash) {
  if (name.size() != kHashHexDigits + kEntrySuffix.size() || !name.ends_with(kEntrySuffix)) {
    return false;
  }
  uint64_t h = 0;
  for (size_t i = 0; i < kHashHexDigits; ++i) {
    const char c = name[i];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return false;
    }
    h = (h << 4) | static_cast<uint64_t>(digit);
  }
  *hash = h;
  return true;
}

// XXH64 over two pieces equals Checksum64 of their concatenation.
uint64_t ChecksumOf(std::string_view a, std::string_view b) {
  XXH64_state_t state;
  XXH64_reset(&state, 0);
  XXH64_update(&state, a.data(), a.size());
  XXH64_update(&state, b.data(), b.size());
  return XXH64_digest(&state);
}

// The header and key of an entry file, checksum filled in.
std::string EncodeHeaderAndKey(std::string_view key, std::string_view value) {
  std::string out;
  out.reserve(kHeaderBytes + key.size());
  PutFixed32(&out, kEntryMagic);
  PutFixed64(&out, 0);  // checksum, filled in below
  PutFixed16(&out, kFormatVersion);
  PutFixed16(&out, static_cast<uint16_t>(key.size()));
  PutFixed64(&out, value.size());
  out.append(key);
  const uint64_t checksum = ChecksumOf(std::string_view(out).substr(kChecksummedFrom), value);
  EncodeFixed64(out.data() + kChecksumOffset, checksum);
  return out;
}

struct ParsedHeader {
  uint64_t checksum = 0;
  uint64_t key_bytes = 0;
  uint64_t value_bytes = 0;
};

// Checks the fixed header against the file size. Corruption if it does not hold.
Status ParseHeader(std::string_view header, uint64_t file_bytes, ParsedHeader* out) {
  if (header.size() < kHeaderBytes) return Status::Corruption("short header");
  if (DecodeFixed32(header.data()) != kEntryMagic) return Status::Corruption("bad magic");
  if (DecodeFixed16(header.data() + 12) != kFormatVersion) {
    return Status::Corruption("unknown format version");
  }
  out->checksum = DecodeFixed64(header.data() + kChecksumOffset);
  out->key_bytes = DecodeFixed16(header.data() + 14);
  out->value_bytes = DecodeFixed64(header.data() + 16);
  if (out->key_bytes == 0) return Status::Corruption("empty key");
  // Compared by subtraction: value_bytes comes from the file and may be huge.
  if (file_bytes < kHeaderBytes + out->key_bytes ||
      file_bytes - kHeaderBytes - out->key_bytes != out->value_bytes) {
    return Status::Corruption("file size " + std::to_string(file_bytes) +
                              " does not match the header");
  }
  return Status::OK();
}

// Creates `path` exclusively and writes the pieces to it. On failure the caller removes it.
Status WriteNewFile(const std::string& path, std::string_view a, std::string_view b) {
  const int fd = RetryOnEintr(
      [&] { return ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644); });
  if (fd < 0) return PosixError("create", path, errno);
  Status s = WriteFully(fd, a, path);
  if (s.ok()) s = WriteFully(fd, b, path);
  if (::close(fd) != 0 && s.ok()) s = PosixError("close", path, errno);
  return s;
}

bool DirectoryExists(const std::string& dir) {
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

struct DiskCache::Impl {
  struct Entry {
    uint64_t hash = 0;
    std::string key;
    uint64_t value_bytes = 0;
    uint64_t file_bytes = 0;  // the charge: kHeaderBytes + key + value
    uint64_t generation = 0;  // tells a replaced entry from the one a reader looked up
  };
  using LruList = std::list<Entry>;

  std::string dir;
  uint64_t capacity = 0;

  mutable std::mutex mu;
  LruList lru;                                            // front: most recently used
  std::unordered_map<uint64_t, LruList::iterator> index;  // by Checksum64(key)
  uint64_t bytes = 0;                                     // sum of file_bytes in lru
  uint64_t next_generation = 1;

  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> misses{0};
  std::atomic<uint64_t> inserts{0};
  std::atomic<uint64_t> evictions{0};
  std::atomic<uint64_t> erased{0};
  std::atomic<uint64_t> corrupt{0};
  std::atomic<uint64_t> io_errors{0};

  std::string PathOf(uint64_t hash) const { return dir + "/" + EntryFileName(hash); }

  void CountIoError(const Status& s) {
    const uint64_t n = io_errors.fetch_add(1, std::memory_order_relaxed) + 1;
    if (ShouldLog(n)) spdlog::warn("disk cache {}: {} (I/O error #{})", dir, s.ToString(), n);
  }

  void CountCorrupt(const std::string& path, std::string_view why) {
    const uint64_t n = corrupt.fetch_add(1, std::memory_order_relaxed) + 1;
    if (ShouldLog(n)) spdlog::warn("disk cache: dropping damaged entry {}: {}", path, why);
  }

  // Unlinks the entry's file (unless `unlink_file` is false) and forgets it.
  // REQUIRES: mu held.
  void RemoveLocked(LruList::iterator it, bool unlink_file) {
    if (unlink_file) {
      const std::string path = PathOf(it->hash);
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        CountIoError(PosixError("remove", path, errno));
      }
    }
    bytes -= it->file_bytes;
    index.erase(it->hash);
    lru.erase(it);
  }

  // REQUIRES: mu held.
  void EvictToCapacityLocked() {
    while (bytes > capacity && !lru.empty()) {
      RemoveLocked(std::prev(lru.end()), /*unlink_file=*/true);
      evictions.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Forgets the entry `hash` if it is still the version a reader looked up (a concurrent
  // Put may have replaced it with a good file meanwhile).
  void Drop(uint64_t hash, uint64_t generation, bool unlink_file) {
    std::lock_guard lock(mu);
    auto it = index.find(hash);
    if (it != index.end() && it->second->generation == generation) {
      RemoveLocked(it->second, unlink_file);
    }
  }

  // Adds a file that is in place under its entry name as the most recently used entry,
  // replacing the index entry of the same hash. REQUIRES: mu held.
  void InsertLocked(uint64_t hash, std::string key, uint64_t value_bytes) {
    auto existing = index.find(hash);
    if (existing != index.end()) RemoveLocked(existing->second, /*unlink_file=*/false);
    Entry e;
    e.hash = hash;
    e.key = std::move(key);
    e.value_bytes = value_bytes;
    e.file_bytes = kHeaderBytes + e.key.size() + value_bytes;
    e.generation = next_generation++;
    bytes += e.file_bytes;
    lru.push_front(std::move(e));
    index.emplace(hash, lru.begin());
  }

  // Reads and validates the header of an entry file found at Open. Returns the key.
  Result<std::string> ReadEntryHeader(const std::string& path, int fd, uint64_t file_bytes) {
    std::string header;
    VECPUFF_RETURN_IF_ERROR(
        PReadFully(fd, 0, std::min<uint64_t>(kHeaderBytes, file_bytes), &header, path));
    ParsedHeader h;
    VECPUFF_RETURN_IF_ERROR(ParseHeader(header, file_bytes, &h));
    std::string key;
    VECPUFF_RETURN_IF_ERROR(PReadFully(fd, kHeaderBytes, h.key_bytes, &key, path));
    return key;
  }

  // Looks at one directory entry during Open: adopts a valid entry file into `found`,
  // deletes temporaries and damaged entry files, leaves anything else alone.
  struct Found {
    int64_t mtime_ns;
    uint64_t hash;
    std::string key;
    uint64_t value_bytes;
  };
  void ScanOne(std::string_view name, std::vector<Found>* found, uint64_t* removed) {
    const std::string path = dir + "/" + std::string(name);
    if (name.starts_with(kTempPrefix)) {
      // Left by a crash (or, if processes share the directory, in flight in another one:
      // its rename then fails and that Put is dropped, which is harmless).
      if (::unlink(path.c_str()) == 0) ++*removed;
      return;
    }
    uint64_t hash;
    if (!ParseEntryFileName(name, &hash)) return;  // not ours: never delete it
    const int fd = RetryOnEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
    if (fd < 0) {
      if (errno != ENOENT) CountIoError(PosixError("open", path, errno));
      return;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      CountIoError(PosixError("stat", path, errno));
      CloseQuietly(fd);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      CloseQuietly(fd);
      return;
    }
    Result<std::string> key = ReadEntryHeader(path, fd, static_cast<uint64_t>(st.st_size));
    CloseQuietly(fd);
    std::string why;
    if (!key.ok()) {
      why = key.status().ToString();
    } else if (Checksum64(*key) != hash) {
      why = "the key in the header does not match the file name";
    }
    if (!why.empty()) {
      CountCorrupt(path, why);
      if (::unlink(path.c_str()) == 0) ++*removed;
      return;
    }
    const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                             static_cast<int64_t>(st.st_mtim.tv_nsec);
    const uint64_t value_bytes = static_cast<uint64_t>(st.st_size) - kHeaderBytes - key->size();
    found->push_back(Found{mtime_ns, hash, std::move(key).value(), value_bytes});
  }

  Status Scan() {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError("open directory", dir, errno);
    std::vector<Found> found;
    uint64_t removed = 0;
    while (true) {
      errno = 0;
      const struct dirent* de = ::readdir(d);
      if (de == nullptr) break;
      const std::string_view name(de->d_name);
      if (name == "." || name == "..") continue;
      ScanOne(name, &found, &removed);
    }
    const int read_errno = errno;
    ::closedir(d);
    if (read_errno != 0) return PosixError("read directory", dir, read_errno);

    // Oldest first, so that each insertion at the front leaves the newest at the front.
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
      return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.hash < b.hash;
    });
    std::lock_guard lock(mu);
    for (Found& f : found) InsertLocked(f.hash, std::move(f.key), f.value_bytes);
    const uint64_t adopted = lru.size();
    EvictToCapacityLocked();
    spdlog::info(
        "disk cache {}: adopted {} entries, kept {} ({} of {} bytes), removed {} damaged or "
        "temporary files",
        dir, adopted, lru.size(), bytes, capacity, removed);
    return Status::OK();
  }

  // Called when creating a temporary failed with ENOENT: if the directory is gone, every
  // entry went with it. Recreates it and forgets them, under `mu` so that no entry written
  // into the new directory can be forgotten.
  Status RecreateDirectory() {
    std::lock_guard lock(mu);
    if (DirectoryExists(dir)) return Status::OK();  // another thread got here first
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return PosixError("create cache directory", dir, ec.value());
    spdlog::warn("disk cache {}: directory vanished; recreated it, forgot {} entries", dir,
                 lru.size());
    lru.clear();
    index.clear();
    bytes = 0;
    return Status::OK();
  }
};

DiskCache::DiskCache() : impl_(std::make_unique<Impl>()) {}
DiskCache::~DiskCache() = default;

Result<std::unique_ptr<DiskCache>> DiskCache::Open(const std::string& dir,
                                                   uint64_t capacity_bytes) {
  if (dir.empty()) return Status::InvalidArgument("disk cache directory is empty");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return PosixError("create cache directory", dir, ec.value());
  std::unique_ptr<DiskCache> cache(new DiskCache());
  cache->impl_->dir = dir;
  while (cache->impl_->dir.size() > 1 && cache->impl_->dir.back() == '/') {
    cache->impl_->dir.pop_back();
  }
  cache->impl_->capacity = capacity_bytes;
  VECPUFF_RETURN_IF_ERROR(cache->impl_->Scan());
  return cache;
}

std::optional<std::string> DiskCache::Get(std::string_view key) {
  Impl& m = *impl_;
  const uint64_t hash = Checksum64(key);
  uint64_t generation;
  uint64_t file_bytes;
  uint64_t value_bytes;
  {
    std::lock_guard lock(m.mu);
    auto it = m.index.find(hash);
    // A different key under the same hash is a collision: a plain miss.
    if (it == m.index.end() || it->second->key != key) {
      m.misses.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
    m.lru.splice(m.lru.begin(), m.lru, it->second);
    generation = it->second->generation;
    file_bytes = it->second->file_bytes;
    value_bytes = it->second->value_bytes;
  }

  const std::string path = m.PathOf(hash);
  auto miss = [&m] {
    m.misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  };
  auto damaged = [&](std::string_view why) {
    m.CountCorrupt(path, why);
    m.Drop(hash, generation, /*unlink_file=*/true);
    return miss();
  };

  const int fd = RetryOnEintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      // Removed behind our back (directory deleted, another process evicted it).
      m.Drop(hash, generation, /*unlink_file=*/false);
    } else {
      // Possibly transient (EMFILE): keep the entry.
      m.CountIoError(PosixError("open", path, err));
    }
    return miss();
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { CloseQuietly(fd); }
  } closer{fd};

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    m.CountIoError(PosixError("stat", path, errno));
    return miss();
  }
  if (static_cast<uint64_t>(st.st_size) != file_bytes) {
    return damaged("size " + std::to_string(st.st_size) + ", expected " +
                   std::to_string(file_bytes));
  }
  std::string header;
  Status s = PReadFully(fd, 0, kHeaderBytes + key.size(), &header, path);
  if (!s.ok()) {
    // The size was right, so a failed read is a device error: the file cannot be served.
    m.CountIoError(s);
    m.Drop(hash, generation, /*unlink_file=*/true);
    return miss();
  }
  ParsedHeader h;
  s = ParseHeader(header, file_bytes, &h);
  if (!s.ok()) return damaged(s.message());
  if (h.key_bytes != key.size() || h.value_bytes != value_bytes ||
      std::string_view(header).substr(kHeaderBytes) != key) {
    return damaged("the header names another key");
  }
  std::string value;
  s = PReadFully(fd, kHeaderBytes + key.size(), value_bytes, &value, path);
  if (!s.ok()) {
    m.CountIoError(s);
    m.Drop(hash, generation, /*unlink_file=*/true);
    return miss();
  }
  if (ChecksumOf(std::string_view(header).substr(kChecksummedFrom), value) != h.checksum) {
    return damaged("checksum mismatch");
  }

  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (now - static_cast<int64_t>(st.st_mtim.tv_sec) > kRefreshMtimeAfterSeconds) {
    // Best effort: only the order after a restart depends on it.
    (void)::futimens(fd, nullptr);
  }
  m.hits.fetch_add(1, std::memory_order_relaxed);
  return value;
}

void DiskCache::Put(std::string_view key, std::string_view value) {
  Impl& m = *impl_;
  if (key.empty() || key.size() > kMaxKeyBytes) return;
  // Compared by subtraction so a huge value cannot overflow the sum.
  if (m.capacity < kHeaderBytes + key.size() ||
      value.size() > m.capacity - kHeaderBytes - key.size()) {
    return;
  }
  const uint64_t hash = Checksum64(key);
  {
    std::lock_guard lock(m.mu);
    auto it = m.index.find(hash);
    if (it != m.index.end() && it->second->key == key && it->second->value_bytes == value.size()) {
      m.lru.splice(m.lru.begin(), m.lru, it->second);
      return;
    }
  }

  const std::string header = EncodeHeaderAndKey(key, value);
  const std::string temp = m.dir + "/" + std::string(kTempPrefix) + std::to_string(::getpid()) +
                           "." + std::to_string(g_temp_counter.fetch_add(1));
  Status s = WriteNewFile(temp, header, value);
  if (s.IsNotFound()) {
    // The directory was removed under us; recreate it once.
    s = m.RecreateDirectory();
    if (s.ok()) s = WriteNewFile(temp, header, value);
  }
  if (!s.ok()) {
    m.CountIoError(s);
    (void)::unlink(temp.c_str());
    return;
  }

  std::lock_guard lock(m.mu);
  const std::string path = m.PathOf(hash);
  // Under mu: the index must change together with the directory (see the top of the file).
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    m.CountIoError(PosixError("rename", temp, errno));
    (void)::unlink(temp.c_str());
    return;
  }
  m.InsertLocked(hash, std::string(key), value.size());
  m.inserts.fetch_add(1, std::memory_order_relaxed);
  m.EvictToCapacityLocked();
}

void DiskCache::Erase(std::string_view key) {
  Impl& m = *impl_;
  const uint64_t hash = Checksum64(key);
  std::lock_guard lock(m.mu);
  auto it = m.index.find(hash);
  if (it == m.index.end() || it->second->key != key) return;
  m.RemoveLocked(it->second, /*unlink_file=*/true);
  m.erased.fetch_add(1, std::memory_order_relaxed);
}

CacheStats DiskCache::stats() const {
  const Impl& m = *impl_;
  CacheStats s;
  s.hits = m.hits.load(std::memory_order_relaxed);
  s.misses = m.misses.load(std::memory_order_relaxed);
  s.inserts = m.inserts.load(std::memory_order_relaxed);
  s.evictions = m.evictions.load(std::memory_order_relaxed);
  s.erased = m.erased.load(std::memory_order_relaxed);
  s.corrupt = m.corrupt.load(std::memory_order_relaxed);
  s.io_errors = m.io_errors.load(std::memory_order_relaxed);
  std::lock_guard lock(m.mu);
  s.bytes = m.bytes;
  s.entries = m.lru.size();
  return s;
}

uint64_t DiskCache::capacity_bytes() const { return impl_->capacity; }

std::string DiskCache::PathForKey(std::string_view key) const {
  return impl_->PathOf(Checksum64(key));
}

}  // namespace vecpuff
