// ann_bench: the data set (IDX files, read with zlib), the ground truth and its cache, the
// sweep and memory helpers shared by every runner.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "ann_bench.h"
#include "common/hash.h"

namespace vecpuff::annbench {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "ann_bench: %s\n", message.c_str());
  std::exit(1);
}

std::string Gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) {
    Die("cannot open " + path + " (run scripts/install_bench_deps.sh: dataset-fashion-mnist)");
  }
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, n);
  bool failed = n < 0;
  gzclose(f);
  if (failed) Die("cannot decompress " + path);
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data() + at);
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// An IDX file of uint8 images: magic 0x00000803, count, rows, cols, then the pixels.
std::vector<uint8_t> ReadIdxImages(const std::string& path, int* count, int* dim) {
  std::string raw = Gunzip(path);
  if (raw.size() < 16 || BigEndian32(raw, 0) != 0x803) Die(path + ": not an IDX3 uint8 file");
  *count = static_cast<int>(BigEndian32(raw, 4));
  *dim = static_cast<int>(BigEndian32(raw, 8) * BigEndian32(raw, 12));
  if (raw.size() != 16 + size_t(*count) * *dim) Die(path + ": truncated");
  return std::vector<uint8_t>(raw.begin() + 16, raw.end());
}

// Exact top-k of every query by brute force in integer arithmetic, `threads` threads; ties
// broken by the smaller id so that the truth is deterministic.
std::vector<int32_t> ComputeTruth(const Dataset& d, int threads) {
  std::vector<int32_t> truth(size_t(d.n_query) * kTopK);
  auto work = [&](int t) {
    std::vector<std::pair<uint32_t, int32_t>> all(d.n_base);
    for (int q = t; q < d.n_query; q += threads) {
      const uint8_t* qv = d.query_row(q);
      for (int i = 0; i < d.n_base; ++i) {
        const uint8_t* bv = d.base_row(i);
        uint32_t sum = 0;
        for (int j = 0; j < d.dim; ++j) {
          int diff = int(qv[j]) - int(bv[j]);
          sum += uint32_t(diff * diff);
        }
        all[i] = {sum, i};
      }
      std::partial_sort(all.begin(), all.begin() + kTopK, all.end());
      for (int k = 0; k < kTopK; ++k) truth[size_t(q) * kTopK + k] = all[k].second;
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
  for (auto& th : pool) th.join();
  return truth;
}

std::string ExecutableDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

}  // namespace

void Log(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "[ann_bench] ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
}

std::vector<float> Dataset::QueryFloat(int i) const {
  return std::vector<float>(query_row(i), query_row(i) + dim);
}

std::vector<float> Dataset::BaseFloat(int i) const {
  return std::vector<float>(base_row(i), base_row(i) + dim);
}

void Dataset::ReleaseBase() { std::vector<uint8_t>().swap(base); }

Dataset LoadDataset(const Args& args, bool log) {
  Dataset d;
  int n_train = 0, n_test = 0, dim_test = 0;
  d.base = ReadIdxImages(args.train_path, &n_train, &d.dim);
  d.query = ReadIdxImages(args.test_path, &n_test, &dim_test);
  if (dim_test != d.dim) Die("train and test images differ in size");
  d.n_base = args.base_rows > 0 ? std::min(args.base_rows, n_train) : n_train;
  d.n_query = std::min(args.queries, n_test);
  d.base.resize(size_t(d.n_base) * d.dim);
  d.query.resize(size_t(d.n_query) * d.dim);

  std::string key(reinterpret_cast<const char*>(d.base.data()), d.base.size());
  key.append(reinterpret_cast<const char*>(d.query.data()), d.query.size());
  key += "k=" + std::to_string(kTopK) + " n=" + std::to_string(d.n_base);
  d.hash = Checksum64(key);

  char name[64];
  std::snprintf(name, sizeof(name), "ann_bench_truth_%016llx.bin",
                static_cast<unsigned long long>(d.hash));
  std::string dir = args.cache_dir.empty() ? ExecutableDir() : args.cache_dir;
  std::string path = dir + "/" + name;
  d.truth.resize(size_t(d.n_query) * kTopK);
  std::ifstream in(path, std::ios::binary);
  if (in.read(reinterpret_cast<char*>(d.truth.data()), d.truth.size() * sizeof(int32_t)) &&
      in.peek() == EOF) {
    if (log) Log("ground truth: cached in %s", path.c_str());
    return d;
  }
  auto t0 = Clock::now();
  d.truth = ComputeTruth(d, 2);
  if (log) {
    Log("ground truth: brute force over %d x %d on 2 threads in %.1f s, cached in %s", d.n_query,
        d.n_base, Seconds(Clock::now() - t0), path.c_str());
  }
  // Written to a temporary name and renamed, so a concurrent reader never sees half a file.
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(d.truth.data()), d.truth.size() * sizeof(int32_t));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return d;
}

double RecallAt10(const Dataset& data, int q, const std::vector<int64_t>& found_ids) {
  const int32_t* t = data.truth.data() + size_t(q) * kTopK;
  int hits = 0;
  for (size_t i = 0; i < found_ids.size() && i < size_t(kTopK); ++i) {
    if (std::find(t, t + kTopK, found_ids[i]) != t + kTopK) ++hits;
  }
  return hits / double(kTopK);
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

SweepPoint MeasureSetting(const Args& args, const Dataset& data, const std::string& setting,
                          const std::function<bool(int, std::vector<int64_t>*)>& search) {
  std::vector<SweepPoint> runs;
  auto started = Clock::now();
  std::vector<int64_t> ids;
  do {
    SweepPoint p;
    p.setting = setting;
    std::vector<double> lat_ms(data.n_query);
    double recall_sum = 0;
    auto run_start = Clock::now();
    for (int q = 0; q < data.n_query; ++q) {
      ids.clear();
      auto t0 = Clock::now();
      if (!search(q, &ids)) {
        p.note = "query failed";
        return p;
      }
      lat_ms[q] = Seconds(Clock::now() - t0) * 1000;
      recall_sum += RecallAt10(data, q, ids);
    }
    double total_s = Seconds(Clock::now() - run_start);
    p.recall = recall_sum / data.n_query;
    p.qps = data.n_query / total_s;
    p.p50_ms = Percentile(lat_ms, 0.5);
    p.p99_ms = Percentile(lat_ms, 0.99);
    runs.push_back(p);
  } while (int(runs.size()) < args.repeats &&
           Seconds(Clock::now() - started) < args.repeat_budget_s);
  std::sort(runs.begin(), runs.end(),
            [](const SweepPoint& a, const SweepPoint& b) { return a.qps < b.qps; });
  SweepPoint median = runs[runs.size() / 2];
  median.runs = static_cast<int>(runs.size());
  Log("  %-22s recall %.4f  %8.1f QPS  p50 %.3f ms  p99 %.3f ms  (%d runs)", setting.c_str(),
      median.recall, median.qps, median.p50_ms, median.p99_ms, median.runs);
  return median;
}

Memory ReadMemory(int pid) {
  std::string path = pid > 0 ? "/proc/" + std::to_string(pid) + "/status" : "/proc/self/status";
  std::ifstream in(path);
  std::string line;
  Memory m;
  while (std::getline(in, line)) {
    auto value_mb = [&](std::string_view prefix, double* out) {
      if (line.rfind(prefix, 0) == 0)
        *out = std::strtod(line.c_str() + prefix.size(), nullptr) / 1024;
    };
    value_mb("VmRSS:", &m.rss_mb);
    value_mb("VmHWM:", &m.hwm_mb);
  }
  return m;
}

std::string MakeScratchDir(const Args& args, const std::string& tag) {
  std::string root =
      args.work_dir.empty() ? std::filesystem::temp_directory_path().string() : args.work_dir;
  std::string dir = root + "/ann_bench-" + tag + "-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

nlohmann::json ToJson(const SystemResult& r) {
  nlohmann::json points = nlohmann::json::array();
  for (const SweepPoint& p : r.points) {
    points.push_back({{"setting", p.setting},
                      {"recall", p.recall},
                      {"qps", p.qps},
                      {"p50_ms", p.p50_ms},
                      {"p99_ms", p.p99_ms},
                      {"runs", p.runs},
                      {"note", p.note}});
  }
  return {{"system", r.system},
          {"label", r.label},
          {"build_s", r.build_s},
          {"build_note", r.build_note},
          {"rss_mb", r.memory.rss_mb},
          {"hwm_mb", r.memory.hwm_mb},
          {"memory_note", r.memory_note},
          {"points", points},
          {"notes", r.notes},
          {"extra", r.extra}};
}

SystemResult FromJson(const nlohmann::json& j) {
  SystemResult r;
  r.system = j.value("system", "");
  r.label = j.value("label", "");
  r.build_s = j.value("build_s", 0.0);
  r.build_note = j.value("build_note", "");
  r.memory.rss_mb = j.value("rss_mb", 0.0);
  r.memory.hwm_mb = j.value("hwm_mb", 0.0);
  r.memory_note = j.value("memory_note", "");
  for (const auto& p : j.value("points", nlohmann::json::array())) {
    SweepPoint s;
    s.setting = p.value("setting", "");
    s.recall = p.value("recall", 0.0);
    s.qps = p.value("qps", 0.0);
    s.p50_ms = p.value("p50_ms", 0.0);
    s.p99_ms = p.value("p99_ms", 0.0);
    s.runs = p.value("runs", 0);
    s.note = p.value("note", "");
    r.points.push_back(s);
  }
  r.notes = j.value("notes", std::vector<std::string>{});
  r.extra = j.value("extra", nlohmann::json::object());
  return r;
}

void Emit(const SystemResult& r) {
  std::printf("ANNBENCH_RESULT %s\n", ToJson(r).dump().c_str());
  std::fflush(stdout);
}

}  // namespace vecpuff::annbench
