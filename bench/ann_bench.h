// ann_bench: recall@10 against QPS on Fashion-MNIST for VecPuff and its peers (hnswlib,
// SPTAG SPANN, faiss IVF-Flat), all in one run, one child process per system so that each
// system's resident memory is its own. docs/benchmarks.md explains the method and columns.
//
// This header holds what the parent (ann_bench.cc) and the per-system runners share: the
// flags, the data set and ground truth, the sweep helpers and the JSON line a child prints.
//
// Thread safety: plain values and free functions; the runners are single-threaded except
// where they say otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vecpuff::annbench {

using Clock = std::chrono::steady_clock;
inline constexpr int kTopK = 10;

struct Args {
  std::string train_path = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
  std::string test_path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  std::string cache_dir;  // ground-truth cache; default: the directory of the executable
  std::string work_dir;   // scratch files (SPTAG index, VecPuff data); default: $TMPDIR
  std::string vecpuff_bin;
  std::vector<std::string> systems;  // empty: all
  std::string system;                // set in a child: the one system it runs
  int queries = 1000;
  int base_rows = 0;  // 0: every train image
  bool quick = false;
  int repeats = 3;              // per setting, while the setting's runs stay cheap
  double repeat_budget_s = 4;   // no repeat starts after this many seconds on a setting
  int build_threads = 2;        // every system builds with this many threads
  int index_timeout_s = 600;    // VecPuff: longest wait for the index to catch up
  int system_timeout_s = 3600;  // parent: a child running longer is killed
  int http_clients_ingest = 4;
  int ingest_batch = 500;
  int faiss_train_sample = 20000;
  int cold_latency_ms = 50;
  std::vector<uint32_t> probes;   // VecPuff: the probes settings to sweep (empty: default list)
  bool exact = true;              // VecPuff: also measure `exact`
  int http_memory_cache_mb = -1;  // VecPuff HTTP: the server's cache.memory_bytes (-1: default)
};

// Fashion-MNIST as uint8 rows of `dim` pixels, and the exact top-10 of each query.
struct Dataset {
  int dim = 0;
  int n_base = 0;
  int n_query = 0;
  std::vector<uint8_t> base;   // n_base * dim; may be released once a system is built
  std::vector<uint8_t> query;  // n_query * dim
  std::vector<int32_t> truth;  // n_query * kTopK ids into base, ascending (distance, id)
  uint64_t hash = 0;           // of the rows used and kTopK: the truth cache key

  const uint8_t* base_row(int i) const { return base.data() + size_t(i) * dim; }
  const uint8_t* query_row(int i) const { return query.data() + size_t(i) * dim; }
  std::vector<float> QueryFloat(int i) const;
  std::vector<float> BaseFloat(int i) const;
  void ReleaseBase();  // frees the base rows (so they do not count in a system's RSS)
};

// Reads the IDX files and the cached (or freshly computed) ground truth. Exits the process
// with a message if the data set is missing or malformed.
Dataset LoadDataset(const Args& args, bool log);

// |found ∩ truth top-10| / 10 for query q.
double RecallAt10(const Dataset& data, int q, const std::vector<int64_t>& found_ids);

// One effort setting of one system.
struct SweepPoint {
  std::string setting;  // e.g. "ef=40"
  double recall = 0;
  double qps = 0;  // single thread, one query at a time
  double p50_ms = 0;
  double p99_ms = 0;
  int runs = 0;  // QPS and latencies are those of the run with the median QPS
  std::string note;
};

// Runs `search(q, &ids)` for every query, `repeats` times while the budget allows, and
// returns the median run. `search` returns false on error (the point then carries a note).
SweepPoint MeasureSetting(const Args& args, const Dataset& data, const std::string& setting,
                          const std::function<bool(int, std::vector<int64_t>*)>& search);

double Percentile(std::vector<double> v, double p);
double Seconds(Clock::duration d);

// VmRSS and VmHWM of a process (self when pid <= 0), in MiB; 0 if unreadable.
struct Memory {
  double rss_mb = 0;
  double hwm_mb = 0;
};
Memory ReadMemory(int pid = 0);

// What a child reports: one line "ANNBENCH_RESULT <json>" on stdout.
struct SystemResult {
  std::string system;  // flag name, e.g. "hnswlib"
  std::string label;   // table name, e.g. "hnswlib 0.6.2 M16 efC200"
  double build_s = 0;
  std::string build_note;
  Memory memory;
  std::string memory_note;
  std::vector<SweepPoint> points;
  std::vector<std::string> notes;
  nlohmann::json extra = nlohmann::json::object();  // VecPuff-only figures
};
nlohmann::json ToJson(const SystemResult& r);
SystemResult FromJson(const nlohmann::json& j);
void Emit(const SystemResult& r);

// The runners, each in its own child process. They log progress to stderr.
SystemResult RunHnswlib(const Args& args, Dataset* data);
SystemResult RunFaiss(const Args& args, Dataset* data);
SystemResult RunSpann(const Args& args, Dataset* data);
SystemResult RunVecpuff(const Args& args, Dataset* data);
SystemResult RunVecpuffHttp(const Args& args, Dataset* data);

// A scratch directory under args.work_dir, created; removed by the caller.
std::string MakeScratchDir(const Args& args, const std::string& tag);

void Log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace vecpuff::annbench
