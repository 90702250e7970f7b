#include "common/coding.h"

namespace vecpuff {

Status Decoder::Need(size_t n, std::string_view what) const {
  if (remaining() < n) {
    return Status::Corruption("truncated " + std::string(what) + ": need " + std::to_string(n) +
                              " bytes, " + std::to_string(remaining()) + " left");
  }
  return Status::OK();
}

Status Decoder::ReadU8(uint8_t* v, std::string_view what) {
  VECPUFF_RETURN_IF_ERROR(Need(1, what));
  *v = static_cast<uint8_t>(data_[pos_]);
  pos_ += 1;
  return Status::OK();
}

Status Decoder::ReadU16(uint16_t* v, std::string_view what) {
  VECPUFF_RETURN_IF_ERROR(Need(2, what));
  *v = DecodeFixed16(data_.data() + pos_);
  pos_ += 2;
  return Status::OK();
}

Status Decoder::ReadU32(uint32_t* v, std::string_view what) {
  VECPUFF_RETURN_IF_ERROR(Need(4, what));
  *v = DecodeFixed32(data_.data() + pos_);
  pos_ += 4;
  return Status::OK();
}

Status Decoder::ReadU64(uint64_t* v, std::string_view what) {
  VECPUFF_RETURN_IF_ERROR(Need(8, what));
  *v = DecodeFixed64(data_.data() + pos_);
  pos_ += 8;
  return Status::OK();
}

Status Decoder::ReadBytes(size_t n, std::string_view* out, std::string_view what) {
  VECPUFF_RETURN_IF_ERROR(Need(n, what));
  *out = data_.substr(pos_, n);
  pos_ += n;
  return Status::OK();
}

Status Decoder::ReadLengthPrefixed(std::string_view* out, std::string_view what) {
  uint32_t n = 0;
  VECPUFF_RETURN_IF_ERROR(ReadU32(&n, what));
  return ReadBytes(n, out, what);
}

}  // namespace vecpuff
