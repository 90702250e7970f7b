#include "common/hash.h"

#include <xxhash.h>

namespace vecpuff {

uint64_t Checksum64(std::string_view data) { return XXH64(data.data(), data.size(), 0); }

}  // namespace vecpuff
