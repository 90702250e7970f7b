#include "wal/wal_format.h"

#include <zstd.h>

#include <cmath>
#include <cstring>

#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {
namespace {

// zstd level 1: vectors compress little, so spend as little CPU as possible on them.
constexpr int kZstdLevel = 1;
// Payloads smaller than this are stored uncompressed.
constexpr size_t kMinCompressBytes = 256;

void EncodeOp(std::string* out, const WalOp& op) {
  out->push_back(static_cast<char>(op.type));
  out->push_back(static_cast<char>(WalIdType::kString));
  PutLengthPrefixed(out, op.id);
  if (op.type == WalOpType::kUpsert) {
    PutFixed32(out, static_cast<uint32_t>(op.vector.size()));
    size_t at = out->size();
    out->resize(at + op.vector.size() * sizeof(float));
    char* p = out->data() + at;
    for (float f : op.vector) {
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof(bits));
      EncodeFixed32(p, bits);
      p += 4;
    }
  }
  if (op.type == WalOpType::kUpsert || op.type == WalOpType::kPatch) {
    PutLengthPrefixed(out, op.attributes.dump());
  }
}

Status DecodeOp(Decoder* d, WalOp* op) {
  uint8_t type = 0, id_type = 0;
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&type, "op type"));
  if (type < 1 || type > 3) {
    return Status::Corruption("unknown WAL op type " + std::to_string(type));
  }
  op->type = static_cast<WalOpType>(type);
  VECPUFF_RETURN_IF_ERROR(d->ReadU8(&id_type, "id type"));
  if (id_type != static_cast<uint8_t>(WalIdType::kString)) {
    return Status::Corruption("unknown WAL id type " + std::to_string(id_type));
  }
  std::string_view id;
  VECPUFF_RETURN_IF_ERROR(d->ReadLengthPrefixed(&id, "document id"));
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

}  // namespace

uint64_t WalPayloadRawSize(std::string_view payload) {
  return payload.size() < 9 ? 0 : DecodeFixed64(payload.data() + 1);
}

std::string EncodeWalPayload(const std::vector<WalRequest>& requests) {
  std::string raw;
  PutFixed32(&raw, static_cast<uint32_t>(requests.size()));
  for (const WalRequest& r : requests) {
    PutFixed32(&raw, static_cast<uint32_t>(r.ops.size()));
    for (const WalOp& op : r.ops) EncodeOp(&raw, op);
  }
  // Payload = compression byte, uncompressed size (u64), then the (compressed) bytes.
  std::string payload;
  if (raw.size() < kMinCompressBytes) {
    payload.push_back(static_cast<char>(kWalCompressionNone));
    PutFixed64(&payload, raw.size());
    payload += raw;
    return payload;
  }
  size_t bound = ZSTD_compressBound(raw.size());
  payload.push_back(static_cast<char>(kWalCompressionZstd));
  PutFixed64(&payload, raw.size());
  size_t at = payload.size();
  payload.resize(at + bound);
  size_t n = ZSTD_compress(payload.data() + at, bound, raw.data(), raw.size(), kZstdLevel);
  if (ZSTD_isError(n)) {
    // Compression of an in-memory buffer into a buffer of compressBound size cannot fail;
    // fall back to storing it raw rather than failing the write.
    payload.clear();
    payload.push_back(static_cast<char>(kWalCompressionNone));
    PutFixed64(&payload, raw.size());
    payload += raw;
    return payload;
  }
  payload.resize(at + n);
  return payload;
}

std::string FrameWalEntry(uint64_t seq, int64_t commit_time_ms, uint64_t writer_id,
                          std::string_view payload) {
  std::string out;
  out.reserve(kWalHeaderSize + payload.size());
  PutFixed32(&out, kWalMagic);
  PutFixed16(&out, kWalFormatVersion);
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
  if (version != kWalFormatVersion) {
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
    raw.resize(raw_size);
    size_t n = ZSTD_decompress(raw.data(), raw.size(), body.data(), body.size());
    if (ZSTD_isError(n) || n != raw_size) {
      return Status::Corruption("WAL payload does not decompress");
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
    for (WalOp& op : r.ops) VECPUFF_RETURN_IF_ERROR(DecodeOp(&d, &op));
  }
  if (!d.done()) return Status::Corruption("trailing bytes after WAL requests");
  return entry;
}

}  // namespace vecpuff
