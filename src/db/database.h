// Database: the engine's entry point. Routes requests to namespaces, opening them on first
// use, and enforces the configured limits so that every API front end shares them.
//
// Thread safety: all methods are safe to call concurrently. Several Database instances (in
// one or many processes) may share one store: the WAL and manifest protocols
// (db/namespace.h) keep them consistent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "db/db_options.h"
#include "db/namespace.h"
#include "db/types.h"
#include "storage/object_store.h"

namespace vecpuff {

// OK if `name` is a valid namespace name: 1 to 128 characters from [A-Za-z0-9-_.], and not
// "." or "..". InvalidArgument otherwise, saying why.
Status ValidateNamespaceName(std::string_view name);

class Database {
 public:
  // `store` must outlive the Database.
  Database(ObjectStore* store, DbOptions options);
  ~Database();

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Creates the namespace if needed (with the request's metric, cosine by default).
  // InvalidArgument for bad input (nothing is written); Unavailable/IOError if storage
  // failed (nothing is acknowledged or applied).
  Result<WriteResult> Write(const std::string& ns, WriteRequest request);

  // NotFound if the namespace does not exist.
  Result<QueryResult> Query(const std::string& ns, const QueryRequest& request);

  // Every live document of the namespace that matches `filter` (all if null), with its
  // attributes (and vector if `include_vectors`), in id order, whatever max_top_k says: for
  // aggregations and recall sampling. NotFound if the namespace does not
  // exist.
  Result<QueryResult> MatchingDocuments(const std::string& ns,
                                        std::shared_ptr<const Filter> filter = nullptr,
                                        Consistency consistency = Consistency::kStrong,
                                        bool include_vectors = false);

  // Declares attribute types and options (Namespace::UpdateSchema); returns the whole
  // schema. NotFound if the namespace does not exist.
  Result<std::map<std::string, AttributeSchema>> UpdateSchema(
      const std::string& ns, const std::map<std::string, AttributeSchema>& declared);

  // Deletes the namespace and every document in it (Namespace::Drop). NotFound if it does not
  // exist.
  Status DeleteNamespace(const std::string& ns);

  // NotFound if the namespace does not exist.
  Result<NamespaceMetadata> Metadata(const std::string& ns,
                                     Consistency consistency = Consistency::kStrong);

  // Runs a compactor pass on the namespace now (tests, benchmarks, admin): with `force`, the
  // tail is indexed even if no trigger is met. NotFound if the namespace does not exist.
  Status Compact(const std::string& ns, bool force = true);

  // Every namespace in the store (including ones other processes created), ascending;
  // deleted ones (Manifest::deleted()) left out, which costs a manifest read per namespace.
  Result<std::vector<std::string>> ListNamespaces();

  const DbOptions& options() const { return options_; }
  // The decoded postings every namespace shares (for tests and stats).
  const PostingCache& posting_cache() const { return posting_cache_; }

  // The opened namespace itself, for tests that set its hooks. NotFound if absent.
  Result<std::shared_ptr<Namespace>> TestOnlyNamespace(const std::string& ns) {
    return OpenNamespace(ns, std::nullopt);
  }

 private:
  // OK: the request's approximate size as a WAL entry (for group commit's batch limit).
  Result<size_t> CheckWriteLimits(const WriteRequest& request) const;
  // The namespace, opened (created with `create_metric` if given and absent).
  Result<std::shared_ptr<Namespace>> OpenNamespace(const std::string& ns,
                                                   std::optional<DistanceMetric> create_metric);

  void CompactorLoop();
  // Returns freed heap memory to the system after compaction passes (glibc); rate-limited.
  // Only the compactor thread calls it.
  void ReleaseFreeMemory();

  ObjectStore* const store_;
  const DbOptions options_;
  PostingCache posting_cache_;
  // Runs strong queries' freshness probes (concurrently with their search) without starting
  // a thread per query; one worker per concurrent query, up to 64, kept for reuse.
  TaskPool probe_pool_{64};

  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Namespace>> namespaces_;

  std::mutex compactor_mu_;
  std::condition_variable compactor_cv_;
  bool stopping_ = false;
  // Set by the destructor: a running compaction pass stops at its next check (Aborted)
  // instead of delaying shutdown; it has written nothing the manifest names.
  std::atomic<bool> cancel_compaction_{false};
  std::chrono::steady_clock::time_point last_trim_{};  // ReleaseFreeMemory's last trim
  std::thread compactor_;  // runs CompactorLoop if options_.compactor_enabled
};

}  // namespace vecpuff
