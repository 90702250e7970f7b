// Wall-clock time in milliseconds since the Unix epoch, as stored in WAL entries and
// manifests.
#pragma once

#include <chrono>
#include <cstdint>

namespace vecpuff {

inline int64_t NowUnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace vecpuff
