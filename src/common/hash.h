// Checksums for persistent formats: XXH64 with seed 0. The choice of hash and seed is part
// of every on-disk format and must never change.
#pragma once

#include <cstdint>
#include <string_view>

namespace vecpuff {

uint64_t Checksum64(std::string_view data);

}  // namespace vecpuff
