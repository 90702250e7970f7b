// Options: every knob of a VecPuff server, grouped by the subsystem it tunes.
//
// A default-constructed Options is the documented default configuration; config.toml at the
// repository root spells out exactly these values (a test keeps the two identical). How the
// values are read from config.toml, the environment and the command line, and how they are
// validated, is in config/config.h. Each field below states its default, its unit and the
// trade-off of moving it; docs/configuration.md is the user-facing version of the same.
//
// Options is plain data: no invariants are enforced by the type itself. Options produced by
// LoadOptions() have passed ValidateOptions(); an Options built in code should be checked
// with ValidateOptions() before it is used.
//
// Thread safety: a plain value type. Build it once at start-up, then share it read-only
// (const) between threads; concurrent reads are safe, concurrent writes are not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vecpuff {

// The largest value limits.max_dimensions may be configured to. A vector of this many
// float32s is 256 KiB; beyond it, one vector would dwarf the documents around it.
constexpr uint32_t kMaxDimensionsHardLimit = 65536;

// [server]: the HTTP front end.
struct ServerOptions {
  // Address to listen on. Default "127.0.0.1": only local clients can connect. Use
  // "0.0.0.0" (all IPv4 interfaces) to serve the network, e.g. inside a container.
  std::string host = "127.0.0.1";

  // TCP port. Default 3000. 0 asks the OS for a free port (useful in tests); the port
  // actually bound is then logged by the server.
  int port = 3000;

  // HTTP worker threads: the number of requests served concurrently. Default 32. Each
  // keep-alive connection holds a worker while it is open, so more threads serve more
  // concurrent clients at the cost of memory (a stack each) and contention. 1..1024.
  int threads = 32;

  // Time allowed to receive a request, and to send a response, in milliseconds. Default
  // 30000 each. Longer lets slow clients upload large batches; shorter frees workers held
  // by stalled clients sooner.
  int64_t read_timeout_ms = 30000;
  int64_t write_timeout_ms = 30000;

  // How long an idle keep-alive connection is kept open waiting for its next request, in
  // milliseconds. Default 5000. An idle connection occupies a worker thread, so a long
  // timeout saves reconnects for chatty clients but can starve other clients of workers.
  int64_t idle_timeout_ms = 5000;

  // Largest request body accepted, in bytes; larger requests get 413. Default 256 MiB (the
  // turbopuffer per-request limit). Bodies are buffered in memory, so threads *
  // max_body_bytes bounds the memory used by requests in flight.
  size_t max_body_bytes = 256u << 20;

  bool operator==(const ServerOptions&) const = default;
};

// [log]
struct LogOptions {
  // Minimum level logged: "trace", "debug", "info", "warn", "error", "critical" or "off"
  // (spdlog's level names, lower case). Default "info". "debug" and "trace" log per
  // request and per object and slow a busy server down.
  std::string level = "info";

  bool operator==(const LogOptions&) const = default;
};

// [limits]: per-request and per-document limits. A request that exceeds one fails with
// InvalidArgument (HTTP 400) naming the limit, before anything is written.
struct LimitsOptions {
  // Largest vector dimension a namespace may use. Default 10752 (turbopuffer's limit).
  // 1..kMaxDimensionsHardLimit. Raising it admits larger vectors, whose documents must
  // still fit in max_document_bytes (4 bytes per dimension).
  uint32_t max_dimensions = 10752;

  // Longest document id, in bytes of UTF-8. Default 64. Ids are stored in every WAL entry,
  // segment and posting list, so long ids cost space everywhere. 1..4096.
  size_t max_id_bytes = 64;

  // Largest single attribute value, in bytes when serialized as JSON. Default 64 KiB.
  size_t max_attribute_bytes = 64u << 10;

  // Largest document: id + vector (4 bytes per dimension) + serialized attributes, in
  // bytes. Default 1 MiB. Bounds the memory one document can pin in caches and queries.
  size_t max_document_bytes = 1u << 20;

  // Most rows in one write request (upserts + patches + deletes). Default 100000. The
  // request must also fit in server.max_body_bytes.
  size_t max_rows_per_request = 100000;

  // Largest top_k a query may ask for. Default 10000. Query cost and response size grow
  // linearly with top_k.
  size_t max_top_k = 10000;

  bool operator==(const LimitsOptions&) const = default;
};

// [batching]: group commit. Concurrent writes to a namespace are batched into one WAL
// object; every writer in the batch is acknowledged once that object is durable.
struct BatchingOptions {
  // How long a batch stays open for more writes after its first write, in milliseconds.
  // Default 5. Longer means fewer, larger WAL objects (fewer S3 PUTs, cheaper) at the cost
  // of write latency; 0 commits at once (writes that arrive while a commit is in flight
  // still share the next batch). 0..10000.
  int64_t window_ms = 5;

  // A batch is closed early once it holds this many bytes of requests. Default 64 MiB.
  // Bounds the size of one WAL object and the memory of a batch being written.
  size_t max_batch_bytes = 64u << 20;

  // A batch is closed early once it holds this many rows. Default 200000.
  size_t max_batch_rows = 200000;

  bool operator==(const BatchingOptions&) const = default;
};

// [indexing]: when the WAL tail is folded into the ANN index. Queries scan the unindexed
// tail exhaustively, so a long tail makes queries slow; indexing it often costs CPU and
// object-storage writes.
struct IndexingOptions {
  // Index once the unindexed tail holds this many bytes. Default 64 MiB.
  size_t unindexed_bytes_trigger = 64u << 20;

  // ...or this many rows. Default 50000.
  size_t unindexed_rows_trigger = 50000;

  // ...or once its oldest write is this old, in milliseconds. Default 1000. Keeps a
  // namespace with a trickle of writes from scanning a tail for long; longer batches small
  // writes into fewer compactions (less write amplification) at the price of query speed.
  int64_t max_age_ms = 1000;

  // Backpressure: when a namespace's unindexed tail exceeds this many bytes, writes fail
  // with ResourceExhausted (HTTP 429) until indexing catches up. Default 2 GiB (as
  // turbopuffer). Must exceed unindexed_bytes_trigger. Higher tolerates longer write
  // bursts at the price of slower queries while the tail is long.
  size_t max_unindexed_bytes = size_t{2} << 30;

  // Default ANN search effort: the posting lists (nearest centroids) a query scans unless it
  // asks for another number ("probes"). Default 10. More raises recall and costs time about
  // linearly. On Fashion-MNIST 10 gives recall@10 of about 0.98 (docs/index.md). 1..100000.
  uint32_t ann_probes = 10;

  bool operator==(const IndexingOptions&) const = default;
};

// [compactor]: the background process that builds and merges index segments and deletes
// objects nothing refers to any more.
struct CompactorOptions {
  // Run the compactor in this process. Default true. Turn off to run a query/write-only
  // node when another process compacts the same bucket.
  bool enabled = true;

  // How often each namespace is checked against the [indexing] triggers, in
  // milliseconds. Default 1000.
  int64_t interval_ms = 1000;

  // Namespaces compacted at the same time. Default 1. More finishes a backlog sooner but
  // takes CPU and memory from queries. 1..256.
  int max_concurrent = 1;

  // How long an object that is no longer referenced is kept before it is deleted, in
  // milliseconds. Default 600000 (10 minutes). Queries that started before the object was
  // superseded can still read it; a query running longer than this may fail with NotFound.
  // 0 deletes at once (tests only).
  int64_t gc_grace_period_ms = 600000;

  bool operator==(const CompactorOptions&) const = default;
};

// [storage]: where the durable state lives.
struct StorageOptions {
  // "local" (a directory on this machine; development and tests) or "s3" (any
  // S3-compatible store with conditional writes). Default "local".
  std::string backend = "local";

  // backend "local": root directory of the store. Default "./data/store", relative to
  // the working directory.
  std::string local_root = "./data/store";

  // backend "s3": bucket name. Default "" (required when backend is "s3").
  std::string bucket;

  // Prepended to every object key; lets several deployments share a bucket. Default ""
  // (keys start at the bucket root). If set, it must end with "/" (e.g. "prod/").
  std::string prefix;

  // backend "s3": endpoint URL, e.g. "http://localhost:9000" for MinIO. Default "": the
  // AWS endpoint of `region`. Must start with http:// or https://.
  std::string endpoint;

  // backend "s3": region used to sign requests. Default "us-east-1".
  std::string region = "us-east-1";

  // backend "s3": address buckets as https://endpoint/bucket/key (path style) instead of
  // https://bucket.endpoint/key. Default false. Most self-hosted stores (MinIO) need true.
  bool force_path_style = false;

  // Retries of transient failures (Unavailable: throttling, 5xx, timeouts). An operation
  // is tried at most retry_max_attempts times; the sleep before each retry grows
  // exponentially from retry_base_backoff_ms up to retry_max_backoff_ms (with jitter), and
  // a retry whose sleep would end more than retry_budget_ms after the first try began is
  // not started (the last error is returned). More attempts and a larger budget ride out
  // longer outages; fewer fail fast and free the caller.
  int retry_max_attempts = 6;          // 1 disables retries. 1..100.
  int64_t retry_base_backoff_ms = 10;  // must not exceed retry_max_backoff_ms
  int64_t retry_max_backoff_ms = 1000;
  int64_t retry_budget_ms = 10000;

  // backend "s3": credentials. Default empty. Prefer the environment (AWS_ACCESS_KEY_ID,
  // AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) to keeping secrets in a file; they are never
  // logged.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;

  // backend "s3": time allowed to connect, and for a whole request, in milliseconds.
  // Defaults 5000 and 60000. A short request timeout turns a stalled connection into a
  // retry sooner, but must leave time for the largest object (a WAL batch) to upload.
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 60000;

  // backend "s3": most connections kept open to the endpoint, and so most requests in
  // flight at once. Default 64.
  int max_connections = 64;

  // backend "s3": objects larger than multipart_threshold_bytes are uploaded in parts of
  // multipart_part_bytes (S3's minimum part is 5 MiB). Defaults 64 MiB and 16 MiB. Parts
  // upload concurrently and retry individually; more parts cost more requests.
  size_t multipart_threshold_bytes = size_t{64} << 20;
  size_t multipart_part_bytes = size_t{16} << 20;

  bool operator==(const StorageOptions&) const = default;
};

// [cache]: local copies of immutable objects (segments, WAL entries), so that repeated
// queries do not pay an object-storage round trip.
struct CacheOptions {
  // Directory of the disk cache. Default "./data/cache", relative to the working
  // directory. Its contents are disposable: it may be deleted while the server is down.
  std::string path = "./data/cache";

  // Disk cache capacity in bytes. Default 10 GiB. 0 disables the disk cache. Bigger keeps
  // more of a large namespace local.
  size_t size_bytes = size_t{10} << 30;

  // In-memory cache capacity in bytes. Default 1 GiB. 0 disables it. Memory is the
  // fastest tier; size it to the hot set (centroids, hot posting lists).
  size_t memory_bytes = size_t{1} << 30;

  bool operator==(const CacheOptions&) const = default;
};

// [auth]: API keys. Every request but GET /health must carry "Authorization: Bearer <key>"
// with one of the accepted keys, else it gets 401 (api/auth.h). With no keys at all the
// server accepts anonymous requests, but only on a loopback address: serving any other
// address without keys needs allow_anonymous = true (ValidateOptions enforces it).
struct AuthOptions {
  // Accepted API keys. Default empty. Secrets: never logged (DescribeOptions prints only how
  // many there are). Prefer the VECPUFF_API_KEYS environment variable or api_keys_file to
  // writing them into config.toml.
  std::vector<std::string> api_keys;

  // A file of further accepted keys, one per line; blank lines and lines starting with '#'
  // are ignored. Default "" (none). Read once at start-up (LoadOptions); a file that is
  // missing, unreadable or holds no key stops start-up.
  std::string api_keys_file;

  // Accept requests that carry no Authorization header even when keys are configured, and
  // allow serving a non-loopback address with no keys at all. Default false. A request that
  // does carry a key must still carry a valid one.
  bool allow_anonymous = false;

  bool operator==(const AuthOptions&) const = default;
};

// True if `host` (a [server] host value) is a loopback address: "localhost", 127.0.0.0/8 or
// "::1". Anything else, "0.0.0.0" and "::" included, is reachable from other machines.
bool IsLoopbackHost(const std::string& host);

struct Options {
  ServerOptions server;
  LogOptions log;
  LimitsOptions limits;
  BatchingOptions batching;
  IndexingOptions indexing;
  CompactorOptions compactor;
  StorageOptions storage;
  CacheOptions cache;
  AuthOptions auth;

  bool operator==(const Options&) const = default;
};

}  // namespace vecpuff
