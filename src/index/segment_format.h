// The index's persistent formats (specified in docs/segment_format.md):
//
//  - A posting list: every entry assigned to one centroid, with its SQ8 code (for the scan),
//    its full-precision vector (for the rerank), id and attributes, so a query needs no
//    other object to answer. Postings are stored back to back in immutable "pack" objects
//    and read by byte range.
//  - An index meta: the changes one compaction made to the index (centroids added or
//    removed, where each posting now lives, the document version map). A "base" meta holds
//    the whole index; the manifest lists a base followed by deltas, folded in order.
//
// Every object carries a magic, a format version and an XXH64 checksum; decoding a damaged
// or truncated object yields Corruption, never an out-of-bounds read.
//
// Thread safety: pure functions over plain values.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/manifest.h"
#include "common/status.h"
#include "index/posting_summary.h"
#include "index/sq8.h"

namespace vecpuff {

constexpr uint32_t kPostingMagic = 0x4C505056;    // "VPPL" little-endian
constexpr uint32_t kIndexMetaMagic = 0x4D495056;  // "VPIM" little-endian
constexpr uint16_t kSegmentFormatVersion = 1;
// Index metas: version 2 adds a posting summary to every posting ref; version 1 is still
// read (its refs have none).
constexpr uint16_t kIndexMetaFormatVersion = 2;
constexpr size_t kPostingHeaderSize = 40;
constexpr size_t kIndexMetaHeaderSize = 32;

// One posting list, decoded. Entry i is (docnos[i], versions[i], ...). `codes` and
// `vectors` hold count * dims values each. For the cosine metric the codes encode the
// normalized vector; `vectors` are always the vectors as written.
class AttributeIndex;  // query/attribute_index.h

struct PostingData {
  uint32_t centroid_id = 0;
  uint32_t dims = 0;
  std::vector<uint32_t> docnos;
  std::vector<uint64_t> versions;
  std::vector<float> norms;
  std::vector<uint8_t> codes;
  std::vector<float> vectors;
  std::vector<std::string> ids;
  std::vector<std::string> attributes;  // JSON object text, one per entry
  // Derived when a posting is loaded for search, never stored: each entry's
  // IndexSpaceCodeError (ivf_index.h), which bounds its distance from its code distance. Empty
  // when not derived (then no entry is skipped on its bounds). AppendFrom leaves these empty.
  std::vector<float> code_errors;
  std::vector<Sq8CodeSums> code_sums;  // Sq8Sums of each code (sq8.h), derived likewise
  // Each entry's attributes parsed (for filters and results), derived when the posting is
  // loaded for search; empty when not derived.
  std::vector<nlohmann::json> parsed_attributes;
  // An index of parsed_attributes (query/attribute_index.h) that evaluates a filter over the
  // whole posting at once, built with them; it refers into parsed_attributes, which must not
  // change while it lives. Null when not built. `attribute_index_bytes` is its MemoryBytes().
  std::shared_ptr<const AttributeIndex> attribute_index;
  size_t attribute_index_bytes = 0;

  size_t size() const { return docnos.size(); }
  // Approximate heap bytes, for cache accounting.
  size_t MemoryBytes() const;
  // Appends entry `i` of `other`. REQUIRES: other.dims == dims.
  void AppendFrom(const PostingData& other, size_t i);
};

// Encodes a posting (header + zstd-compressed body). REQUIRES: consistent array sizes.
std::string EncodePosting(const PostingData& posting);
// Corruption if `blob` is not a valid posting for `centroid_id` with `dims` dimensions.
Result<std::shared_ptr<PostingData>> DecodePosting(std::string_view blob, uint32_t centroid_id,
                                                   uint32_t dims);

// Where a posting is stored: a byte range of a pack object.
struct PostingRef {
  std::string pack;  // object key
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t count = 0;  // entries, including stale ones
  // What the entries' attributes can be (index/posting_summary.h), so that a filter can skip
  // the posting unread; null when unknown (version 1 metas, or not computed).
  std::shared_ptr<const PostingSummary> summary;
  bool operator==(const PostingRef& o) const {
    return pack == o.pack && offset == o.offset && length == o.length && count == o.count &&
           (summary == o.summary || (summary && o.summary && *summary == *o.summary));
  }
};

// A document version record: `version` 0 frees the docno (the document was deleted).
struct DocRecord {
  uint32_t docno = 0;
  uint64_t version = 0;  // the WAL seq of the write that produced this state
  uint32_t home = 0;     // a centroid whose posting holds a current copy
  std::string id;
  bool operator==(const DocRecord&) const = default;
};

// A posting may be stored in several parts: a base part and up to kMaxPostingParts - 1 parts
// appended by later compactions (new entries only), so that adding a few entries to a large
// posting does not rewrite it. A compaction that splits, merges or cleans a posting rewrites
// it as a single base part.
constexpr size_t kMaxPostingParts = 4;

struct CentroidRecord {
  uint32_t id = 0;
  std::vector<float> vector;           // dims floats; absent (empty) when only the posting moved
  PostingRef ref;                      // the base part
  std::vector<PostingRef> more_parts;  // appended parts, oldest first
  bool operator==(const CentroidRecord&) const = default;
};

// The changes of one compaction, or (is_base) the whole index.
struct IndexMeta {
  bool is_base = false;
  uint64_t generation = 0;
  // Base only: the index parameters.
  DistanceMetric metric = DistanceMetric::kEuclideanSquared;
  uint32_t dims = 0;
  Sq8Params sq8;
  // Centroids created, and postings moved to new places (vector empty then).
  std::vector<CentroidRecord> centroids;
  std::vector<uint32_t> removed_centroids;
  std::vector<DocRecord> docs;
  uint32_t next_centroid_id = 0;
  uint32_t next_docno = 0;

  bool operator==(const IndexMeta&) const = default;
};

std::string EncodeIndexMeta(const IndexMeta& meta);
Result<IndexMeta> DecodeIndexMeta(std::string_view object);

}  // namespace vecpuff
