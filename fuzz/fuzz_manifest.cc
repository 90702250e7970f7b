// Fuzzes the manifest decoder (catalog/manifest.h). Input: a mode byte, then
//   even mode: a whole manifest object, its checksum repaired;
//   odd mode:  the JSON body alone, framed with a valid header of format version
//              1 + (mode / 2) % kManifestFormatVersion.
// Properties: decoding fails only with Corruption; a manifest that decodes encodes into an
// object that decodes to the same manifest (compared by its encoding) and stays valid
// through ResetManifestForDrop.
#include <string>

#include "catalog/manifest.h"
#include "fuzz_common.h"

namespace vecpuff::fuzz {
namespace {

void RoundTrip(const Manifest& m) {
  const std::string encoded = EncodeManifest(m);
  Result<Manifest> again = DecodeManifest(encoded);
  FuzzCheck(again.ok(), "re-encoded manifest decodes");
  FuzzCheck(EncodeManifest(*again) == encoded, "manifest round trip");
  FuzzCheck(again->index == m.index && again->schema == m.schema &&
                again->namespace_name == m.namespace_name && again->dimensions == m.dimensions &&
                again->dropped_seq == m.dropped_seq,
            "manifest round trip keeps the fields");

  // What a namespace drop does to it must still be a valid manifest.
  if (m.dropped_seq < UINT64_MAX - 1 && m.index.generation < UINT64_MAX) {
    Manifest dropped = m;
    ResetManifestForDrop(&dropped, m.dropped_seq + 1, 1700000000000);
    CheckCorruption(DecodeManifest(EncodeManifest(dropped)).status(), "dropped manifest");
    FuzzCheck(DecodeManifest(EncodeManifest(dropped)).ok(), "a dropped manifest decodes");
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
  std::string object;
  if (mode % 2 == 0) {
    object = std::move(rest);
  } else {
    PutFixed32(&object, kManifestMagic);
    PutFixed16(&object, static_cast<uint16_t>(1 + (mode / 2) % kManifestFormatVersion));
    PutFixed16(&object, 0);
    PutFixed64(&object, rest.size());
    PutFixed64(&object, 0);
    object += rest;
  }
  FixChecksum(&object, 16);
  Result<Manifest> m = DecodeManifest(object);
  CheckCorruption(m.status(), "DecodeManifest");
  if (m.ok()) RoundTrip(*m);
  return 0;
}
