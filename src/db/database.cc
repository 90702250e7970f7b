#include "db/database.h"

#include <spdlog/spdlog.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "catalog/layout.h"

namespace vecpuff {
namespace {

constexpr size_t kMaxNamespaceNameBytes = 128;

Status CheckId(std::string_view path, const std::string& id, const DbOptions& o) {
  if (id.empty()) return Status::InvalidArgument(std::string(path) + ": id must not be empty");
  if (id.size() > o.max_id_bytes) {
    return Status::InvalidArgument(std::string(path) + ": id is " + std::to_string(id.size()) +
                                   " bytes; the limit is " + std::to_string(o.max_id_bytes));
  }
  return Status::OK();
}

// Checks attribute names and sizes; returns the serialized size of all attributes.
Result<size_t> CheckAttributes(const std::string& path, const nlohmann::json& attributes,
                               const DbOptions& o) {
  if (!attributes.is_object()) {
    return Status::InvalidArgument(path + ": attributes must be an object, not " +
                                   std::string(attributes.type_name()));
  }
  size_t total = 0;
  for (const auto& [key, value] : attributes.items()) {
    if (key.empty() || key.size() > kMaxAttributeNameBytes) {
      return Status::InvalidArgument(path + ": attribute names must be 1 to " +
                                     std::to_string(kMaxAttributeNameBytes) + " bytes");
    }
    size_t bytes = value.dump().size();
    if (bytes > o.max_attribute_bytes) {
      return Status::InvalidArgument(path + "." + key + ": value is " + std::to_string(bytes) +
                                     " bytes as JSON; the limit is " +
                                     std::to_string(o.max_attribute_bytes));
    }
    total += key.size() + bytes;
  }
  return total;
}

}  // namespace

Status ValidateNamespaceName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNamespaceNameBytes) {
    return Status::InvalidArgument("namespace name must be 1 to 128 characters");
  }
  if (name == "." || name == "..") {
    return Status::InvalidArgument("namespace name must not be '.' or '..'");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return Status::InvalidArgument(
          "namespace name may contain only letters, digits, '-', '_' and '.'");
    }
  }
  return Status::OK();
}

Database::Database(ObjectStore* store, DbOptions options)
    : store_(store), options_(std::move(options)), posting_cache_(options_.posting_cache_bytes) {
  if (options_.compactor_enabled || options_.refresh_interval_ms > 0) {
    compactor_ = std::thread([this] { CompactorLoop(); });
  }
}

Database::~Database() {
  {
    std::lock_guard<std::mutex> lock(compactor_mu_);
    stopping_ = true;
  }
  cancel_compaction_ = true;
  compactor_cv_.notify_all();
  if (compactor_.joinable()) compactor_.join();
}

void Database::CompactorLoop() {
  // Without a compactor, each round only adopts what other processes committed.
  const bool compact = options_.compactor_enabled;
  const int64_t interval_ms =
      compact ? options_.compactor_interval_ms : options_.refresh_interval_ms;
  std::unique_lock<std::mutex> lock(compactor_mu_);
  while (!stopping_) {
    compactor_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms),
                           [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    std::vector<std::shared_ptr<Namespace>> open;
    {
      std::lock_guard<std::mutex> ns_lock(mu_);
      for (const auto& [name, ns] : namespaces_) {
        if (ns->is_open()) open.push_back(ns);
      }
    }
    // Up to compactor_max_concurrent namespaces at once, each claimed by one worker.
    std::atomic<size_t> next{0};
    std::atomic<bool> committed{false};
    auto work = [&] {
      for (size_t i = next++; i < open.size(); i = next++) {
        if (cancel_compaction_) return;
        const uint64_t generation = open[i]->index_generation();
        Status s =
            compact ? open[i]->Compact(/*force=*/false, &cancel_compaction_) : open[i]->Refresh();
        if (open[i]->index_generation() != generation) committed = true;
        if (cancel_compaction_ && s.code() == StatusCode::kAborted) {
          spdlog::info("namespace '{}': compaction cancelled for shutdown", open[i]->name());
        } else if (!s.ok()) {
          spdlog::warn("namespace '{}': {} failed: {}", open[i]->name(),
                       compact ? "compaction" : "refresh", s.ToString());
        }
      }
    };
    const size_t workers =
        std::clamp<size_t>(static_cast<size_t>(options_.compactor_max_concurrent), 1,
                           std::max<size_t>(open.size(), 1));
    std::vector<std::thread> pool;
    for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (committed) ReleaseFreeMemory();
    lock.lock();
  }
}

void Database::ReleaseFreeMemory() {
#ifdef __GLIBC__
  // A compaction pass allocates and frees tens to hundreds of megabytes (decoded postings,
  // the packs it writes) on several threads. glibc keeps the freed memory of its per-thread
  // arenas mapped, so the server's RSS can creep up pass after pass while the heap itself
  // does not grow (docs/reliability.md, the soak). malloc_trim(0) gives back the free whole
  // pages of every arena: in the soak 32 to 34 MB a time, so the arena cap (main.cc) does
  // most of the work. It walks the arenas under their locks: at most once every 10 s.
  const auto now = std::chrono::steady_clock::now();
  if (now - last_trim_ < std::chrono::seconds(10)) return;
  last_trim_ = now;
  malloc_trim(0);
#endif
}

Status Database::Compact(const std::string& ns, bool force) {
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  return n->Compact(force);
}

Result<size_t> Database::CheckWriteLimits(const WriteRequest& r) const {
  const DbOptions& o = options_;
  // The request's approximate size as a WAL entry, from the sizes the checks compute anyway:
  // group commit bounds batches by it (a few bytes of framing per op are counted as 16).
  size_t entry_bytes = 0;
  size_t rows = r.upsert_rows.size() + r.patch_rows.size() + r.deletes.size();
  if (rows == 0 && r.delete_by_filter == nullptr && r.patch_by_filter == nullptr) {
    return Status::InvalidArgument("write request has no upsert_rows, patch_rows or deletes");
  }
  if (r.patch_by_filter != nullptr) {
    VECPUFF_ASSIGN_OR_RETURN(size_t attr_bytes, CheckAttributes("patch_by_filter.patch",
                                                                r.patch_by_filter_attributes, o));
    entry_bytes += attr_bytes + 16;
  }
  if (rows > o.max_rows_per_request) {
    return Status::InvalidArgument("write request has " + std::to_string(rows) +
                                   " rows; the limit is " + std::to_string(o.max_rows_per_request));
  }
  for (size_t i = 0; i < r.upsert_rows.size(); ++i) {
    const UpsertRow& row = r.upsert_rows[i];
    const std::string path = "upsert_rows[" + std::to_string(i) + "]";
    VECPUFF_RETURN_IF_ERROR(CheckId(path + ".id", row.id, o));
    if (row.vector.empty()) {
      return Status::InvalidArgument(path + ".vector: must have at least 1 dimension");
    }
    if (row.vector.size() > o.max_dimensions) {
      return Status::InvalidArgument(path + ".vector: " + std::to_string(row.vector.size()) +
                                     " dimensions; the limit is " +
                                     std::to_string(o.max_dimensions));
    }
    VECPUFF_ASSIGN_OR_RETURN(size_t attr_bytes, CheckAttributes(path, row.attributes, o));
    size_t doc_bytes = row.id.size() + row.vector.size() * sizeof(float) + attr_bytes;
    entry_bytes += doc_bytes + 16;
    if (doc_bytes > o.max_document_bytes) {
      return Status::InvalidArgument(path + ": document is " + std::to_string(doc_bytes) +
                                     " bytes; the limit is " +
                                     std::to_string(o.max_document_bytes));
    }
  }
  // Vectors within one request must agree with each other; whether they agree with the
  // namespace is checked once it is open. Checking here first means a request that can
  // never apply does not create the namespace.
  for (size_t i = 1; i < r.upsert_rows.size(); ++i) {
    size_t expected = r.upsert_rows[0].vector.size(), got = r.upsert_rows[i].vector.size();
    if (got != expected) {
      return Status::InvalidArgument("upsert_rows[" + std::to_string(i) + "].vector: expected " +
                                     std::to_string(expected) + " dimensions, got " +
                                     std::to_string(got));
    }
  }
  for (size_t i = 0; i < r.patch_rows.size(); ++i) {
    const PatchRow& row = r.patch_rows[i];
    const std::string path = "patch_rows[" + std::to_string(i) + "]";
    VECPUFF_RETURN_IF_ERROR(CheckId(path + ".id", row.id, o));
    VECPUFF_ASSIGN_OR_RETURN(size_t attr_bytes, CheckAttributes(path, row.attributes, o));
    entry_bytes += row.id.size() + attr_bytes + 16;
    if (row.id.size() + attr_bytes > o.max_document_bytes) {
      return Status::InvalidArgument(path + ": patch is larger than max_document_bytes (" +
                                     std::to_string(o.max_document_bytes) + ")");
    }
  }
  for (size_t i = 0; i < r.deletes.size(); ++i) {
    VECPUFF_RETURN_IF_ERROR(CheckId("deletes[" + std::to_string(i) + "]", r.deletes[i], o));
    entry_bytes += r.deletes[i].size() + 8;
  }
  return entry_bytes;
}

Result<std::shared_ptr<Namespace>> Database::OpenNamespace(
    const std::string& ns, std::optional<DistanceMetric> create_metric) {
  std::shared_ptr<Namespace> n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = namespaces_[ns];
    if (!slot) {
      slot = std::make_shared<Namespace>(store_, &options_, ns);
      slot->posting_cache_ = &posting_cache_;
      slot->probe_pool_ = &probe_pool_;
    }
    n = slot;
  }
  Status s = n->Open(create_metric);
  if (!s.ok()) {
    // Do not keep an entry for every name someone asked about: only open namespaces stay.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = namespaces_.find(ns);
    if (it != namespaces_.end() && it->second == n && !n->is_open()) namespaces_.erase(it);
    return s;
  }
  return n;
}

Result<WriteResult> Database::Write(const std::string& ns, WriteRequest request) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  // Null attributes (a row built with `{}`) mean none; any other non-object is rejected.
  for (UpsertRow& row : request.upsert_rows) {
    if (row.attributes.is_null()) row.attributes = nlohmann::json::object();
  }
  for (PatchRow& row : request.patch_rows) {
    if (row.attributes.is_null()) row.attributes = nlohmann::json::object();
  }
  VECPUFF_ASSIGN_OR_RETURN(size_t entry_bytes, CheckWriteLimits(request));
  VECPUFF_ASSIGN_OR_RETURN(
      std::shared_ptr<Namespace> n,
      OpenNamespace(ns, request.distance_metric.value_or(DistanceMetric::kCosineDistance)));
  return n->Write(std::move(request), entry_bytes);
}

Result<QueryResult> Database::MatchingDocuments(const std::string& ns,
                                                std::shared_ptr<const Filter> filter,
                                                Consistency consistency, bool include_vectors) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  QueryRequest request;
  request.top_k = std::numeric_limits<size_t>::max();
  request.filter = std::move(filter);
  request.consistency = consistency;
  request.include_vectors = include_vectors;
  return n->Query(request);
}

Result<QueryResult> Database::Query(const std::string& ns, const QueryRequest& request) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  if (request.top_k < 1 || request.top_k > options_.max_top_k) {
    return Status::InvalidArgument("top_k: must be between 1 and " +
                                   std::to_string(options_.max_top_k));
  }
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  return n->Query(request);
}

Result<std::map<std::string, AttributeSchema>> Database::UpdateSchema(
    const std::string& ns, const std::map<std::string, AttributeSchema>& declared) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  return n->UpdateSchema(declared);
}

Result<NamespaceMetadata> Database::Metadata(const std::string& ns, Consistency consistency) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  return n->Metadata(consistency);
}

Status Database::DeleteNamespace(const std::string& ns) {
  VECPUFF_RETURN_IF_ERROR(ValidateNamespaceName(ns));
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<Namespace> n, OpenNamespace(ns, std::nullopt));
  return n->Drop();
}

Result<std::vector<std::string>> Database::ListNamespaces() {
  std::vector<std::string> names;
  const std::string prefix = NamespacesPrefix(options_.key_prefix);
  ListOptions list;
  list.prefix = prefix;
  list.delimiter = "/";
  while (true) {
    VECPUFF_ASSIGN_OR_RETURN(ListPage page, store_->List(list));
    for (const std::string& p : page.common_prefixes) {
      // "namespaces/{ns}/" -> "{ns}"
      if (p.size() > prefix.size() + 1) {
        names.push_back(p.substr(prefix.size(), p.size() - prefix.size() - 1));
      }
    }
    if (page.next_continuation_token.empty()) break;
    list.continuation_token = std::move(page.next_continuation_token);
  }
  // Deleted namespaces keep their manifest (reset, so that a later write can start over):
  // read them to leave those out.
  std::vector<std::string> keys;
  keys.reserve(names.size());
  for (const std::string& n : names) keys.push_back(ManifestKey(options_.key_prefix, n));
  std::vector<Result<GetResult>> manifests = ParallelGet(store_, keys, 16);
  std::vector<std::string> live;
  for (size_t i = 0; i < names.size(); ++i) {
    if (manifests[i].status().IsNotFound()) continue;  // not a namespace (no manifest)
    if (!manifests[i].ok()) return manifests[i].status().WithContext("reading " + keys[i]);
    Result<Manifest> m = DecodeManifest(manifests[i]->data);
    // A damaged manifest is listed: the namespace is there, and reading it reports the damage.
    if (m.ok() && m->deleted()) continue;
    live.push_back(std::move(names[i]));
  }
  return live;
}

}  // namespace vecpuff
