// ann_bench: faiss IVF-Flat (Debian libfaiss-dev, static, reference BLAS) in process, and
// SPTAG SPANN (Debian sptag) through its own benchmark driver, sptag-ssdserving, run as a
// subprocess whose reported recall and latency are parsed.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <omp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "ann_bench.h"

namespace vecpuff::annbench {

SystemResult RunFaiss(const Args& args, Dataset* data) {
  constexpr int kLists = 256;
  SystemResult r;
  r.system = "faiss";
  r.label = "faiss IVF256,Flat";
  const int dim = data->dim;
  faiss::IndexFlatL2 quantizer(dim);
  faiss::IndexIVFFlat index(&quantizer, dim, kLists, faiss::METRIC_L2);
  omp_set_num_threads(args.build_threads);

  // k-means on Debian's reference BLAS is slow: train on an evenly spaced sample.
  const int sample = std::min(args.faiss_train_sample, data->n_base);
  std::vector<float> train(size_t(sample) * dim);
  for (int s = 0; s < sample; ++s) {
    const uint8_t* row = data->base_row(int(int64_t(s) * data->n_base / sample));
    std::copy(row, row + dim, train.begin() + size_t(s) * dim);
  }
  Log("faiss: training IVF%d on %d rows, adding %d rows, %d threads", kLists, sample, data->n_base,
      args.build_threads);
  auto t0 = Clock::now();
  index.train(sample, train.data());
  std::vector<float>().swap(train);
  constexpr int kChunk = 4096;
  std::vector<float> chunk;
  for (int first = 0; first < data->n_base; first += kChunk) {
    int n = std::min(kChunk, data->n_base - first);
    chunk.assign(data->base_row(first), data->base_row(first) + size_t(n) * dim);
    index.add(n, chunk.data());
  }
  r.build_s = Seconds(Clock::now() - t0);
  r.build_note = "k-means on a " + std::to_string(sample) + "-row sample, " +
                 std::to_string(args.build_threads) + " threads";
  r.notes.push_back("faiss: k-means trained on " + std::to_string(sample) + " of " +
                    std::to_string(data->n_base) +
                    " rows (Debian's faiss uses reference BLAS; full training is slow)");
  data->ReleaseBase();

  omp_set_num_threads(1);
  std::vector<std::vector<float>> queries(data->n_query);
  for (int q = 0; q < data->n_query; ++q) queries[q] = data->QueryFloat(q);
  auto search = [&](int q, std::vector<int64_t>* ids) {
    float dist[kTopK];
    faiss::Index::idx_t labels[kTopK];
    index.search(1, queries[q].data(), kTopK, dist, labels);
    ids->assign(labels, labels + kTopK);
    return true;
  };
  index.nprobe = 8;
  for (int q = 0; q < std::min(200, data->n_query); ++q) {
    std::vector<int64_t> ids;
    search(q, &ids);
  }
  r.memory = ReadMemory();
  r.memory_note = "the bench child holding the index (base rows released; queries, truth kept)";

  std::vector<int> probes = args.quick ? std::vector<int>{4, 16} : std::vector<int>{2, 4, 8, 16};
  for (int p : probes) {
    index.nprobe = p;
    r.points.push_back(MeasureSetting(args, *data, "nprobe=" + std::to_string(p), search));
  }
  return r;
}

namespace {

struct ProcessRun {
  int exit_status = -1;  // -1: did not exit normally (killed, timed out)
  bool timed_out = false;
  double seconds = 0;
  double peak_rss_mb = 0;  // largest VmRSS seen while sampling
  double maxrss_mb = 0;    // the kernel's peak (ru_maxrss)
};

// Runs argv with stdout and stderr to `log_path`, killing it after `timeout_s`.
ProcessRun RunProcess(const std::vector<std::string>& argv, const std::string& log_path,
                      int timeout_s) {
  ProcessRun run;
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) return run;
  if (pid == 0) {
    FILE* log = std::fopen(log_path.c_str(), "w");
    if (log != nullptr) {
      dup2(fileno(log), 1);
      dup2(fileno(log), 2);
    }
    std::vector<char*> cargs;
    for (const std::string& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
    cargs.push_back(nullptr);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  while (true) {
    int status = 0;
    rusage usage{};
    pid_t done = wait4(pid, &status, WNOHANG, &usage);
    if (done == pid) {
      run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      run.maxrss_mb = usage.ru_maxrss / 1024.0;
      break;
    }
    run.peak_rss_mb = std::max(run.peak_rss_mb, ReadMemory(pid).rss_mb);
    if (Seconds(Clock::now() - t0) > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      run.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  run.seconds = Seconds(Clock::now() - t0);
  return run;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// sptag-ssdserving prints "Recall@10: 0.9885 MRR@10: ..." and, after "Total Latency
// Distribution:", a header line (Avg 50tiles 90tiles 95tiles 99tiles ...) and a line of
// values in milliseconds, each line prefixed with "[thread] ".
bool ParseSpannLog(const std::string& log, SweepPoint* p) {
  size_t at = log.rfind("Recall@10:");
  if (at == std::string::npos) return false;
  p->recall = std::strtod(log.c_str() + at + 10, nullptr);
  at = log.rfind("Total Latency Distribution:");
  if (at == std::string::npos) return false;
  at = log.find("Avg", at);
  if (at == std::string::npos) return false;
  at = log.find('\n', at);
  if (at == std::string::npos) return false;
  size_t value_start = log.find(']', at);
  if (value_start == std::string::npos) return false;
  double avg = 0, p50 = 0, p90 = 0, p95 = 0, p99 = 0;
  if (std::sscanf(log.c_str() + value_start + 1, "%lf %lf %lf %lf %lf", &avg, &p50, &p90, &p95,
                  &p99) != 5 ||
      avg <= 0) {
    return false;
  }
  p->qps = 1000 / avg;
  p->p50_ms = p50;
  p->p99_ms = p99;
  p->runs = 1;
  return true;
}

void WriteU8Bin(const std::string& path, const uint8_t* rows, int n, int dim) {
  std::ofstream out(path, std::ios::binary);
  int32_t header[2] = {n, dim};
  out.write(reinterpret_cast<const char*>(header), sizeof(header));
  out.write(reinterpret_cast<const char*>(rows), std::streamsize(size_t(n) * dim));
}

// The INI for one sptag-ssdserving run: the build phases only, or the search phase only
// with `internal_result_num` posting lists searched. Settings from
// shared/notes/benchmark-peers.md, found to work on this data set.
std::string SpannIni(const std::string& dir, int dim, int threads, bool build,
                     int internal_result_num) {
  const char* b = build ? "true" : "false";
  std::ostringstream s;
  s << "[Base]\nValueType=UInt8\nDistCalcMethod=L2\nIndexAlgoType=BKT\nDim=" << dim
    << "\nVectorPath=" << dir << "/base.u8bin\nVectorType=DEFAULT\nQueryPath=" << dir
    << "/query.u8bin\nQueryType=DEFAULT\nWarmupPath=" << dir
    << "/query.u8bin\nWarmupType=DEFAULT\nTruthPath=" << dir
    << "/truth.ivecs\nTruthType=XVEC\nIndexDirectory=" << dir << "/index\n\n"
    << "[SelectHead]\nisExecute=" << b
    << "\nTreeNumber=1\nBKTKmeansK=32\nBKTLeafSize=8\nSamplesNumber=1000\nSaveBKT=false\n"
       "SelectThreshold=10\nSplitFactor=6\nSplitThreshold=25\nRatio=0.1\nNumberOfThreads="
    << threads << "\nBKTLambdaFactor=-1\n\n"
    << "[BuildHead]\nisExecute=" << b
    << "\nNeighborhoodSize=32\nTPTNumber=32\nTPTLeafSize=2000\nMaxCheck=8192\n"
       "MaxCheckForRefineGraph=8192\nRefineIterations=3\nNumberOfThreads="
    << threads << "\nBKTLambdaFactor=-1\n\n"
    << "[BuildSSDIndex]\nisExecute=" << b
    << "\nBuildSsdIndex=true\nInternalResultNum=64\nReplicaCount=8\nPostingPageLimit=24\n"
       "NumberOfThreads="
    << threads << "\nMaxCheck=8192\nTmpDir=" << dir << "/\n\n"
    << "[SearchSSDIndex]\nisExecute=" << (build ? "false" : "true")
    << "\nBuildSsdIndex=false\nInternalResultNum=" << internal_result_num
    << "\nNumberOfThreads=1\nHashTableExponent=4\nResultNum=10\nMaxCheck=2048\n"
       "MaxDistRatio=8.0\nSearchPostingPageLimit=24\n";
  return s.str();
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

}  // namespace

SystemResult RunSpann(const Args& args, Dataset* data) {
  SystemResult r;
  r.system = "spann";
  r.label = "SPTAG SPANN (ssdserving)";
  std::string dir = MakeScratchDir(args, "spann");
  WriteU8Bin(dir + "/base.u8bin", data->base.data(), data->n_base, data->dim);
  WriteU8Bin(dir + "/query.u8bin", data->query.data(), data->n_query, data->dim);
  {
    std::ofstream truth(dir + "/truth.ivecs", std::ios::binary);
    for (int q = 0; q < data->n_query; ++q) {
      int32_t k = kTopK;
      truth.write(reinterpret_cast<const char*>(&k), sizeof(k));
      truth.write(reinterpret_cast<const char*>(data->truth.data() + size_t(q) * kTopK),
                  kTopK * sizeof(int32_t));
    }
  }
  data->ReleaseBase();

  std::ofstream(dir + "/build.ini") << SpannIni(dir, data->dim, args.build_threads, true, 64);
  Log("spann: building (sptag-ssdserving, %d threads); log in %s/build.log", args.build_threads,
      dir.c_str());
  ProcessRun build = RunProcess({"sptag-ssdserving", dir + "/build.ini"}, dir + "/build.log",
                                args.system_timeout_s);
  if (build.exit_status != 0) {
    r.notes.push_back(build.timed_out ? "spann: build timed out"
                                      : "spann: build failed; see " + dir + "/build.log");
    Log("%s", r.notes.back().c_str());
    return r;  // the scratch directory is kept for the log
  }
  r.build_s = build.seconds;
  r.build_note = std::to_string(args.build_threads) + " threads, build peak " +
                 std::to_string(int(build.maxrss_mb)) + " MB";
  r.notes.push_back("spann: index on disk " + std::to_string(DirectoryBytes(dir + "/index") >> 20) +
                    " MiB (raw uint8 data " +
                    std::to_string((size_t(data->n_base) * data->dim) >> 20) +
                    " MiB); postings read from disk, page cache warm; QPS = 1000 / its mean "
                    "latency");

  std::vector<int> settings =
      args.quick ? std::vector<int>{8, 32} : std::vector<int>{4, 8, 16, 32, 64};
  for (int n : settings) {
    std::string ini = dir + "/search-" + std::to_string(n) + ".ini";
    std::string log = dir + "/search-" + std::to_string(n) + ".log";
    std::ofstream(ini) << SpannIni(dir, data->dim, args.build_threads, false, n);
    ProcessRun run = RunProcess({"sptag-ssdserving", ini}, log, 600);
    SweepPoint p;
    p.setting = "InternalResultNum=" + std::to_string(n);
    if (run.exit_status != 0 || !ParseSpannLog(ReadFile(log), &p)) {
      p.note = "failed; see " + log;
    } else {
      // Memory of the serving process: the setting with the most postings in memory.
      r.memory.rss_mb = std::max(r.memory.rss_mb, run.peak_rss_mb);
      r.memory.hwm_mb = std::max(r.memory.hwm_mb, run.maxrss_mb);
    }
    Log("  %-22s recall %.4f  %8.1f QPS  p50 %.3f ms  p99 %.3f ms %s", p.setting.c_str(), p.recall,
        p.qps, p.p50_ms, p.p99_ms, p.note.c_str());
    r.points.push_back(p);
  }
  r.memory_note =
      "sptag-ssdserving search process: largest VmRSS sampled every 100 ms, and its "
      "ru_maxrss";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace vecpuff::annbench
