// DbOptions: what the engine needs from the configuration, independent of how it was
// given (config.toml, environment, flags; see config/options.h, mapped in server/main.cc).
//
// Thread safety: a plain struct, read-only once the Database is constructed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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
};

}  // namespace vecpuff
