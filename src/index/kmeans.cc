#include "index/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "index/distance_kernels.h"

namespace vecpuff {
namespace {

// Nearest center of each row (index into centers), in parallel stripes.
void AssignNearest(const std::vector<const float*>& rows, size_t dims, const std::vector<float>& c,
                   unsigned threads, std::vector<uint32_t>* label) {
  const auto& kern = BestKernels();
  const size_t k = c.size() / dims;
  label->assign(rows.size(), 0);
  auto work = [&](size_t begin, size_t step) {
    for (size_t i = begin; i < rows.size(); i += step) {
      float best = std::numeric_limits<float>::infinity();
      uint32_t arg = 0;
      for (size_t j = 0; j < k; ++j) {
        const float d = kern.squared_l2(rows[i], &c[j * dims], dims);
        if (d < best) best = d, arg = static_cast<uint32_t>(j);
      }
      (*label)[i] = arg;
    }
  };
  threads = std::max(1u, threads);
  if (threads == 1 || rows.size() * k < 4096) {
    work(0, 1);
    return;
  }
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t, threads);
  for (auto& th : pool) th.join();
}

}  // namespace

std::vector<float> KMeans(const std::vector<const float*>& rows, size_t dims, size_t k, int iters,
                          uint64_t seed, unsigned threads, const std::atomic<bool>* cancel) {
  auto cancelled = [cancel] {
    return cancel != nullptr && cancel->load(std::memory_order_relaxed);
  };
  std::vector<float> centers;
  if (rows.empty() || k == 0) return centers;
  k = std::min(k, rows.size());
  std::mt19937_64 rng(seed);
  const auto& kern = BestKernels();
  // k-means++ seeding.
  std::vector<float> best(rows.size(), std::numeric_limits<float>::infinity());
  size_t first = std::uniform_int_distribution<size_t>(0, rows.size() - 1)(rng);
  centers.insert(centers.end(), rows[first], rows[first] + dims);
  for (size_t c = 1; c < k; ++c) {
    if (cancelled()) return centers;
    const float* last = &centers[(c - 1) * dims];
    double total = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      best[i] = std::min(best[i], kern.squared_l2(rows[i], last, dims));
      total += best[i];
    }
    if (!(total > 0)) break;  // every row coincides with a center
    double pick = std::uniform_real_distribution<double>(0, total)(rng);
    size_t chosen = rows.size() - 1;
    for (size_t i = 0; i < rows.size(); ++i) {
      pick -= best[i];
      if (pick <= 0) {
        chosen = i;
        break;
      }
    }
    centers.insert(centers.end(), rows[chosen], rows[chosen] + dims);
  }
  k = centers.size() / dims;
  std::vector<uint32_t> label;
  std::vector<double> sum(k * dims);
  std::vector<size_t> count(k);
  for (int it = 0; it < iters; ++it) {
    if (cancelled()) return centers;
    AssignNearest(rows, dims, centers, threads, &label);
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (size_t i = 0; i < rows.size(); ++i) {
      double* s = &sum[label[i] * dims];
      for (size_t d = 0; d < dims; ++d) s[d] += rows[i][d];
      ++count[label[i]];
    }
    for (size_t j = 0; j < k; ++j) {
      if (count[j] == 0) continue;  // keep the old center; dropped below if still empty
      for (size_t d = 0; d < dims; ++d) {
        centers[j * dims + d] = static_cast<float>(sum[j * dims + d] / count[j]);
      }
    }
  }
  AssignNearest(rows, dims, centers, threads, &label);
  std::fill(count.begin(), count.end(), 0);
  for (uint32_t l : label) ++count[l];
  std::vector<float> kept;
  for (size_t j = 0; j < k; ++j) {
    if (count[j] > 0)
      kept.insert(kept.end(), centers.begin() + j * dims, centers.begin() + (j + 1) * dims);
  }
  return kept;
}

bool TwoMeans(const std::vector<const float*>& rows, size_t dims, uint64_t seed,
              std::vector<float>* centers, std::vector<uint32_t>* label) {
  if (rows.size() < 2) return false;
  *centers = KMeans(rows, dims, 2, /*iters=*/8, seed, 1);
  if (centers->size() != 2 * dims) return false;
  AssignNearest(rows, dims, *centers, 1, label);
  size_t ones = std::count(label->begin(), label->end(), 1u);
  return ones > 0 && ones < rows.size();
}

std::vector<float> HierarchicalKMeans(const std::vector<const float*>& rows, size_t dims, size_t k,
                                      size_t max_sample, unsigned threads,
                                      const std::atomic<bool>* cancel) {
  std::vector<float> out;
  if (rows.empty()) return out;
  k = std::min(k, rows.size());
  auto sample_of = [&](const std::vector<const float*>& from, uint64_t seed) {
    if (from.size() <= max_sample) return from;
    std::vector<const float*> s = from;
    std::mt19937_64 rng(seed);
    std::shuffle(s.begin(), s.end(), rng);
    s.resize(max_sample);
    return s;
  };
  const size_t groups = std::max<size_t>(1, static_cast<size_t>(std::sqrt(double(k))));
  if (k <= 64 || groups <= 1) return KMeans(sample_of(rows, 1), dims, k, 10, 1, threads, cancel);
  std::vector<float> top = KMeans(sample_of(rows, 1), dims, groups, 10, 1, threads, cancel);
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return out;
  std::vector<uint32_t> label;
  AssignNearest(rows, dims, top, threads, &label);
  std::vector<std::vector<const float*>> members(top.size() / dims);
  for (size_t i = 0; i < rows.size(); ++i) members[label[i]].push_back(rows[i]);
  std::vector<std::vector<float>> parts(members.size());
  auto work = [&](size_t begin, size_t step) {
    for (size_t g = begin; g < members.size(); g += step) {
      if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return;
      if (members[g].empty()) continue;
      const size_t share = std::max<size_t>(
          1, static_cast<size_t>(std::llround(double(k) * members[g].size() / rows.size())));
      parts[g] = KMeans(sample_of(members[g], g + 2), dims, share, 10, g + 2, 1, cancel);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::max(1u, threads); ++t)
    pool.emplace_back(work, t, std::max(1u, threads));
  for (auto& th : pool) th.join();
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace vecpuff
