// Writes the encoder-made seeds of fuzz/corpus/: WAL entries and payloads, manifests, posting
// lists, index metas and posting summaries, each produced by the real encoders and prefixed
// by the mode byte its target reads (see the comment at the top of each fuzz_*.cc). The
// JSON request and filter seeds are written by hand (from docs/api.md) and not made here.
//
// Usage: fuzz_seed_writer <corpus dir>   (fuzz/README.md; writes <dir>/<target>/seed-*)
#include <zstd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catalog/manifest.h"
#include "common/coding.h"
#include "index/posting_summary.h"
#include "index/segment_format.h"
#include "index/sq8.h"
#include "wal/wal_format.h"

namespace vecpuff {
namespace {

namespace fs = std::filesystem;

fs::path g_root;

// Every encoder-made seed must decode: checks the decoders on valid encodings (zstd bodies,
// several zstd frames, drop entries, every manifest version written) as it goes.
void Expect(const Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "seed writer: %s does not decode: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

void Write(const std::string& target, const std::string& name, uint8_t mode,
           std::string_view bytes) {
  if (target == "fuzz_manifest" && mode == 0) Expect(DecodeManifest(bytes).status(), "manifest");
  if (target == "fuzz_segment" && mode == 2) Expect(DecodeIndexMeta(bytes).status(), "meta");
  if (target == "fuzz_segment" && mode == 0) {
    Expect(DecodePosting(bytes, 7, 4).status(), "posting");
  }
  if (target == "fuzz_segment" && mode == (4 | 0x80)) {
    Expect(DecodePostingSummary(bytes).status(), "summary");
  }
  fs::create_directories(g_root / target);
  std::ofstream out(g_root / target / ("seed-" + name), std::ios::binary);
  out.put(static_cast<char>(mode));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string Decompress(std::string_view body, size_t raw_size) {
  std::string raw(raw_size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), body.data(), body.size());
  if (ZSTD_isError(n) || n != raw_size) {
    std::fprintf(stderr, "seed writer: zstd failed\n");
    std::exit(1);
  }
  return raw;
}

WalOp Op(WalOpType type, std::string id, std::vector<float> v, const char* attrs) {
  WalOp op;
  op.type = type;
  op.id = std::move(id);
  op.vector = std::move(v);
  if (type == WalOpType::kUpsert || type == WalOpType::kPatch) {
    op.attributes = nlohmann::json::parse(attrs);
  }
  return op;
}

void WalSeeds() {
  WalRequest small;
  small.ops.push_back(
      Op(WalOpType::kUpsert, "doc1", {0.1f, 0.2f, 0.3f}, R"({"text":"Sample","n":3})"));
  small.ops.push_back(Op(WalOpType::kPatch, "doc2", {}, R"({"category":"tech"})"));
  small.ops.push_back(Op(WalOpType::kDelete, "doc3", {}, nullptr));
  small.ops.push_back(Op(WalOpType::kUpsert, std::string("\xFF\0\0\0\0\0\0\0\x07", 9), {}, "{}"));
  WalRequest big;  // compressible: stored as zstd
  for (int i = 0; i < 24; ++i) {
    big.ops.push_back(Op(WalOpType::kUpsert, "row" + std::to_string(i),
                         std::vector<float>(8, static_cast<float>(i % 3)),
                         R"({"color":"red","tags":["a","b"]})"));
  }
  const std::vector<WalRequest> requests = {small};
  const std::vector<WalRequest> both = {small, big};
  const std::string p_small = EncodeWalPayload(requests);
  const std::string p_both = EncodeWalPayload(both);
  const std::string p_drop = EncodeWalPayload({DropNamespaceRequest()});
  const EncodedWalRequest e_small = EncodeWalRequest(small), e_big = EncodeWalRequest(big);
  const std::string p_joined = JoinWalPayload({&e_small, &e_big}).value();
  const std::string p_empty = EncodeWalPayload({});

  uint64_t seq = 1;
  for (const std::string* p : {&p_small, &p_both, &p_joined, &p_empty}) {
    Expect(DecodeWalEntry(FrameWalEntry(seq, 1, 2, *p), seq).status(), "WAL entry");
  }
  Expect(DecodeWalEntry(FrameWalEntry(seq, 1, 2, p_drop, kWalDropFormatVersion), seq).status(),
         "WAL drop entry");
  Expect(WalPayloadRawSize(p_both) > 256 && p_both[0] == kWalCompressionZstd
             ? Status::OK()
             : Status::Internal("not compressed"),
         "zstd WAL payload");
  Write("fuzz_wal", "entry-small", 0, FrameWalEntry(1, 1700000000000, 42, p_small));
  Write("fuzz_wal", "entry-zstd", 0, FrameWalEntry(2, 1700000000001, 42, p_both));
  Write("fuzz_wal", "entry-joined", 0, FrameWalEntry(3, 1700000000002, 42, p_joined));
  Write("fuzz_wal", "entry-drop", 0,
        FrameWalEntry(4, 1700000000003, 42, p_drop, kWalDropFormatVersion));
  Write("fuzz_wal", "entry-fence", 0, FrameWalEntry(5, 1700000000004, 42, p_empty));
  Write("fuzz_wal", "payload-small", 1, p_small);
  Write("fuzz_wal", "payload-zstd", 1, p_both);
  Write("fuzz_wal", "payload-joined", 1, p_joined);
  Write("fuzz_wal", "payload-drop", 2, p_drop);
  Write("fuzz_wal", "payload-v2", 2, p_small);
}

void ManifestSeeds() {
  Manifest m;
  m.namespace_name = "demo";
  m.distance_metric = DistanceMetric::kEuclideanSquared;
  m.dimensions = 3;
  m.created_at_ms = 1700000000000;
  m.updated_at_ms = 1700000000500;
  m.wal_next_seq_hint = 12;
  Write("fuzz_manifest", "plain", 0, EncodeManifest(m));
  m.index.generation = 4;
  m.index.indexed_through_seq = 9;
  m.index.metas = {"namespaces/demo/index/4-ab/meta", "namespaces/demo/index/3-ab/meta"};
  m.index.retired = {{"namespaces/demo/index/2-ab/pack-0000", 1700000000100}};
  m.index.live_rows = 100;
  m.index.bytes_written = 12345;
  m.index.input_bytes = 1200;
  Write("fuzz_manifest", "index", 0, EncodeManifest(m));
  m.schema["color"] = {"string", true, false};
  m.schema["id"] = {"uint", true, false};
  m.schema["tags"] = {"[]string", false, true};
  Write("fuzz_manifest", "schema", 0, EncodeManifest(m));
  ResetManifestForDrop(&m, 10, 1700000000600);
  Write("fuzz_manifest", "dropped", 0, EncodeManifest(m));
  m.reopened = true;
  m.wal_erased_below = 10;
  const std::string reopened = EncodeManifest(m);
  Write("fuzz_manifest", "reopened", 0, reopened);
  // The JSON body alone, framed by the target as version 4 (mode 7: 1 + 3 % 4).
  Write("fuzz_manifest", "body-v4", 7, std::string_view(reopened).substr(kManifestHeaderSize));
  Write("fuzz_manifest", "body-v1", 1,
        R"({"namespace":"a","distance_metric":"cosine_distance","dimensions":0,)"
        R"("created_at_ms":1,"updated_at_ms":2,"wal_next_seq_hint":1})");
}

PostingSummary Summary() {
  std::vector<nlohmann::json> attrs = {
      nlohmann::json::parse(R"({"color":"red","size":3,"tags":["a","b"],"ok":true})"),
      nlohmann::json::parse(R"({"color":"blue","size":-2.5,"tags":[1,null],"n":null})"),
      nlohmann::json::parse(R"({"size":18446744073709551615,"obj":{"x":1}})"),
  };
  return SummarizePosting(attrs);
}

void SegmentSeeds() {
  const uint32_t dims = 4;
  PostingData p;
  p.centroid_id = 7;
  p.dims = dims;
  p.docnos = {0, 1, 2};
  p.versions = {3, 4, 5};
  p.norms = {1.0f, 2.0f, 0.5f};
  p.vectors = {0.1f, 0.2f, 0.3f, 0.4f, -1, 0, 1, 2, 3, 3, 3, 3};
  p.codes.assign(size_t{3} * dims, 0);
  for (size_t i = 0; i < p.codes.size(); ++i) p.codes[i] = static_cast<uint8_t>(i * 20);
  p.ids = {"a", std::string("\xFF\0\0\0\0\0\0\0\x01", 9), "c"};
  p.attributes = {R"({"color":"red"})", "{}", R"({"tags":[1,2]})"};
  const std::string posting = EncodePosting(p);
  Write("fuzz_segment", "posting", 0, posting);
  // Mode 1: centroid id, dims, count, then the uncompressed body.
  const std::string raw = Decompress(std::string_view(posting).substr(kPostingHeaderSize),
                                     DecodeFixed64(posting.data() + 24));
  Write("fuzz_segment", "posting-raw", 1, posting.substr(8, 12) + raw);

  IndexMeta base;
  base.is_base = true;
  base.generation = 1;
  base.metric = DistanceMetric::kCosineDistance;
  base.dims = dims;
  base.sq8 = TrainSq8(p.vectors.data(), 3, dims);
  base.next_centroid_id = 3;
  base.next_docno = 4;
  for (uint32_t c = 0; c < 2; ++c) {
    CentroidRecord rec;
    rec.id = c;
    rec.vector = {static_cast<float>(c), 0.5f, -0.5f, 1};
    rec.ref = {"namespaces/demo/index/1-ab/pack-0000", c * 1000ull, 900, 3, nullptr};
    if (c == 1) {
      rec.ref.summary = std::make_shared<const PostingSummary>(Summary());
      rec.more_parts.push_back({"namespaces/demo/index/1-ab/pack-0001", 0, 100, 1, nullptr});
    }
    base.centroids.push_back(std::move(rec));
  }
  base.docs = {
      {0, 3, 0, "a"}, {1, 4, 1, "b"}, {3, 5, 1, std::string("\xFE", 1) + std::string(16, 'u')}};
  IndexMeta delta;
  delta.generation = 2;
  delta.next_centroid_id = 4;
  delta.next_docno = 6;
  CentroidRecord added;
  added.id = 3;
  added.vector = {1, 1, 1, 1};
  added.ref = {"namespaces/demo/index/2-ab/pack-0000", 0, 500, 2, nullptr};
  delta.centroids.push_back(added);
  CentroidRecord moved;  // a posting moved: no vector
  moved.id = 1;
  moved.ref = {"namespaces/demo/index/2-ab/pack-0000", 500, 400, 2, nullptr};
  delta.centroids.push_back(moved);
  delta.removed_centroids = {0};
  delta.docs = {{0, 0, 0, "a"}, {4, 9, 3, "e"}, {5, 9, 1, "f"}};
  for (const auto& [name, meta] :
       {std::pair<const char*, const IndexMeta*>{"base", &base}, {"delta", &delta}}) {
    const std::string object = EncodeIndexMeta(*meta);
    Write("fuzz_segment", std::string("meta-") + name, 2, object);
    const std::string body = Decompress(std::string_view(object).substr(kIndexMetaHeaderSize),
                                        DecodeFixed64(object.data() + 16));
    Write("fuzz_segment", std::string("meta-raw-") + name, 3, object.substr(4, 4) + body);
  }
  const std::string summary = EncodePostingSummary(Summary());
  Write("fuzz_segment", "summary", 4 | 0x80, summary);
  Write("fuzz_segment", "summary-body", 4, summary.substr(5, summary.size() - 13));
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  vecpuff::g_root = argv[1];
  vecpuff::WalSeeds();
  vecpuff::ManifestSeeds();
  vecpuff::SegmentSeeds();
  return 0;
}
