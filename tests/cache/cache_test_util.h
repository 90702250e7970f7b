// Helpers for the cache tests: reading, damaging and listing cache files.
#pragma once

#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace vecpuff::testing {

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Names of the regular files in `dir`, sorted.
inline std::vector<std::string> ListFiles(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Sum of the sizes of the regular files in `dir`.
inline uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const std::string& name : ListFiles(dir)) {
    total += std::filesystem::file_size(dir + "/" + name);
  }
  return total;
}

// Sets the file's modification time to `seconds_ago` before now.
inline bool SetMtimeSecondsAgo(const std::string& path, int64_t seconds_ago) {
  struct timeval now;
  ::gettimeofday(&now, nullptr);
  struct timeval times[2];
  times[0] = now;
  times[1] = now;
  times[1].tv_sec -= seconds_ago;
  return ::utimes(path.c_str(), times) == 0;
}

inline int64_t MtimeSeconds(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec);
}

}  // namespace vecpuff::testing
