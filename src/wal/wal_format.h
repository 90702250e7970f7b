// The WAL entry: one immutable object per group commit, holding the requests of every
// writer in the batch, in the order they are applied. The byte layout is specified in
// docs/wal_format.md; every constant here is part of that format and must never change.
//
// A WAL entry is created once (create-only put) and never modified, so encoding and
// decoding are pure functions. Thread safety: all functions are pure and reentrant.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vecpuff {

// Stored in the format: never renumber.
enum class WalOpType : uint8_t {
  kUpsert = 1,  // replace the whole document (vector and attributes)
  kPatch = 2,   // merge attributes into an existing document; ignored if absent
  kDelete = 3,  // remove the document
  // Deletes the namespace: every document, the dimensions and the schema (format version 2;
  // alone in its entry, with an empty id). Later entries start a new namespace of that name.
  kDropNamespace = 4,
};

// Stored in the format: never renumber. Only string ids exist today; integer and UUID ids
// (turbopuffer API) will get their own tags.
enum class WalIdType : uint8_t {
  kString = 1,
};

struct WalOp {
  WalOpType type = WalOpType::kUpsert;
  std::string id;
  std::vector<float> vector;                             // upsert only; empty means "no vector"
  nlohmann::json attributes = nlohmann::json::object();  // upsert and patch; a JSON object
};

// One client request: its ops are applied together (atomically) and in order.
struct WalRequest {
  std::vector<WalOp> ops;
};

struct WalEntry {
  uint64_t seq = 0;            // position in the namespace's log, from 1, dense
  int64_t commit_time_ms = 0;  // Unix millis when the entry was written
  // Random per writing process. Makes every entry's bytes unique to its writer, so a writer
  // whose create-only put had an ambiguous outcome can tell its own entry from another's.
  uint64_t writer_id = 0;
  std::vector<WalRequest> requests;
};

constexpr uint32_t kWalMagic = 0x4C575056;  // "VPWL" little-endian. Never change.
// Writers frame ordinary entries as version 1, which every reader since the first reads,
// and an entry with a kDropNamespace op as version 2; readers accept both.
constexpr uint16_t kWalFormatVersion = 1;
constexpr uint16_t kWalDropFormatVersion = 2;
constexpr size_t kWalHeaderSize = 48;  // see docs/wal_format.md
constexpr uint8_t kWalCompressionNone = 0;
constexpr uint8_t kWalCompressionZstd = 1;

// The largest uncompressed payload a reader accepts (so a corrupt size field cannot make it
// allocate without bound). A writer must never put an entry whose payload exceeds it: every
// reader would reject it as Corruption. Never lower it.
constexpr uint64_t kMaxWalPayloadBytes = uint64_t{4} << 30;

// The uncompressed size recorded in a payload made by EncodeWalPayload.
uint64_t WalPayloadRawSize(std::string_view payload);

// Serializes and compresses the requests: the payload part of an entry. Independent of the
// sequence number, so a writer that loses a race for a sequence number re-frames the same
// payload at the next one instead of re-encoding.
std::string EncodeWalPayload(const std::vector<WalRequest>& requests);

// One request's part of a payload, encoded on its own: writers encode (and compress) their
// request in their own thread, in parallel, before group commit joins the parts of a batch
// with JoinWalPayload.
struct EncodedWalRequest {
  uint64_t raw_size = 0;    // bytes of the request's part of the uncompressed body
  bool compressed = false;  // `bytes` is one zstd frame of that part; else the part itself
  std::string bytes;
};
EncodedWalRequest EncodeWalRequest(const WalRequest& request);

// The payload of the requests whose parts these are, in order: it decodes to the same
// requests as EncodeWalPayload's. Compressed parts stay the separate zstd frames they are
// (a zstd body may be several concatenated frames, docs/wal_format.md); if some parts were
// compressed and others not, the others are compressed here. Internal only if zstd fails,
// which it cannot on valid parts.
Result<std::string> JoinWalPayload(const std::vector<const EncodedWalRequest*>& parts);

// Builds the full object: header (with seq, time and checksum) followed by the payload.
// `version` is kWalDropFormatVersion for the payload of DropNamespaceRequest().
std::string FrameWalEntry(uint64_t seq, int64_t commit_time_ms, uint64_t writer_id,
                          std::string_view payload, uint16_t version = kWalFormatVersion);

// The one request of a namespace drop entry: a single kDropNamespace op.
WalRequest DropNamespaceRequest();

// Whether `entry` is a namespace drop (its only op is kDropNamespace).
bool IsDropEntry(const WalEntry& entry);

// Decodes an entry. Corruption if the magic, version, checksum, sizes or any field is
// wrong, if the entry's seq differs from `expected_seq` (a misplaced object), or if a
// kDropNamespace op is in a version 1 entry or is not the entry's only op.
Result<WalEntry> DecodeWalEntry(std::string_view object, uint64_t expected_seq);

}  // namespace vecpuff
