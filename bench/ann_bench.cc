// ann_bench: recall@10 against single-thread QPS on Fashion-MNIST (60,000 x 784 uint8,
// squared L2) for hnswlib, SPTAG SPANN, faiss IVF-Flat and VecPuff (in process and through
// its HTTP server), in one run, printed as one table, with ratios at recall 0.95 and the
// figures only VecPuff has. docs/benchmarks.md describes the method and every column.
//
//   ann_bench [--systems hnswlib,spann,faiss,vecpuff,vecpuff-http] [--queries 1000]
//             [--quick] [--repeats 3] [--index-timeout-s 600] [--json PATH] ...
//
// The parent loads the data and the ground truth (cached next to the binary), then runs
// each system in a child process (itself, re-executed with --system NAME) so that every
// system's resident memory is measured alone; a child prints one "ANNBENCH_RESULT <json>"
// line on stdout and its progress on stderr. A benchmark, not a test: it asserts nothing.
#include "ann_bench.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

namespace vecpuff::annbench {
namespace {

const std::vector<std::string> kAllSystems = {"hnswlib", "spann", "faiss", "vecpuff",
                                              "vecpuff-http"};

void Usage() {
  std::fprintf(stderr,
               "usage: ann_bench [--systems a,b,...] [--queries N] [--quick] [--repeats N]\n"
               "                 [--base-rows N] [--index-timeout-s S] [--system-timeout-s S]\n"
               "                 [--build-threads N] [--faiss-train-sample N] [--cache-dir DIR]\n"
               "                 [--work-dir DIR] [--vecpuff-bin PATH] [--json PATH]\n"
               "                 [--probes P1,P2,...] [--no-exact] [--cold-latency-ms MS]\n"
               "                 [--http-memory-cache-mb MB]\n"
               "systems: hnswlib, spann, faiss, vecpuff, vecpuff-http (default: all)\n"
               "--quick: 200 queries and fewer settings per system\n");
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Parsed {
  Args args;
  std::string json_path;
  std::vector<std::string> pass_through;  // flags a child gets again
};

std::optional<Parsed> ParseArgs(int argc, char** argv) {
  Parsed p;
  Args& a = p.args;
  a.vecpuff_bin = VECPUFF_BINARY;
  bool queries_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--quick") {
      a.quick = true;
      p.pass_through.push_back(k);
      continue;
    }
    if (k == "--no-exact") {
      a.exact = false;
      p.pass_through.push_back(k);
      continue;
    }
    if (k == "--help" || k == "-h" || i + 1 >= argc) {
      Usage();
      return std::nullopt;
    }
    std::string v = argv[++i];
    int n = std::atoi(v.c_str());
    if (k == "--systems") {
      a.systems = Split(v, ',');
      for (const auto& s : a.systems) {
        if (std::find(kAllSystems.begin(), kAllSystems.end(), s) == kAllSystems.end()) {
          std::fprintf(stderr, "unknown system '%s'\n", s.c_str());
          return std::nullopt;
        }
      }
      continue;  // not passed to children
    } else if (k == "--system") {
      a.system = v;
      continue;
    } else if (k == "--json") {
      p.json_path = v;
      continue;
    } else if (k == "--queries") {
      a.queries = n;
      queries_given = true;
    } else if (k == "--base-rows") {
      a.base_rows = n;
    } else if (k == "--repeats") {
      a.repeats = std::max(1, n);
    } else if (k == "--index-timeout-s") {
      a.index_timeout_s = n;
    } else if (k == "--system-timeout-s") {
      a.system_timeout_s = n;
    } else if (k == "--build-threads") {
      a.build_threads = std::max(1, n);
    } else if (k == "--faiss-train-sample") {
      a.faiss_train_sample = n;
    } else if (k == "--cache-dir") {
      a.cache_dir = v;
    } else if (k == "--work-dir") {
      a.work_dir = v;
    } else if (k == "--vecpuff-bin") {
      a.vecpuff_bin = v;
    } else if (k == "--http-memory-cache-mb") {
      a.http_memory_cache_mb = std::max(0, n);
    } else if (k == "--cold-latency-ms") {
      a.cold_latency_ms = std::max(0, n);
    } else if (k == "--probes") {
      for (const std::string& item : Split(v, ',')) {
        const int p = std::atoi(item.c_str());
        if (p < 1) {
          std::fprintf(stderr, "--probes wants positive integers, got '%s'\n", item.c_str());
          return std::nullopt;
        }
        a.probes.push_back(static_cast<uint32_t>(p));
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      Usage();
      return std::nullopt;
    }
    p.pass_through.push_back(k);
    p.pass_through.push_back(v);
  }
  if (a.quick && !queries_given) a.queries = 200;
  if (a.queries < 1) a.queries = 1;
  return p;
}

int RunChild(const Args& args) {
  Dataset data = LoadDataset(args, false);
  SystemResult r;
  if (args.system == "hnswlib") {
    r = RunHnswlib(args, &data);
  } else if (args.system == "faiss") {
    r = RunFaiss(args, &data);
  } else if (args.system == "spann") {
    r = RunSpann(args, &data);
  } else if (args.system == "vecpuff") {
    r = RunVecpuff(args, &data);
  } else if (args.system == "vecpuff-http") {
    r = RunVecpuffHttp(args, &data);
  } else {
    std::fprintf(stderr, "unknown system %s\n", args.system.c_str());
    return 2;
  }
  Emit(r);
  return 0;
}

// Runs one system in a child; returns its result, or one with a note saying why not.
SystemResult RunSystem(const Parsed& p, const std::string& system) {
  SystemResult failed;
  failed.system = system;
  failed.label = system;
  int out[2];
  if (pipe(out) != 0) {
    failed.notes.push_back(system + ": pipe failed");
    return failed;
  }
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // its own group, so that a timeout also ends sptag-ssdserving or vecpuff
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    std::vector<std::string> argv = {"/proc/self/exe", "--system", system};
    argv.insert(argv.end(), p.pass_through.begin(), p.pass_through.end());
    std::vector<char*> cargs;
    for (auto& s : argv) cargs.push_back(s.data());
    cargs.push_back(nullptr);
    execv("/proc/self/exe", cargs.data());
    _exit(127);
  }
  close(out[1]);
  std::string output;
  bool timed_out = false;
  while (true) {
    pollfd pfd{out[0], POLLIN, 0};
    int ready = poll(&pfd, 1, 1000);
    if (ready > 0) {
      char buf[65536];
      ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      output.append(buf, n);
    }
    if (Seconds(Clock::now() - start) > p.args.system_timeout_s) {
      kill(-pid, SIGKILL);
      timed_out = true;
      break;
    }
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  size_t at = output.rfind("ANNBENCH_RESULT ");
  if (at != std::string::npos) {
    size_t end = output.find('\n', at);
    auto j = nlohmann::json::parse(output.substr(at + 16, end - at - 16), nullptr, false);
    if (!j.is_discarded()) return FromJson(j);
  }
  failed.notes.push_back(
      system + (timed_out ? ": timed out after " + std::to_string(p.args.system_timeout_s) + " s"
                          : ": child failed (exit status " + std::to_string(status) + ")"));
  return failed;
}

// QPS where a curve reaches recall `target`: interpolated linearly in recall between the
// last setting below and the first at or above it, or the first setting's QPS when even
// that one reaches the target. `how` says which. Negative if the curve never reaches it.
double QpsAtRecall(const SystemResult& r, double target, std::string* how) {
  const SweepPoint* prev = nullptr;
  for (const SweepPoint& p : r.points) {
    if (!p.note.empty() || p.qps <= 0) continue;
    if (p.recall >= target) {
      if (prev != nullptr && p.recall > prev->recall) {
        double f = (target - prev->recall) / (p.recall - prev->recall);
        double qps = prev->qps + f * (p.qps - prev->qps);
        char buf[160];
        std::snprintf(buf, sizeof(buf), "interpolated between %s (%.3f) and %s (%.3f)",
                      prev->setting.c_str(), prev->recall, p.setting.c_str(), p.recall);
        *how = buf;
        return qps;
      }
      *how = "first setting reaching it: " + p.setting;
      return p.qps;
    }
    prev = &p;
  }
  double best = 0;
  for (const SweepPoint& p : r.points) best = std::max(best, p.recall);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "never reaches it (best recall %.3f)", best);
  *how = buf;
  return -1;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown CPU";
}

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

void PrintTable(const Parsed& p, const Dataset& data, const std::vector<SystemResult>& results) {
  const Args& a = p.args;
  std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M %Z", std::localtime(&now));
  std::printf(
      "\nann_bench %s: Fashion-MNIST, %d base x %d dims (uint8), %d queries, squared L2, "
      "top-10\n",
      date, data.n_base, data.dim, data.n_query);
  std::printf(
      "machine: %s, %ld cores; build with %d threads, search single-thread, one query "
      "at a time\n\n",
      CpuModel().c_str(), sysconf(_SC_NPROCESSORS_ONLN), a.build_threads);
  std::printf("%-24s %-22s %9s %9s %8s %8s %4s %9s %7s %7s\n", "system", "setting", "recall@10",
              "QPS", "p50 ms", "p99 ms", "runs", "build s", "RSS MB", "peak MB");
  std::printf("%s\n", std::string(116, '-').c_str());
  for (const SystemResult& r : results) {
    bool first = true;
    auto build = r.build_s > 0 ? Fmt("%.1f", r.build_s) : std::string("-");
    auto rss = r.memory.rss_mb > 0 ? Fmt("%.0f", r.memory.rss_mb) : std::string("-");
    auto hwm = r.memory.hwm_mb > 0 ? Fmt("%.0f", r.memory.hwm_mb) : std::string("-");
    if (r.points.empty()) {
      std::printf("%-24s %-22s %9s\n", r.label.c_str(), "-", "failed");
    }
    for (const SweepPoint& pt : r.points) {
      const std::string name = first ? r.label : "";
      if (!pt.note.empty()) {
        std::printf("%-24s %-22s %s\n", name.c_str(), pt.setting.c_str(), pt.note.c_str());
      } else {
        std::printf("%-24s %-22s %9.4f %9.1f %8.3f %8.3f %4d %9s %7s %7s\n", name.c_str(),
                    pt.setting.c_str(), pt.recall, pt.qps, pt.p50_ms, pt.p99_ms, pt.runs,
                    first ? build.c_str() : "", first ? rss.c_str() : "", first ? hwm.c_str() : "");
      }
      first = false;
    }
  }
  std::printf("\nbuild:\n");
  for (const SystemResult& r : results) {
    if (!r.build_note.empty()) std::printf("  %-24s %s\n", r.label.c_str(), r.build_note.c_str());
  }
  std::printf("memory (RSS after warm-up / peak VmHWM):\n");
  for (const SystemResult& r : results) {
    if (!r.memory_note.empty()) {
      std::printf("  %-24s %s\n", r.label.c_str(), r.memory_note.c_str());
    }
  }

  const SystemResult* inproc = nullptr;
  const SystemResult* http = nullptr;
  for (const SystemResult& r : results) {
    if (r.system == "vecpuff") inproc = &r;
    if (r.system == "vecpuff-http") http = &r;
  }
  if (inproc != nullptr || http != nullptr) {
    std::printf("\nVecPuff only:\n");
    if (inproc != nullptr && inproc->extra.contains("ingest_engine_rows_per_s")) {
      std::printf("  ingest, engine (%d writers, %d rows/request, to durable ack): %.0f rows/s\n",
                  a.build_threads, a.ingest_batch,
                  inproc->extra["ingest_engine_rows_per_s"].get<double>());
    }
    if (http != nullptr && http->extra.contains("ingest_http")) {
      const auto& i = http->extra["ingest_http"];
      std::printf(
          "  ingest, HTTP (%d clients, %d rows/request, to durable ack): %.0f rows/s, "
          "%.1f MB/s of float32 vectors (%.1f MB/s JSON), request p50 %.0f ms, p99 %.0f "
          "ms\n",
          i.value("clients", 0), i.value("batch_rows", 0), i.value("rows_per_s", 0.0),
          i.value("vector_mb_per_s", 0.0), i.value("json_mb_per_s", 0.0),
          i.value("request_p50_ms", 0.0), i.value("request_p99_ms", 0.0));
    }
    for (const SystemResult* r : {inproc, http}) {
      if (r == nullptr || !r->extra.contains("indexed")) continue;
      if (r->extra["indexed"].get<bool>()) {
        std::printf("  time from last write until fully indexed (%s): %.1f s\n", r->label.c_str(),
                    r->extra["index_wait_s"].get<double>());
      } else {
        std::printf("  time from last write until fully indexed (%s): %s\n", r->label.c_str(),
                    r->extra["index_note"].get<std::string>().c_str());
      }
    }
    for (const SystemResult* r : {inproc, http}) {
      if (r == nullptr || !r->extra.contains("index_input_bytes")) continue;
      if (r->extra.contains("write_amplification")) {
        std::printf(
            "  write amplification (%s): %.2f (%llu index bytes written / %llu bytes of "
            "vectors indexed)\n",
            r->label.c_str(), r->extra["write_amplification"].get<double>(),
            r->extra["index_bytes_written"].get<unsigned long long>(),
            r->extra["index_input_bytes"].get<unsigned long long>());
      } else {
        std::printf("  write amplification (%s): n/a (no index input recorded)\n",
                    r->label.c_str());
      }
    }
    if (http != nullptr && http->extra.contains("concurrent")) {
      for (const auto& c : http->extra["concurrent"]) {
        std::printf(
            "  HTTP, %2d concurrent keep-alive clients at %s: %.1f QPS, p50 %.2f ms, p99 "
            "%.2f ms (%d queries%s)\n",
            c.value("clients", 0), c.value("setting", "").c_str(), c.value("qps", 0.0),
            c.value("p50_ms", 0.0), c.value("p99_ms", 0.0), c.value("queries", 0),
            c.value("errors", false) ? ", SOME FAILED" : "");
      }
    }
    if (inproc != nullptr && inproc->extra.contains("cold")) {
      int per = inproc->extra.value("cold_latency_ms_per_request", 50);
      for (const char* key : {"cold", "second"}) {
        const auto& c = inproc->extra[key];
        std::printf(
            "  %s query, fresh Database, %d ms per object-store request: %.0f ms, "
            "%llu requests (%llu GET, %llu LIST, %llu HEAD), %.1f MB read, %.1f "
            "sequential round trips (approx)%s\n",
            std::strcmp(key, "cold") == 0 ? "first (cold)" : "second", per,
            c.value("latency_ms", 0.0), c.value("requests", 0ull), c.value("gets", 0ull),
            c.value("lists", 0ull), c.value("heads", 0ull), c.value("bytes_read", 0ull) / 1e6,
            c.value("round_trips_approx", 0.0), c.value("ok", false) ? "" : " FAILED");
      }
    }
  }

  std::printf("\nratios (single-thread QPS at recall@10 >= 0.95):\n");
  const SystemResult* spann = nullptr;
  const SystemResult* hnsw = nullptr;
  for (const SystemResult& r : results) {
    if (r.system == "spann") spann = &r;
    if (r.system == "hnswlib") hnsw = &r;
  }
  std::string how;
  double vp = inproc ? QpsAtRecall(*inproc, 0.95, &how) : -1;
  if (inproc != nullptr) {
    std::printf("  %-24s %s QPS, %s\n", inproc->label.c_str(),
                vp > 0 ? Fmt("%.1f", vp).c_str() : "n/a", how.c_str());
  }
  for (const SystemResult* peer : {spann, hnsw}) {
    if (peer == nullptr) continue;
    std::string peer_how;
    double q = QpsAtRecall(*peer, 0.95, &peer_how);
    std::printf("  %-24s %s QPS, %s\n", peer->label.c_str(), q > 0 ? Fmt("%.1f", q).c_str() : "n/a",
                peer_how.c_str());
    if (vp > 0 && q > 0) {
      std::printf("  -> VecPuff in-process / %s = %.3f\n", peer->label.c_str(), vp / q);
    }
  }
  bool any_notes = false;
  for (const SystemResult& r : results) {
    for (const std::string& n : r.notes) {
      if (!any_notes) std::printf("\nnotes:\n");
      any_notes = true;
      std::printf("  - %s\n", n.c_str());
    }
  }
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  auto parsed = ParseArgs(argc, argv);
  if (!parsed) return 2;
  signal(SIGPIPE, SIG_IGN);
  if (!parsed->args.system.empty()) return RunChild(parsed->args);

  std::vector<std::string> systems =
      parsed->args.systems.empty() ? kAllSystems : parsed->args.systems;
  Dataset data = LoadDataset(parsed->args, true);  // computes and caches the truth once
  data.ReleaseBase();
  std::vector<SystemResult> results;
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& s : systems) {
    Log("=== %s", s.c_str());
    auto t0 = Clock::now();
    results.push_back(RunSystem(*parsed, s));
    all.push_back(ToJson(results.back()));
    Log("=== %s done in %.0f s", s.c_str(), Seconds(Clock::now() - t0));
  }
  PrintTable(*parsed, data, results);
  if (!parsed->json_path.empty()) std::ofstream(parsed->json_path) << all.dump(2) << "\n";
  return 0;
}

}  // namespace
}  // namespace vecpuff::annbench

int main(int argc, char** argv) { return vecpuff::annbench::Main(argc, argv); }
