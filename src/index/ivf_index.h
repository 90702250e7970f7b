// The SPFresh index of one namespace, in memory: centroids (with where each centroid's posting
// list is stored), and the document version map that tells which posting entries are current.
// Posting lists themselves live in immutable pack objects and are read on demand
// (PostingSource), through the caches.
//
// IndexState is the folded result of the metas the manifest lists (segment_format.h). The
// compaction algorithm (Compact) reads an IndexState plus the WAL changes since it was built,
// and produces the next meta and the pack objects it references: SPANN's closure assignment
// with the RNG rule for new vectors, LIRE's split (2-means) / reassign / merge for postings
// that grow too large or too small, and lazy removal of stale entries from every posting it
// rewrites. See docs/index.md.
//
// Thread safety: IndexState is a plain value: concurrent const access is safe, mutation needs
// exclusive access. Compact() only reads the state.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/manifest.h"
#include "common/status.h"
#include "index/projection.h"
#include "index/segment_format.h"
#include "index/sq8.h"

namespace vecpuff {

// Tunables of index construction and search. Changing them never invalidates an index.
struct IndexTuning {
  uint32_t posting_target = 96;       // build: expected entries per posting (incl. replicas)
  uint32_t split_limit = 256;         // a posting with more live entries is split (2-means)
  uint32_t merge_limit = 12;          // a posting with fewer live entries is merged away
  uint32_t replica_count = 4;         // max postings one vector is assigned to
  float closure_factor = 2.0f;        // replica j only if D(v,c_j) <= factor * D(v,c_1) (squared)
  float rng_factor = 1.0f;            // RNG rule: reject c_j if rng * D(c_j,c_i) <= D(v,c_j)
  uint32_t candidate_centroids = 32;  // nearest centroids considered for assignment
  uint32_t reassign_neighbors = 8;    // postings near a split checked for reassignment
  size_t pack_bytes = 64u << 20;      // a pack object is closed at this size
  size_t max_build_sample = 20000;    // k-means trains on at most this many vectors
  unsigned build_threads = 2;
};

// One write to a document, folded over the WAL entries being indexed: its final state.
struct DocChange {
  enum class Kind { kUpsert, kPatch, kDelete };
  Kind kind = Kind::kUpsert;
  std::string id;
  uint64_t version = 0;         // WAL seq of the last write
  std::vector<float> vector;    // kUpsert
  std::string attributes_json;  // kUpsert: the attributes; kPatch: keys to overwrite
};

// A proximity graph over many centroids (an HNSW index from hnswlib, Debian libhnswlib-dev)
// built over their SQ8 codes with our run-time-dispatched SQ8 kernel: a search visits a few
// hundred codes instead of every centroid. Labels are slots.
//
// A graph search can miss the query's neighbours when the centroids are nearly equidistant
// (e.g. 4,000 uniform random codes in 512 dimensions: 0.86 of the probe points' nearest
// found; clustered data such as Fashion-MNIST's: 1.0). So every graph is checked when built:
// kProbePoints probe points (centroids moved half way to their nearest other centroid, in a
// random direction) are searched for kProbeWant candidates, which must hold at least
// kMinProbeRecall of each probe's true kProbeNearest nearest centroids (or centroids as
// near); a graph that fails is not used, and searches compare every code.
class CentroidGraph {
 public:
  static constexpr size_t kProbePoints = 64;
  static constexpr size_t kProbeNearest = 8;
  static constexpr size_t kProbeWant = 64;
  static constexpr double kMinProbeRecall = 0.9;

  // A graph over `count` codes of `dims` bytes (slots 0..count-1); null if it cannot be built
  // or fails the check above (then callers compare every centroid).
  static std::shared_ptr<const CentroidGraph> Build(const uint8_t* codes, size_t count,
                                                    uint32_t dims);
  ~CentroidGraph();
  // About `want` slots near the code (approximate), appended to out as (code distance, slot),
  // farthest first.
  void Candidates(const uint8_t* code, size_t want,
                  std::vector<std::pair<uint32_t, uint32_t>>* out) const;
  // The check of Build: the share of the probe points' true nearest centroids found.
  double ProbeRecall(const uint8_t* codes, size_t count, uint32_t dims) const;

 private:
  CentroidGraph() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class IndexState {
 public:
  // From this many centroids on, a centroid graph is built (and checked: CentroidGraph);
  // searches use it when they want far fewer candidates than there are centroids
  // (CandidateSlots). Below it comparing every centroid's code costs about as much as a
  // graph search (Fashion-MNIST, 1,100 centroids: the graph path was no faster).
  static constexpr size_t kGroupThreshold = 4096;
  // A query asks the graph for max(4 probes, kGraphMinWant) candidates (with thousands of
  // centroids fewer lose recall: 0.93 of the true nearest 8 among 8,192 with 16), and uses it
  // only when there are at least kGraphMinRatio times as many centroids.
  static constexpr size_t kGraphMinWant = 64;
  static constexpr size_t kGraphMinRatio = 8;
  // Without a graph, NearestCentroids first bounds every centroid's distance through a
  // projection on kProjectionDims principal directions of the centroids (projection.h) and
  // compares codes only of those the bounds cannot rule out; used from kProjectionMinCount
  // centroids of at least kProjectionMinDims dimensions (below, the codes are cheap enough),
  // and dropped for a state when the bounds rule out too few (kProjectionTrialQueries
  // queries keep on average more than half the centroids).
  static constexpr size_t kProjectionDims = 32;
  static constexpr size_t kProjectionMinDims = 256;
  static constexpr size_t kProjectionMinCount = 256;
  static constexpr uint64_t kProjectionTrialQueries = 64;

  bool empty() const { return cids_.empty(); }
  DistanceMetric metric() const { return metric_; }
  uint32_t dims() const { return dims_; }
  const Sq8Params& sq8() const { return sq8_; }
  size_t centroid_count() const { return cids_.size(); }
  uint64_t live_docs() const { return live_docs_; }
  uint32_t next_docno() const { return next_docno_; }
  uint32_t next_centroid_id() const { return next_centroid_id_; }

  // Folds one meta. A base replaces everything. Corruption if the meta contradicts the state
  // (a delta before any base, an unknown centroid).
  Status Apply(const IndexMeta& meta);
  // The whole state as a base meta.
  IndexMeta MakeBase(uint64_t generation) const;

  // The document's docno if it is in the index.
  std::optional<uint32_t> Docno(std::string_view id) const;
  uint64_t Version(uint32_t docno) const { return docno < version_.size() ? version_[docno] : 0; }
  void PrefetchVersion(uint32_t docno) const {
    if (docno < version_.size()) __builtin_prefetch(&version_[docno]);
  }
  uint32_t Home(uint32_t docno) const { return home_[docno]; }
  const std::string& DocId(uint32_t docno) const { return doc_id_[docno]; }

  // Slots worth comparing with `v` when looking for its `n` nearest centroids: every slot
  // while there are few centroids; with many, max(4n, 64) found through the centroid graph
  // (rebuilt as the centroids change).
  void CandidateSlots(const float* v, size_t n, std::vector<uint32_t>* out) const;

  // Centroid slots nearest to `qn` (the query, normalized for cosine), ascending by squared
  // L2 distance, at most `n`, with their distances.
  // - With a centroid graph (many centroids): its candidates by SQ8 code, the best
  //   n + max(n / 2, 4) of them ranked at full precision (approximate).
  // - Else exact (the true n nearest but for float rounding): the centroids the projection
  //   bounds cannot rule out (all, without a projection) are compared by SQ8 code; those
  //   whose code-distance bounds (Sq8DistanceBounds) cannot rule them out either are ranked
  //   at full precision. If coarse codes leave more than max(4n, 64) of them, only that many
  //   nearest by code are (approximate).
  // `qcode`, if given, is qn's SQ8 code (else it is encoded here), and `qerror`, if not
  // negative, Sq8CodeError of the two (else it is computed here).
  void NearestCentroids(const float* qn, size_t n, std::vector<std::pair<float, uint32_t>>* out,
                        const uint8_t* qcode = nullptr, float qerror = -1) const;
  uint32_t CentroidId(uint32_t slot) const { return cids_[slot]; }
  const float* CentroidVector(uint32_t slot) const { return &cvecs_[size_t{slot} * dims_]; }
  const PostingRef& Ref(uint32_t slot) const { return refs_[slot]; }  // the base part
  const std::vector<PostingRef>& MoreParts(uint32_t slot) const { return more_parts_[slot]; }
  // Waits until the centroid graph (if there are enough centroids for one) is built; for
  // tests that want the graph path of NearestCentroids.
  void WaitForGraph() const { (void)Graph(); }
  // Waits until the centroid projection (if the state qualifies for one) is built; true if
  // NearestCentroids uses it. For tests.
  bool WaitForProjection() const;
  // Entries in all parts of the posting, stale ones included.
  size_t StoredCount(uint32_t slot) const;
  std::optional<uint32_t> SlotOf(uint32_t centroid_id) const;
  // Pack objects referenced by some posting.
  std::vector<std::string> Packs() const;

 private:
  void RemoveSlot(uint32_t slot);
  void UnrefPacks(uint32_t slot);  // drops the slot's parts from pack_refs_

  // The centroid graph over a copy of the codes it was made for, built once: by the first
  // compaction that needs it (which waits for it), or in the background after the first
  // query that could use it (queries compare every code until it is ready, so opening a
  // namespace never waits for a graph). Null below kGroupThreshold centroids.
  struct LazyGraph {
    std::vector<uint8_t> codes;
    size_t count = 0;
    uint32_t dims = 0;
    std::once_flag once;
    std::shared_ptr<const CentroidGraph> graph;  // set inside `once`
    std::atomic<bool> ready{false};              // graph is set
    std::atomic<bool> background_started{false};
    void Build();
  };
  const CentroidGraph* Graph() const;       // builds it if needed (waits)
  const CentroidGraph* ReadyGraph() const;  // null until built; starts a background build
  std::shared_ptr<LazyGraph> graph_;

  // The centroid projection over a copy of the centroid vectors it was made for, built once
  // in the background after the first query that could use it (queries compare every code
  // until then). The basis of the previous one is reused while the number of centroids
  // stays within a factor of 2 of the number it was fitted to (any orthonormal basis gives
  // valid bounds; a fitted one tight ones). Null when the state does not qualify.
  struct LazyProjection {
    std::vector<float> vecs;  // count x dims
    size_t count = 0;
    uint32_t dims = 0;
    std::shared_ptr<const Projection> inherited;
    size_t inherited_fit_count = 0;
    std::once_flag once;
    // Set inside `once`:
    std::shared_ptr<const Projection> basis;
    size_t fit_count = 0;
    std::vector<float> coords;    // column-major: basis->d() rows of count (kernel layout)
    std::vector<float> residual;  // per centroid: |residual|
    double max_sq = 0;            // max over centroids of |c - mean|^2 (for rounding slack)
    std::atomic<bool> ready{false};
    std::atomic<bool> background_started{false};
    // Usefulness, over the first kProjectionTrialQueries queries.
    std::atomic<uint64_t> trial_queries{0};
    std::atomic<uint64_t> trial_kept{0};
    std::atomic<bool> useless{false};
    void Build();
  };
  const LazyProjection* ReadyProjection() const;  // null until built (or if useless)
  // NearestCentroids' first step: the slots the projection bounds cannot rule out of the `n`
  // nearest to `qn`, ascending. False (and `out` empty) if there is no projection to use.
  bool ProjectionCandidates(const float* qn, size_t n, std::vector<uint32_t>* out) const;
  // NearestCentroids without a graph, before the full-precision ranking: (code distance << 32
  // | slot) of the centroids neither the projection nor the code bounds rule out, at most
  // max(4n, 64) (the nearest by code). `qerror` as in NearestCentroids.
  void NearestByBounds(const float* qn, size_t n, const uint8_t* qcode, float qerror,
                       std::vector<uint64_t>* order) const;
  std::shared_ptr<LazyProjection> projection_;

  DistanceMetric metric_ = DistanceMetric::kEuclideanSquared;
  uint32_t dims_ = 0;
  Sq8Params sq8_;
  std::vector<uint32_t> cids_;
  std::vector<float> cvecs_;
  std::vector<uint8_t> ccodes_;     // the centroids as SQ8 codes, for a fast first pass
  std::vector<float> cerrors_;      // per centroid: Sq8CodeError of its code
  std::vector<Sq8CodeSums> csums_;  // per centroid: Sq8Sums of its code
  std::vector<PostingRef> refs_;
  std::vector<std::vector<PostingRef>> more_parts_;
  std::unordered_map<uint32_t, uint32_t> slot_of_;
  std::unordered_map<std::string, uint32_t> pack_refs_;  // pack key -> postings in it

  std::vector<uint64_t> version_;  // by docno; 0 = free
  std::vector<uint32_t> home_;
  std::vector<std::string> doc_id_;
  std::unordered_map<std::string, uint32_t> docno_of_;
  uint32_t next_centroid_id_ = 0;
  uint32_t next_docno_ = 0;
  uint64_t live_docs_ = 0;
};

// Reads the posting of a centroid of the state being compacted (through the caches).
using PostingSource = std::function<Result<std::shared_ptr<const PostingData>>(uint32_t centroid_id,
                                                                               const PostingRef&)>;

struct CompactionStats {
  uint64_t input_bytes = 0;  // new vector bytes (4 per dimension per upserted document)
  uint64_t bytes_written = 0;
  uint64_t postings_written = 0;
  uint64_t entries_written = 0;
  uint64_t splits = 0;
  uint64_t merges = 0;
  uint64_t reassigned = 0;
  bool rebuilt = false;
};

struct CompactionOutput {
  IndexMeta meta;                                          // delta, or a base when rebuilt
  std::vector<std::pair<std::string, std::string>> packs;  // key, bytes
  std::vector<std::string> retired_packs;  // packs the new state no longer references
  CompactionStats stats;
};

struct CompactionInput {
  const IndexState* state = nullptr;  // the committed index (may be empty)
  DistanceMetric metric = DistanceMetric::kEuclideanSquared;
  uint32_t dims = 0;
  std::vector<DocChange> changes;  // one per document id
  uint64_t generation = 0;         // the generation being written
  // Key of the k-th pack object this compaction writes.
  std::function<std::string(size_t k)> pack_key;
  PostingSource source;
  // When given and it becomes true (the server is stopping), Compact returns Aborted at its
  // next check (between documents, k-means groups, splits and postings) instead of finishing.
  const std::atomic<bool>* cancel = nullptr;
};

// Aborted when input.cancel was set before it finished; nothing is written either way (the
// output is objects for the caller to store).
Result<CompactionOutput> Compact(const CompactionInput& input, const IndexTuning& tuning);

// Scans postings for the query code: valid entries (current version, not in `masked`, and,
// when `allowed` is given, allowed: (*allowed)[j] is null or has a non-zero byte per entry of
// postings[j] that may be returned), each docno once, the `limit` nearest by approximate
// (SQ8) distance, ascending.
struct ScanHit {
  uint32_t approx;  // squared L2 in code units
  uint32_t docno;
  const PostingData* posting;
  uint32_t index;
};
void ScanPostings(const IndexState& state, const std::vector<const PostingData*>& postings,
                  const uint8_t* query_code, size_t limit,
                  const std::unordered_set<uint32_t>* masked, std::vector<ScanHit>* out,
                  const std::vector<const uint8_t*>* allowed = nullptr);

// The vector as the index sees it: normalized for cosine (zero stays zero), as is for L2.
void IndexSpaceVector(DistanceMetric metric, const float* v, size_t dims, float* out);

// Sq8CodeError of a vector's index-space form `space` (IndexSpaceVector) and its `code`;
// +inf under cosine when the vector has no direction (`norm`, its raw norm, is 0 or not
// finite: its distance is then not a function of the index-space vectors).
float IndexSpaceCodeError(DistanceMetric metric, float norm, const Sq8Params& sq8,
                          const float* space, const uint8_t* code);
// Whether a vector of raw norm `norm` has an index-space form its distance is a function of
// (always under L2; under cosine, a finite non-zero norm).
inline bool HasIndexSpaceForm(DistanceMetric metric, float norm) {
  return metric != DistanceMetric::kCosineDistance || (norm > 0 && std::isfinite(norm));
}

// Fills p->code_errors (every entry's IndexSpaceCodeError) and p->code_sums (Sq8Sums of every
// entry's code, for the dot form of the scan).
void DeriveSearchData(DistanceMetric metric, const Sq8Params& sq8, PostingData* p);

// Bounds on the full-precision distance (as Distance() computes it) between a query and a
// scanned entry, from their code distance `approx` (squared L2 between the SQ8 codes, in code
// units) and the two code errors (IndexSpaceCodeError). The codes decode to vectors
// scale * sqrt(approx) apart, each within its code error of the index-space vector it stands
// for, so by the triangle inequality the index-space L2 distance is within the sum of the
// errors of that. Cosine distance is half the squared L2 of the normalized vectors. Widened
// for float rounding; {0, +inf} when an error is infinite.
struct DistanceBounds {
  float lower;
  float upper;
};
DistanceBounds Sq8DistanceBounds(DistanceMetric metric, float scale, uint32_t approx,
                                 float query_error, float entry_error);

}  // namespace vecpuff
