#include "wal/wal_format.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>

#include "common/coding.h"
#include "common/hash.h"
#include "common/zstd_decompress.h"

namespace vecpuff {
namespace {

// zstd level 1: the cheapest regular level; vectors rarely compress much better at higher ones.
constexpr int kZstdLevel = 1;
// Payloads smaller than this are stored uncompressed.
constexpr size_t kMinCompressBytes = 256;
// Larger payloads are first judged on a sample of this size from their middle (where the
// vectors are, past the first ids): if zstd cannot shrink the sample by at least
// 1/kMinSavingFraction, the payload is stored uncompressed without compressing the rest.
// Vectors from embedding models compress by a few percent only, so this spares most of the
// encoding CPU for them; data that compresses well (small integers, repeated attributes) is
// compressed as before.
constexpr size_t kSampleBytes = 64 * 1024;
constexpr size_t kMinSavingFraction = 8;

constexpr bool kLittleEndian = std::endian::native == std::endian::little;

// What one encoding needs besides its result, reused from one entry to the next: creating a
// compression context allocates and clears its tables each time, and buffers of several MB
// are fresh memory each time (every page faulted in and zeroed by the kernel, then zeroed
// again by std::string::resize). At most kMaxIdle are kept, and buffers over kMaxKeptBytes
// are freed rather than kept: an idle process holds at most a few tens of MB here.
struct Scratch {
  ZSTD_CCtx* cctx = nullptr;
  std::string body;        // the 9-byte payload prefix and the uncompressed body
  std::string compressed;  // zstd's output
  ~Scratch() { ZSTD_freeCCtx(cctx); }
};

class ScratchPool {
 public:
  std::unique_ptr<Scratch> Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        std::unique_ptr<Scratch> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    auto s = std::make_unique<Scratch>();
    s->cctx = ZSTD_createCCtx();
    return s;
  }
  void Return(std::unique_ptr<Scratch> s) {
    for (std::string* b : {&s->body, &s->compressed}) {
      if (b->capacity() > kMaxKeptBytes) std::string().swap(*b);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < kMaxIdle) free_.push_back(std::move(s));
  }

 private:
  static constexpr size_t kMaxIdle = 2;
  static constexpr size_t kMaxKeptBytes = 8 << 20;
  std::mutex mu_;
  std::vector<std::unique_ptr<Scratch>> free_;
};

ScratchPool& Pool() {
  static ScratchPool* pool = new ScratchPool();  // never destroyed: used until the process exits
  return *pool;
}

// Makes `buffer` at least `n` bytes long (its contents are overwritten by the caller): only
// growth is zero-filled, so a reused buffer costs nothing.
char* AtLeast(std::string* buffer, size_t n) {
  if (buffer->size() < n) buffer->resize(n);
  return buffer->data();
}

// Compresses `src` into `dst` (at least ZSTD_compressBound(src.size()) bytes); returns the
// compressed size, or 0 if zstd failed.
size_t Compress(ZSTD_CCtx* cctx, char* dst, size_t capacity, std::string_view src) {
  size_t n = ZSTD_compressCCtx(cctx, dst, capacity, src.data(), src.size(), kZstdLevel);
  return ZSTD_isError(n) ? 0 : n;
}

// The attributes of an upsert or patch as stored: JSON text. nlohmann writes an empty
// object as "{}"; that common case skips the serializer.
std::string AttributesText(const nlohmann::json& attributes) {
  if (attributes.is_object() && attributes.empty()) return "{}";
  return attributes.dump();
}

bool HasAttributes(WalOpType type) {
  return type == WalOpType::kUpsert || type == WalOpType::kPatch;
}

// Writes `n` bytes at *p and advances it. An empty vector's data() may be null, and memcpy
// from null is undefined even for 0 bytes (UBSan: an upsert without a vector).
inline void Emit(char** p, const void* data, size_t n) {
  if (n == 0) return;
  std::memcpy(*p, data, n);
  *p += n;
}
inline void Emit32(char** p, uint32_t v) {
  EncodeFixed32(*p, v);
  *p += 4;
}

// Encodes `op` at *p (sized by the caller). `attributes` is AttributesText(op.attributes).
void EncodeOp(char** p, const WalOp& op, std::string_view attributes) {
  *(*p)++ = static_cast<char>(op.type);
  *(*p)++ = static_cast<char>(WalIdType::kString);
  Emit32(p, static_cast<uint32_t>(op.id.size()));
  Emit(p, op.id.data(), op.id.size());
  if (op.type == WalOpType::kUpsert) {
    Emit32(p, static_cast<uint32_t>(op.vector.size()));
    if constexpr (kLittleEndian) {
      // IEEE 754 floats, little-endian: the in-memory bytes already are the format.
      Emit(p, op.vector.data(), op.vector.size() * sizeof(float));
    } else {
      for (float f : op.vector) {
        uint32_t bits;
        std::memcpy(&bits, &f, sizeof(bits));
        Emit32(p, bits);
      }
    }
  }
  if (HasAttributes(op.type)) {
    Emit32(p, static_cast<uint32_t>(attributes.size()));
    Emit(p, attributes.data(), attributes.size());
  }
}

Status DecodeOp(Decoder* d, uint16_t version, WalOp* op) {
  uint8_t type = 0, id_type = 0;
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&type, "op type"));
  const uint8_t max_type = version >= kWalDropFormatVersion ? 4 : 3;
  if (type < 1 || type > max_type) {
    return Status::Corruption("unknown WAL op type " + std::to_string(type));
  }
  op->type = static_cast<WalOpType>(type);
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&id_type, "id type"));
  if (id_type != static_cast<uint8_t>(WalIdType::kString)) {
    return Status::Corruption("unknown WAL id type " + std::to_string(id_type));
  }
  std::string_view id;
  VECPUFF_RETURN_IF_ERROR(d->ReadLengthPrefixed(&id, "document id"));
  if (op->type == WalOpType::kDropNamespace && !id.empty()) {
    return Status::Corruption("WAL namespace drop op has an id");
  }
  op->id.assign(id);
  if (op->type == WalOpType::kUpsert) {
    uint32_t dims = 0;
    VECPUFF_RETURN_IF_ERROR(d->ReadU32(&dims, "vector dimensions"));
    std::string_view raw;
    VECPUFF_RETURN_IF_ERROR(d->ReadBytes(uint64_t{dims} * 4, &raw, "vector"));
    op->vector.resize(dims);
    for (uint32_t i = 0; i < dims; ++i) {
      uint32_t bits = DecodeFixed32(raw.data() + 4 * i);
      std::memcpy(&op->vector[i], &bits, sizeof(float));
      if (!std::isfinite(op->vector[i])) {
        return Status::Corruption("non-finite vector component in WAL");
      }
    }
  }
  if (op->type == WalOpType::kUpsert || op->type == WalOpType::kPatch) {
    std::string_view text;
    VECPUFF_RETURN_IF_ERROR(d->ReadLengthPrefixed(&text, "attributes"));
    op->attributes = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!op->attributes.is_object()) {
      return Status::Corruption("WAL attributes are not a JSON object");
    }
  }
  return Status::OK();
}

// The encoded size of one request (its op count and its ops); appends the attribute texts
// of its ops, in order, to *attributes.
size_t RequestRawSize(const WalRequest& request, std::vector<std::string>* attributes) {
  size_t size = 4;
  for (const WalOp& op : request.ops) {
    size += 2 + 4 + op.id.size();
    if (op.type == WalOpType::kUpsert) size += 4 + op.vector.size() * sizeof(float);
    if (HasAttributes(op.type)) {
      attributes->push_back(AttributesText(op.attributes));
      size += 4 + attributes->back().size();
    }
  }
  return size;
}

}  // namespace

uint64_t WalPayloadRawSize(std::string_view payload) {
  return payload.size() < 9 ? 0 : DecodeFixed64(payload.data() + 1);
}

std::string EncodeWalPayload(const std::vector<WalRequest>& requests) {
  // The body's exact size first, so that it is written in place, once.
  std::vector<std::string> attributes;
  size_t raw_size = 4;
  for (const WalRequest& r : requests) raw_size += RequestRawSize(r, &attributes);
  // Payload = compression byte, uncompressed size (u64), then the (compressed) bytes. The
  // body is written right after that 9-byte prefix, so that storing it uncompressed needs
  // no copy.
  constexpr size_t kPrefix = 9;
  std::unique_ptr<Scratch> scratch = Pool().Take();
  char* const begin = AtLeast(&scratch->body, kPrefix + raw_size);
  begin[0] = static_cast<char>(kWalCompressionNone);
  EncodeFixed64(begin + 1, raw_size);
  char* p = begin + kPrefix;
  Emit32(&p, static_cast<uint32_t>(requests.size()));
  size_t next_attributes = 0;
  for (const WalRequest& r : requests) {
    Emit32(&p, static_cast<uint32_t>(r.ops.size()));
    for (const WalOp& op : r.ops) {
      std::string_view text;
      if (HasAttributes(op.type)) text = attributes[next_attributes++];
      EncodeOp(&p, op, text);
    }
  }
  // Stored as it is: the scratch buffer itself becomes the payload (no copy).
  auto uncompressed = [&] {
    std::string payload = std::move(scratch->body);
    payload.resize(kPrefix + raw_size);
    Pool().Return(std::move(scratch));
    return payload;
  };
  if (raw_size < kMinCompressBytes) {
    // Small: copied out, so that the scratch buffer stays with the pool.
    std::string payload(begin, kPrefix + raw_size);
    Pool().Return(std::move(scratch));
    return payload;
  }
  // Without a context (out of memory), store it uncompressed.
  if (scratch->cctx == nullptr) return uncompressed();

  const std::string_view raw(begin + kPrefix, raw_size);
  if (raw.size() > 2 * kSampleBytes) {
    const std::string_view sample = raw.substr(raw.size() / 2 - kSampleBytes / 2, kSampleBytes);
    const size_t bound = ZSTD_compressBound(sample.size());
    size_t n = Compress(scratch->cctx, AtLeast(&scratch->compressed, bound), bound, sample);
    if (n == 0 || n > sample.size() - sample.size() / kMinSavingFraction) return uncompressed();
  }
  const size_t bound = ZSTD_compressBound(raw.size());
  char* out = AtLeast(&scratch->compressed, kPrefix + bound);
  size_t n = Compress(scratch->cctx, out + kPrefix, bound, raw);
  // Compression of an in-memory buffer into a buffer of compressBound size cannot fail, and
  // rarely grows the data; either way, store it uncompressed rather than fail the write.
  if (n == 0 || n >= raw.size()) return uncompressed();
  out[0] = static_cast<char>(kWalCompressionZstd);
  EncodeFixed64(out + 1, raw_size);
  std::string payload(out, kPrefix + n);  // sized to fit; the scratch buffer goes back
  Pool().Return(std::move(scratch));
  return payload;
}

EncodedWalRequest EncodeWalRequest(const WalRequest& request) {
  std::vector<std::string> attributes;
  const size_t raw_size = RequestRawSize(request, &attributes);
  EncodedWalRequest out;
  out.raw_size = raw_size;
  std::unique_ptr<Scratch> scratch = Pool().Take();
  char* const begin = AtLeast(&scratch->body, raw_size);
  char* p = begin;
  Emit32(&p, static_cast<uint32_t>(request.ops.size()));
  size_t next_attributes = 0;
  for (const WalOp& op : request.ops) {
    std::string_view text;
    if (HasAttributes(op.type)) text = attributes[next_attributes++];
    EncodeOp(&p, op, text);
  }
  const std::string_view raw(begin, raw_size);
  bool compress = raw_size >= kMinCompressBytes && scratch->cctx != nullptr;
  if (compress && raw.size() > 2 * kSampleBytes) {
    // The same judgement as EncodeWalPayload's, on this request's part alone.
    const std::string_view sample = raw.substr(raw.size() / 2 - kSampleBytes / 2, kSampleBytes);
    const size_t bound = ZSTD_compressBound(sample.size());
    size_t n = Compress(scratch->cctx, AtLeast(&scratch->compressed, bound), bound, sample);
    compress = n != 0 && n <= sample.size() - sample.size() / kMinSavingFraction;
  }
  if (compress) {
    const size_t bound = ZSTD_compressBound(raw.size());
    char* dst = AtLeast(&scratch->compressed, bound);
    size_t n = Compress(scratch->cctx, dst, bound, raw);
    if (n != 0 && n < raw.size()) {
      out.compressed = true;
      out.bytes.assign(dst, n);
    }
  }
  if (!out.compressed) out.bytes.assign(raw);
  Pool().Return(std::move(scratch));
  return out;
}

Result<std::string> JoinWalPayload(const std::vector<const EncodedWalRequest*>& parts) {
  constexpr size_t kPrefix = 9;
  uint64_t raw_size = 4;
  size_t compressed_parts = 0;
  for (const EncodedWalRequest* part : parts) {
    raw_size += part->raw_size;
    if (part->compressed) ++compressed_parts;
  }
  char count[4];
  EncodeFixed32(count, static_cast<uint32_t>(parts.size()));
  std::string payload;
  if (compressed_parts == 0) {
    // The body as EncodeWalPayload writes it uncompressed: the count, then the parts.
    payload.reserve(kPrefix + raw_size);
    payload.push_back(static_cast<char>(kWalCompressionNone));
    PutFixed64(&payload, raw_size);
    payload.append(count, 4);
    for (const EncodedWalRequest* part : parts) payload += part->bytes;
    return payload;
  }
  // One zstd frame for the count, then each part's frame; parts stored uncompressed (small
  // or incompressible ones in a batch with compressible ones) get a frame here.
  std::unique_ptr<Scratch> scratch = Pool().Take();
  if (scratch->cctx == nullptr) {
    Pool().Return(std::move(scratch));
    std::string body;
    body.reserve(raw_size);
    body.append(count, 4);
    for (const EncodedWalRequest* part : parts) {
      if (!part->compressed) {
        body += part->bytes;
        continue;
      }
      // No context to compress with (out of memory): the compressed parts are decompressed
      // and everything is stored uncompressed.
      std::string raw(part->raw_size, '\0');
      size_t n = ZSTD_decompress(raw.data(), raw.size(), part->bytes.data(), part->bytes.size());
      if (ZSTD_isError(n) || n != raw.size()) {
        return Status::Internal("an encoded WAL request does not decompress");
      }
      body += raw;
    }
    payload.push_back(static_cast<char>(kWalCompressionNone));
    PutFixed64(&payload, raw_size);
    return payload + body;
  }
  auto frame = [&](std::string_view raw, std::string* out) {
    const size_t bound = ZSTD_compressBound(raw.size());
    char* dst = AtLeast(&scratch->compressed, bound);
    size_t n = ZSTD_compressCCtx(scratch->cctx, dst, bound, raw.data(), raw.size(), kZstdLevel);
    if (ZSTD_isError(n)) return false;
    out->append(dst, n);
    return true;
  };
  payload.push_back(static_cast<char>(kWalCompressionZstd));
  PutFixed64(&payload, raw_size);
  bool ok = frame(std::string_view(count, 4), &payload);
  for (const EncodedWalRequest* part : parts) {
    if (!ok) break;
    if (part->compressed) {
      payload += part->bytes;
    } else {
      ok = frame(part->bytes, &payload);
    }
  }
  Pool().Return(std::move(scratch));
  // Compressing into a buffer of compressBound size cannot fail.
  if (!ok) return Status::Internal("zstd failed to compress a WAL payload");
  return payload;
}

WalRequest DropNamespaceRequest() {
  WalRequest request;
  request.ops.emplace_back();
  request.ops.back().type = WalOpType::kDropNamespace;
  return request;
}

bool IsDropEntry(const WalEntry& entry) {
  return entry.requests.size() == 1 && entry.requests[0].ops.size() == 1 &&
         entry.requests[0].ops[0].type == WalOpType::kDropNamespace;
}

std::string FrameWalEntry(uint64_t seq, int64_t commit_time_ms, uint64_t writer_id,
                          std::string_view payload, uint16_t version) {
  std::string out;
  out.reserve(kWalHeaderSize + payload.size());
  PutFixed32(&out, kWalMagic);
  PutFixed16(&out, version);
  PutFixed16(&out, 0);  // reserved
  PutFixed64(&out, seq);
  PutFixed64(&out, static_cast<uint64_t>(commit_time_ms));
  PutFixed64(&out, payload.size());
  PutFixed64(&out, 0);  // checksum placeholder, at offset 32
  PutFixed64(&out, writer_id);
  out.append(payload.data(), payload.size());
  // The checksum covers the header (with the checksum field zero) and the payload.
  uint64_t checksum = Checksum64(out);
  EncodeFixed64(out.data() + 32, checksum);
  return out;
}

Result<WalEntry> DecodeWalEntry(std::string_view object, uint64_t expected_seq) {
  if (object.size() < kWalHeaderSize) {
    return Status::Corruption("WAL entry shorter than its header (" +
                              std::to_string(object.size()) + " bytes)");
  }
  uint32_t magic = DecodeFixed32(object.data());
  if (magic != kWalMagic) return Status::Corruption("not a WAL entry (bad magic)");
  uint16_t version = DecodeFixed16(object.data() + 4);
  if (version != kWalFormatVersion && version != kWalDropFormatVersion) {
    return Status::Corruption("unsupported WAL format version " + std::to_string(version));
  }
  uint64_t seq = DecodeFixed64(object.data() + 8);
  int64_t commit_time_ms = static_cast<int64_t>(DecodeFixed64(object.data() + 16));
  uint64_t payload_size = DecodeFixed64(object.data() + 24);
  uint64_t stored_checksum = DecodeFixed64(object.data() + 32);
  uint64_t writer_id = DecodeFixed64(object.data() + 40);
  if (payload_size != object.size() - kWalHeaderSize) {
    return Status::Corruption("WAL payload size " + std::to_string(payload_size) +
                              " does not match object size " + std::to_string(object.size()));
  }
  std::string copy(object);
  EncodeFixed64(copy.data() + 32, 0);
  if (Checksum64(copy) != stored_checksum) return Status::Corruption("WAL checksum mismatch");
  if (seq != expected_seq) {
    return Status::Corruption("WAL entry holds seq " + std::to_string(seq) + ", expected " +
                              std::to_string(expected_seq));
  }

  std::string_view payload = object.substr(kWalHeaderSize);
  Decoder pd(payload);
  uint8_t compression = 0;
  uint64_t raw_size = 0;
  VECPUFF_RETURN_IF_ERROR(pd.ReadU8(&compression, "compression"));
  VECPUFF_RETURN_IF_ERROR(pd.ReadU64(&raw_size, "uncompressed size"));
  if (raw_size > kMaxWalPayloadBytes) return Status::Corruption("WAL payload size implausible");
  std::string_view body;
  VECPUFF_RETURN_IF_ERROR(pd.ReadBytes(pd.remaining(), &body, "payload"));
  std::string raw;
  if (compression == kWalCompressionNone) {
    if (body.size() != raw_size) return Status::Corruption("WAL raw payload size mismatch");
    raw.assign(body);
  } else if (compression == kWalCompressionZstd) {
    if (!ZstdDecompressExactly(body, raw_size, &raw)) {
      return Status::Corruption("WAL payload does not decompress to its stated size");
    }
  } else {
    return Status::Corruption("unknown WAL compression " + std::to_string(compression));
  }

  WalEntry entry;
  entry.seq = seq;
  entry.commit_time_ms = commit_time_ms;
  entry.writer_id = writer_id;
  Decoder d(raw);
  uint32_t request_count = 0;
  VECPUFF_RETURN_IF_ERROR(d.ReadU32(&request_count, "request count"));
  // Each request takes at least 4 bytes: bound the count by what is left before reserving.
  if (request_count > d.remaining() / 4) return Status::Corruption("WAL request count too big");
  entry.requests.resize(request_count);
  for (WalRequest& r : entry.requests) {
    uint32_t op_count = 0;
    VECPUFF_RETURN_IF_ERROR(d.ReadU32(&op_count, "op count"));
    // Each op takes at least 6 bytes.
    if (op_count > d.remaining() / 6) return Status::Corruption("WAL op count too big");
    r.ops.resize(op_count);
    for (WalOp& op : r.ops) {
      VECPUFF_RETURN_IF_ERROR(DecodeOp(&d, version, &op));
      if (op.type == WalOpType::kDropNamespace && (request_count != 1 || op_count != 1)) {
        return Status::Corruption("WAL namespace drop op is not alone in its entry");
      }
    }
  }
  if (!d.done()) return Status::Corruption("trailing bytes after WAL requests");
  return entry;
}

}  // namespace vecpuff
