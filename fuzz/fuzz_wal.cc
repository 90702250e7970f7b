// Fuzzes the WAL entry decoder (wal/wal_format.h). Input: a mode byte, then
//   mode % 3 == 0: a whole entry object; its checksum is repaired and the expected seq is
//                  the one in its header, so the header and payload checks are reached;
//   mode % 3 == 1: a payload (compression byte, raw size, body), framed by FrameWalEntry as
//                  a version 1 entry;
//   mode % 3 == 2: likewise as a version 2 (drop-capable) entry.
// Properties: decoding fails only with Corruption; an entry that decodes re-encodes (with
// EncodeWalPayload, and with EncodeWalRequest + JoinWalPayload) into a payload that decodes
// to the same requests.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "wal/wal_format.h"

namespace vecpuff::fuzz {
namespace {

bool SameRequests(const std::vector<WalRequest>& a, const std::vector<WalRequest>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].ops.size() != b[i].ops.size()) return false;
    for (size_t j = 0; j < a[i].ops.size(); ++j) {
      const WalOp& x = a[i].ops[j];
      const WalOp& y = b[i].ops[j];
      if (x.type != y.type || x.id != y.id || x.vector.size() != y.vector.size()) return false;
      if (!x.vector.empty() &&
          std::memcmp(x.vector.data(), y.vector.data(), x.vector.size() * sizeof(float)) != 0) {
        return false;
      }
      // Text, not ==: NaN never equals itself, and the text is what is stored.
      if (x.attributes.dump() != y.attributes.dump()) return false;
    }
  }
  return true;
}

Result<WalEntry> Reframe(const WalEntry& entry, const std::string& payload) {
  const uint16_t version = IsDropEntry(entry) ? kWalDropFormatVersion : kWalFormatVersion;
  return DecodeWalEntry(
      FrameWalEntry(entry.seq, entry.commit_time_ms, entry.writer_id, payload, version), entry.seq);
}

void RoundTrip(const WalEntry& entry) {
  const std::string payload = EncodeWalPayload(entry.requests);
  FuzzCheck(WalPayloadRawSize(payload) >= 4, "payload raw size");
  Result<WalEntry> again = Reframe(entry, payload);
  FuzzCheck(again.ok(), "re-encoded WAL entry decodes");
  FuzzCheck(SameRequests(entry.requests, again->requests), "WAL round trip keeps requests");
  FuzzCheck(again->seq == entry.seq && again->commit_time_ms == entry.commit_time_ms &&
                again->writer_id == entry.writer_id,
            "WAL round trip keeps the header");

  // The group-commit path: each request encoded on its own, then joined.
  std::vector<EncodedWalRequest> parts;
  parts.reserve(entry.requests.size());
  for (const WalRequest& r : entry.requests) parts.push_back(EncodeWalRequest(r));
  std::vector<const EncodedWalRequest*> pointers;
  for (const EncodedWalRequest& p : parts) pointers.push_back(&p);
  Result<std::string> joined = JoinWalPayload(pointers);
  FuzzCheck(joined.ok(), "JoinWalPayload of valid parts");
  FuzzCheck(WalPayloadRawSize(*joined) == WalPayloadRawSize(payload), "joined raw size");
  Result<WalEntry> joined_entry = Reframe(entry, *joined);
  FuzzCheck(joined_entry.ok(), "joined WAL payload decodes");
  FuzzCheck(SameRequests(entry.requests, joined_entry->requests), "joined payload round trip");
}

}  // namespace
}  // namespace vecpuff::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vecpuff;
  using namespace vecpuff::fuzz;
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string object;
  uint64_t expected_seq = 1;
  if (mode == 0) {
    object = std::move(rest);
    FixChecksum(&object, 32);
    if (object.size() >= 16) expected_seq = DecodeFixed64(object.data() + 8);
  } else {
    expected_seq = 7;
    object = FrameWalEntry(expected_seq, 1700000000000, 0x1234, rest,
                           mode == 1 ? kWalFormatVersion : kWalDropFormatVersion);
  }
  Result<WalEntry> entry = DecodeWalEntry(object, expected_seq);
  CheckCorruption(entry.status(), "DecodeWalEntry");
  if (entry.ok()) RoundTrip(*entry);
  return 0;
}
