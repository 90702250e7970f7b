#include "db/namespace.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <queue>
#include <random>
#include <thread>
#include <unordered_set>

#include "catalog/layout.h"
#include "common/clock.h"
#include "db/doc_key.h"
#include "index/distance.h"
#include "query/attribute_index.h"
#include "query/filter.h"
#include "query/posting_summary_match.h"
#include "query/ref_new.h"
#include "query/value_order.h"

namespace vecpuff {
namespace {

// A writer that keeps losing the race for the next sequence number gives up after this
// many attempts (each lost attempt means another process made progress, so the log as a
// whole never stalls) and reports Unavailable.
constexpr int kMaxCommitAttempts = 1000;

// The manifest's WAL hint is advanced (by compare-and-swap) once it lags this many entries.
// It only speeds up readers, so it is advanced lazily to keep manifest writes rare.
constexpr uint64_t kManifestHintInterval = 64;
// Most object reads one query issues at once.
constexpr size_t kMaxParallelReads = 64;

// A filtered search ranks the matching entries exactly, without the code scan, once at most
// one in this many of the entries it has seen match.
constexpr size_t kExactFilterRatio = 16;

// After a drop, each compactor pass erases this many of the WAL entries before it, this many
// at a time.
constexpr uint64_t kEraseBatch = 1024;
constexpr size_t kEraseConcurrency = 16;

// Replay fetches WAL entries this many at a time, with this many requests in flight: enough
// to hide object-storage latency, bounded so a long log does not sit in memory at once.
constexpr size_t kReplayWindow = 128;

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
  // The manifest read first can be overtaken by another process's commit, whose garbage
  // collection then deletes index objects (and WAL entries) that manifest names before they
  // are read here. An object it names found missing, or missing WAL below its hint, is then
  // no error of ours: if the manifest has moved on since, start over from the new one.
  for (int attempt = 0;; ++attempt) {
    uint64_t generation = 0;
    Status s = OpenOnce(create_metric, &generation);
    if (s.ok() || !(s.IsNotFound() || s.IsCorruption()) || generation == 0 || attempt == 7) {
      return s;
    }
    auto got = store_->Get(ManifestKey(options_->key_prefix, name_));
    if (!got.ok()) return s;
    auto now = DecodeManifest(got->data);
    if (!now.ok() || now->index.generation == generation) return s;
    spdlog::info("namespace '{}': index generation {} was replaced while opening ({}); again",
                 name_, generation, s.ToString());
  }
}

Status Namespace::OpenOnce(std::optional<DistanceMetric> create_metric, uint64_t* generation) {
  // Round trip 1: the manifest.
  VECPUFF_RETURN_IF_ERROR(LoadManifest(create_metric));
  Manifest m;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    m = manifest_;
  }
  *generation = m.index.generation;
  {
    std::lock_guard<std::mutex> log_lock(log_mu_);
    // Round trip 2: the index metas and the first window of the WAL past the index,
    // concurrently.
    std::future<Result<std::unique_ptr<IndexState>>> index;
    if (m.index.generation > 0) {
      index = std::async(std::launch::async, [this, &m] { return LoadIndex(m.index); });
    }
    // A previous Open may have failed halfway through the replay (storage trouble): start
    // over from an empty state rather than replay on top of part of the log.
    {
      std::unique_lock<std::shared_mutex> state_lock(state_mu_);
      tail_.clear();
      ++tail_changes_;
      tail_masked_.clear();
      tail_entries_.clear();
      tail_bytes_ = 0;
      tail_oldest_ms_ = 0;
      last_commit_ms_ = 0;
      applied_dims_.store(0);
      index_ = std::make_shared<IndexState>();
      index_through_seq_ = m.index.indexed_through_seq;
      // The replay starts past the index, so past the manifest's drop, if any.
      dropped_seq_.store(m.dropped_seq);
      live_since_drop_.store(false);
      index_generation_.store(0);
      next_seq_.store(m.index.indexed_through_seq + 1);
    }
    const uint64_t hint = m.wal_next_seq_hint;
    const uint64_t first = m.index.indexed_through_seq + 1;
    const uint64_t window_end =
        std::min(std::max(first, hint) + kManifestHintInterval + 1, first + kReplayWindow);
    std::vector<std::string> window;
    for (uint64_t seq = first; seq < window_end; ++seq) {
      window.push_back(WalKey(options_->key_prefix, name_, seq));
    }
    std::vector<Result<GetResult>> objects = ParallelGet(store_, window, window.size());
    // The index goes in before any entry is applied: applying an entry asks whether its
    // patched and deleted documents exist (ExistsLocked), and for an indexed document only
    // the index can say. Replayed into an empty index, patches and deletes of indexed
    // documents were dropped as no-ops, and acknowledged writes vanished at a restart.
    if (index.valid()) {
      auto loaded = index.get();
      VECPUFF_RETURN_IF_ERROR(loaded.status());
      std::unique_lock<std::shared_mutex> state_lock(state_mu_);
      // An index from before the manifest's drop holds deleted documents: an empty one stays.
      // (A drop the replay applies below empties the index it finds, as any drop does.)
      if (dropped_seq_.load() <= m.index.indexed_through_seq) index_ = std::move(*loaded);
      index_generation_.store(m.index.generation);
      ++epoch_;
      if (index_->dims() != 0) applied_dims_.store(index_->dims());
    }
    // The prefetched window, applied as ReplayLocked applies one; if all of it existed, the
    // replay goes on from its end.
    Status replay;
    bool whole_window = true;
    for (size_t i = 0; i < objects.size() && replay.ok(); ++i) {
      const uint64_t seq = first + i;
      if (objects[i].status().IsNotFound()) {
        if (seq < hint) {
          replay = Status::Corruption("WAL of namespace '" + name_ + "' is missing " + window[i] +
                                      " below its manifest hint " + std::to_string(hint));
        }
        whole_window = false;
        break;
      }
      if (!objects[i].ok()) {
        replay = objects[i].status().WithContext("reading " + window[i]);
        break;
      }
      Result<WalEntry> entry = DecodeWalEntry(objects[i]->data, seq);
      if (!entry.ok()) {
        replay = entry.status();
        break;
      }
      std::vector<WriteResult> ignored;
      ApplyEntryLocked(*entry, objects[i]->data.size(), &ignored);
    }
    if (replay.ok() && whole_window) replay = ReplayLocked(hint);
    // A drop the replay applied (or the manifest's, reopened since we read it): bring the
    // manifest up to it, as every catch-up does.
    if (replay.ok()) replay = SyncManifestWithDropLocked();
    VECPUFF_RETURN_IF_ERROR(replay);
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
    m.created_at_ms = m.updated_at_ms = m.last_write_ms = NowUnixMillis();
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

namespace {

// Whether `m` describes the namespace as it is after the drop at `drop_seen` (0: none): not
// deleted again since, and reopened by a write.
bool SameNamespace(const Manifest& m, uint64_t drop_seen) {
  return m.dropped_seq == drop_seen && (drop_seen == 0 || m.reopened);
}

}  // namespace

Status Namespace::DeletedInFlight() const {
  return Status::Aborted("namespace '" + name_ +
                         "' was deleted while this write was in flight; nothing was written; "
                         "retry to write to the new namespace");
}

Status Namespace::FixDimensions(uint32_t dims, uint64_t drop_seen) {
  std::lock_guard<std::mutex> lock(manifest_mu_);
  bool stale = false;
  // If someone fixed them first, nothing changes and the caller's recheck decides.
  VECPUFF_RETURN_IF_ERROR(UpdateManifestLocked(
      [&](Manifest* m) {
        stale = !SameNamespace(*m, drop_seen);
        if (stale || m->dimensions != 0) return false;
        m->dimensions = dims;
        m->last_write_ms = NowUnixMillis();
        return true;
      },
      /*max_attempts=*/100));
  return stale ? DeletedInFlight() : Status::OK();
}

void Namespace::SetManifestLocked(Manifest manifest, std::string etag) {
  manifest_dims_.store(manifest.dimensions);
  metric_.store(manifest.distance_metric);
  manifest_dropped_seq_.store(manifest.dropped_seq);
  manifest_reopened_.store(manifest.reopened);
  manifest_ = std::move(manifest);
  manifest_etag_ = std::move(etag);
}

uint32_t Namespace::Dimensions() const {
  // Lock-free: a query must not wait while a writer holds manifest_mu_ across a
  // compare-and-swap round trip to object storage.
  // A copy of the manifest from before the latest drop applied here has the old dimensions.
  const uint32_t dims =
      manifest_dropped_seq_.load() >= dropped_seq_.load() ? manifest_dims_.load() : 0;
  return dims != 0 ? dims : applied_dims_.load();
}

bool Namespace::IsDeleted() const {
  const uint64_t drop = dropped_seq_.load();
  return drop != 0 && !live_since_drop_.load() &&
         !(manifest_dropped_seq_.load() == drop && manifest_reopened_.load());
}

Status Namespace::Reopen(uint64_t drop_seq, std::optional<DistanceMetric> metric) {
  std::lock_guard<std::mutex> lock(manifest_mu_);
  bool stale = false;
  VECPUFF_RETURN_IF_ERROR(UpdateManifestLocked(
      [&](Manifest* m) {
        // A later drop we have not applied: the caller catches up and checks again.
        stale = m->dropped_seq > drop_seq;
        if (stale) return false;
        const int64_t now = NowUnixMillis();
        bool changed = false;
        if (m->dropped_seq < drop_seq) {
          ResetManifestForDrop(m, drop_seq, now);
          changed = true;
        }
        if (!m->reopened) {
          m->reopened = true;
          m->distance_metric = metric.value_or(DistanceMetric::kCosineDistance);
          m->created_at_ms = now;
          m->last_write_ms = now;
          // Nothing legitimate fixes these before the reopening: only a write checked
          // against the deleted namespace could have (SameNamespace refuses it anyway).
          m->dimensions = 0;
          m->schema.clear();
          changed = true;
        }
        return changed;
      },
      /*max_attempts=*/100));
  return stale ? DeletedInFlight() : Status::OK();
}

Status Namespace::SyncManifestWithDropLocked() {
  const uint64_t drop = dropped_seq_.load();
  if (drop == 0) return Status::OK();
  const uint64_t ours = manifest_dropped_seq_.load();
  if (ours > drop || (ours == drop && (manifest_reopened_.load() || !live_since_drop_.load()))) {
    return Status::OK();  // our copy is current enough
  }
  std::lock_guard<std::mutex> lock(manifest_mu_);
  if (manifest_.dropped_seq < drop) {
    return UpdateManifestLocked(
        [&](Manifest* m) {
          if (m->dropped_seq >= drop) return false;  // done by another process
          ResetManifestForDrop(m, drop, NowUnixMillis());
          return true;
        },
        /*max_attempts=*/100);
  }
  if (manifest_.dropped_seq == drop && !manifest_.reopened && live_since_drop_.load()) {
    // A write after the drop reopened the manifest before its put: read its metric.
    const std::string key = ManifestKey(options_->key_prefix, name_);
    auto got = store_->Get(key);
    if (!got.ok()) return got.status().WithContext("reading manifest");
    VECPUFF_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(got->data));
    SetManifestLocked(std::move(m), got->meta.etag);
  }
  return Status::OK();
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

namespace {

// The id type of a document key (db/doc_key.h).
const char* KeyType(const std::string& key) {
  if (!key.empty() && key[0] == kU64KeyTag) return "uint";
  if (!key.empty() && key[0] == kUuidKeyTag) return "uuid";
  return "string";
}

// The type a value gives an attribute that has none yet; "" for null and empty arrays.
std::string InferType(const nlohmann::json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number_float()) return "float";
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}) return "uint";
  if (v.is_number()) return "int";
  if (v.is_array()) {
    std::string elem;
    for (const auto& e : v) {
      std::string t = InferType(e);
      if (t.empty() || t.starts_with("[]")) continue;
      if (elem.empty() || (t == "float" && (elem == "int" || elem == "uint"))) elem = t;
    }
    return elem.empty() ? "" : "[]" + elem;
  }
  return "";
}

// Checks `v` against a scalar type and normalizes it in place; false if it does not fit.
bool FitScalar(const std::string& type, nlohmann::json* v) {
  if (type == "string") return v->is_string();
  if (type == "bool") return v->is_boolean();
  if (type == "int") {
    return v->is_number_integer() &&
           (!v->is_number_unsigned() || v->get<uint64_t>() <= uint64_t{INT64_MAX});
  }
  if (type == "uint") {
    return v->is_number_unsigned() || (v->is_number_integer() && v->get<int64_t>() >= 0);
  }
  if (type == "float") {
    if (!v->is_number()) return false;
    *v = v->get<double>();
    return true;
  }
  if (type == "uuid") {
    if (!v->is_string()) return false;
    auto key = DocKeyFromJson(*v, "", 64);
    if (!key.ok() || key->size() != 17 || (*key)[0] != kUuidKeyTag) return false;
    *v = DocKeyToJson(*key);
    return true;
  }
  if (type == "datetime") {
    if (!v->is_string()) return false;
    std::optional<std::string> canonical = CanonicalDatetime(v->get_ref<const std::string&>());
    if (!canonical) return false;
    *v = std::move(*canonical);
    return true;
  }
  return false;
}

bool FitType(const std::string& type, nlohmann::json* v) {
  if (v->is_null()) return true;
  if (type.starts_with("[]")) {
    if (!v->is_array()) return false;
    const std::string elem = type.substr(2);
    for (auto& e : *v) {
      if (!e.is_null() && !FitScalar(elem, &e)) return false;
    }
    return true;
  }
  return FitScalar(type, v);
}

std::string KindName(const nlohmann::json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_float()) return "a fractional number";
  if (v.is_number_integer() && !v.is_number_unsigned()) return "a negative integer";
  if (v.is_number()) return "an integer";
  if (v.is_array()) return "an array (or one with elements of another type)";
  return "an object";
}

}  // namespace

Status Namespace::MergeDeclared(const std::map<std::string, AttributeSchema>& schema,
                                const std::map<std::string, AttributeSchema>& declared,
                                const std::string& path,
                                std::map<std::string, AttributeSchema>* added) {
  for (const auto& [name, a] : declared) {
    auto it = schema.find(name);
    if (it != schema.end() && it->second.type != a.type) {
      return Status::InvalidArgument(path + "." + name + ": the attribute's type is " +
                                     it->second.type + "; it cannot change to " + a.type);
    }
    if (it == schema.end() || !(it->second == a)) (*added)[name] = a;
  }
  return Status::OK();
}

Status Namespace::CommitSchema(const std::map<std::string, AttributeSchema>& added,
                               uint64_t drop_seen) {
  if (added.empty()) return Status::OK();
  std::lock_guard<std::mutex> lock(manifest_mu_);
  Status conflict;
  VECPUFF_RETURN_IF_ERROR(UpdateManifestLocked(
      [&](Manifest* m) {
        conflict = Status::OK();
        if (!SameNamespace(*m, drop_seen)) {
          // Types checked against a namespace deleted since must not type the new one.
          conflict = DeletedInFlight();
          return false;
        }
        bool changed = false;
        for (const auto& [name, a] : added) {
          auto it = m->schema.find(name);
          if (it != m->schema.end() && it->second.type != a.type) {
            conflict = Status::InvalidArgument(
                "attribute '" + name + "' was given type " + it->second.type +
                " by a concurrent write; this request gives it " + a.type);
            return false;
          }
          if (it == m->schema.end() || !(it->second == a)) {
            m->schema[name] = a;
            changed = true;
          }
        }
        if (changed) m->last_write_ms = NowUnixMillis();
        return changed;
      },
      /*max_attempts=*/100));
  return conflict;
}

Status Namespace::ApplySchema(WriteRequest* request, uint64_t drop_seen) {
  std::map<std::string, AttributeSchema> schema;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    schema = manifest_.schema;
  }
  std::map<std::string, AttributeSchema> added;
  VECPUFF_RETURN_IF_ERROR(MergeDeclared(schema, request->schema, "schema", &added));
  auto type_of = [&](const std::string& name) -> const AttributeSchema* {
    auto a = added.find(name);
    if (a != added.end()) return &a->second;
    auto s = schema.find(name);
    return s != schema.end() ? &s->second : nullptr;
  };
  auto check_id = [&](const std::string& key, const std::string& path) -> Status {
    const char* type = KeyType(key);
    if (const AttributeSchema* a = type_of("id")) {
      if (a->type != type) {
        return Status::InvalidArgument(path + ": the namespace's ids are " + a->type +
                                       " ids; this one is a " + type + " id");
      }
      return Status::OK();
    }
    added["id"] = {type, true, false};
    return Status::OK();
  };
  auto check_attributes = [&](nlohmann::json* attributes, const std::string& path) -> Status {
    for (auto& [name, value] : attributes->items()) {
      if (value.is_null()) continue;
      const AttributeSchema* a = type_of(name);
      if (a == nullptr) {
        const std::string t = InferType(value);
        if (t.empty()) continue;  // an empty array: typed by a later value
        added[name] = {t, true, false};
        a = &added[name];
      }
      if (!FitType(a->type, &value)) {
        return Status::InvalidArgument(path + "." + name + ": expected " + a->type +
                                       " (the attribute's type), got " + KindName(value));
      }
    }
    return Status::OK();
  };
  for (size_t i = 0; i < request->upsert_rows.size(); ++i) {
    const std::string path = "upsert_rows[" + std::to_string(i) + "]";
    VECPUFF_RETURN_IF_ERROR(check_id(request->upsert_rows[i].id, path + ".id"));
    VECPUFF_RETURN_IF_ERROR(check_attributes(&request->upsert_rows[i].attributes, path));
  }
  for (size_t i = 0; i < request->patch_rows.size(); ++i) {
    const std::string path = "patch_rows[" + std::to_string(i) + "]";
    VECPUFF_RETURN_IF_ERROR(check_id(request->patch_rows[i].id, path + ".id"));
    VECPUFF_RETURN_IF_ERROR(check_attributes(&request->patch_rows[i].attributes, path));
  }
  for (size_t i = 0; i < request->deletes.size(); ++i) {
    VECPUFF_RETURN_IF_ERROR(check_id(request->deletes[i], "deletes[" + std::to_string(i) + "]"));
  }
  if (request->patch_by_filter != nullptr) {
    VECPUFF_RETURN_IF_ERROR(
        check_attributes(&request->patch_by_filter_attributes, "patch_by_filter.patch"));
  }
  return CommitSchema(added, drop_seen);
}

Result<std::map<std::string, AttributeSchema>> Namespace::UpdateSchema(
    const std::map<std::string, AttributeSchema>& declared) {
  VECPUFF_RETURN_IF_ERROR(CatchUp());
  const uint64_t drop_seen = dropped_seq_.load();
  if (IsDeleted()) return Status::NotFound("namespace '" + name_ + "' not found");
  std::map<std::string, AttributeSchema> added;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    VECPUFF_RETURN_IF_ERROR(MergeDeclared(manifest_.schema, declared, "schema", &added));
  }
  Status s = CommitSchema(added, drop_seen);
  if ((s.code() == StatusCode::kAborted))
    return Status::NotFound("namespace '" + name_ + "' not found");
  VECPUFF_RETURN_IF_ERROR(s);
  std::lock_guard<std::mutex> lock(manifest_mu_);
  return manifest_.schema;
}

Result<WriteResult> Namespace::Write(WriteRequest request, size_t entry_bytes) {
  const auto arrival = std::chrono::steady_clock::now();
  {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    if (tail_bytes_ > options_->max_unindexed_bytes) {
      return Status::ResourceExhausted(
          "namespace '" + name_ + "' has " + std::to_string(tail_bytes_) +
          " unindexed bytes, over the limit of " + std::to_string(options_->max_unindexed_bytes) +
          "; retry once indexing catches up");
    }
  }
  uint64_t drop_seen = 0;
  auto check = [&]() -> Status {
    // A write after a drop starts the new namespace: in the manifest, before its entry.
    drop_seen = dropped_seq_.load();
    if (drop_seen != 0 &&
        (manifest_dropped_seq_.load() != drop_seen || !manifest_reopened_.load())) {
      VECPUFF_RETURN_IF_ERROR(Reopen(drop_seen, request.distance_metric));
    }
    std::optional<uint32_t> dims_to_fix;
    VECPUFF_RETURN_IF_ERROR(CheckRequest(request, &dims_to_fix));
    if (dims_to_fix) {
      // The first vector fixes the namespace's dimensions, in the manifest, before any WAL
      // entry uses them: a concurrent writer in another process with other dimensions then
      // either sees ours or loses the compare-and-swap, so no acknowledged entry can disagree.
      VECPUFF_RETURN_IF_ERROR(FixDimensions(*dims_to_fix, drop_seen));
      VECPUFF_RETURN_IF_ERROR(CheckRequest(request, &dims_to_fix));
    }
    // Types are fixed in the manifest before the entry that first uses them, like dimensions.
    if (request.typed) VECPUFF_RETURN_IF_ERROR(ApplySchema(&request, drop_seen));
    return Status::OK();
  };
  Status checked = check();
  if (checked.IsInvalidArgument() || (checked.code() == StatusCode::kAborted)) {
    // Our view may predate another process's drop, after which the request may fit (other
    // dimensions, metric or types), or the manifest already belongs to the namespace after
    // it (Aborted): look before refusing it.
    const uint64_t before = drop_seen;
    VECPUFF_RETURN_IF_ERROR(CatchUp());
    if (dropped_seq_.load() != before) checked = check();
  }
  if ((checked.code() == StatusCode::kAborted)) return Status::Unavailable(checked.message());
  VECPUFF_RETURN_IF_ERROR(checked);

  if (request.conditional()) {
    // Resolved by the batch's leader, against the state just before its entry.
    const size_t rows = std::max<size_t>(
        1, request.upsert_rows.size() + request.patch_rows.size() + request.deletes.size());
    const bool want_ids = request.return_affected_ids;
    return Commit(WalRequest{}, EncodedWalRequest{}, entry_bytes, rows, arrival, want_ids,
                  drop_seen, std::make_shared<const WriteRequest>(std::move(request)));
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
  // Encoded (and compressed) here, by each writer in its own thread, in parallel with the
  // others and with the batching window, rather than by the batch's leader afterwards.
  EncodedWalRequest encoded = EncodeWalRequest(wal);
  return Commit(std::move(wal), std::move(encoded), entry_bytes, rows, arrival,
                request.return_affected_ids, drop_seen);
}

Status Namespace::Drop() {
  const auto arrival = std::chrono::steady_clock::now();
  // No batching window: a drop is a batch of its own anyway.
  Result<WriteResult> r = Commit(WalRequest{}, EncodedWalRequest{}, 0, 1,
                                 arrival - std::chrono::milliseconds(options_->batch_window_ms),
                                 false, 0, nullptr, /*drop_namespace=*/true);
  return r.status();
}

Result<WriteResult> Namespace::Commit(WalRequest request, EncodedWalRequest encoded, size_t bytes,
                                      size_t rows, std::chrono::steady_clock::time_point arrival,
                                      bool want_ids, uint64_t drop_seen,
                                      std::shared_ptr<const WriteRequest> conditional,
                                      bool drop_namespace) {
  PendingWrite w;
  w.want_ids = want_ids;
  w.drop_seen = drop_seen;
  w.drop_namespace = drop_namespace;
  w.conditional = std::move(conditional);
  w.request = std::move(request);
  w.encoded = std::move(encoded);
  w.bytes = bytes;
  w.rows = rows;

  std::unique_lock<std::mutex> lock(queue_mu_);
  queue_.push_back(&w);
  leader_cv_.notify_all();
  w.cv.wait(lock, [&] { return w.done || (!queue_.empty() && queue_.front() == &w); });
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
    // A conditional request is a batch of its own (its resolution must see the state that
    // precedes it exactly), and so is a drop.
    const auto alone = [](const PendingWrite* x) { return x->conditional || x->drop_namespace; };
    if (!batch.empty() &&
        (b_bytes + p->bytes > options_->max_batch_bytes ||
         b_rows + p->rows > options_->max_batch_rows || alone(p) || alone(batch[0]))) {
      break;
    }
    batch.push_back(p);
    b_bytes += p->bytes;
    b_rows += p->rows;
  }
  // The batch leaves the queue now: the next writer leads the next batch, forming and
  // encoding it while this one is being written (tickets keep the commit order).
  for (size_t i = 0; i < batch.size(); ++i) queue_.pop_front();
  const uint64_t ticket = next_ticket_++;
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  lock.unlock();
  try {
    WriteBatch(batch, ticket);
  } catch (const std::exception& e) {
    // Only allocation failure can get here. The batch fails, and the turn must still be
    // handed on below, or every later writer of this namespace would wait forever.
    for (PendingWrite* p : batch) {
      p->status = Status::Internal(std::string("write failed: ") + e.what());
    }
  }
  EndTurn(ticket);
  lock.lock();
  for (PendingWrite* p : batch) {
    p->done = true;
    if (p != &w) p->cv.notify_one();
  }
  lock.unlock();

  if (w.status.ok()) MaybeAdvanceManifestHint();
  if (!w.status.ok()) return w.status;
  return w.result;
}

void Namespace::WaitTurn(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(turn_mu_);
  turn_cv_.wait(lock, [&] { return turn_ == ticket; });
}

void Namespace::EndTurn(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(turn_mu_);
  // A batch that failed before taking its turn still waits for it, so turns stay in order.
  turn_cv_.wait(lock, [&] { return turn_ >= ticket; });
  if (turn_ == ticket) ++turn_;
  turn_cv_.notify_all();
}

void Namespace::WriteBatch(const std::vector<PendingWrite*>& batch, uint64_t ticket) {
  WalEntry entry;
  entry.requests.reserve(batch.size());
  std::vector<const EncodedWalRequest*> parts;
  parts.reserve(batch.size());
  for (PendingWrite* p : batch) {
    entry.requests.push_back(std::move(p->request));
    parts.push_back(&p->encoded);
  }

  auto fail_all = [&](const Status& s) {
    for (PendingWrite* p : batch) p->status = s;
  };
  Result<std::string> joined = JoinWalPayload(parts);
  if (!joined.ok()) {
    fail_all(joined.status().WithContext("encoding WAL entry (nothing was applied)"));
    return;
  }
  std::string payload = std::move(*joined);
  for (PendingWrite* p : batch) p->encoded = EncodedWalRequest{};  // the payload has it all
  const WriteRequest* conditional = batch.size() == 1 ? batch[0]->conditional.get() : nullptr;
  const bool drop = batch.size() == 1 && batch[0]->drop_namespace;
  if (drop) {
    entry.requests.assign(1, DropNamespaceRequest());
    payload = EncodeWalPayload(entry.requests);
  }
  std::vector<bool> want_ids;
  for (PendingWrite* p : batch) want_ids.push_back(p->want_ids);
  auto ack_all = [&](size_t object_bytes) {
    std::vector<WriteResult> results;
    ApplyEntryLocked(entry, object_bytes, &results, &want_ids);
    if (drop) {
      // The drop is durable and applied here. Resetting the manifest now hides the namespace
      // from listings at once; if it fails, whoever applies the drop next does it.
      Status s = SyncManifestWithDropLocked();
      if (!s.ok()) {
        spdlog::warn("namespace '{}': manifest not reset after the drop at seq {}: {}", name_,
                     entry.seq, s.ToString());
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const bool remaining = batch[i]->result.rows_remaining;
      batch[i]->status = Status::OK();
      batch[i]->result = results[i];
      batch[i]->result.rows_remaining = remaining;
    }
  };
  if (WalPayloadRawSize(payload) > kMaxWalPayloadBytes) {
    // Readers reject such an entry; writing it would make the namespace unreadable.
    fail_all(
        Status::ResourceExhausted("write batch of " + std::to_string(WalPayloadRawSize(payload)) +
                                  " bytes exceeds the WAL entry limit; send smaller requests"));
    return;
  }

  WaitTurn(ticket);
  std::lock_guard<std::mutex> log_lock(log_mu_);
  PutOptions create;
  create.mode = PutMode::kCreateOnly;
  if (conditional != nullptr || drop) {
    // Conditions see every write acknowledged before this one, by any process; a drop
    // whether the namespace still exists.
    Status s = CatchUpLocked(std::nullopt);
    if (!s.ok()) {
      fail_all(s.WithContext("catching up with the WAL"));
      return;
    }
  }
  for (int attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
    if (drop && IsDeleted()) {
      batch[0]->status = Status::NotFound("namespace '" + name_ + "' not found");
      return;
    }
    for (PendingWrite* p : batch) {
      // Checked against the namespace a drop has since deleted: its dimensions, metric and
      // schema may not hold for the new one.
      if (!p->drop_namespace && p->drop_seen != dropped_seq_.load()) {
        fail_all(Status::Unavailable(DeletedInFlight().message()));
        return;
      }
    }
    if (conditional != nullptr) {
      // Resolved again on every attempt: a lost race means the state changed.
      WalRequest resolved;
      bool remaining = false;
      Status s = ResolveConditionalLocked(*conditional, &resolved, &remaining);
      if (!s.ok()) {
        fail_all(s);
        return;
      }
      batch[0]->result = WriteResult{};
      batch[0]->result.rows_remaining = remaining;
      if (resolved.ops.empty()) {  // nothing passed: nothing to write
        batch[0]->status = Status::OK();
        return;
      }
      entry.requests.assign(1, std::move(resolved));
      payload = EncodeWalPayload(entry.requests);
      if (WalPayloadRawSize(payload) > kMaxWalPayloadBytes) {
        fail_all(Status::ResourceExhausted("write of " +
                                           std::to_string(WalPayloadRawSize(payload)) +
                                           " bytes exceeds the WAL entry limit"));
        return;
      }
    }
    // Invariant: every entry below next_seq_ is applied, so a successful put at next_seq_
    // is applied on top of exactly the state that precedes it in the log.
    entry.seq = next_seq_.load();
    entry.commit_time_ms = NowUnixMillis();
    const std::string object = FrameWalEntry(entry.seq, entry.commit_time_ms, writer_id_, payload,
                                             drop ? kWalDropFormatVersion : kWalFormatVersion);
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

bool Namespace::ExistsLocked(const std::string& id) const {
  auto it = tail_.find(id);
  if (it != tail_.end()) return it->second->kind != TailDoc::Kind::kDelete;
  return index_->Docno(id).has_value();
}

void Namespace::ApplyDropLocked(const WalEntry& entry) {
  tail_.clear();
  ++tail_changes_;
  tail_masked_.clear();
  tail_entries_.clear();
  tail_bytes_ = 0;
  tail_oldest_ms_ = 0;
  const PostingParts before = PostingPartsLocked();
  index_ = std::make_shared<IndexState>();
  ForgetDeadPostingsLocked(before);
  index_through_seq_ = entry.seq;
  ++epoch_;
  applied_dims_.store(0);
  dropped_seq_.store(entry.seq);
  live_since_drop_.store(false);
  last_commit_ms_ = std::max(last_commit_ms_, entry.commit_time_ms);
  next_seq_.store(entry.seq + 1);
}

void Namespace::ApplyEntryLocked(WalEntry& entry, size_t object_bytes,
                                 std::vector<WriteResult>* results,
                                 const std::vector<bool>* want_ids) {
  if (IsDropEntry(entry)) {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    results->assign(1, WriteResult{});
    ApplyDropLocked(entry);
    return;
  }
  // The upserts' documents are built (vectors moved, not copied; norms computed) before
  // state_mu_ is taken, so queries wait only for the map updates.
  std::vector<std::shared_ptr<TailDoc>> upserts;
  for (WalRequest& request : entry.requests) {
    for (WalOp& op : request.ops) {
      if (op.type != WalOpType::kUpsert) continue;
      auto doc = std::make_shared<TailDoc>();
      doc->kind = TailDoc::Kind::kUpsert;
      doc->seq = entry.seq;
      doc->vector = std::move(op.vector);
      doc->norm = Norm(doc->vector.data(), doc->vector.size());
      doc->attributes = std::move(op.attributes);
      upserts.push_back(std::move(doc));
    }
  }
  size_t next_upsert = 0;
  std::unique_lock<std::shared_mutex> lock(state_mu_);
  ++tail_changes_;
  results->assign(entry.requests.size(), WriteResult{});
  for (size_t r = 0; r < entry.requests.size(); ++r) {
    WriteResult& counts = (*results)[r];
    const bool ids = want_ids != nullptr && r < want_ids->size() && (*want_ids)[r];
    for (const WalOp& op : entry.requests[r].ops) {
      switch (op.type) {
        case WalOpType::kUpsert: {
          std::shared_ptr<TailDoc>& doc = upserts[next_upsert++];
          // Dimensions are fixed in the manifest before any entry carries a vector, so the
          // first applied vector tells them even if our cached manifest predates that.
          if (!doc->vector.empty() && applied_dims_.load() == 0) {
            applied_dims_.store(static_cast<uint32_t>(doc->vector.size()));
          }
          tail_[op.id] = std::move(doc);
          if (auto docno = index_->Docno(op.id)) tail_masked_.insert(*docno);
          ++counts.upserted_count;
          if (ids) counts.upserted_ids.push_back(op.id);
          break;
        }
        case WalOpType::kPatch: {
          if (!ExistsLocked(op.id)) break;  // a patch to a missing document is ignored
          auto it = tail_.find(op.id);
          auto doc = it != tail_.end() ? std::make_shared<TailDoc>(*it->second)
                                       : std::make_shared<TailDoc>();
          if (it == tail_.end()) {
            doc->kind = TailDoc::Kind::kPatch;
            doc->attributes = nlohmann::json::object();
          }
          doc->seq = entry.seq;
          for (const auto& [key, value] : op.attributes.items()) doc->attributes[key] = value;
          tail_[op.id] = std::move(doc);
          ++counts.patched_count;
          if (ids) counts.patched_ids.push_back(op.id);
          break;
        }
        case WalOpType::kDelete: {
          if (!ExistsLocked(op.id)) break;
          auto doc = std::make_shared<TailDoc>();
          doc->kind = TailDoc::Kind::kDelete;
          doc->seq = entry.seq;
          tail_[op.id] = std::move(doc);
          if (auto docno = index_->Docno(op.id)) tail_masked_.insert(*docno);
          ++counts.deleted_count;
          if (ids) counts.deleted_ids.push_back(op.id);
          break;
        }
        case WalOpType::kDropNamespace:
          break;  // only ever alone in its entry (decoder-checked), applied above
      }
    }
  }
  if (!entry.requests.empty()) {
    live_since_drop_.store(true);
    // A fence (an empty entry) writes nothing.
    last_commit_ms_ = std::max(last_commit_ms_, entry.commit_time_ms);
  }
  if (tail_entries_.empty()) tail_oldest_ms_ = entry.commit_time_ms;
  tail_entries_.emplace_back(entry.seq, object_bytes);
  tail_bytes_ += object_bytes;
  next_seq_.store(entry.seq + 1);
}

Status Namespace::ReplayLocked(uint64_t hint) {
  // Every entry below the manifest's hint exists, and writers keep the hint within
  // kManifestHintInterval of the end: fetch from next_seq_ to hint + that interval in one
  // parallel round (a window at a time, so a long tail does not sit in memory at once), and
  // apply entries in order up to the first absent one. The log is dense, so an absent entry
  // below the hint means one was lost: Corruption.
  const uint64_t first = next_seq_.load();
  const uint64_t last = std::max(first, hint) + kManifestHintInterval;
  for (uint64_t begin = first; begin <= last; begin += kReplayWindow) {
    const uint64_t end = std::min(last + 1, begin + kReplayWindow);
    std::vector<std::string> window;
    for (uint64_t seq = begin; seq < end; ++seq) {
      window.push_back(WalKey(options_->key_prefix, name_, seq));
    }
    // All of a window at once: one round trip, not window / concurrency of them.
    std::vector<Result<GetResult>> objects = ParallelGet(store_, window, window.size());
    for (size_t i = 0; i < objects.size(); ++i) {
      const uint64_t seq = begin + i;
      if (objects[i].status().IsNotFound()) {
        if (seq < hint) {
          return Status::Corruption("WAL of namespace '" + name_ + "' is missing " + window[i] +
                                    " below its manifest hint " + std::to_string(hint));
        }
        return Status::OK();
      }
      if (!objects[i].ok()) return objects[i].status().WithContext("reading " + window[i]);
      VECPUFF_ASSIGN_OR_RETURN(WalEntry entry, DecodeWalEntry(objects[i]->data, seq));
      std::vector<WriteResult> ignored;
      ApplyEntryLocked(entry, objects[i]->data.size(), &ignored);
    }
  }
  // The whole window existed: the hint lags; probe on from there.
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
      if (got.status().IsNotFound()) return SyncManifestWithDropLocked();
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

Result<std::shared_ptr<const PostingData>> Namespace::ReadPosting(const IndexState& state,
                                                                  uint32_t centroid_id,
                                                                  const PostingRef& ref) {
  const PostingCache::Key key(ref);
  if (posting_cache_ != nullptr) {
    if (auto hit = posting_cache_->Get(key)) return hit;
  }
  auto got = store_->Get(ref.pack, ByteRange{ref.offset, ref.length});
  if (!got.ok()) return got.status().WithContext("reading posting from " + ref.pack);
  return DecodeAndCache(centroid_id, ref, got->data, state.dims(), state.metric(), state.sq8());
}

Result<std::shared_ptr<const PostingData>> Namespace::DecodeAndCache(
    uint32_t centroid_id, const PostingRef& ref, std::string_view bytes, uint32_t dims,
    DistanceMetric metric, const Sq8Params& sq8) {
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<PostingData> p, DecodePosting(bytes, centroid_id, dims));
  if (sq8.dims() == dims) DeriveSearchData(metric, sq8, p.get());
  p->parsed_attributes.resize(p->size());
  for (size_t i = 0; i < p->size(); ++i) {
    nlohmann::json& a = p->parsed_attributes[i];
    a = nlohmann::json::parse(p->attributes[i], nullptr, false);
    if (!a.is_object()) {
      return Status::Corruption("posting of centroid " + std::to_string(centroid_id) + " in " +
                                ref.pack + " has malformed attributes");
    }
  }
  // Filters then evaluate over the posting at once (FilterMask); ids are left out (a filter on
  // the id falls back to evaluating entry by entry).
  p->attribute_index = AttributeIndex::Build(p->parsed_attributes);
  p->attribute_index_bytes = p->attribute_index->MemoryBytes();
  std::shared_ptr<const PostingData> cp = std::move(p);
  if (posting_cache_ != nullptr) posting_cache_->Put(PostingCache::Key(ref), cp);
  return cp;
}

Result<QueryResult> Namespace::Query(const QueryRequest& request) {
  // Strong consistency: the freshness probe (one GET of the entry after the last applied
  // one) starts after the query arrived; if it finds a new entry, the log is caught up and
  // the search runs again, so the result reflects every write acknowledged before the query.
  // A slow probe (a remote store) runs concurrently with the search; a fast one (a local
  // directory) after it, on this thread.
  const uint64_t probe_seq = next_seq_.load();
  const bool strong = request.consistency == Consistency::kStrong;
  auto probe = [this] {
    const auto start = std::chrono::steady_clock::now();
    Status s = CatchUp();
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count();
    const uint32_t sample = static_cast<uint32_t>(std::min<int64_t>(micros, int64_t{1} << 28));
    const uint32_t old = probe_micros_.load(std::memory_order_relaxed);
    probe_micros_.store(old == UINT32_MAX ? sample : (old * 7 + sample) / 8,
                        std::memory_order_relaxed);
    return s;
  };
  std::future<Status> fresh;
  if (strong && probe_micros_.load(std::memory_order_relaxed) >= kInlineProbeMicros) {
    fresh =
        probe_pool_ != nullptr ? probe_pool_->Submit(probe) : std::async(std::launch::async, probe);
  }
  bool probed = false;
  for (int attempt = 0;; ++attempt) {
    bool retry = false;
    Result<QueryResult> result = QueryOnce(request, &retry);
    if (retry) {
      // The index changed while postings were read, or an object of our snapshot was
      // deleted (we served an index older than the grace period, or another process's
      // commit collected it): adopt the current index, then search again. If this process's
      // compactor is committing, wait for it first: retrying against the same stale index
      // while it runs would use up every attempt in microseconds.
      if (attempt >= 8) {
        if (fresh.valid()) (void)fresh.get();
        return Status::Unavailable("index of '" + name_ +
                                   "' kept changing during the query; try again");
      }
      if (attempt > 0) {
        // Commits racing this query: give them a moment to settle (1, 2, 4 .. 64 ms).
        std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt - 1, 6)));
      }
      {
        std::lock_guard<std::mutex> compacting(compact_mu_);
        (void)RefreshIndex();
      }
      continue;
    }
    if (strong && !probed) {
      probed = true;
      Status s = fresh.valid() ? fresh.get() : probe();
      if (!s.ok()) return s;
      if (next_seq_.load() != probe_seq) continue;  // caught up: search the new state
    }
    if (IsDeleted()) return Status::NotFound("namespace '" + name_ + "' not found");
    return result;
  }
}

Result<QueryResult> Namespace::QueryOnce(const QueryRequest& request, bool* retry) {
  const DistanceMetric metric = metric_.load();
  const uint32_t dims = Dimensions();
  if (request.vector.empty()) return QueryByAttributes(request, retry);
  QueryResult result;
  if (dims == 0) return result;  // no vector written yet
  if (request.vector.size() != dims) {
    return Status::InvalidArgument(DimsMessage("query_vector", dims, request.vector.size()));
  }
  const float* q = request.vector.data();
  const float q_norm = Norm(q, dims);
  const size_t k = request.top_k;

  struct Candidate {
    float dist;
    const std::string* id;
    const TailDoc* tail;      // from the tail, or
    const PostingData* post;  // from a posting, entry `index`
    uint32_t index;
  };
  // Max-heap on (dist, id): the top holds the worst of the best k seen so far.
  auto worse = [](const Candidate& a, const Candidate& b) {
    if (a.dist != b.dist) return a.dist < b.dist;
    return *a.id < *b.id;
  };
  std::vector<Candidate> heap;
  auto offer = [&](const Candidate& c) {
    if (k == 0) return;
    if (heap.size() < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (worse(c, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  };
  auto finite = [](float d) { return std::isnan(d) ? std::numeric_limits<float>::infinity() : d; };

  std::shared_lock<std::shared_mutex> lock(state_mu_);

  // The index: nearest centroids, their postings (fetched outside the lock), SQ8 scan, then
  // an exact rerank of the best candidates.
  std::vector<std::shared_ptr<const PostingData>> postings;
  std::vector<ScanHit> hits;
  const IndexState& index = *index_;
  if (!index.empty() && index.dims() == dims && k > 0) {
    std::vector<float> qn(dims);
    IndexSpaceVector(metric, q, dims, qn.data());
    std::vector<uint8_t> qcode(dims);
    EncodeSq8(index.sq8(), qn.data(), qcode.data());
    // The code error of the query (Sq8CodeError), and for the rerank bounds in the metric's
    // terms (IndexSpaceCodeError): infinite (no entry skipped on its bounds) if the index
    // measured another metric.
    const float code_error = Sq8CodeError(index.sq8(), qn.data(), qcode.data());
    const float query_error = index.metric() == metric && HasIndexSpaceForm(metric, q_norm)
                                  ? code_error
                                  : std::numeric_limits<float>::infinity();
    size_t probes = request.probes != 0 ? request.probes : options_->default_probes;
    if (request.exact) probes = index.centroid_count();
    std::vector<std::pair<float, uint32_t>> nearest;
    size_t fetched = 0;
    bool widened = false;
    // Per posting read: which entries the filter allows, and how many are live and allowed.
    struct Mask {
      std::vector<uint8_t> allowed;
      size_t live = 0, matched = 0;
    };
    std::unordered_map<const PostingData*, Mask> masks;
    std::vector<const uint8_t*> allowed;
    const bool skip_unmatchable = request.filter != nullptr && !TailPatchesLocked();
    uint64_t masks_tail = tail_changes_;  // the tail the masks were computed against
    size_t matched = 0, base_live = 0, live_total = 0;
    bool first_round = true;
    while (true) {
      index.NearestCentroids(qn.data(), probes, &nearest, qcode.data(), code_error);
      // Query-aware pruning (SPANN): postings whose centroid is much farther than the
      // nearest one rarely hold a top-k neighbour; skip them (not when widening).
      if (!widened && !request.exact && options_->prune_ratio > 0 && !nearest.empty() &&
          nearest[0].first > 0) {
        const float limit = nearest[0].first * options_->prune_ratio;
        size_t keep = 1;
        while (keep < nearest.size() && nearest[keep].first <= limit) ++keep;
        nearest.resize(keep);
      }
      std::vector<uint32_t> slots;
      size_t skipped_entries = 0;  // in posting lists whose summary rules the filter out
      for (size_t i = fetched; i < nearest.size(); ++i) {
        const uint32_t slot = nearest[i].second;
        if (skip_unmatchable) {
          if (std::optional<size_t> n = UnmatchableEntries(index, slot, *request.filter)) {
            skipped_entries += *n;
            ++result.postings_skipped;
            continue;
          }
        }
        slots.push_back(slot);
      }
      VECPUFF_RETURN_IF_ERROR(FetchPostings(lock, index, slots, &postings, retry, &result));
      if (*retry) return result;
      if (request.filter != nullptr && tail_changes_ != masks_tail) {
        // A catch-up applied writes while the lock was released: a tail patch may have changed
        // what the filter says of entries judged before. Judge them again; and if the skipped
        // posting lists were judged on summaries that no tail patch could change, and one now
        // can, start over.
        if (skip_unmatchable && TailPatchesLocked()) {
          *retry = true;
          return result;
        }
        for (auto& [p, m] : masks) {
          Mask now;
          VECPUFF_RETURN_IF_ERROR(FilterMask(index, *p, *request.filter, &now.allowed, &now.live));
          for (uint8_t a : now.allowed) now.matched += a;
          matched = matched - m.matched + now.matched;
          live_total = live_total - m.live + now.live;
          m = std::move(now);
        }
        masks_tail = tail_changes_;
      }
      fetched = nearest.size();
      std::vector<const PostingData*> scan;
      for (const auto& p : postings) scan.push_back(p.get());
      const size_t rerank =
          request.exact ? std::numeric_limits<size_t>::max() : std::max<size_t>(2 * k, k + 32);
      if (request.filter != nullptr) {
        // Entries the filter rejects are never candidates (their masks are kept across
        // widening rounds). Skipped posting lists count as seen, none of theirs matching.
        if (first_round) base_live += skipped_entries;
        live_total += skipped_entries;
        allowed.clear();
        for (const PostingData* p : scan) {
          auto [it, inserted] = masks.try_emplace(p);
          Mask& m = it->second;
          if (inserted) {
            VECPUFF_RETURN_IF_ERROR(FilterMask(index, *p, *request.filter, &m.allowed, &m.live));
            for (uint8_t a : m.allowed) m.matched += a;
            matched += m.matched;
            if (first_round) base_live += m.live;
            live_total += m.live;
            result.exhaustive_count += m.live;
          }
          allowed.push_back(m.allowed.data());
        }
        first_round = false;
        // Planner. Too few matching entries seen: go straight to as many posting lists as
        // should hold base_live of them at the share matching so far (every list if none
        // matched), rather than doubling round after round.
        if (matched < base_live && fetched < index.centroid_count()) {
          const size_t want =
              matched == 0 ? index.centroid_count()
                           : static_cast<size_t>(std::ceil(1.25 * static_cast<double>(fetched) *
                                                           static_cast<double>(base_live) /
                                                           static_cast<double>(matched)));
          probes = std::min(index.centroid_count(), std::max(want, probes * 2));
          widened = true;
          continue;
        }
        // A selective filter: rank the few matching entries at full precision directly
        // (an exact scan of the matching set) instead of a code scan of every entry.
        if (matched * kExactFilterRatio <= live_total) {
          std::unordered_set<uint32_t> taken;
          for (size_t j = 0; j < scan.size(); ++j) {
            const PostingData* p = scan[j];
            for (uint32_t i = 0; i < p->size(); ++i) {
              if (allowed[j][i] == 0 || !taken.insert(p->docnos[i]).second) continue;
              const std::string& id = p->ids[i];
              auto t = tail_.find(id);
              if (t != tail_.end() && t->second->kind != TailDoc::Kind::kPatch) continue;
              const float* v = &p->vectors[size_t{i} * dims];
              offer(
                  {finite(Distance(metric, q, q_norm, v, p->norms[i], dims)), &id, nullptr, p, i});
            }
          }
          break;
        }
      }
      ScanPostings(index, scan, qcode.data(), rerank, &tail_masked_, &hits,
                   request.filter != nullptr ? &allowed : nullptr);
      // Rerank at full precision, skipping documents the tail overrides, and entries whose
      // distance bounds (Sq8DistanceBounds) show they cannot be among the k nearest of these
      // candidates: the result is the same as reranking every one.
      struct Valid {
        const ScanHit* hit;
        const std::string* id;
        DistanceBounds bounds;
      };
      std::vector<Valid> valid;
      valid.reserve(hits.size());
      for (const ScanHit& h : hits) {
        const std::string& id = h.posting->ids[h.index];
        auto t = tail_.find(id);
        // A newer version in the tail (a tail patch is merged when the hit is assembled).
        if (t != tail_.end() && t->second->kind != TailDoc::Kind::kPatch) continue;
        const std::vector<float>& errors = h.posting->code_errors;
        const float entry_error = errors.size() == h.posting->size()
                                      ? errors[h.index]
                                      : std::numeric_limits<float>::infinity();
        valid.push_back({&h, &id,
                         Sq8DistanceBounds(index.metric(), index.sq8().scale, h.approx, query_error,
                                           entry_error)});
      }
      // Too few live documents near the query (e.g. most were deleted): widen the search.
      // With a filter, also until as many matching entries were seen as the first round's
      // postings held live ones: the filtered search then looks as deep into the matching
      // documents as an unfiltered one does into all (a selective filter ends up scanning
      // every posting, i.e. exactly).
      const bool shallow = request.filter != nullptr && matched < base_live;
      if ((valid.size() < k || shallow) && fetched < index.centroid_count()) {
        probes = std::min(index.centroid_count(), std::max<size_t>(probes * 2, 1));
        widened = true;
        continue;
      }
      float limit = std::numeric_limits<float>::infinity();  // the k-th smallest upper bound
      if (valid.size() > k) {
        std::vector<float> uppers;
        uppers.reserve(valid.size());
        for (const Valid& v : valid) uppers.push_back(v.bounds.upper);
        std::nth_element(uppers.begin(), uppers.begin() + (k - 1), uppers.end());
        limit = uppers[k - 1];
      }
      for (const Valid& c : valid) {
        if (c.bounds.lower > limit) continue;
        const ScanHit& h = *c.hit;
        const float* v = &h.posting->vectors[size_t{h.index} * dims];
        offer({finite(Distance(metric, q, q_norm, v, h.posting->norms[h.index], dims)), c.id,
               nullptr, h.posting, h.index});
      }
      break;
    }
  }

  if (request.exact && request.filter == nullptr) {
    for (const auto& p : postings) result.exhaustive_count += p->size();
  }

  // The unindexed tail, exhaustively. After the index part: that part may release the lock
  // to read postings, and a concurrent catch-up may then replace tail documents, so nothing
  // taken from the tail may be held across it (the index part reads the tail only after
  // taking the lock again).
  for (const auto& [id, doc] : tail_) {
    if (doc->kind != TailDoc::Kind::kUpsert || doc->vector.size() != dims) continue;
    ++result.exhaustive_count;
    if (request.filter != nullptr && !request.filter->Matches(DocKeyToJson(id), doc->attributes)) {
      continue;
    }
    offer({finite(Distance(metric, q, q_norm, doc->vector.data(), doc->norm, dims)), &id, doc.get(),
           nullptr, 0});
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  result.hits.reserve(heap.size());
  for (const Candidate& c : heap) {
    QueryHit hit;
    hit.id = *c.id;
    hit.dist = c.dist;
    if (c.tail != nullptr) {
      if (request.include_vectors) hit.vector = c.tail->vector;
      if (request.include_attributes) hit.attributes = c.tail->attributes;
    } else {
      if (request.include_vectors) {
        const float* v = &c.post->vectors[size_t{c.index} * dims];
        hit.vector.assign(v, v + dims);
      }
      if (request.include_attributes) {
        VECPUFF_ASSIGN_OR_RETURN(hit.attributes, IndexedAttributesLocked(*c.post, c.index));
      }
    }
    result.hits.push_back(std::move(hit));
  }
  return result;
}

Status Namespace::FetchPostings(std::shared_lock<std::shared_mutex>& lock, const IndexState& index,
                                const std::vector<uint32_t>& slots,
                                std::vector<std::shared_ptr<const PostingData>>* postings,
                                bool* retry, QueryResult* stats) {
  // Postings not in memory are read concurrently, without the lock.
  std::vector<GetRequest> reads;
  std::vector<uint32_t> ids;
  std::vector<PostingRef> refs;
  for (const uint32_t slot : slots) {
    auto want = [&](const PostingRef& ref) {
      std::shared_ptr<const PostingData> p =
          posting_cache_ ? posting_cache_->Get(PostingCache::Key(ref)) : nullptr;
      if (p) {
        postings->push_back(std::move(p));
        ++stats->postings_cached;
      } else {
        ++stats->postings_fetched;
        reads.push_back({ref.pack, ByteRange{ref.offset, ref.length}});
        ids.push_back(index.CentroidId(slot));
        refs.push_back(ref);
      }
    };
    want(index.Ref(slot));
    for (const PostingRef& part : index.MoreParts(slot)) want(part);
  }
  if (reads.empty()) return Status::OK();
  const uint64_t epoch = epoch_;
  // What decoding needs of the index, copied: it may be replaced while unlocked.
  const DistanceMetric index_metric = index.metric();
  const Sq8Params sq8 = index.sq8();
  const uint32_t dims = index.dims();
  lock.unlock();
  // All at once: a cold query's postings are one round trip, however many there are.
  std::vector<Result<GetResult>> got =
      ParallelGetRanges(store_, reads, std::min<size_t>(reads.size(), kMaxParallelReads));
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].ok()) {
      // A compaction may have retired the object after our snapshot: search again.
      if (got[i].status().IsNotFound()) {
        *retry = true;
        return Status::OK();
      }
      return got[i].status().WithContext("reading posting from " + reads[i].key);
    }
    VECPUFF_ASSIGN_OR_RETURN(
        std::shared_ptr<const PostingData> cp,
        DecodeAndCache(ids[i], refs[i], got[i]->data, dims, index_metric, sq8));
    postings->push_back(std::move(cp));
  }
  lock.lock();
  if (epoch_ != epoch) *retry = true;  // the index changed meanwhile: start over
  return Status::OK();
}

Result<nlohmann::json> Namespace::IndexedAttributesLocked(const PostingData& p, size_t i) const {
  nlohmann::json attributes = p.parsed_attributes.size() == p.size()
                                  ? p.parsed_attributes[i]
                                  : nlohmann::json::parse(p.attributes[i], nullptr, false);
  if (!attributes.is_object()) {
    return Status::Corruption("posting of '" + DocKeyToJson(p.ids[i]).dump() +
                              "' has malformed attributes");
  }
  auto t = tail_.find(p.ids[i]);
  if (t != tail_.end() && t->second->kind == TailDoc::Kind::kPatch) {
    for (const auto& [key, value] : t->second->attributes.items()) attributes[key] = value;
  }
  return attributes;
}

bool Namespace::LiveEntryLocked(const IndexState& index, const PostingData& p, size_t i) const {
  const uint32_t docno = p.docnos[i];
  if (index.Version(docno) != p.versions[i]) return false;  // stale copy
  return tail_masked_.empty() || !tail_masked_.count(docno);
}

bool Namespace::TailPatchesLocked() const {
  for (const auto& [id, doc] : tail_) {
    if (doc->kind == TailDoc::Kind::kPatch) return true;
  }
  return false;
}

std::optional<size_t> Namespace::UnmatchableEntries(const IndexState& index, uint32_t slot,
                                                    const Filter& filter) {
  auto unmatchable = [&](const PostingRef& ref) {
    return ref.summary != nullptr && !MayMatch(filter, *ref.summary);
  };
  const PostingRef& base = index.Ref(slot);
  if (!unmatchable(base)) return std::nullopt;
  size_t entries = base.count;
  for (const PostingRef& part : index.MoreParts(slot)) {
    if (!unmatchable(part)) return std::nullopt;
    entries += part.count;
  }
  return entries;
}

Status Namespace::FilterMask(const IndexState& index, const PostingData& p, const Filter& filter,
                             std::vector<uint8_t>* mask, size_t* live) const {
  *live = 0;
  // The id as the API shows it costs an allocation per entry: only when the filter reads it.
  const auto& names = filter.attributes();
  const bool reads_id = std::find(names.begin(), names.end(), "id") != names.end();
  static const nlohmann::json kNoId;
  if (p.attribute_index != nullptr && p.parsed_attributes.size() == p.size() &&
      p.attribute_index->Matches(filter, mask)) {
    // The index judged every entry on its stored attributes; what it cannot know is which
    // entries are live and which a tail patch changes.
    for (size_t i = 0; i < p.size(); ++i) {
      if (!LiveEntryLocked(index, p, i)) {
        (*mask)[i] = 0;
        continue;
      }
      ++*live;
      if (!tail_.empty() && tail_.find(p.ids[i]) != tail_.end()) {
        VECPUFF_ASSIGN_OR_RETURN(nlohmann::json attributes, IndexedAttributesLocked(p, i));
        (*mask)[i] = filter.Matches(DocKeyToJson(p.ids[i]), attributes) ? 1 : 0;
      }
    }
    return Status::OK();
  }
  mask->assign(p.size(), 0);
  for (size_t i = 0; i < p.size(); ++i) {
    if (!LiveEntryLocked(index, p, i)) continue;
    ++*live;
    // The parsed attributes as they are, unless a tail patch changes them.
    if (p.parsed_attributes.size() == p.size() &&
        (tail_.empty() || tail_.find(p.ids[i]) == tail_.end())) {
      (*mask)[i] =
          filter.Matches(reads_id ? DocKeyToJson(p.ids[i]) : kNoId, p.parsed_attributes[i]) ? 1 : 0;
      continue;
    }
    VECPUFF_ASSIGN_OR_RETURN(nlohmann::json attributes, IndexedAttributesLocked(p, i));
    (*mask)[i] = filter.Matches(DocKeyToJson(p.ids[i]), attributes) ? 1 : 0;
  }
  return Status::OK();
}

Result<QueryResult> Namespace::QueryByAttributes(const QueryRequest& request, bool* retry) {
  QueryResult result;
  result.ranked_by_vector = false;
  const size_t k = request.top_k;
  if (k == 0) return result;
  const uint32_t dims = Dimensions();

  struct Row {
    const std::string* id;
    nlohmann::json attributes;
    const TailDoc* tail;      // from the tail, or
    const PostingData* post;  // from a posting, entry `index`
    uint32_t index;
  };
  std::vector<Row> rows;
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  // Every indexed document: every posting, each live document once.
  std::vector<std::shared_ptr<const PostingData>> postings;
  const IndexState& index = *index_;
  if (!index.empty()) {
    const bool skip_unmatchable = request.filter != nullptr && !TailPatchesLocked();
    std::vector<uint32_t> slots;
    for (uint32_t s = 0; s < index.centroid_count(); ++s) {
      if (skip_unmatchable && UnmatchableEntries(index, s, *request.filter)) {
        ++result.postings_skipped;
        continue;
      }
      slots.push_back(s);
    }
    const uint64_t tail_before = tail_changes_;
    VECPUFF_RETURN_IF_ERROR(FetchPostings(lock, index, slots, &postings, retry, &result));
    if (*retry) return result;
    // Posting lists skipped on summaries no tail patch could change, and now one can.
    if (skip_unmatchable && tail_changes_ != tail_before && TailPatchesLocked()) {
      *retry = true;
      return result;
    }
    std::vector<uint8_t> seen(index.next_docno(), 0);
    std::vector<uint8_t> mask;
    for (const auto& p : postings) {
      if (request.filter != nullptr) {
        size_t live = 0;
        VECPUFF_RETURN_IF_ERROR(FilterMask(index, *p, *request.filter, &mask, &live));
      }
      for (uint32_t i = 0; i < p->size(); ++i) {
        if (!LiveEntryLocked(index, *p, i)) continue;
        const uint32_t docno = p->docnos[i];
        if (docno >= seen.size() || seen[docno]) continue;
        seen[docno] = 1;
        ++result.exhaustive_count;
        if (request.filter != nullptr && mask[i] == 0) continue;
        VECPUFF_ASSIGN_OR_RETURN(nlohmann::json attributes, IndexedAttributesLocked(*p, i));
        rows.push_back({&p->ids[i], std::move(attributes), nullptr, p.get(), i});
      }
    }
  }
  for (const auto& [id, doc] : tail_) {
    if (doc->kind != TailDoc::Kind::kUpsert) continue;
    ++result.exhaustive_count;
    if (request.filter != nullptr && !request.filter->Matches(DocKeyToJson(id), doc->attributes)) {
      continue;
    }
    rows.push_back({&id, doc->attributes, doc.get(), nullptr, 0});
  }

  static const nlohmann::json kNull;
  auto before = [&](const Row& a, const Row& b) {
    for (const OrderKey& key : request.order_by) {
      int c;
      if (key.attribute == "id") {
        c = a.id->compare(*b.id);
      } else {
        auto ia = a.attributes.find(key.attribute);
        auto ib = b.attributes.find(key.attribute);
        c = CompareValues(ia != a.attributes.end() ? *ia : kNull,
                          ib != b.attributes.end() ? *ib : kNull);
      }
      if (c != 0) return key.descending ? c > 0 : c < 0;
    }
    return *a.id < *b.id;
  };
  const size_t n = std::min(k, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + static_cast<ptrdiff_t>(n), rows.end(), before);
  rows.resize(n);
  result.hits.reserve(n);
  for (Row& row : rows) {
    QueryHit hit;
    hit.id = *row.id;
    if (request.include_vectors) {
      if (row.tail != nullptr) {
        hit.vector = row.tail->vector;
      } else if (dims != 0 && row.post->vectors.size() >= size_t{row.index + 1} * dims) {
        const float* v = &row.post->vectors[size_t{row.index} * dims];
        hit.vector.assign(v, v + dims);
      }
    }
    if (request.include_attributes) hit.attributes = std::move(row.attributes);
    result.hits.push_back(std::move(hit));
  }
  return result;
}

Result<QueryResult> Namespace::MatchingLocked(std::shared_ptr<const Filter> filter) {
  QueryRequest request;
  request.top_k = std::numeric_limits<size_t>::max();
  request.filter = std::move(filter);
  request.include_vectors = false;
  for (int attempt = 0; attempt < 8; ++attempt) {
    bool retry = false;
    Result<QueryResult> result = QueryByAttributes(request, &retry);
    if (!retry) return result;
  }
  return Status::Unavailable("index of '" + name_ + "' kept changing during the write; try again");
}

Result<std::optional<nlohmann::json>> Namespace::CurrentAttributesLocked(const std::string& id) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    auto t = tail_.find(id);
    if (t != tail_.end()) {
      if (t->second->kind == TailDoc::Kind::kDelete) return std::optional<nlohmann::json>();
      if (t->second->kind == TailDoc::Kind::kUpsert) {
        return std::optional<nlohmann::json>(t->second->attributes);
      }
    }
    const IndexState& index = *index_;
    const std::optional<uint32_t> docno = index.Docno(id);
    if (!docno) return std::optional<nlohmann::json>();
    const std::optional<uint32_t> slot = index.SlotOf(index.Home(*docno));
    if (!slot)
      return Status::Corruption("index of '" + name_ + "' has no home posting for a document");
    std::vector<std::shared_ptr<const PostingData>> postings;
    bool retry = false;
    QueryResult stats;
    VECPUFF_RETURN_IF_ERROR(FetchPostings(lock, index, {*slot}, &postings, &retry, &stats));
    if (retry) continue;
    for (const auto& p : postings) {
      for (size_t i = 0; i < p->size(); ++i) {
        if (p->docnos[i] != *docno || !LiveEntryLocked(index, *p, i)) continue;
        VECPUFF_ASSIGN_OR_RETURN(nlohmann::json attributes, IndexedAttributesLocked(*p, i));
        return std::optional<nlohmann::json>(std::move(attributes));
      }
    }
    return Status::Corruption("home posting of a document in '" + name_ + "' lacks it");
  }
  return Status::Unavailable("index of '" + name_ + "' kept changing during the write; try again");
}

Status Namespace::ResolveConditionalLocked(const WriteRequest& request, WalRequest* out,
                                           bool* remaining) {
  *remaining = false;
  // The state as this request's earlier steps leave it: id -> attributes (null: deleted).
  std::unordered_map<std::string, nlohmann::json> overlay;
  auto current = [&](const std::string& id) -> Result<std::optional<nlohmann::json>> {
    auto it = overlay.find(id);
    if (it != overlay.end()) {
      if (it->second.is_null()) return std::optional<nlohmann::json>();
      return std::optional<nlohmann::json>(it->second);
    }
    return CurrentAttributesLocked(id);
  };
  // Whether the document's current attributes pass `condition` with $ref_new bound to the
  // row's new values.
  // A condition without $ref_new is the same filter for every row: parsed once.
  std::map<const nlohmann::json*, std::shared_ptr<const Filter>> unbound;
  auto passes = [&](const nlohmann::json& condition, const std::string& path, const std::string& id,
                    const nlohmann::json& new_attributes,
                    const nlohmann::json& current_attributes) -> Result<bool> {
    if (!ContainsRefNew(condition)) {
      std::shared_ptr<const Filter>& f = unbound[&condition];
      if (f == nullptr) {
        VECPUFF_ASSIGN_OR_RETURN(f, Filter::Parse(condition, path));
      }
      return f->Matches(DocKeyToJson(id), current_attributes);
    }
    nlohmann::json bound = BindRefNew(condition, [&](const std::string& name) {
      if (name == "id") return DocKeyToJson(id);
      auto v = new_attributes.find(name);
      return v != new_attributes.end() ? *v : nlohmann::json();
    });
    VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<const Filter> f, Filter::Parse(bound, path));
    return f->Matches(DocKeyToJson(id), current_attributes);
  };
  const size_t limit = options_->max_rows_per_request;
  auto matching = [&](const std::shared_ptr<const Filter>& filter, bool allow_partial,
                      const char* what) -> Result<std::vector<QueryHit>> {
    VECPUFF_ASSIGN_OR_RETURN(QueryResult m, MatchingLocked(filter));
    if (m.hits.size() > limit) {
      if (!allow_partial) {
        return Status::InvalidArgument(
            std::string(what) + " matches " + std::to_string(m.hits.size()) +
            " documents, over the limit of " + std::to_string(limit) + " (set " + what +
            "_allow_partial to write that many and get rows_remaining)");
      }
      m.hits.resize(limit);
      *remaining = true;
    }
    return std::move(m.hits);
  };
  auto add = [&](WalOpType type, const std::string& id, std::vector<float> vector,
                 nlohmann::json attributes) {
    WalOp op;
    op.type = type;
    op.id = id;
    op.vector = std::move(vector);
    op.attributes = std::move(attributes);
    out->ops.push_back(std::move(op));
  };
  if (request.delete_by_filter != nullptr) {
    VECPUFF_ASSIGN_OR_RETURN(std::vector<QueryHit> hits,
                             matching(request.delete_by_filter,
                                      request.delete_by_filter_allow_partial, "delete_by_filter"));
    for (const QueryHit& h : hits) {
      add(WalOpType::kDelete, h.id, {}, nlohmann::json::object());
      overlay[h.id] = nullptr;
    }
  }
  if (request.patch_by_filter != nullptr) {
    VECPUFF_ASSIGN_OR_RETURN(std::vector<QueryHit> hits,
                             matching(request.patch_by_filter,
                                      request.patch_by_filter_allow_partial, "patch_by_filter"));
    for (QueryHit& h : hits) {
      if (overlay.count(h.id)) continue;  // deleted above
      add(WalOpType::kPatch, h.id, {}, request.patch_by_filter_attributes);
      for (const auto& [k, v] : request.patch_by_filter_attributes.items()) h.attributes[k] = v;
      overlay[h.id] = std::move(h.attributes);
    }
  }
  for (size_t i = 0; i < request.upsert_rows.size(); ++i) {
    const UpsertRow& row = request.upsert_rows[i];
    if (!request.upsert_condition.is_null()) {
      VECPUFF_ASSIGN_OR_RETURN(std::optional<nlohmann::json> cur, current(row.id));
      if (cur) {  // a new document is upserted whatever the condition
        VECPUFF_ASSIGN_OR_RETURN(bool ok, passes(request.upsert_condition, "upsert_condition",
                                                 row.id, row.attributes, *cur));
        if (!ok) continue;
      }
    }
    add(WalOpType::kUpsert, row.id, row.vector, row.attributes);
    overlay[row.id] = row.attributes;
  }
  for (const PatchRow& row : request.patch_rows) {
    VECPUFF_ASSIGN_OR_RETURN(std::optional<nlohmann::json> cur, current(row.id));
    if (!cur) continue;  // a patch of a missing document does nothing
    if (!request.patch_condition.is_null()) {
      VECPUFF_ASSIGN_OR_RETURN(bool ok, passes(request.patch_condition, "patch_condition", row.id,
                                               row.attributes, *cur));
      if (!ok) continue;
    }
    add(WalOpType::kPatch, row.id, {}, row.attributes);
    for (const auto& [k, v] : row.attributes.items()) (*cur)[k] = v;
    overlay[row.id] = std::move(*cur);
  }
  for (const std::string& id : request.deletes) {
    VECPUFF_ASSIGN_OR_RETURN(std::optional<nlohmann::json> cur, current(id));
    if (!cur) continue;
    if (!request.delete_condition.is_null()) {
      VECPUFF_ASSIGN_OR_RETURN(bool ok, passes(request.delete_condition, "delete_condition", id,
                                               nlohmann::json::object(), *cur));
      if (!ok) continue;
    }
    add(WalOpType::kDelete, id, {}, nlohmann::json::object());
    overlay[id] = nullptr;
  }
  return Status::OK();
}

Result<NamespaceMetadata> Namespace::Metadata(Consistency consistency) {
  if (consistency == Consistency::kStrong) VECPUFF_RETURN_IF_ERROR(CatchUp());
  if (IsDeleted()) return Status::NotFound("namespace '" + name_ + "' not found");
  NamespaceMetadata md;
  md.name = name_;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    md.dimensions = Dimensions();
    md.distance_metric = metric_.load();
    md.created_at_ms = manifest_.created_at_ms;
    md.updated_at_ms = manifest_.last_write_ms;
    md.index_bytes_written = manifest_.index.bytes_written;
    md.index_input_bytes = manifest_.index.input_bytes;
    md.schema = manifest_.schema;
  }
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  int64_t rows = static_cast<int64_t>(index_->live_docs());
  for (const auto& [id, doc] : tail_) {
    const bool indexed = index_->Docno(id).has_value();
    if (doc->kind == TailDoc::Kind::kUpsert && !indexed) ++rows;
    if (doc->kind == TailDoc::Kind::kDelete && indexed) --rows;
  }
  md.approx_row_count = static_cast<uint64_t>(std::max<int64_t>(rows, 0));
  md.indexed_row_count = index_->live_docs();
  md.unindexed_bytes = tail_bytes_;
  md.index_status = tail_.empty() ? "up_to_date" : "updating";
  md.updated_at_ms = std::max(md.updated_at_ms, last_commit_ms_);
  return md;
}

// ---------------------------------------------------------------------------------------
// Index: loading, compaction, garbage collection

Result<std::unique_ptr<IndexState>> Namespace::LoadIndex(const ManifestIndex& m) {
  auto state = std::make_unique<IndexState>();
  std::vector<Result<GetResult>> metas = ParallelGet(store_, m.metas, 16);
  for (size_t i = 0; i < metas.size(); ++i) {
    if (!metas[i].ok()) return metas[i].status().WithContext("reading index meta " + m.metas[i]);
    VECPUFF_ASSIGN_OR_RETURN(IndexMeta meta, DecodeIndexMeta(metas[i]->data));
    if (i == 0 && !meta.is_base) return Status::Corruption("index of '" + name_ + "' has no base");
    VECPUFF_RETURN_IF_ERROR(state->Apply(meta).WithContext(m.metas[i]));
  }
  return state;
}

namespace {
// Calls fn on every posting part (base and appended) of `index`, if any.
template <typename Fn>
void ForEachPostingPart(const IndexState* index, Fn&& fn) {
  for (uint32_t slot = 0; index != nullptr && slot < index->centroid_count(); ++slot) {
    fn(index->Ref(slot));
    for (const PostingRef& part : index->MoreParts(slot)) fn(part);
  }
}
}  // namespace

Namespace::PostingParts Namespace::PostingPartsLocked() const {
  PostingParts parts;
  ForEachPostingPart(index_.get(), [&](const PostingRef& ref) {
    parts.push_back({ref.pack, ref.offset, ref.length});
  });
  return parts;
}

void Namespace::ForgetDeadPostingsLocked(const PostingParts& before) {
  if (before.empty()) return;
  // By hash: a dead part colliding with a live one is only kept until it is evicted.
  std::unordered_set<uint64_t> live;
  ForEachPostingPart(index_.get(),
                     [&](const PostingRef& ref) { live.insert(PostingCache::Key(ref).Hash()); });
  std::lock_guard<std::mutex> lock(dead_mu_);
  for (const PostingPart& part : before) {
    const PostingCache::Key key(part.pack, part.offset);
    if (live.contains(key.Hash())) continue;
    if (posting_cache_ != nullptr) posting_cache_->Erase(key);
    if (dead_ranges_.size() < kMaxDeadRanges) dead_ranges_.push_back(part);
  }
}

void Namespace::ForgetDeadRanges() {
  PostingParts dead;
  {
    std::lock_guard<std::mutex> lock(dead_mu_);
    dead.swap(dead_ranges_);
  }
  for (const PostingPart& part : dead) {
    store_->Forget(part.pack, ByteRange{part.offset, part.length});
  }
}

void Namespace::InstallIndexLocked(std::unique_ptr<IndexState> index, uint64_t generation,
                                   uint64_t through_seq) {
  if (index) {
    const PostingParts before = PostingPartsLocked();
    index_ = std::move(index);
    ForgetDeadPostingsLocked(before);
  }
  index_generation_.store(generation);
  index_through_seq_ = through_seq;
  ++epoch_;
  ++tail_changes_;
  for (auto it = tail_.begin(); it != tail_.end();) {
    it = it->second->seq <= through_seq ? tail_.erase(it) : std::next(it);
  }
  tail_masked_.clear();
  for (const auto& [id, doc] : tail_) {
    if (doc->kind == TailDoc::Kind::kPatch) continue;
    if (auto docno = index_->Docno(id)) tail_masked_.insert(*docno);
  }
  while (!tail_entries_.empty() && tail_entries_.front().first <= through_seq) {
    tail_bytes_ -= tail_entries_.front().second;
    tail_entries_.pop_front();
  }
  tail_oldest_ms_ = tail_entries_.empty() ? 0 : NowUnixMillis();
}

Status Namespace::RefreshIndex() {
  // An index whose objects are gone was replaced (and collected) after we read the manifest
  // that named it: read the manifest again.
  Status s;
  for (int attempt = 0; attempt < 8; ++attempt) {
    s = RefreshIndexOnce();
    if (s.code() != StatusCode::kAborted) {
      ForgetDeadRanges();  // of the index it replaced, on a process without a compactor too
      return s;
    }
  }
  return Status::Unavailable("index of '" + name_ +
                             "' kept changing while it was loaded: " + s.ToString());
}

Status Namespace::RefreshIndexOnce() {
  const std::string key = ManifestKey(options_->key_prefix, name_);
  auto got = store_->Get(key);
  if (!got.ok()) return got.status().WithContext("reading manifest");
  VECPUFF_ASSIGN_OR_RETURN(Manifest m, DecodeManifest(got->data));
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    SetManifestLocked(m, got->meta.etag);
  }
  if (m.index.generation <= index_generation_.load()) return Status::OK();
  // Entries the new index covers must be applied first, so that dropping them from the
  // tail never loses a write this process has not seen.
  {
    std::lock_guard<std::mutex> log_lock(log_mu_);
    if (next_seq_.load() <= m.index.indexed_through_seq) {
      VECPUFF_RETURN_IF_ERROR(CatchUpLocked(std::nullopt));
    }
  }
  // An index from before the latest drop applied here holds deleted documents: the manifest
  // is reset for the drop (SyncManifestWithDropLocked) and a later pass adopts that.
  if (m.index.indexed_through_seq < dropped_seq_.load()) return Status::OK();
  Result<std::unique_ptr<IndexState>> loaded = LoadIndex(m.index);
  if (loaded.status().IsNotFound()) return Status::Aborted(loaded.status().message());
  VECPUFF_RETURN_IF_ERROR(loaded.status());
  std::unique_ptr<IndexState> index = std::move(*loaded);
  std::unique_lock<std::shared_mutex> state_lock(state_mu_);
  if (next_seq_.load() <= m.index.indexed_through_seq) {
    return Status::Unavailable("WAL of '" + name_ + "' is behind its index; try again");
  }
  if (m.index.indexed_through_seq < dropped_seq_.load()) return Status::OK();
  InstallIndexLocked(std::move(index), m.index.generation, m.index.indexed_through_seq);
  return Status::OK();
}

bool Namespace::TailMeetsTrigger(bool force) {
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  if (tail_.empty()) return false;
  if (force) return true;
  return tail_bytes_ >= options_->index_trigger_bytes ||
         tail_.size() >= options_->index_trigger_rows ||
         NowUnixMillis() - tail_oldest_ms_ >= options_->index_max_age_ms;
}

Status Namespace::Compact(bool force, const std::atomic<bool>* cancel) {
  std::lock_guard<std::mutex> lock(compact_mu_);
  Status s = CompactLocked(force, cancel);
  ForgetDeadRanges();  // of a pass that folded its commit into the index in place
  return s;
}

Status Namespace::Refresh() {
  std::lock_guard<std::mutex> lock(compact_mu_);
  return RefreshLocked();
}

Status Namespace::RefreshLocked() {
  // Writes through other servers reach this process only by reading the WAL: without this,
  // a compactor-only node (or one nobody queries) would never index them.
  VECPUFF_RETURN_IF_ERROR(CatchUp());
  return RefreshIndex();
}

Status Namespace::CompactLocked(bool force, const std::atomic<bool>* cancel) {
  VECPUFF_RETURN_IF_ERROR(RefreshLocked());
  if (manifest_dropped_seq_.load() < dropped_seq_.load()) {
    // A drop applied here that the manifest does not show yet: reset it, then adopt the
    // empty index (an index committed now must not claim the dropped documents' WAL).
    {
      std::lock_guard<std::mutex> log_lock(log_mu_);
      VECPUFF_RETURN_IF_ERROR(SyncManifestWithDropLocked());
    }
    VECPUFF_RETURN_IF_ERROR(RefreshIndex());
  }
  if (TailMeetsTrigger(force)) VECPUFF_RETURN_IF_ERROR(CompactOnce(cancel));
  if (cancel != nullptr && cancel->load()) {
    return Status::Aborted("compaction cancelled: the server is stopping");
  }
  VECPUFF_RETURN_IF_ERROR(EraseDroppedWal());
  return CollectGarbage();
}

Status Namespace::CompactOnce(const std::atomic<bool>* cancel) {
  // 1. A snapshot of the tail. Tail documents are immutable, so holding them is enough.
  std::vector<std::pair<std::string, std::shared_ptr<const TailDoc>>> docs;
  uint64_t through = 0;
  uint64_t base_generation = 0;
  uint64_t drop = 0;
  int64_t last_write_ms = 0;          // the latest commit time of the entries through `through`
  std::shared_ptr<IndexState> state;  // kept: a drop may replace index_ meanwhile
  {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    through = next_seq_.load() - 1;
    last_write_ms = last_commit_ms_;
    base_generation = index_generation_.load();
    drop = dropped_seq_.load();
    state = index_;
    docs.assign(tail_.begin(), tail_.end());
  }
  const uint32_t dims = Dimensions();
  if (dims == 0) return Status::OK();  // no vector was ever written: nothing to index
  CompactionInput in;
  in.state = state.get();
  in.metric = metric_.load();
  in.dims = dims;
  in.generation = base_generation + 1;
  in.pack_key = [&](size_t k) {
    char name[32];
    std::snprintf(name, sizeof(name), "pack-%04zu", k);
    return IndexObjectKey(options_->key_prefix, name_, in.generation, writer_id_, name);
  };
  in.source = [this, state = in.state](uint32_t cid, const PostingRef& ref) {
    return ReadPosting(*state, cid, ref);
  };
  in.cancel = cancel;
  in.changes.reserve(docs.size());
  for (const auto& [id, doc] : docs) {
    DocChange c;
    c.id = id;
    c.version = doc->seq;
    switch (doc->kind) {
      case TailDoc::Kind::kUpsert:
        c.kind = DocChange::Kind::kUpsert;
        c.vector = doc->vector;
        c.attributes_json = doc->attributes.dump();
        break;
      case TailDoc::Kind::kPatch:
        c.kind = DocChange::Kind::kPatch;
        c.attributes_json = doc->attributes.dump();
        break;
      case TailDoc::Kind::kDelete:
        c.kind = DocChange::Kind::kDelete;
        break;
    }
    in.changes.push_back(std::move(c));
  }
  const auto started = std::chrono::steady_clock::now();
  VECPUFF_ASSIGN_OR_RETURN(CompactionOutput out, vecpuff::Compact(in, options_->index_tuning));
  auto hook = [&](std::string_view point) {
    return compaction_hook ? compaction_hook(point) : Status::OK();
  };

  // 2. New objects, create-only: invisible until the manifest names them.
  std::vector<std::string> written;
  uint64_t bytes = 0;
  {
    std::vector<std::thread> threads;
    std::vector<Status> results(out.packs.size());
    PutOptions create;
    create.mode = PutMode::kCreateOnly;
    for (size_t i = 0; i < out.packs.size(); ++i) {
      threads.emplace_back([&, i] {
        results[i] = store_->Put(out.packs[i].first, out.packs[i].second, create).status();
      });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < out.packs.size(); ++i) {
      written.push_back(out.packs[i].first);
      bytes += out.packs[i].second.size();
    }
    for (const Status& s : results) {
      if (!s.ok()) {
        (void)store_->DeleteMany(written);
        return s.WithContext("writing index pack");
      }
    }
  }
  VECPUFF_RETURN_IF_ERROR(hook("packs_written"));
  const std::string meta_key =
      IndexObjectKey(options_->key_prefix, name_, in.generation, writer_id_, "meta");
  const std::string meta_bytes = EncodeIndexMeta(out.meta);
  {
    PutOptions create;
    create.mode = PutMode::kCreateOnly;
    auto put = store_->Put(meta_key, meta_bytes, create);
    if (!put.ok()) {
      (void)store_->DeleteMany(written);
      return put.status().WithContext("writing index meta");
    }
    written.push_back(meta_key);
    bytes += meta_bytes.size();
  }
  VECPUFF_RETURN_IF_ERROR(hook("meta_written"));

  uint64_t live_rows = out.meta.is_base ? out.meta.docs.size() : state->live_docs();
  if (!out.meta.is_base) {
    for (const DocRecord& d : out.meta.docs) {
      const bool was = state->Version(d.docno) != 0;
      if (d.version == 0 && was) --live_rows;
      if (d.version != 0 && !was) ++live_rows;
    }
  }

  // 3. Commit: compare-and-swap the manifest from our generation to the next. A concurrent
  // compactor that committed first wins; our objects are then deleted (nobody references
  // them) and the next pass adopts its index.
  bool lost = false;
  std::vector<std::string> old_metas;
  Status commit;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    commit = UpdateManifestLocked(
        [&](Manifest* m) {
          // Another compactor committed first, or a drop reset the index (or must, first).
          if (m->index.generation != base_generation || m->dropped_seq != drop ||
              m->distance_metric != in.metric) {
            lost = true;
            return false;
          }
          const int64_t now = NowUnixMillis();
          ManifestIndex& ix = m->index;
          old_metas = ix.metas;
          if (out.meta.is_base) {
            for (const auto& k : ix.metas) ix.retired.push_back({k, now});
            ix.metas = {meta_key};
          } else {
            ix.metas.push_back(meta_key);
          }
          for (const auto& k : out.retired_packs) ix.retired.push_back({k, now});
          ix.generation = in.generation;
          ix.indexed_through_seq = through;
          ix.live_rows = live_rows;
          ix.bytes_written += bytes;
          ix.input_bytes += out.stats.input_bytes;
          m->wal_next_seq_hint = std::max(m->wal_next_seq_hint, through + 1);
          m->last_write_ms = std::max(m->last_write_ms, last_write_ms);
          return true;
        },
        /*max_attempts=*/20);
  }
  if (lost) {
    (void)store_->DeleteMany(written);
    spdlog::info("namespace '{}': another compactor committed generation {} first", name_,
                 in.generation);
    return RefreshIndex();
  }
  VECPUFF_RETURN_IF_ERROR(commit.WithContext("committing index"));
  VECPUFF_RETURN_IF_ERROR(hook("committed"));

  // 4. Serve the new index: the meta is folded in place (cost proportional to the change).
  {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    // A drop applied since the snapshot: the committed index only holds deleted documents,
    // and the drop's manifest reset will replace it.
    if (index_ != state) return Status::OK();
    const PostingParts before = PostingPartsLocked();
    Status applied = index_->Apply(out.meta);
    if (!applied.ok()) {
      // Cannot happen for a meta we just built; reload the committed index rather than serve
      // a half-applied one.
      lock.unlock();
      index_generation_.store(0);
      return RefreshIndex();
    }
    InstallIndexLocked(nullptr, in.generation, through);
    ForgetDeadPostingsLocked(before);
  }
  // Free the indexed tail documents (our snapshot of them and their copies in the input) and
  // the compaction's working set, then give the memory back to the OS (glibc keeps freed heap
  // otherwise, and the process would stay at its peak).
  const size_t changes = in.changes.size();
  out = CompactionOutput{std::move(out.meta), {}, {}, out.stats};
  std::vector<DocChange>().swap(in.changes);
  std::vector<std::pair<std::string, std::shared_ptr<const TailDoc>>>().swap(docs);
  malloc_trim(0);
  {
    std::lock_guard<std::mutex> lock(totals_mu_);
    totals_.input_bytes += out.stats.input_bytes;
    totals_.bytes_written += bytes;
    totals_.postings_written += out.stats.postings_written;
    totals_.entries_written += out.stats.entries_written;
    totals_.splits += out.stats.splits;
    totals_.merges += out.stats.merges;
    totals_.reassigned += out.stats.reassigned;
    totals_.rebuilt = totals_.rebuilt || out.stats.rebuilt;
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info(
      "namespace '{}': index generation {} through seq {}: {} changes, {} postings written "
      "({} entries, {} splits, {} merges, {} reassigned{}), {} bytes in {:.2f}s",
      name_, in.generation, through, changes, out.stats.postings_written, out.stats.entries_written,
      out.stats.splits, out.stats.merges, out.stats.reassigned,
      out.stats.rebuilt ? ", rebuilt" : "", bytes, secs);

  // Many deltas: fold them into a new base so that loading stays cheap.
  size_t metas = old_metas.size() + 1;
  bool serving = false;  // the index is still the one we built on (no drop since)
  {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    serving = index_ == state;
  }
  if (!out.meta.is_base && metas > 8 && serving) {
    IndexMeta base = state->MakeBase(in.generation + 1);
    const std::string base_key =
        IndexObjectKey(options_->key_prefix, name_, in.generation + 1, writer_id_, "meta");
    const std::string base_bytes = EncodeIndexMeta(base);
    PutOptions create;
    create.mode = PutMode::kCreateOnly;
    auto put = store_->Put(base_key, base_bytes, create);
    if (!put.ok()) return Status::OK();  // the deltas stay valid; try again next time
    bool lost_base = false;
    std::lock_guard<std::mutex> lock(manifest_mu_);
    Status s = UpdateManifestLocked(
        [&](Manifest* m) {
          if (m->index.generation != in.generation) {
            lost_base = true;
            return false;
          }
          const int64_t now = NowUnixMillis();
          for (const auto& k : m->index.metas) m->index.retired.push_back({k, now});
          m->index.metas = {base_key};
          m->index.generation = in.generation + 1;
          m->index.bytes_written += base_bytes.size();
          return true;
        },
        20);
    if (lost_base || !s.ok()) {
      (void)store_->Delete(base_key);
    } else {
      index_generation_.store(in.generation + 1);
    }
  }
  return Status::OK();
}

Status Namespace::EraseDroppedWal() {
  uint64_t from = 0, to = 0;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    // Only once the manifest is reset: until then a reader may replay from before the drop
    // (it would read empty entries, which is harmless, but the reset must come first anyway).
    if (manifest_.dropped_seq == 0 || manifest_.wal_erased_below >= manifest_.dropped_seq) {
      return Status::OK();
    }
    from = manifest_.wal_erased_below;
    to = std::min(manifest_.dropped_seq, from + kEraseBatch);
  }
  // Overwritten, never deleted: a key that disappeared could be taken again by a writer
  // with a stale view of the log, whose entry would then be lost below the drop.
  const std::string fence_payload = EncodeWalPayload({});  // outlives `puts`
  std::vector<std::future<Status>> puts;
  for (uint64_t seq = from; seq < to; ++seq) {
    puts.push_back(std::async(std::launch::async, [this, seq, &fence_payload] {
      const std::string fence = FrameWalEntry(seq, NowUnixMillis(), writer_id_, fence_payload);
      return store_->Put(WalKey(options_->key_prefix, name_, seq), fence, PutOptions{}).status();
    }));
    if (puts.size() == kEraseConcurrency || seq + 1 == to) {
      for (auto& f : puts) VECPUFF_RETURN_IF_ERROR(f.get().WithContext("erasing dropped WAL"));
      puts.clear();
    }
  }
  std::lock_guard<std::mutex> lock(manifest_mu_);
  return UpdateManifestLocked(
      [&](Manifest* m) {
        if (m->dropped_seq == 0 || m->wal_erased_below >= to || to > m->dropped_seq) return false;
        m->wal_erased_below = to;
        return true;
      },
      20);
}

Status Namespace::CollectGarbage() {
  const int64_t now = NowUnixMillis();
  std::vector<std::string> expired;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    for (const auto& r : manifest_.index.retired) {
      if (now - r.retired_at_ms >= options_->gc_grace_ms) expired.push_back(r.key);
    }
  }
  if (!expired.empty()) {
    VECPUFF_RETURN_IF_ERROR(store_->DeleteMany(expired).WithContext("deleting retired objects"));
    std::lock_guard<std::mutex> lock(manifest_mu_);
    std::unordered_set<std::string> gone(expired.begin(), expired.end());
    VECPUFF_RETURN_IF_ERROR(UpdateManifestLocked(
        [&](Manifest* m) {
          auto& r = m->index.retired;
          const size_t before = r.size();
          r.erase(
              std::remove_if(r.begin(), r.end(),
                             [&](const ManifestIndex::Retired& x) { return gone.count(x.key); }),
              r.end());
          return r.size() != before;
        },
        20));
  }
  // Orphans: objects under index/ that no manifest references (a compactor that died or lost
  // between writing and committing), once older than any compaction could take.
  if (now - last_orphan_scan_ms_ < std::min<int64_t>(options_->orphan_min_age_ms, 600000)) {
    return Status::OK();
  }
  last_orphan_scan_ms_ = now;
  std::unordered_set<std::string> live;
  {
    std::lock_guard<std::mutex> lock(manifest_mu_);
    if (manifest_.index.generation != index_generation_.load()) return Status::OK();
    for (const auto& k : manifest_.index.metas) live.insert(k);
    for (const auto& r : manifest_.index.retired) live.insert(r.key);
  }
  {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    for (const auto& k : index_->Packs()) live.insert(k);
  }
  VECPUFF_ASSIGN_OR_RETURN(std::vector<ObjectMeta> objects,
                           ListAll(store_, IndexPrefix(options_->key_prefix, name_)));
  std::vector<std::string> orphans;
  for (const ObjectMeta& o : objects) {
    if (live.count(o.key)) continue;
    if (now - o.last_modified_ms < options_->orphan_min_age_ms) continue;
    orphans.push_back(o.key);
  }
  if (!orphans.empty()) {
    spdlog::info("namespace '{}': deleting {} orphaned index objects", name_, orphans.size());
    VECPUFF_RETURN_IF_ERROR(store_->DeleteMany(orphans));
  }
  return Status::OK();
}

}  // namespace vecpuff
