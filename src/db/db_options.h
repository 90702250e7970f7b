// DbOptions: what the engine needs from the configuration, independent of how it was
// given (config.toml, environment, flags; see config/options.h, mapped in server/main.cc).
//
// Thread safety: a plain struct, read-only once the Database is constructed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "index/ivf_index.h"

namespace vecpuff {

struct DbOptions {
  // Prepended to every object key, e.g. "tenant-a/". Empty: keys start at the bucket root.
  std::string key_prefix;

  // Limits, enforced on every write and query with an InvalidArgument that names the limit.
  uint32_t max_dimensions = 10752;
  size_t max_id_bytes = 64;
  size_t max_attribute_bytes = 64 * 1024;   // one attribute value, serialized as JSON
  size_t max_document_bytes = 1024 * 1024;  // id + vector (4 bytes/dim) + attributes
  size_t max_rows_per_request = 100000;     // upserts + patches + deletes
  size_t max_top_k = 10000;

  // Group commit: writes that arrive within `batch_window_ms` of the batch's first write
  // share one WAL object, up to these sizes. A longer window means fewer, larger objects
  // (cheaper on S3) at the price of write latency.
  int64_t batch_window_ms = 5;
  size_t max_batch_bytes = 64 * 1024 * 1024;
  size_t max_batch_rows = 200000;

  // Indexing: the background compactor folds the WAL tail into the ANN index once the tail
  // holds index_trigger_bytes or index_trigger_rows, or its oldest write is index_max_age_ms
  // old ([indexing] in config.toml). Writes fail with ResourceExhausted while the tail exceeds
  // max_unindexed_bytes.
  bool compactor_enabled = true;
  int64_t compactor_interval_ms = 1000;
  int compactor_max_concurrent = 1;  // namespaces compacted at once
  // With the compactor off: how often a background thread adopts what other processes
  // commit to each open namespace (new WAL entries, new index generations), so that the
  // tail its queries scan and its backpressure count only what is not indexed. 0: never
  // (for tests that drive everything explicitly); the server uses compactor_interval_ms.
  int64_t refresh_interval_ms = 0;
  size_t index_trigger_bytes = 64u << 20;
  size_t index_trigger_rows = 50000;
  int64_t index_max_age_ms = 1000;
  size_t max_unindexed_bytes = size_t{2} << 30;
  // Objects a commit stops referencing are deleted this long after (queries that started
  // before may still read them). Objects no manifest ever referenced (a compactor that lost a
  // race or died) are deleted once older than orphan_min_age_ms.
  int64_t gc_grace_ms = 600000;
  int64_t orphan_min_age_ms = 3600000;
  IndexTuning index_tuning;
  // Default query effort: postings scanned (QueryRequest::probes).
  uint32_t default_probes = 10;
  // Query-aware pruning: of the `probes` nearest postings, those whose centroid's squared
  // distance exceeds prune_ratio times the nearest one's are skipped. 0 disables.
  float prune_ratio = 4.0f;
  // Decoded posting lists kept in memory, in bytes (shared by all namespaces).
  size_t posting_cache_bytes = size_t{1} << 30;  // as cache.memory_bytes
};

}  // namespace vecpuff
