#include "common/zstd_decompress.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

namespace vecpuff {

bool ZstdDecompressExactly(std::string_view body, uint64_t raw_size, std::string* out) {
  out->clear();
  if (body.empty()) return raw_size == 0;
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (dctx == nullptr) return false;
  constexpr uint64_t kInitialBytes = uint64_t{1} << 20;
  out->resize(static_cast<size_t>(
      std::min(raw_size, std::max<uint64_t>(kInitialBytes, 8 * uint64_t{body.size()}))));
  ZSTD_inBuffer in{body.data(), body.size(), 0};
  size_t produced = 0;
  for (;;) {
    if (produced == out->size() && out->size() < raw_size) {
      out->resize(static_cast<size_t>(std::min(raw_size, 2 * uint64_t{out->size()})));
    }
    ZSTD_outBuffer o{out->data(), out->size(), produced};
    const size_t in_before = in.pos;
    const size_t ret = ZSTD_decompressStream(dctx.get(), &o, &in);
    if (ZSTD_isError(ret)) return false;
    const bool progress = o.pos != produced || in.pos != in_before;
    produced = o.pos;
    // 0: every frame so far is complete and flushed.
    if (ret == 0 && in.pos == in.size) break;
    // No progress: the input ends inside a frame, or the output would exceed raw_size.
    if (!progress) return false;
  }
  return produced == raw_size;
}

}  // namespace vecpuff
