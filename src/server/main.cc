// vecpuff: the server binary. Wiring only: options -> logging -> object store -> engine ->
// HTTP server, then wait for SIGINT/SIGTERM and shut down in reverse order.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>

#include "api/http_server.h"
#include "config/config.h"
#include "db/database.h"
#include "storage/local_store.h"
#include "storage/retrying_store.h"

namespace vecpuff {
namespace {

DbOptions MakeDbOptions(const Options& o) {
  DbOptions db;
  db.key_prefix = o.storage.prefix;
  db.max_dimensions = o.limits.max_dimensions;
  db.max_id_bytes = o.limits.max_id_bytes;
  db.max_attribute_bytes = o.limits.max_attribute_bytes;
  db.max_document_bytes = o.limits.max_document_bytes;
  db.max_rows_per_request = o.limits.max_rows_per_request;
  db.max_top_k = o.limits.max_top_k;
  db.batch_window_ms = o.batching.window_ms;
  db.max_batch_bytes = o.batching.max_batch_bytes;
  db.max_batch_rows = o.batching.max_batch_rows;
  return db;
}

HttpServerOptions MakeHttpOptions(const Options& o) {
  HttpServerOptions h;
  h.host = o.server.host;
  h.port = o.server.port;
  h.threads = o.server.threads;
  h.read_timeout_ms = o.server.read_timeout_ms;
  h.write_timeout_ms = o.server.write_timeout_ms;
  h.keep_alive_timeout_ms = o.server.idle_timeout_ms;
  h.max_body_bytes = o.server.max_body_bytes;
  return h;
}

RetryOptions MakeRetryOptions(const StorageOptions& s) {
  RetryOptions r;
  r.max_attempts = s.retry_max_attempts;
  r.base_backoff = std::chrono::milliseconds(s.retry_base_backoff_ms);
  r.max_backoff = std::chrono::milliseconds(s.retry_max_backoff_ms);
  r.total_budget = std::chrono::milliseconds(s.retry_budget_ms);
  return r;
}

int Run(int argc, char** argv) {
  auto loaded = LoadOptions(argc, argv, CaptureProcessEnvironment());
  if (!loaded.ok()) {
    std::fprintf(stderr, "vecpuff: %s\n", loaded.status().message().c_str());
    std::fprintf(stderr, "Run 'vecpuff --help' for usage.\n");
    return 2;
  }
  if (loaded->help_requested) {
    std::fputs(UsageText(argc > 0 ? argv[0] : "vecpuff").c_str(), stdout);
    return 0;
  }
  const Options& options = loaded->options;

  auto logger = spdlog::stderr_color_mt("vecpuff");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(options.log.level));
  spdlog::info("vecpuff starting; config file: {}",
               loaded->config_file.empty() ? "(none, defaults)" : loaded->config_file);
  spdlog::info("effective configuration:\n{}", DescribeOptions(options));

  if (options.storage.backend != "local") {
    spdlog::critical("storage backend '{}' is not available in this build; use 'local'",
                     options.storage.backend);
    return 2;
  }
  auto local = OpenLocalStore(options.storage.local_root);
  if (!local.ok()) {
    spdlog::critical("cannot open local store at {}: {}", options.storage.local_root,
                     local.status().ToString());
    return 1;
  }
  std::unique_ptr<ObjectStore> base = std::move(*local);
  RetryingStore store(base.get(), MakeRetryOptions(options.storage));
  spdlog::info("object store: {}", store.Describe());

  // Block the shutdown signals in every thread; this thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Database db(&store, MakeDbOptions(options));
  HttpServer server(&db, MakeHttpOptions(options));
  Status started = server.Start();
  if (!started.ok()) {
    spdlog::critical("{}", started.message());
    return 1;
  }
  spdlog::info("listening on http://{}:{}", options.server.host, server.port());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received signal {}; stopping", sig);
  // Stop accepting, let in-flight requests (and the group commits they wait on) finish.
  server.Stop();
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace vecpuff

int main(int argc, char** argv) { return vecpuff::Run(argc, argv); }
