// ann_bench: hnswlib (Debian libhnswlib-dev, header-only). This file alone is compiled with
// -O3 -march=native (bench/CMakeLists.txt): hnswlib picks its SIMD kernels at compile time,
// and that is how its users build it.
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <memory>
#include <thread>

#include "ann_bench.h"

namespace vecpuff::annbench {

SystemResult RunHnswlib(const Args& args, Dataset* data) {
  constexpr int kM = 16;
  constexpr int kEfConstruction = 200;
  SystemResult r;
  r.system = "hnswlib";
  r.label = "hnswlib M16 efC200";

  hnswlib::L2Space space(data->dim);
  auto index = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, data->n_base, kM,
                                                                 kEfConstruction, 100);
  Log("hnswlib: building over %d rows on %d threads", data->n_base, args.build_threads);
  auto t0 = Clock::now();
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < args.build_threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < data->n_base; i = next++) {
        std::vector<float> v = data->BaseFloat(i);
        index->addPoint(v.data(), static_cast<hnswlib::labeltype>(i));
      }
    });
  }
  for (auto& th : pool) th.join();
  r.build_s = Seconds(Clock::now() - t0);
  r.build_note = std::to_string(args.build_threads) + " threads";
  data->ReleaseBase();

  std::vector<std::vector<float>> queries(data->n_query);
  for (int q = 0; q < data->n_query; ++q) queries[q] = data->QueryFloat(q);
  auto search = [&](int q, std::vector<int64_t>* ids) {
    auto found = index->searchKnn(queries[q].data(), kTopK);
    ids->resize(found.size());
    for (size_t i = found.size(); i-- > 0; found.pop()) ids->at(i) = int64_t(found.top().second);
    return true;
  };
  index->setEf(40);
  for (int q = 0; q < std::min(200, data->n_query); ++q) {
    std::vector<int64_t> ids;
    search(q, &ids);
  }
  r.memory = ReadMemory();
  r.memory_note = "the bench child holding the index (base rows released; queries, truth kept)";

  std::vector<int> efs = args.quick ? std::vector<int>{10, 40} : std::vector<int>{10, 20, 40, 80};
  for (int ef : efs) {
    index->setEf(ef);
    r.points.push_back(MeasureSetting(args, *data, "ef=" + std::to_string(ef), search));
  }
  return r;
}

}  // namespace vecpuff::annbench
