#include "index/segment_format.h"

#include <zstd.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/coding.h"
#include "common/hash.h"
#include "common/zstd_decompress.h"

namespace vecpuff {
namespace {

// Level 1: postings are written by the compactor and read on cache misses; pixel-like data
// compresses severalfold even at the fastest level, dense embeddings barely at any level.
constexpr int kZstdLevel = 1;
// Bounds that keep a corrupt header from asking for absurd allocations.
constexpr uint64_t kMaxRawBytes = uint64_t{1} << 32;
constexpr uint32_t kMaxDims = 65536;
// The smallest encodings of an index meta's records: a centroid (id, vector length, a ref of
// an empty pack key, offset, length, count, part count; version 2 adds a summary length) and
// a doc record (docno, version, home, id length).
constexpr size_t kMinCentroidBytes = 4 + 4 + (4 + 8 + 4 + 4) + 4;
constexpr size_t kMinDocBytes = 4 + 8 + 4 + 4;

template <typename T>
void AppendArray(std::string* out, const std::vector<T>& v) {
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename T>
Status ReadArray(Decoder* d, size_t n, std::vector<T>* out, std::string_view what) {
  if (n > d->remaining() / sizeof(T)) return Status::Corruption(std::string(what) + " truncated");
  std::string_view bytes;
  VECPUFF_RETURN_IF_ERROR(d->ReadBytes(n * sizeof(T), &bytes, what));
  out->resize(n);
  if (n > 0) std::memcpy(out->data(), bytes.data(), bytes.size());
  return Status::OK();
}

std::string Compress(std::string_view raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kZstdLevel);
  // Compressing into a buffer of ZSTD_compressBound bytes cannot fail.
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

Result<std::string> Decompress(std::string_view body, uint64_t raw_size, std::string_view what) {
  if (raw_size > kMaxRawBytes) return Status::Corruption(std::string(what) + " too large");
  std::string raw;
  if (!ZstdDecompressExactly(body, raw_size, &raw)) {
    return Status::Corruption(std::string(what) + " body does not decompress to its size");
  }
  return raw;
}

// Checksum over the whole object with its checksum field (at `at`) zeroed.
uint64_t ChecksumWithHole(std::string_view object, size_t at) {
  std::string copy(object);
  EncodeFixed64(copy.data() + at, 0);
  return Checksum64(copy);
}

void PutString(std::string* out, std::string_view s) { PutLengthPrefixed(out, s); }

Status ReadString(Decoder* d, std::string* out, std::string_view what) {
  std::string_view v;
  VECPUFF_RETURN_IF_ERROR(d->ReadLengthPrefixed(&v, what));
  out->assign(v);
  return Status::OK();
}

void PutRef(std::string* out, const PostingRef& ref) {
  PutString(out, ref.pack);
  PutFixed64(out, ref.offset);
  PutFixed32(out, ref.length);
  PutFixed32(out, ref.count);
  PutString(out, ref.summary ? EncodePostingSummary(*ref.summary) : std::string());
}

Status ReadRef(Decoder* d, uint16_t version, PostingRef* ref) {
  VECPUFF_RETURN_IF_ERROR(ReadString(d, &ref->pack, "posting ref pack"));
  VECPUFF_RETURN_IF_ERROR(d->ReadU64(&ref->offset, "posting ref offset"));
  VECPUFF_RETURN_IF_ERROR(d->ReadU32(&ref->length, "posting ref length"));
  VECPUFF_RETURN_IF_ERROR(d->ReadU32(&ref->count, "posting ref count"));
  if (version < 2) return Status::OK();
  std::string_view summary;
  VECPUFF_RETURN_IF_ERROR(d->ReadLengthPrefixed(&summary, "posting summary"));
  if (summary.empty()) return Status::OK();
  VECPUFF_ASSIGN_OR_RETURN(PostingSummary decoded, DecodePostingSummary(summary));
  ref->summary = std::make_shared<const PostingSummary>(std::move(decoded));
  return Status::OK();
}

// What the cache charges is what the heap holds: every allocation costs its size rounded up to
// 16 bytes plus glibc's 8-byte header, and libstdc++ keeps strings of up to 15 characters in
// place.
constexpr size_t kChunkOverhead = 8;
size_t Chunk(size_t n) { return n == 0 ? 0 : (n + kChunkOverhead + 15) / 16 * 16; }
size_t StringHeapBytes(const std::string& s) {
  return s.capacity() > 15 ? Chunk(s.capacity() + 1) : 0;
}
template <typename T>
size_t VectorHeapBytes(const std::vector<T>& v) {
  return Chunk(v.capacity() * sizeof(T));
}

// Heap bytes a parsed JSON value holds beyond sizeof(json): nlohmann keeps an object as a
// heap-allocated std::map (one red-black tree node per member: four words of links and
// colour, the key, the value), an array as a heap-allocated std::vector and a string as a
// heap-allocated std::string.
size_t JsonHeapBytes(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      size_t n = Chunk(sizeof(nlohmann::json::object_t));
      for (auto it = j.begin(); it != j.end(); ++it) {
        n += Chunk(4 * sizeof(void*) + sizeof(std::string) + sizeof(nlohmann::json)) +
             StringHeapBytes(it.key()) + JsonHeapBytes(it.value());
      }
      return n;
    }
    case nlohmann::json::value_t::array: {
      const auto& a = j.get_ref<const nlohmann::json::array_t&>();
      size_t n = Chunk(sizeof(nlohmann::json::array_t)) + VectorHeapBytes(a);
      for (const nlohmann::json& v : a) n += JsonHeapBytes(v);
      return n;
    }
    case nlohmann::json::value_t::string:
      return Chunk(sizeof(std::string)) + StringHeapBytes(j.get_ref<const std::string&>());
    case nlohmann::json::value_t::binary:
      return Chunk(sizeof(nlohmann::json::binary_t)) +
             Chunk(j.get_ref<const nlohmann::json::binary_t&>().capacity());
    default:
      return 0;  // numbers, booleans and null live inside the json value itself
  }
}

}  // namespace

size_t PostingData::MemoryBytes() const {
  size_t bytes = sizeof(*this) + VectorHeapBytes(docnos) + VectorHeapBytes(versions) +
                 VectorHeapBytes(norms) + VectorHeapBytes(codes) + VectorHeapBytes(vectors) +
                 VectorHeapBytes(code_errors) + VectorHeapBytes(code_sums) + VectorHeapBytes(ids) +
                 VectorHeapBytes(attributes) + VectorHeapBytes(parsed_attributes);
  for (const auto& s : ids) bytes += StringHeapBytes(s);
  for (const auto& s : attributes) bytes += StringHeapBytes(s);
  for (const auto& a : parsed_attributes) bytes += JsonHeapBytes(a);
  return bytes + attribute_index_bytes;
}

void PostingData::AppendFrom(const PostingData& other, size_t i) {
  docnos.push_back(other.docnos[i]);
  versions.push_back(other.versions[i]);
  norms.push_back(other.norms[i]);
  codes.insert(codes.end(), other.codes.begin() + i * dims, other.codes.begin() + (i + 1) * dims);
  vectors.insert(vectors.end(), other.vectors.begin() + i * dims,
                 other.vectors.begin() + (i + 1) * dims);
  ids.push_back(other.ids[i]);
  attributes.push_back(other.attributes[i]);
  code_errors.clear();
  code_sums.clear();
}

std::string EncodePosting(const PostingData& p) {
  const size_t n = p.size();
  std::string raw;
  raw.reserve(n * (16 + p.dims * 5) + 64);
  AppendArray(&raw, p.docnos);
  AppendArray(&raw, p.versions);
  AppendArray(&raw, p.norms);
  AppendArray(&raw, p.codes);
  AppendArray(&raw, p.vectors);
  for (const auto& s : p.ids) PutString(&raw, s);
  for (const auto& s : p.attributes) PutString(&raw, s);
  std::string body = Compress(raw);

  std::string out;
  out.reserve(kPostingHeaderSize + body.size());
  PutFixed32(&out, kPostingMagic);
  PutFixed16(&out, kSegmentFormatVersion);
  PutFixed16(&out, 0);  // flags
  PutFixed32(&out, p.centroid_id);
  PutFixed32(&out, p.dims);
  PutFixed32(&out, static_cast<uint32_t>(n));
  PutFixed32(&out, 0);  // reserved
  PutFixed64(&out, raw.size());
  PutFixed64(&out, 0);  // checksum, at offset 32
  out += body;
  EncodeFixed64(out.data() + 32, Checksum64(out));
  return out;
}

Result<std::shared_ptr<PostingData>> DecodePosting(std::string_view blob, uint32_t centroid_id,
                                                   uint32_t dims) {
  if (blob.size() < kPostingHeaderSize) return Status::Corruption("posting too short");
  if (DecodeFixed32(blob.data()) != kPostingMagic) {
    return Status::Corruption("not a posting (bad magic)");
  }
  const uint16_t version = DecodeFixed16(blob.data() + 4);
  if (version != kSegmentFormatVersion) {
    return Status::Corruption("unsupported posting format version " + std::to_string(version));
  }
  if (ChecksumWithHole(blob, 32) != DecodeFixed64(blob.data() + 32)) {
    return Status::Corruption("posting checksum mismatch");
  }
  auto p = std::make_shared<PostingData>();
  p->centroid_id = DecodeFixed32(blob.data() + 8);
  p->dims = DecodeFixed32(blob.data() + 12);
  const uint32_t n = DecodeFixed32(blob.data() + 16);
  const uint64_t raw_size = DecodeFixed64(blob.data() + 24);
  if (p->centroid_id != centroid_id || p->dims != dims || dims == 0 || dims > kMaxDims) {
    return Status::Corruption("posting is for another centroid or dimension count");
  }
  VECPUFF_ASSIGN_OR_RETURN(std::string raw,
                           Decompress(blob.substr(kPostingHeaderSize), raw_size, "posting"));
  Decoder d(raw);
  const size_t nd = size_t{n} * dims;
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, n, &p->docnos, "posting docnos"));
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, n, &p->versions, "posting versions"));
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, n, &p->norms, "posting norms"));
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, nd, &p->codes, "posting codes"));
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, nd, &p->vectors, "posting vectors"));
  p->ids.resize(n);
  p->attributes.resize(n);
  for (auto& s : p->ids) VECPUFF_RETURN_IF_ERROR(ReadString(&d, &s, "posting id"));
  for (auto& s : p->attributes) VECPUFF_RETURN_IF_ERROR(ReadString(&d, &s, "posting attributes"));
  if (!d.done()) return Status::Corruption("posting has trailing bytes");
  return p;
}

std::string EncodeIndexMeta(const IndexMeta& m) {
  std::string raw;
  PutFixed32(&raw, m.next_centroid_id);
  PutFixed32(&raw, m.next_docno);
  if (m.is_base) {
    PutString(&raw, DistanceMetricName(m.metric));
    PutFixed32(&raw, m.dims);
    PutString(&raw, SerializeSq8Params(m.sq8));
  }
  PutFixed32(&raw, static_cast<uint32_t>(m.centroids.size()));
  for (const auto& c : m.centroids) {
    PutFixed32(&raw, c.id);
    PutFixed32(&raw, static_cast<uint32_t>(c.vector.size()));
    AppendArray(&raw, c.vector);
    PutRef(&raw, c.ref);
    PutFixed32(&raw, static_cast<uint32_t>(c.more_parts.size()));
    for (const PostingRef& r : c.more_parts) PutRef(&raw, r);
  }
  PutFixed32(&raw, static_cast<uint32_t>(m.removed_centroids.size()));
  AppendArray(&raw, m.removed_centroids);
  PutFixed32(&raw, static_cast<uint32_t>(m.docs.size()));
  for (const auto& doc : m.docs) {
    PutFixed32(&raw, doc.docno);
    PutFixed64(&raw, doc.version);
    PutFixed32(&raw, doc.home);
    PutString(&raw, doc.id);
  }
  std::string body = Compress(raw);
  std::string out;
  PutFixed32(&out, kIndexMetaMagic);
  PutFixed16(&out, kIndexMetaFormatVersion);
  PutFixed16(&out, m.is_base ? 1 : 0);
  PutFixed64(&out, m.generation);
  PutFixed64(&out, raw.size());
  PutFixed64(&out, 0);  // checksum, at offset 24
  out += body;
  EncodeFixed64(out.data() + 24, Checksum64(out));
  return out;
}

Result<IndexMeta> DecodeIndexMeta(std::string_view object) {
  if (object.size() < kIndexMetaHeaderSize) return Status::Corruption("index meta too short");
  if (DecodeFixed32(object.data()) != kIndexMetaMagic) {
    return Status::Corruption("not an index meta (bad magic)");
  }
  const uint16_t version = DecodeFixed16(object.data() + 4);
  if (version < 1 || version > kIndexMetaFormatVersion) {
    return Status::Corruption("unsupported index meta format version " + std::to_string(version));
  }
  if (ChecksumWithHole(object, 24) != DecodeFixed64(object.data() + 24)) {
    return Status::Corruption("index meta checksum mismatch");
  }
  const uint16_t kind = DecodeFixed16(object.data() + 6);
  if (kind > 1) return Status::Corruption("index meta has an unknown kind");
  IndexMeta m;
  m.is_base = kind == 1;
  m.generation = DecodeFixed64(object.data() + 8);
  VECPUFF_ASSIGN_OR_RETURN(std::string raw,
                           Decompress(object.substr(kIndexMetaHeaderSize),
                                      DecodeFixed64(object.data() + 16), "index meta"));
  Decoder d(raw);
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&m.next_centroid_id, "next centroid id"));
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&m.next_docno, "next docno"));
  if (m.is_base) {
    std::string metric, sq8;
    VECPUFF_RETURN_IF_ERROR(ReadString(&d, &metric, "metric"));
    auto parsed = ParseDistanceMetric(metric);
    if (!parsed) return Status::Corruption("index meta has an unknown metric");
    m.metric = *parsed;
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&m.dims, "dims"));
    if (m.dims == 0 || m.dims > kMaxDims) return Status::Corruption("index meta dims invalid");
    VECPUFF_RETURN_IF_ERROR(ReadString(&d, &sq8, "sq8 params"));
    VECPUFF_ASSIGN_OR_RETURN(m.sq8, DeserializeSq8Params(sq8));
    if (m.sq8.dims() != m.dims) return Status::Corruption("index meta sq8 params mismatch");
  }
  uint32_t n = 0;
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&n, "centroid count"));
  // Each centroid record takes at least kMinCentroidBytes, each doc record kMinDocBytes:
  // counts are bounded by what is left before anything is allocated for them.
  if (n > d.remaining() / kMinCentroidBytes) {
    return Status::Corruption("index meta centroid count too large");
  }
  m.centroids.resize(n);
  for (auto& c : m.centroids) {
    uint32_t len = 0;
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&c.id, "centroid id"));
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&len, "centroid dims"));
    VECPUFF_RETURN_IF_ERROR(ReadArray(&d, len, &c.vector, "centroid vector"));
    for (float f : c.vector) {
      if (!std::isfinite(f)) return Status::Corruption("index meta centroid is not finite");
    }
    VECPUFF_RETURN_IF_ERROR(ReadRef(&d, version, &c.ref));
    uint32_t parts = 0;
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&parts, "posting part count"));
    if (parts >= kMaxPostingParts)
      return Status::Corruption("index meta posting has too many parts");
    c.more_parts.resize(parts);
    for (PostingRef& r : c.more_parts) VECPUFF_RETURN_IF_ERROR(ReadRef(&d, version, &r));
  }
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&n, "removed count"));
  VECPUFF_RETURN_IF_ERROR(ReadArray(&d, n, &m.removed_centroids, "removed centroids"));
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&n, "doc count"));
  if (n > d.remaining() / kMinDocBytes) {
    return Status::Corruption("index meta doc count too large");
  }
  m.docs.resize(n);
  for (auto& doc : m.docs) {
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&doc.docno, "docno"));
    VECPUFF_RETURN_IF_ERROR(d.ReadU64(&doc.version, "doc version"));
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&doc.home, "doc home"));
    VECPUFF_RETURN_IF_ERROR(ReadString(&d, &doc.id, "doc id"));
  }
  if (!d.done()) return Status::Corruption("index meta has trailing bytes");
  return m;
}

}  // namespace vecpuff
