#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "filter_bench.h"

namespace vecpuff::annbench {

struct HnswFiltered::Impl {
  explicit Impl(int dim) : space(dim) {}
  hnswlib::L2Space space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
};

HnswFiltered::HnswFiltered(const Dataset& data) : impl_(std::make_unique<Impl>(data.dim)) {
  Log("filter_bench: hnswlib M16 efC200 build over %d rows on 2 threads", data.n_base);
  impl_->index =
      std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl_->space, data.n_base, 16, 200, 100);
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 2; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < data.n_base; i = next++) {
        std::vector<float> v = data.BaseFloat(i);
        impl_->index->addPoint(v.data(), static_cast<hnswlib::labeltype>(i));
      }
    });
  }
  for (auto& th : pool) th.join();
}

HnswFiltered::~HnswFiltered() = default;

void HnswFiltered::Search(const std::vector<float>& query, const std::function<bool(int)>& allowed,
                          double selectivity, std::vector<int>* ids) {
  // hnswlib 0.6.2 (Debian's) has no filtered search: ask for enough neighbours that about
  // 1.5 x 10 of them match, then keep the matching ones (post-filtering, as stores built on
  // it do), with ef at least that many.
  const size_t n = impl_->index->cur_element_count;
  const size_t want = std::min<size_t>(
      n, std::max<size_t>(kTopK, static_cast<size_t>(1.5 * kTopK / std::max(selectivity, 1e-6))));
  impl_->index->setEf(std::max<size_t>(64, want));
  auto found = impl_->index->searchKnn(query.data(), want);
  std::vector<int> all(found.size());
  for (size_t i = found.size(); i-- > 0; found.pop()) all[i] = static_cast<int>(found.top().second);
  ids->clear();
  for (int id : all) {
    if (ids->size() == static_cast<size_t>(kTopK)) break;
    if (allowed(id)) ids->push_back(id);
  }
}

}  // namespace vecpuff::annbench
