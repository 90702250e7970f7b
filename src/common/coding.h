// Little-endian fixed-width encoding and decoding, and a bounds-checked reader over a byte
// buffer. Every persistent format (WAL, manifest, segment) is built from these, so a
// truncated or corrupt object yields Corruption, never an out-of-bounds read.
//
// Thread safety: free functions are pure; a Decoder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vecpuff {

inline void PutFixed16(std::string* dst, uint16_t v) {
  char buf[2] = {static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff)};
  dst->append(buf, 2);
}
inline void PutFixed32(std::string* dst, uint32_t v) {
  char buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 4);
}
inline void PutFixed64(std::string* dst, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  dst->append(buf, 8);
}
inline void PutFloat32(std::string* dst, float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  PutFixed32(dst, bits);
}
// Appends a uint32 length followed by the bytes.
inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutFixed32(dst, static_cast<uint32_t>(s.size()));
  dst->append(s.data(), s.size());
}

inline uint16_t DecodeFixed16(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] | (u[1] << 8));
}
inline uint32_t DecodeFixed32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | u[i];
  return v;
}
inline void EncodeFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Reads fixed-width values from a buffer it does not own; every read is bounds-checked and
// a short buffer yields Corruption naming `what`.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

  Status ReadU8(uint8_t* v, std::string_view what);
  Status ReadU16(uint16_t* v, std::string_view what);
  Status ReadU32(uint32_t* v, std::string_view what);
  Status ReadU64(uint64_t* v, std::string_view what);
  // Reads `n` bytes; the view points into the decoded buffer.
  Status ReadBytes(size_t n, std::string_view* out, std::string_view what);
  // Reads a uint32 length and that many bytes.
  Status ReadLengthPrefixed(std::string_view* out, std::string_view what);

 private:
  Status Need(size_t n, std::string_view what) const;
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace vecpuff
