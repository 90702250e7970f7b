#include "db/namespace.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <queue>
#include <random>

#include "catalog/layout.h"
#include "common/clock.h"
#include "db/distance.h"

namespace vecpuff {
namespace {

// A writer that keeps losing the race for the next sequence number gives up after this
// many attempts (each lost attempt means another process made progress, so the log as a
// whole never stalls) and reports Unavailable.
constexpr int kMaxCommitAttempts = 1000;

// The manifest's WAL hint is advanced (by compare-and-swap) once it lags this many entries.
// It only speeds up readers, so it is advanced lazily to keep manifest writes rare.
constexpr uint64_t kManifestHintInterval = 64;

// Replay fetches WAL entries this many at a time, with this many requests in flight: enough
// to hide object-storage latency, bounded so a long log does not sit in memory at once.
constexpr size_t kReplayWindow = 256;
constexpr size_t kReplayConcurrency = 16;

std::string DimsMessage(std::string_view path, uint32_t expected, size_t got) {
  return std::string(path) + ": expected " + std::to_string(expected) + " dimensions, got " +
         std::to_string(got);
}

uint64_t RandomWriterId() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

}  // namespace

Namespace::Namespace(ObjectStore* store, const DbOptions* options, std::string name)
    : store_(store), options_(options), name_(std::move(name)), writer_id_(RandomWriterId()) {}

Namespace::~Namespace() = default;

Status Namespace::Open(std::optional<DistanceMetric> create_metric) {
  if (open_.load(std::memory_order_acquire)) return Status::OK();
  std::lock_guard<std::mutex> open_lock(open_mu_);
  if (open_.load(std::memory_order_relaxed)) return Status::OK();
  VECPUFF_RETURN_IF_ERROR(LoadManifest(create_metric));
  {
    std::lock_guard<std::mutex> log_lock(log_mu_);
    // A previous Open may have failed halfway through the replay (storage trouble): start
    // over from an empty state rather than replay on top of part of the log.
    {
      std::unique_lock<std::shared_mutex> state_lock(state_mu_);
      docs_.clear();
      last_commit_ms_ = 0;
      wal_bytes_ = 0;
      applied_dims_.store(0);
      next_seq_.store(1);
    }
    VECPUFF_RETURN_IF_ERROR(ReplayLocked());
  }
  open_.store(true, std::memory_order_release);
  return Status::OK();
}

Status Namespace::LoadManifest(std::optional<DistanceMetric> create_metric) {
  const std::string key = ManifestKey(options_->key_prefix, name_);
  // Two rounds at most: if our create loses to another process, its manifest is read next.
  for (int round = 0; round < 2; ++round) {
    auto got = store_->Get(key);
    if (got.ok()) {
      VECPUFF_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(got->data));
      if (m.namespace_name != name_) {
        return Status::Corruption("manifest at " + key + " names namespace '" + m.namespace_name +
                                  "'");
      }
      std::lock_guard<std::mutex> lock(manifest_mu_);
      SetManifestLocked(std::move(m), got->meta.etag);
      return Status::OK();
    }
    if (!got.status().IsNotFound()) return got.status().WithContext("reading manifest");
    if (!create_metric) return Status::NotFound("namespace '" + name_ + "' not found");

    Manifest m;
    m.namespace_name = name_;
    m.distance_metric = *create_metric;
    m.created_at_ms = m.updated_at_ms = NowUnixMillis();
    PutOptions create;
    create.mode = PutMode::kCreateOnly;
    auto put = store_->Put(key, EncodeManifest(m), create);
    if (put.ok()) {
      spdlog::info("namespace '{}' created ({})", name_, DistanceMetricName(m.distance_metric));
      std::lock_guard<std::mutex> lock(manifest_mu_);
      SetManifestLocked(std::move(m), put->etag);
      return Status::OK();
    }
    if (!put.status().IsPreconditionFailed()) {
      return put.status().WithContext("creating manifest");
    }
    // Another process created it first: read theirs.
  }
  return Status::Unavailable("namespace '" + name_ + "' manifest changed during creation");
}

Status Namespace::UpdateManifestLocked(const std::function<bool(Manifest*)>& change,
                                       int max_attempts) {
  const std::string key = ManifestKey(options_->key_prefix, name_);
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    Manifest next = manifest_;
    if (!change(&next)) return Status::OK();  // nothing (more) to change
    next.updated_at_ms = NowUnixMillis();
    PutOptions cas;
    cas.mode = PutMode::kIfMatch;
    cas.if_match_etag = manifest_etag_;
    auto put = store_->Put(key, EncodeManifest(next), cas);
    if (put.ok()) {
      SetManifestLocked(std::move(next), put->etag);
      return Status::OK();
    }
    if (!put.status().IsPreconditionFailed()) {
      return put.status().WithContext("updating manifest");
    }
    // Another process changed the manifest: re-read it and apply the change to that.
    auto got = store_->Get(key);
    if (!got.ok()) return got.status().WithContext("reading manifest");
    VECPUFF_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(got->data));
    SetManifestLocked(std::move(m), got->meta.etag);
  }
  return Status::Unavailable("manifest of '" + name_ + "' is contended; try again");
}

Status Namespace::FixDimensions(uint32_t dims) {
  std::lock_guard<std::mutex> lock(manifest_mu_);
  // If someone fixed them first, nothing changes and the caller's recheck decides.
  return UpdateManifestLocked(
      [dims](Manifest* m) {
        if (m->dimensions != 0) return false;
        m->dimensions = dims;
        return true;
      },
      /*max_attempts=*/100);
}

void Namespace::SetManifestLocked(Manifest manifest, std::string etag) {
  manifest_dims_.store(manifest.dimensions);
  metric_.store(manifest.distance_metric);
  manifest_ = std::move(manifest);
  manifest_etag_ = std::move(etag);
}

uint32_t Namespace::Dimensions() const {
  // Lock-free: a query must not wait while a writer holds manifest_mu_ across a
  // compare-and-swap round trip to object storage.
  const uint32_t dims = manifest_dims_.load();
  return dims != 0 ? dims : applied_dims_.load();
}

Status Namespace::CheckRequest(const WriteRequest& request, std::optional<uint32_t>* dims_to_fix) {
  DistanceMetric metric;
  uint32_t dims;
  metric = metric_.load();
  dims = Dimensions();
  if (request.distance_metric && *request.distance_metric != metric) {
    return Status::InvalidArgument("distance_metric: namespace '" + name_ + "' uses " +
                                   std::string(DistanceMetricName(metric)) +
                                   "; it cannot be changed to " +
                                   std::string(DistanceMetricName(*request.distance_metric)));
  }
  dims_to_fix->reset();
  for (size_t i = 0; i < request.upsert_rows.size(); ++i) {
    size_t got = request.upsert_rows[i].vector.size();
    uint32_t expected = dims != 0 ? dims : dims_to_fix->value_or(0);
    if (expected == 0) {
      *dims_to_fix = static_cast<uint32_t>(got);
      continue;
    }
    if (got != expected) {
      return Status::InvalidArgument(
          DimsMessage("upsert_rows[" + std::to_string(i) + "].vector", expected, got));
    }
  }
  return Status::OK();
}

Result<WriteResult> Namespace::Write(WriteRequest request, size_t entry_bytes) {
  std::optional<uint32_t> dims_to_fix;
  VECPUFF_RETURN_IF_ERROR(CheckRequest(request, &dims_to_fix));
  if (dims_to_fix) {
    // The first vector fixes the namespace's dimensions, in the manifest, before any WAL
    // entry uses them: a concurrent writer in another process with other dimensions then
    // either sees ours or loses the compare-and-swap, so no acknowledged entry can disagree.
    VECPUFF_RETURN_IF_ERROR(FixDimensions(*dims_to_fix));
    VECPUFF_RETURN_IF_ERROR(CheckRequest(request, &dims_to_fix));
  }

  WalRequest wal;
  wal.ops.reserve(request.upsert_rows.size() + request.patch_rows.size() + request.deletes.size());
  for (UpsertRow& row : request.upsert_rows) {
    WalOp op;
    op.type = WalOpType::kUpsert;
    op.id = std::move(row.id);
    op.vector = std::move(row.vector);
    op.attributes = std::move(row.attributes);
    wal.ops.push_back(std::move(op));
  }
  for (PatchRow& row : request.patch_rows) {
    WalOp op;
    op.type = WalOpType::kPatch;
    op.id = std::move(row.id);
    op.attributes = std::move(row.attributes);
    wal.ops.push_back(std::move(op));
  }
  for (std::string& id : request.deletes) {
    WalOp op;
    op.type = WalOpType::kDelete;
    op.id = std::move(id);
    wal.ops.push_back(std::move(op));
  }
  size_t rows = wal.ops.size();
  return Commit(std::move(wal), entry_bytes, rows);
}

Result<WriteResult> Namespace::Commit(WalRequest request, size_t bytes, size_t rows) {
  PendingWrite w;
  w.request = std::move(request);
  w.bytes = bytes;
  w.rows = rows;
  const auto arrival = std::chrono::steady_clock::now();

  std::unique_lock<std::mutex> lock(queue_mu_);
  queue_.push_back(&w);
  leader_cv_.notify_all();
  w.cv.wait(lock, [&] { return w.done || queue_.front() == &w; });
  if (w.done) {
    if (!w.status.ok()) return w.status;
    return w.result;
  }

  // This writer leads the next batch. Wait out the window unless the queue fills first.
  const auto deadline = arrival + std::chrono::milliseconds(options_->batch_window_ms);
  while (true) {
    size_t q_bytes = 0, q_rows = 0;
    for (PendingWrite* p : queue_) {
      q_bytes += p->bytes;
      q_rows += p->rows;
    }
    if (q_bytes >= options_->max_batch_bytes || q_rows >= options_->max_batch_rows) break;
    if (leader_cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  std::vector<PendingWrite*> batch;
  size_t b_bytes = 0, b_rows = 0;
  for (PendingWrite* p : queue_) {
    if (!batch.empty() && (b_bytes + p->bytes > options_->max_batch_bytes ||
                           b_rows + p->rows > options_->max_batch_rows)) {
      break;
    }
    batch.push_back(p);
    b_bytes += p->bytes;
    b_rows += p->rows;
  }
  lock.unlock();
  try {
    WriteBatch(batch);
  } catch (const std::exception& e) {
    // Only allocation failure can get here. The batch fails, and the queue must still be
    // handed on below, or every later writer of this namespace would wait forever.
    for (PendingWrite* p : batch) {
      p->status = Status::Internal(std::string("write failed: ") + e.what());
    }
  }
  lock.lock();
  for (PendingWrite* p : batch) {
    // The batch is the front of the queue: only the leader removes entries, and it added
    // the batch from the front.
    queue_.pop_front();
    p->done = true;
    if (p != &w) p->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  lock.unlock();

  if (w.status.ok()) MaybeAdvanceManifestHint();
  if (!w.status.ok()) return w.status;
  return w.result;
}

void Namespace::WriteBatch(const std::vector<PendingWrite*>& batch) {
  WalEntry entry;
  entry.requests.reserve(batch.size());
  for (PendingWrite* p : batch) entry.requests.push_back(std::move(p->request));
  const std::string payload = EncodeWalPayload(entry.requests);

  auto fail_all = [&](const Status& s) {
    for (PendingWrite* p : batch) p->status = s;
  };
  auto ack_all = [&](size_t object_bytes) {
    std::vector<WriteResult> results;
    ApplyEntryLocked(entry, object_bytes, &results);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = Status::OK();
      batch[i]->result = results[i];
    }
  };
  if (WalPayloadRawSize(payload) > kMaxWalPayloadBytes) {
    // Readers reject such an entry; writing it would make the namespace unreadable.
    fail_all(
        Status::ResourceExhausted("write batch of " + std::to_string(WalPayloadRawSize(payload)) +
                                  " bytes exceeds the WAL entry limit; send smaller requests"));
    return;
  }

  std::lock_guard<std::mutex> log_lock(log_mu_);
  PutOptions create;
  create.mode = PutMode::kCreateOnly;
  for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
    // Invariant: every entry below next_seq_ is applied, so a successful put at next_seq_
    // is applied on top of exactly the state that precedes it in the log.
    entry.seq = next_seq_.load();
    entry.commit_time_ms = NowUnixMillis();
    const std::string object = FrameWalEntry(entry.seq, entry.commit_time_ms, writer_id_, payload);
    auto put = store_->Put(WalKey(options_->key_prefix, name_, entry.seq), object, create);
    if (put.ok()) {
      ack_all(object.size());
      return;
    }
    if (!put.status().IsPreconditionFailed()) {
      spdlog::warn("namespace '{}': WAL write at seq {} failed: {}", name_, entry.seq,
                   put.status().ToString());
      // The put may have happened anyway (its response lost). Find out, so that a request
      // answered with an error never shows up later.
      switch (ResolveFailedPutLocked(entry.seq, object)) {
        case PutOutcome::kOurs:
          ack_all(object.size());
          return;
        case PutOutcome::kOther:
          break;  // another process took this number: catch up below and try the next
        case PutOutcome::kFenced:
          fail_all(put.status().WithContext("writing WAL entry (nothing was applied)"));
          return;
        case PutOutcome::kUnknown:
          fail_all(Status::Unavailable(
              "writing WAL entry failed and object storage cannot be reached to tell whether "
              "it was stored; the write may or may not take effect: " +
              put.status().message()));
          return;
      }
    }
    // Another process wrote this sequence number: apply its entries, then try the next.
    Status s = CatchUpLocked(std::nullopt);
    if (!s.ok()) {
      fail_all(s.WithContext("catching up with the WAL"));
      return;
    }
  }
  fail_all(Status::Unavailable("could not obtain a WAL sequence number for namespace '" + name_ +
                               "' after " + std::to_string(kMaxCommitAttempts) + " attempts"));
}

Namespace::PutOutcome Namespace::ResolveFailedPutLocked(uint64_t seq, const std::string& object) {
  const std::string key = WalKey(options_->key_prefix, name_, seq);
  auto got = store_->Get(key);
  if (got.ok()) return got->data == object ? PutOutcome::kOurs : PutOutcome::kOther;
  if (!got.status().IsNotFound()) return PutOutcome::kUnknown;
  // Absent now, but a put still in flight somewhere could land later. Take the number
  // ourselves with an empty entry: if that succeeds, our batch can never appear.
  const int64_t now_ms = NowUnixMillis();
  const std::string fence = FrameWalEntry(seq, now_ms, writer_id_, EncodeWalPayload({}));
  PutOptions create;
  create.mode = PutMode::kCreateOnly;
  auto put = store_->Put(key, fence, create);
  if (put.ok()) {
    WalEntry empty;
    empty.seq = seq;
    empty.commit_time_ms = now_ms;
    std::vector<WriteResult> ignored;
    ApplyEntryLocked(empty, fence.size(), &ignored);
    return PutOutcome::kFenced;
  }
  if (!put.status().IsPreconditionFailed()) return PutOutcome::kUnknown;
  // Someone wrote it meanwhile: possibly our own delayed put.
  got = store_->Get(key);
  if (!got.ok()) return PutOutcome::kUnknown;
  return got->data == object ? PutOutcome::kOurs : PutOutcome::kOther;
}

void Namespace::ApplyEntryLocked(const WalEntry& entry, size_t object_bytes,
                                 std::vector<WriteResult>* results) {
  std::unique_lock<std::shared_mutex> lock(state_mu_);
  results->assign(entry.requests.size(), WriteResult{});
  for (size_t r = 0; r < entry.requests.size(); ++r) {
    WriteResult& counts = (*results)[r];
    for (const WalOp& op : entry.requests[r].ops) {
      switch (op.type) {
        case WalOpType::kUpsert: {
          // Dimensions are fixed in the manifest before any entry carries a vector, so the
          // first applied vector tells them even if our cached manifest predates that.
          if (!op.vector.empty() && applied_dims_.load() == 0) {
            applied_dims_.store(static_cast<uint32_t>(op.vector.size()));
          }
          Document& doc = docs_[op.id];
          doc.vector = op.vector;
          doc.norm = Norm(doc.vector.data(), doc.vector.size());
          doc.attributes = op.attributes;
          ++counts.upserted_count;
          break;
        }
        case WalOpType::kPatch: {
          auto it = docs_.find(op.id);
          if (it == docs_.end()) break;  // a patch to a missing document is ignored
          for (const auto& [key, value] : op.attributes.items()) {
            it->second.attributes[key] = value;
          }
          ++counts.patched_count;
          break;
        }
        case WalOpType::kDelete:
          counts.deleted_count += docs_.erase(op.id);
          break;
      }
    }
  }
  last_commit_ms_ = std::max(last_commit_ms_, entry.commit_time_ms);
  wal_bytes_ += object_bytes;
  next_seq_.store(entry.seq + 1);
}

Status Namespace::ReplayLocked() {
  // A listing finds the whole log in one request per 1000 entries; entries are then fetched
  // concurrently, a window at a time, and applied in order. The log is dense from 1, so a
  // gap means an entry was lost: Corruption.
  VECPUFF_ASSIGN_OR_RETURN(std::vector<ObjectMeta> listed,
                           ListAll(store_, WalPrefix(options_->key_prefix, name_)));
  std::vector<std::string> keys;
  keys.reserve(listed.size());
  for (size_t i = 0; i < listed.size(); ++i) {
    const uint64_t seq = next_seq_.load() + i;
    std::string expected = WalKey(options_->key_prefix, name_, seq);
    if (listed[i].key != expected) {
      return Status::Corruption("WAL of namespace '" + name_ + "' has " + listed[i].key +
                                " where " + expected + " was expected");
    }
    keys.push_back(std::move(expected));
  }
  for (size_t begin = 0; begin < keys.size(); begin += kReplayWindow) {
    const size_t end = std::min(keys.size(), begin + kReplayWindow);
    std::vector<std::string> window(keys.begin() + begin, keys.begin() + end);
    std::vector<Result<GetResult>> objects = ParallelGet(store_, window, kReplayConcurrency);
    for (size_t i = 0; i < objects.size(); ++i) {
      if (!objects[i].ok()) return objects[i].status().WithContext("reading " + window[i]);
      VECPUFF_ASSIGN_OR_RETURN(WalEntry entry, DecodeWalEntry(objects[i]->data, next_seq_.load()));
      std::vector<WriteResult> ignored;
      ApplyEntryLocked(entry, objects[i]->data.size(), &ignored);
    }
  }
  // Entries written after the listing are picked up by probing.
  return CatchUpLocked(std::nullopt);
}

Status Namespace::CatchUpLocked(std::optional<GetResult> prefetched) {
  while (true) {
    const uint64_t seq = next_seq_.load();
    GetResult object;
    if (prefetched) {
      object = std::move(*prefetched);
      prefetched.reset();
    } else {
      auto got = store_->Get(WalKey(options_->key_prefix, name_, seq));
      if (got.status().IsNotFound()) return Status::OK();
      if (!got.ok()) return got.status().WithContext("reading WAL seq " + std::to_string(seq));
      object = std::move(*got);
    }
    VECPUFF_ASSIGN_OR_RETURN(WalEntry entry, DecodeWalEntry(object.data, seq));
    std::vector<WriteResult> ignored;
    ApplyEntryLocked(entry, object.data.size(), &ignored);
  }
}

Status Namespace::CatchUp() {
  // Fast path without the log lock: one probe for the entry after the last applied one.
  const uint64_t seq = next_seq_.load();
  auto got = store_->Get(WalKey(options_->key_prefix, name_, seq));
  if (got.status().IsNotFound()) return Status::OK();
  if (!got.ok()) return got.status().WithContext("checking WAL freshness");
  std::lock_guard<std::mutex> log_lock(log_mu_);
  // A committer or another query may have applied it meanwhile; then re-probe from there.
  std::optional<GetResult> prefetched;
  if (next_seq_.load() == seq) prefetched = std::move(*got);
  return CatchUpLocked(std::move(prefetched));
}

void Namespace::MaybeAdvanceManifestHint() {
  const uint64_t next = next_seq_.load();
  std::lock_guard<std::mutex> lock(manifest_mu_);
  if (next < manifest_.wal_next_seq_hint + kManifestHintInterval) return;
  // Best effort, two attempts: the hint only spares readers some probes, so a contended
  // manifest is left for a later commit to advance.
  Status s = UpdateManifestLocked(
      [next](Manifest* m) {
        if (next <= m->wal_next_seq_hint) return false;
        m->wal_next_seq_hint = next;
        return true;
      },
      /*max_attempts=*/2);
  if (!s.ok()) spdlog::debug("namespace '{}': manifest hint not advanced: {}", name_, s.ToString());
}

Result<QueryResult> Namespace::Query(const QueryRequest& request) {
  if (request.consistency == Consistency::kStrong) VECPUFF_RETURN_IF_ERROR(CatchUp());
  DistanceMetric metric;
  uint32_t dims;
  metric = metric_.load();
  dims = Dimensions();
  QueryResult result;
  if (dims == 0) return result;  // no vector written yet
  if (request.vector.size() != dims) {
    return Status::InvalidArgument(DimsMessage("query_vector", dims, request.vector.size()));
  }
  const float* q = request.vector.data();
  const float q_norm = Norm(q, dims);

  struct Candidate {
    float dist;
    const std::string* id;
    const Document* doc;
  };
  // Max-heap on (dist, id): the top holds the worst of the best k seen so far.
  auto worse = [](const Candidate& a, const Candidate& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    return *a.id < *b.id;
  };
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  std::vector<Candidate> heap;
  heap.reserve(std::min(request.top_k, docs_.size()) + 1);
  for (const auto& [id, doc] : docs_) {
    if (doc.vector.size() != dims) continue;  // cannot happen: dimensions are fixed
    float dist = Distance(metric, q, q_norm, doc.vector.data(), doc.norm, dims);
    // Distances are finite or +inf (overflow); never let a NaN break the heap's ordering.
    if (std::isnan(dist)) dist = std::numeric_limits<float>::infinity();
    Candidate c{dist, &id, &doc};
    if (heap.size() < request.top_k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (!heap.empty() && worse(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  result.hits.reserve(heap.size());
  for (const Candidate& c : heap) {
    QueryHit hit;
    hit.id = *c.id;
    hit.dist = c.dist;
    if (request.include_vectors) hit.vector = c.doc->vector;
    if (request.include_attributes) hit.attributes = c.doc->attributes;
    result.hits.push_back(std::move(hit));
  }
  return result;
}

Result<NamespaceMetadata> Namespace::Metadata(Consistency consistency) {
  if (consistency == Consistency::kStrong) VECPUFF_RETURN_IF_ERROR(CatchUp());
  NamespaceMetadata md;
  md.name = name_;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    md.dimensions = Dimensions();
    md.distance_metric = metric_.load();
    md.created_at_ms = manifest_.created_at_ms;
    md.updated_at_ms = manifest_.updated_at_ms;
  }
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  md.approx_row_count = docs_.size();
  // There is no ANN index yet: every row is served by the exhaustive scan, so no indexing
  // work is ever pending and every WAL byte counts as unindexed.
  md.index_status = "up_to_date";
  md.indexed_row_count = 0;
  md.unindexed_bytes = wal_bytes_;
  md.updated_at_ms = std::max(md.updated_at_ms, last_commit_ms_);
  return md;
}

}  // namespace vecpuff
