// ZstdDecompressExactly: decoding a zstd body whose decompressed size is recorded beside it
// (WAL entries, index objects), without trusting that size for the allocation.
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vecpuff {

// Decompresses `body` (zstd frames back to back) into *out, which must come to exactly
// `raw_size` bytes; false if it does not (corrupt frames, a truncated body, or more or less
// output than raw_size). The output buffer grows with what zstd actually produces (doubling,
// never past raw_size) rather than being sized from the stored size up front, so a corrupt
// size field costs at most about twice the real output, not gigabytes.
bool ZstdDecompressExactly(std::string_view body, uint64_t raw_size, std::string* out);

}  // namespace vecpuff
