// Namespace: one namespace's state in this process, and the protocol that keeps it
// consistent with object storage and with other processes sharing the store.
//
// Durable state is the manifest, the WAL and the index objects (catalog/layout.h). In memory a
// Namespace holds the committed ANN index (index/ivf_index.h: centroids and the version map;
// posting lists are fetched on demand through the caches) and the WAL tail past the index:
// the latest state of every document written since, rebuilt by replaying those entries.
// Queries scan the tail exhaustively and merge it with the ANN result; a tail entry overrides
// the indexed copy of its document. A background compactor (Compact) folds the tail into the
// index and commits the new index by compare-and-swap on the manifest.
//
// Writes go through per-namespace group commit: concurrent writers queue up; the writer at
// the front (the leader) waits up to the batching window, takes a batch of queued requests
// and writes them as one WAL entry with a create-only put at the next sequence number. If
// another process took that number, the leader reads the log up to its new end and tries
// the next number. Each writer is acknowledged only after the put succeeded; on failure
// every writer in the batch gets the error and nothing of the batch is applied.
//
// Queries with strong consistency first probe the object after the last applied entry; if
// it exists, the log is read up to its end before the scan, so every write acknowledged
// (by any process) before the query started is visible.
//
// Thread safety: all public methods are safe to call concurrently.
//
// Locks, always taken in this order: queue_mu_ (group commit queue), log_mu_ (reading or
// extending the log; held across the WAL put so that sequence numbers are applied in
// order), manifest_mu_, state_mu_ (documents; shared for queries).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/manifest.h"
#include "common/task_pool.h"
#include "db/db_options.h"
#include "db/posting_cache.h"
#include "db/types.h"
#include "index/ivf_index.h"
#include "storage/object_store.h"
#include "wal/wal_format.h"

namespace vecpuff {

class Namespace {
 public:
  // Does no I/O. `store` and `options` must outlive the Namespace.
  Namespace(ObjectStore* store, const DbOptions* options, std::string name);
  ~Namespace();

  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  const std::string& name() const { return name_; }
  bool is_open() const { return open_.load(std::memory_order_acquire); }

  // Loads the manifest and replays the WAL, once. If the namespace does not exist: with
  // `create_metric` set, creates it with that metric; otherwise NotFound (and a later call
  // tries again, since another process may create it).
  Status Open(std::optional<DistanceMetric> create_metric);

  // Applies `request` durably. InvalidArgument if it does not fit the namespace (metric,
  // dimensions); Unavailable/IOError if the WAL could not be written (then nothing of the
  // request is applied). REQUIRES: Open() succeeded; the request passed the limit checks.
  // `entry_bytes` is the request's approximate size as a WAL entry (ids, vectors, serialized
  // attributes), as Database's limit checks compute it; it bounds group-commit batches.
  Result<WriteResult> Write(WriteRequest request, size_t entry_bytes);

  // Top-k: the ANN index (or every document, with request.exact) merged with an exhaustive
  // scan of the unindexed tail. REQUIRES: Open() succeeded.
  Result<QueryResult> Query(const QueryRequest& request);

  // REQUIRES: Open() succeeded. NotFound if the namespace was deleted.
  Result<NamespaceMetadata> Metadata(Consistency consistency);

  // Deletes the namespace (turbopuffer's DELETE): puts a drop entry in the WAL, as a batch
  // of its own, after every write before it. Every document, the dimensions, the metric and
  // the schema go; the manifest is reset (docs/manifest_format.md, "Drops"); a later write
  // starts a new namespace of the same name. Writes another process had checked before the
  // drop but not yet put fail with Unavailable (nothing written; retry). The WAL entries
  // before the drop are erased by later compactor passes (CollectGarbage). NotFound if the
  // namespace is already deleted. REQUIRES: Open() succeeded.
  Status Drop();

  // Whether the namespace reads as deleted: a drop was applied and nothing since, and no
  // writer has reopened it. Queries, metadata and schema changes are then NotFound.
  bool IsDeleted() const;

  // Declares attribute types and options (turbopuffer's schema update): a new attribute gets
  // the given type, an existing one keeps its type (InvalidArgument if another is given) and
  // takes the given options. Returns the whole schema. REQUIRES: Open() succeeded.
  Result<std::map<std::string, AttributeSchema>> UpdateSchema(
      const std::map<std::string, AttributeSchema>& declared);

  // One compactor pass: adopts an index another process committed, then, if the tail meets
  // a trigger (or `force` and the tail is not empty), folds it into the index and commits;
  // then deletes retired objects past their grace period, and tells the store which posting
  // ranges no index references any more (ForgetDeadRanges). Serialized per namespace. When
  // `cancel` is given and becomes true (the server is stopping), the pass stops at its next
  // check with Aborted, before writing anything or after its commit: a cancelled pass leaves
  // no trace. REQUIRES: Open() succeeded.
  Status Compact(bool force, const std::atomic<bool>* cancel = nullptr);
  // A process without a compactor: applies new WAL entries and adopts the index generation
  // the manifest names, if newer (dropping the tail it covers). REQUIRES: Open() succeeded.
  Status Refresh();

  // The generation and WAL position of the index this process serves.
  uint64_t index_generation() const { return index_generation_.load(); }

  // Centroids of the index this process serves.
  size_t centroid_count() {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    return index_->centroid_count();
  }

  // The sequence number of the latest drop applied here (0: none).
  uint64_t dropped_seq() const { return dropped_seq_.load(); }

  // Totals over the compactions this process committed (splits, merges, bytes...).
  CompactionStats compaction_totals() const {
    std::lock_guard<std::mutex> lock(totals_mu_);
    return totals_;
  }

  // Test hook: called at the named points of a compaction ("packs_written", "meta_written",
  // "committed"); a non-OK status aborts the compaction there, as a crash would.
  std::function<Status(std::string_view point)> compaction_hook;

 private:
  // The latest state of a document written after the index's position. Immutable once
  // stored (replaced, never modified), so a compaction can hold it while writes go on.
  struct TailDoc {
    enum class Kind { kUpsert, kPatch, kDelete };
    Kind kind = Kind::kUpsert;
    uint64_t seq = 0;
    std::vector<float> vector;  // kUpsert
    float norm = 0;
    nlohmann::json attributes;  // kUpsert: all attributes; kPatch: keys to overwrite
  };

  // A writer waiting in the group-commit queue.
  struct PendingWrite {
    WalRequest request;
    EncodedWalRequest encoded;  // the request's part of the WAL entry, encoded by its writer
    size_t bytes = 0;
    size_t rows = 0;
    bool want_ids = false;  // return_affected_ids
    // A request with conditions or filters (WriteRequest::conditional()): `request` is
    // empty until the leader resolves this against the state just before its entry
    // (ResolveConditionalLocked); such a request is always a batch of its own.
    std::shared_ptr<const WriteRequest> conditional;
    // The latest drop this request was checked after (dims, metric, schema): the request
    // fails if another drop precedes its entry.
    uint64_t drop_seen = 0;
    bool drop_namespace = false;  // Drop(): the batch's one entry is a drop entry
    bool done = false;
    Status status;
    WriteResult result;
    std::condition_variable cv;
  };

  Status LoadManifest(std::optional<DistanceMetric> create_metric);
  // REQUIRES: manifest_mu_ held. Applies `change` to the manifest and writes it by
  // compare-and-swap; on conflict re-reads the manifest and applies `change` again, up to
  // `max_attempts` times. `change` returns false when there is nothing to change.
  Status UpdateManifestLocked(const std::function<bool(Manifest*)>& change, int max_attempts);
  // Sets the dimensions in the manifest (compare-and-swap) if they are not set yet. Aborted
  // (DeletedInFlight) if the manifest is not that of the namespace after the drop at
  // `drop_seen` (SameNamespace in namespace.cc): the request was checked against another.
  Status FixDimensions(uint32_t dims, uint64_t drop_seen);
  // The status of a write checked against a namespace that a drop has deleted since.
  Status DeletedInFlight() const;
  // The namespace's dimensions: from the manifest, or from the applied log when our copy of
  // the manifest predates the first vector. 0 if no vector was ever written.
  uint32_t Dimensions() const;
  // REQUIRES: manifest_mu_ held. Replaces the cached manifest and its lock-free copies.
  void SetManifestLocked(Manifest manifest, std::string etag);
  Status CheckRequest(const WriteRequest& request, std::optional<uint32_t>* dims_to_fix);
  // For typed (turbopuffer API) requests: checks every id and attribute value against the
  // schema, normalizes values (uuid, datetime, float), and adds the types of new attributes
  // and the declared ones to the manifest before the request is written.
  Status ApplySchema(WriteRequest* request, uint64_t drop_seen);
  // The schema changes `declared` makes to `schema`, into *added; InvalidArgument if a type
  // would change (naming `path`).
  static Status MergeDeclared(const std::map<std::string, AttributeSchema>& schema,
                              const std::map<std::string, AttributeSchema>& declared,
                              const std::string& path,
                              std::map<std::string, AttributeSchema>* added);
  // Adds `added` to the manifest's schema (compare-and-swap). InvalidArgument if another
  // process gave one of the attributes another type first; Aborted as FixDimensions.
  Status CommitSchema(const std::map<std::string, AttributeSchema>& added, uint64_t drop_seen);
  // `arrival`: when the write came in (the batching window counts from there).
  Result<WriteResult> Commit(WalRequest request, EncodedWalRequest encoded, size_t bytes,
                             size_t rows, std::chrono::steady_clock::time_point arrival,
                             bool want_ids, uint64_t drop_seen,
                             std::shared_ptr<const WriteRequest> conditional = nullptr,
                             bool drop_namespace = false);
  // Before the first write after the drop at `drop_seq`: resets the manifest for it if no one
  // has, and marks the namespace reopened with `metric` (cosine if unset) unless another
  // writer did first. Compare-and-swap.
  Status Reopen(uint64_t drop_seq, std::optional<DistanceMetric> metric);
  // REQUIRES: log_mu_ held. Brings our copy of the manifest up to the drops applied here:
  // resets the stored manifest for the latest one if no one has yet (the dropper may have
  // died between its WAL put and its reset), and re-reads it when a write after the drop
  // has been applied but our copy predates its reopening (metric).
  Status SyncManifestWithDropLocked();
  // REQUIRES: state_mu_ held exclusively. Applies a drop entry: an empty state.
  void ApplyDropLocked(const WalEntry& entry);
  // After a drop: overwrites a bounded batch of the WAL entries before it with empty ones.
  Status EraseDroppedWal();
  // REQUIRES: log_mu_ held, every WAL entry up to the log's end applied. The plain ops that
  // `request`'s conditions and filters leave (WriteRequest::conditional()), resolved against
  // the current state; *remaining if a partial filter-based write left matching documents.
  Status ResolveConditionalLocked(const WriteRequest& request, WalRequest* out, bool* remaining);
  // REQUIRES: log_mu_ held. The document's current attributes, or nullopt if it does not
  // exist (reads its home posting when it is indexed).
  Result<std::optional<nlohmann::json>> CurrentAttributesLocked(const std::string& id);
  // REQUIRES: log_mu_ held. Every live document matching `filter`, in id order.
  Result<QueryResult> MatchingLocked(std::shared_ptr<const Filter> filter);
  // Writes `batch` as one WAL entry and applies it; sets each writer's status and result.
  // `ticket` orders batches: a batch encodes its entry as soon as it is formed, overlapping
  // the previous batch's put, but takes the log in ticket order (WaitTurn/EndTurn), so
  // batches commit in the order they were formed.
  void WriteBatch(const std::vector<PendingWrite*>& batch, uint64_t ticket);
  void WaitTurn(uint64_t ticket);
  void EndTurn(uint64_t ticket);

  // Freshness: reads the log from next_seq_ to its end. Strong queries call it.
  Status CatchUp();
  // REQUIRES: log_mu_ held. Reads and applies entries from next_seq_ until one is absent.
  // `prefetched`, if set, is the object at next_seq_ already read by the caller.
  Status CatchUpLocked(std::optional<GetResult> prefetched);
  // Replays the log from next_seq_ (used on open); `hint` is the manifest's WAL hint.
  Status ReplayLocked(uint64_t hint);
  // What a WAL put that failed (other than by losing the race) left at its number.
  enum class PutOutcome {
    kOurs,     // our entry is stored after all: the batch succeeded
    kOther,    // another process's entry is there
    kFenced,   // it was absent; we stored an empty entry there, so ours can never appear
    kUnknown,  // storage cannot tell us
  };
  // REQUIRES: log_mu_ held; seq == next_seq_.
  PutOutcome ResolveFailedPutLocked(uint64_t seq, const std::string& object);
  // REQUIRES: log_mu_ held. Applies one entry at next_seq_ and advances next_seq_. Consumes
  // the upserts' vectors and attributes (moved into the tail). `want_ids`, if given, says per
  // request whether its results list the affected ids.
  void ApplyEntryLocked(WalEntry& entry, size_t object_bytes, std::vector<WriteResult>* results,
                        const std::vector<bool>* want_ids = nullptr);
  void MaybeAdvanceManifestHint();

  // REQUIRES: state_mu_ held. Whether the document exists (tail, else index).
  bool ExistsLocked(const std::string& id) const;
  // Loads the index the manifest `m` names into a fresh state (index metas, fetched in
  // parallel). Corruption if an object is damaged.
  Result<std::unique_ptr<IndexState>> LoadIndex(const ManifestIndex& m);
  // REQUIRES: state_mu_ held exclusively. Installs an index at `through_seq`, dropping tail
  // entries it covers.
  void InstallIndexLocked(std::unique_ptr<IndexState> index, uint64_t generation,
                          uint64_t through_seq);
  // Every posting part index_ references, taken before index_ changes;
  // ForgetDeadPostingsLocked then drops from the memory cache the parts index_ no longer
  // references, so superseded postings do not sit there until evicted, and queues their
  // byte ranges for ForgetDeadRanges. REQUIRES: state_mu_ held.
  struct PostingPart {
    std::string pack;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  using PostingParts = std::vector<PostingPart>;
  PostingParts PostingPartsLocked() const;
  void ForgetDeadPostingsLocked(const PostingParts& before);
  // Tells the store (its disk cache) that the queued dead ranges will not be read again.
  // Runs without state_mu_, since a cache deletes files: each compactor pass and each
  // RefreshIndex end with it.
  void ForgetDeadRanges();
  // The bodies of Refresh and Compact (which begins with a refresh). REQUIRES: compact_mu_
  // held.
  Status RefreshLocked();
  Status CompactLocked(bool force, const std::atomic<bool>* cancel);
  // Reads the posting of `ref`, a posting of `state` (memory cache, else the store),
  // verifying it.
  Result<std::shared_ptr<const PostingData>> ReadPosting(const IndexState& state,
                                                         uint32_t centroid_id,
                                                         const PostingRef& ref);
  // Decodes the bytes read for `ref` (a posting of an index with `metric` and `sq8`), derives
  // what the scan needs (DeriveSearchData) and puts it in the memory cache.
  Result<std::shared_ptr<const PostingData>> DecodeAndCache(uint32_t centroid_id,
                                                            const PostingRef& ref,
                                                            std::string_view bytes, uint32_t dims,
                                                            DistanceMetric metric,
                                                            const Sq8Params& sq8);
  Status RefreshIndex();      // adopts a newer index generation from the manifest
  Status RefreshIndexOnce();  // one attempt: Aborted if the index was collected meanwhile
  // Open's work with one read of the manifest; `*generation` is the index generation it named.
  Status OpenOnce(std::optional<DistanceMetric> create_metric, uint64_t* generation);
  Status CompactOnce(const std::atomic<bool>* cancel);
  Status CollectGarbage();
  bool TailMeetsTrigger(bool force);
  Result<QueryResult> QueryOnce(const QueryRequest& request, bool* retry);
  // A query without a vector: every live document matching the filter, in the request's
  // order_by order (id ascending by default). REQUIRES: Open() succeeded.
  Result<QueryResult> QueryByAttributes(const QueryRequest& request, bool* retry);
  // REQUIRES: `lock` holds state_mu_ (shared) and `index` is *index_. Appends the postings
  // of `slots` (every part) to *postings: from the memory cache, else read concurrently
  // with the lock released. Sets *retry (and returns OK) if the index changed meanwhile or
  // an object of it is gone; then `index` must not be used again.
  Status FetchPostings(std::shared_lock<std::shared_mutex>& lock, const IndexState& index,
                       const std::vector<uint32_t>& slots,
                       std::vector<std::shared_ptr<const PostingData>>* postings, bool* retry,
                       QueryResult* stats);
  // REQUIRES: state_mu_ held. Whether entry i of p is the current copy of a document that
  // the tail does not replace or delete.
  bool LiveEntryLocked(const IndexState& index, const PostingData& p, size_t i) const;
  // REQUIRES: state_mu_ held. Entry i's attributes, with a tail patch of its document
  // applied. Corruption if they are not a JSON object.
  Result<nlohmann::json> IndexedAttributesLocked(const PostingData& p, size_t i) const;
  // REQUIRES: state_mu_ held. Whether the tail patches some document: its indexed copy's
  // stored attributes (and so its posting's summary) then do not tell whether it matches.
  bool TailPatchesLocked() const;
  // The entries of the posting at `slot` if its summaries (PostingRef::summary) show that
  // none of them can match `filter`; nullopt if some may (or a part has no summary).
  static std::optional<size_t> UnmatchableEntries(const IndexState& index, uint32_t slot,
                                                  const Filter& filter);
  // REQUIRES: state_mu_ held. (*mask)[i] = 1 for the live entries of p that match `filter`;
  // *live counts the live entries.
  Status FilterMask(const IndexState& index, const PostingData& p, const Filter& filter,
                    std::vector<uint8_t>* mask, size_t* live) const;

  ObjectStore* const store_;
  const DbOptions* const options_;
  const std::string name_;
  const uint64_t writer_id_;  // stamped on our WAL entries (see WalEntry::writer_id)

  std::mutex open_mu_;  // serializes Open()
  std::atomic<bool> open_{false};

  std::mutex queue_mu_;
  std::condition_variable leader_cv_;  // wakes a leader waiting out its window
  std::deque<PendingWrite*> queue_;
  uint64_t next_ticket_ = 0;  // guarded by queue_mu_

  std::mutex turn_mu_;
  std::condition_variable turn_cv_;
  uint64_t turn_ = 0;  // the ticket whose batch may take the log next

  std::mutex log_mu_;
  std::atomic<uint64_t> next_seq_{1};  // first sequence number not yet applied

  std::mutex manifest_mu_;
  Manifest manifest_;
  std::string manifest_etag_;
  // Copies of manifest_'s fields that requests read without taking manifest_mu_.
  std::atomic<uint32_t> manifest_dims_{0};
  std::atomic<DistanceMetric> metric_{DistanceMetric::kCosineDistance};

  std::shared_mutex state_mu_;
  std::unordered_map<std::string, std::shared_ptr<const TailDoc>> tail_;
  // Bumped whenever tail_ changes. A query that released state_mu_ (to read postings)
  // compares it to know whether what it judged before still holds.
  uint64_t tail_changes_ = 0;
  // Docnos of indexed documents the tail replaces or deletes: their indexed copies are skipped.
  std::unordered_set<uint32_t> tail_masked_;
  std::deque<std::pair<uint64_t, uint64_t>> tail_entries_;  // (seq, object bytes) past the index
  uint64_t tail_bytes_ = 0;
  int64_t tail_oldest_ms_ = 0;  // commit time of the oldest unindexed entry
  // Never null. Shared so that a compaction keeps the state it started from when a drop
  // replaces it.
  std::shared_ptr<IndexState> index_;
  uint64_t index_through_seq_ = 0;
  uint64_t epoch_ = 0;  // +1 whenever index_ changes (queries recheck it after I/O)
  int64_t last_commit_ms_ = 0;
  std::atomic<uint32_t> applied_dims_{0};     // dimensions of the first applied vector
  std::atomic<uint64_t> dropped_seq_{0};      // the latest applied drop entry (0: none)
  std::atomic<bool> live_since_drop_{false};  // a write was applied after it
  // Copies of manifest_'s drop fields, lock-free like manifest_dims_.
  std::atomic<uint64_t> manifest_dropped_seq_{0};
  std::atomic<bool> manifest_reopened_{false};
  std::atomic<uint64_t> index_generation_{0};

  std::mutex compact_mu_;  // one compaction of this namespace at a time in this process
  mutable std::mutex totals_mu_;
  CompactionStats totals_;
  int64_t last_orphan_scan_ms_ = 0;
  PostingCache* posting_cache_ = nullptr;  // owned by the Database; may be null
  // Byte ranges of posting parts no index references, for ForgetDeadRanges. Bounded (about
  // 8 MB): past kMaxDeadRanges, further ones are not queued, and a cache keeps them until it
  // evicts them.
  static constexpr size_t kMaxDeadRanges = 1 << 16;
  std::mutex dead_mu_;
  PostingParts dead_ranges_;
  TaskPool* probe_pool_ = nullptr;  // owned by the Database; null: std::async
  // Recent freshness probes' duration (exponential moving average, microseconds): a probe
  // faster than kInlineProbeMicros runs after the search on the query's own thread, where
  // handing it to another thread would cost more than the probe.
  static constexpr uint32_t kInlineProbeMicros = 200;
  std::atomic<uint32_t> probe_micros_{UINT32_MAX};
  friend class Database;
};

}  // namespace vecpuff
