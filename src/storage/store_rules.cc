#include "storage/store_rules.h"

#include <utility>

namespace vecpuff::storage_internal {

namespace {

// Keys may hold arbitrary bytes; quote them in messages so that spaces and control bytes
// are visible, and keep messages short.
std::string Quote(std::string_view key) {
  constexpr size_t kMaxShown = 80;
  std::string out = "\"";
  for (size_t i = 0; i < key.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (key.size() > kMaxShown) out += "...";
  out += "\"";
  return out;
}

Status BadKey(std::string_view key, std::string_view why) {
  return Status::InvalidArgument("invalid key " + Quote(key) + ": " + std::string(why));
}

}  // namespace

Status ValidateKey(std::string_view key) {
  if (key.empty()) return BadKey(key, "empty");
  if (key.size() > kMaxKeyBytes) return BadKey(key, "longer than 1024 bytes");
  if (key.find('\0') != std::string_view::npos) return BadKey(key, "contains a NUL byte");
  if (key.front() == '/') return BadKey(key, "starts with '/'");
  size_t start = 0;
  while (true) {
    const size_t slash = key.find('/', start);
    const std::string_view segment =
        key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return BadKey(key, "has an empty segment");
    if (segment == "." || segment == "..") return BadKey(key, "has a '.' or '..' segment");
    if (segment.starts_with(kReservedPrefix)) {
      return BadKey(key, "has a segment starting with the reserved prefix \".vp-\"");
    }
    if (segment.size() > kMaxSegmentBytes) {
      return BadKey(key, "has a segment longer than 247 bytes");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::OK();
}

Status ResolveRange(const std::optional<ByteRange>& range, uint64_t size, uint64_t* begin,
                    uint64_t* length) {
  *begin = 0;
  *length = size;
  if (!range.has_value()) return Status::OK();
  if (range->length.has_value() && *range->length == 0) {
    return Status::InvalidArgument("empty byte range");
  }
  if (size == 0) return Status::OK();
  if (range->offset >= size) {
    return Status::InvalidArgument("range offset " + std::to_string(range->offset) +
                                   " is at or past the end of a " + std::to_string(size) +
                                   "-byte object");
  }
  *begin = range->offset;
  const uint64_t available = size - range->offset;
  *length = range->length.has_value() && *range->length < available ? *range->length : available;
  return Status::OK();
}

bool ListBound::Admits(std::string_view k) const {
  if (key.empty() && !is_prefix) return true;
  if (is_prefix && k.starts_with(key)) return false;
  return k > std::string_view(key);
}

ListBound::Subtree ListBound::Classify(std::string_view subtree) const {
  if (key.empty() && !is_prefix) return Subtree::kAllAdmitted;
  if (is_prefix && subtree.starts_with(key)) return Subtree::kNoneAdmitted;
  if (std::string_view(key).starts_with(subtree)) return Subtree::kSomeAdmitted;
  // Neither is a prefix of the other, so they differ at a byte inside `subtree`, and that
  // byte orders every key under `subtree` against the bound at once.
  return std::string_view(key) < subtree ? Subtree::kAllAdmitted : Subtree::kNoneAdmitted;
}

Status PrepareList(const ListOptions& options, ListBound* bound, int* max_keys) {
  if (options.max_keys <= 0) {
    return Status::InvalidArgument("max_keys must be positive, got " +
                                   std::to_string(options.max_keys));
  }
  if (!options.delimiter.empty() && options.delimiter != "/") {
    return Status::NotSupported("only the delimiter \"/\" is supported");
  }
  *max_keys = options.max_keys < kMaxKeysPerPage ? options.max_keys : kMaxKeysPerPage;
  if (!options.continuation_token.empty()) {
    // Tokens are made by PageBuilder from entries that sort after start_after, so the
    // token alone says where to resume.
    bound->key = options.continuation_token;
    bound->is_prefix = options.continuation_token.back() == '/';
  } else {
    bound->key = options.start_after;
    bound->is_prefix = false;
  }
  return Status::OK();
}

bool PageBuilder::Full() {
  if (count_ < max_keys_) return false;
  truncated_ = true;
  return true;
}

bool PageBuilder::AddObject(ObjectMeta meta) {
  if (Full()) return false;
  last_entry_ = meta.key;
  page_.objects.push_back(std::move(meta));
  ++count_;
  return true;
}

bool PageBuilder::AddCommonPrefix(std::string prefix) {
  if (Full()) return false;
  last_entry_ = prefix;
  page_.common_prefixes.push_back(std::move(prefix));
  ++count_;
  return true;
}

ListPage PageBuilder::Finish() {
  if (truncated_) page_.next_continuation_token = std::move(last_entry_);
  return std::move(page_);
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    if (static_cast<unsigned char>(s.back()) != 0xff) {
      s.back() = static_cast<char>(static_cast<unsigned char>(s.back()) + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

}  // namespace vecpuff::storage_internal
