// Fuzzes the index's stored formats (index/segment_format.h, index/posting_summary.h) and
// the folding of a decoded index meta into an IndexState (index/ivf_index.h). Input: a mode
// byte m, then, by (m & 0x7f) % 5:
//   0: a whole posting object, checksum repaired; decoded for the centroid id and dims its
//      header names;
//   1: u32 centroid id, u32 dims, u32 entry count, then the uncompressed posting body, which
//      is zstd-compressed and framed here;
//   2: a whole index meta object, checksum repaired;
//   3: u16 version, u16 kind, then the uncompressed meta body, compressed and framed here;
//   4: a posting summary body, framed here (version byte, size, checksum); with m's bit 7
//      set, a whole summary, checksum repaired.
// Properties: decoding fails only with Corruption; whatever decodes re-encodes into bytes
// that decode to an equal value; a decoded meta folds into an empty IndexState (as a base,
// then again as a delta) without crashing, and the state's MakeBase encodes and folds.
#include <zstd.h>

#include <cstring>
#include <string>

#include "fuzz_common.h"
#include "index/ivf_index.h"
#include "index/posting_summary.h"
#include "index/segment_format.h"

namespace vecpuff::fuzz {
namespace {

// IndexState::Apply sizes its per-document arrays by the meta's next_docno (about 50 bytes
// per docno): metas that claim more documents than this are decoded but not folded, so that
// a run stays within its memory limit (see README.md, "Known limits").
constexpr uint32_t kMaxFoldedDocnos = 1u << 20;

std::string Compress(std::string_view raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 1);
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

// Bitwise equality (== would call -0 and 0 equal, NaN unequal to itself). memcmp must not
// see the null data() of an empty vector.
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

bool SamePosting(const PostingData& a, const PostingData& b) {
  return a.centroid_id == b.centroid_id && a.dims == b.dims && a.docnos == b.docnos &&
         a.versions == b.versions && a.codes == b.codes && a.ids == b.ids &&
         a.attributes == b.attributes && SameBits(a.norms, b.norms) &&
         SameBits(a.vectors, b.vectors);
}

void Posting(const std::string& object) {
  if (object.size() < kPostingHeaderSize) {
    CheckCorruption(DecodePosting(object, 0, 1).status(), "DecodePosting");
    return;
  }
  const uint32_t cid = DecodeFixed32(object.data() + 8);
  const uint32_t dims = DecodeFixed32(object.data() + 12);
  auto p = DecodePosting(object, cid, dims);
  CheckCorruption(p.status(), "DecodePosting");
  if (!p.ok()) return;
  auto again = DecodePosting(EncodePosting(**p), cid, dims);
  FuzzCheck(again.ok(), "re-encoded posting decodes");
  FuzzCheck(SamePosting(**p, **again), "posting round trip");
  (void)(*p)->MemoryBytes();
}

void Meta(const std::string& object) {
  auto m = DecodeIndexMeta(object);
  CheckCorruption(m.status(), "DecodeIndexMeta");
  if (!m.ok()) return;
  auto again = DecodeIndexMeta(EncodeIndexMeta(*m));
  FuzzCheck(again.ok(), "re-encoded index meta decodes");
  FuzzCheck(*again == *m, "index meta round trip");
  if (m->next_docno > kMaxFoldedDocnos) return;
  IndexState state;
  Status s = state.Apply(*m);
  CheckCorruption(s, "IndexState::Apply");
  if (!s.ok()) return;
  // A delta folded onto the state it describes: applying the same meta twice as a delta
  // must not crash either (it re-creates its centroids: Corruption).
  IndexMeta delta = *m;
  delta.is_base = false;
  CheckCorruption(state.Apply(delta), "IndexState::Apply (delta)");
  IndexState rebuilt;
  IndexMeta base = state.MakeBase(m->generation);
  auto decoded_base = DecodeIndexMeta(EncodeIndexMeta(base));
  FuzzCheck(decoded_base.ok(), "MakeBase encodes a decodable meta");
  CheckCorruption(rebuilt.Apply(*decoded_base), "Apply(MakeBase)");
}

void Summary(const std::string& bytes) {
  auto s = DecodePostingSummary(bytes);
  CheckCorruption(s.status(), "DecodePostingSummary");
  if (!s.ok()) return;
  auto again = DecodePostingSummary(EncodePostingSummary(*s));
  FuzzCheck(again.ok(), "re-encoded summary decodes");
  FuzzCheck(*again == *s, "summary round trip");
  (void)s->MemoryBytes();
  for (const AttributeSummary& a : s->attributes) {
    FuzzCheck(s->Find(a.name) == &a || s->Find(a.name)->name == a.name, "summary Find");
  }
}

}  // namespace
}  // namespace vecpuff::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vecpuff;
  using namespace vecpuff::fuzz;
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch ((mode & 0x7f) % 5) {
    case 0:
      FixChecksum(&rest, 32);
      Posting(rest);
      break;
    case 1: {
      if (rest.size() < 12) return 0;
      const std::string_view raw = std::string_view(rest).substr(12);
      std::string object;
      PutFixed32(&object, kPostingMagic);
      PutFixed16(&object, kSegmentFormatVersion);
      PutFixed16(&object, 0);
      object.append(rest.data(), 12);  // centroid id, dims, count
      PutFixed32(&object, 0);
      PutFixed64(&object, raw.size());
      PutFixed64(&object, 0);
      object += Compress(raw);
      FixChecksum(&object, 32);
      Posting(object);
      break;
    }
    case 2:
      FixChecksum(&rest, 24);
      Meta(rest);
      break;
    case 3: {
      if (rest.size() < 4) return 0;
      const std::string_view raw = std::string_view(rest).substr(4);
      std::string object;
      PutFixed32(&object, kIndexMetaMagic);
      object.append(rest.data(), 4);  // version, kind
      PutFixed64(&object, 3);         // generation
      PutFixed64(&object, raw.size());
      PutFixed64(&object, 0);
      object += Compress(raw);
      FixChecksum(&object, 24);
      Meta(object);
      break;
    }
    case 4: {
      if (mode & 0x80) {
        if (rest.size() >= 13) {
          const size_t at = rest.size() - 8;
          EncodeFixed64(rest.data() + at, Checksum64(std::string_view(rest).substr(0, at)));
        }
        Summary(rest);
        break;
      }
      std::string bytes;
      bytes.push_back(1);  // version
      PutFixed32(&bytes, static_cast<uint32_t>(rest.size()));
      bytes += rest;
      PutFixed64(&bytes, Checksum64(bytes));
      Summary(bytes);
      break;
    }
  }
  return 0;
}
