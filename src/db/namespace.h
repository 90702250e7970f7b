// Namespace: one namespace's state in this process, and the protocol that keeps it
// consistent with object storage and with other processes sharing the store.
//
// Durable state is the manifest and the WAL (catalog/layout.h). In memory a Namespace
// holds every live document, rebuilt by replaying the WAL in sequence order.
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
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "catalog/manifest.h"
#include "db/db_options.h"
#include "db/types.h"
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

  // Exact top-k scan. REQUIRES: Open() succeeded.
  Result<QueryResult> Query(const QueryRequest& request);

  // REQUIRES: Open() succeeded.
  Result<NamespaceMetadata> Metadata(Consistency consistency);

 private:
  struct Document {
    std::vector<float> vector;
    float norm = 0;
    nlohmann::json attributes;
  };

  // A writer waiting in the group-commit queue.
  struct PendingWrite {
    WalRequest request;
    size_t bytes = 0;
    size_t rows = 0;
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
  // Sets the dimensions in the manifest (compare-and-swap) if they are not set yet.
  Status FixDimensions(uint32_t dims);
  // The namespace's dimensions: from the manifest, or from the applied log when our copy of
  // the manifest predates the first vector. 0 if no vector was ever written.
  uint32_t Dimensions() const;
  // REQUIRES: manifest_mu_ held. Replaces the cached manifest and its lock-free copies.
  void SetManifestLocked(Manifest manifest, std::string etag);
  Status CheckRequest(const WriteRequest& request, std::optional<uint32_t>* dims_to_fix);
  Result<WriteResult> Commit(WalRequest request, size_t bytes, size_t rows);
  // Writes `batch` as one WAL entry and applies it; sets each writer's status and result.
  void WriteBatch(const std::vector<PendingWrite*>& batch);

  // Freshness: reads the log from next_seq_ to its end. Strong queries call it.
  Status CatchUp();
  // REQUIRES: log_mu_ held. Reads and applies entries from next_seq_ until one is absent.
  // `prefetched`, if set, is the object at next_seq_ already read by the caller.
  Status CatchUpLocked(std::optional<GetResult> prefetched);
  // Replays the whole log with a listing (used on open).
  Status ReplayLocked();
  // REQUIRES: log_mu_ held. Applies one entry at next_seq_ and advances next_seq_.
  // What a WAL put that failed (other than by losing the race) left at its number.
  enum class PutOutcome {
    kOurs,     // our entry is stored after all: the batch succeeded
    kOther,    // another process's entry is there
    kFenced,   // it was absent; we stored an empty entry there, so ours can never appear
    kUnknown,  // storage cannot tell us
  };
  // REQUIRES: log_mu_ held; seq == next_seq_.
  PutOutcome ResolveFailedPutLocked(uint64_t seq, const std::string& object);
  void ApplyEntryLocked(const WalEntry& entry, size_t object_bytes,
                        std::vector<WriteResult>* results);
  void MaybeAdvanceManifestHint();

  ObjectStore* const store_;
  const DbOptions* const options_;
  const std::string name_;
  const uint64_t writer_id_;  // stamped on our WAL entries (see WalEntry::writer_id)

  std::mutex open_mu_;  // serializes Open()
  std::atomic<bool> open_{false};

  std::mutex queue_mu_;
  std::condition_variable leader_cv_;  // wakes a leader waiting out its window
  std::deque<PendingWrite*> queue_;

  std::mutex log_mu_;
  std::atomic<uint64_t> next_seq_{1};  // first sequence number not yet applied

  std::mutex manifest_mu_;
  Manifest manifest_;
  std::string manifest_etag_;
  // Copies of manifest_'s fields that requests read without taking manifest_mu_.
  std::atomic<uint32_t> manifest_dims_{0};
  std::atomic<DistanceMetric> metric_{DistanceMetric::kCosineDistance};

  std::shared_mutex state_mu_;
  std::unordered_map<std::string, Document> docs_;
  int64_t last_commit_ms_ = 0;
  std::atomic<uint32_t> applied_dims_{0};  // dimensions of the first applied vector
  uint64_t wal_bytes_ = 0;
};

}  // namespace vecpuff
