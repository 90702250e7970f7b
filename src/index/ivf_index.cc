#include "index/ivf_index.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "index/distance.h"
#include "index/distance_kernels.h"
#include "index/kmeans.h"

namespace vecpuff {

void IndexSpaceVector(DistanceMetric metric, const float* v, size_t dims, float* out) {
  if (metric == DistanceMetric::kEuclideanSquared) {
    std::copy(v, v + dims, out);
    return;
  }
  const float norm = Norm(v, dims);
  const float inv = (norm > 0 && std::isfinite(norm)) ? 1.0f / norm : 0.0f;
  for (size_t i = 0; i < dims; ++i) out[i] = v[i] * inv;
}

float IndexSpaceCodeError(DistanceMetric metric, float norm, const Sq8Params& sq8,
                          const float* space, const uint8_t* code) {
  if (!HasIndexSpaceForm(metric, norm)) return std::numeric_limits<float>::infinity();
  return Sq8CodeError(sq8, space, code);
}

void DeriveSearchData(DistanceMetric metric, const Sq8Params& sq8, PostingData* p) {
  const size_t dims = p->dims;
  p->code_errors.resize(p->size());
  p->code_sums.resize(p->size());
  std::vector<float> space(dims);
  for (size_t i = 0; i < p->size(); ++i) {
    const float* v = &p->vectors[i * dims];
    const uint8_t* code = &p->codes[i * dims];
    p->code_sums[i] = Sq8Sums(code, dims);
    // The index-space vector; under cosine from the stored norm (IndexSpaceVector would
    // compute it again).
    const float* in_space = v;
    if (metric == DistanceMetric::kCosineDistance && HasIndexSpaceForm(metric, p->norms[i])) {
      const float inv = 1.0f / p->norms[i];
      for (size_t j = 0; j < dims; ++j) space[j] = v[j] * inv;
      in_space = space.data();
    }
    p->code_errors[i] = IndexSpaceCodeError(metric, p->norms[i], sq8, in_space, code);
  }
}

DistanceBounds Sq8DistanceBounds(DistanceMetric metric, float scale, uint32_t approx,
                                 float query_error, float entry_error) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const double err = double{query_error} + entry_error;
  if (!std::isfinite(err)) return {0, kInf};
  const double d = scale * std::sqrt(static_cast<double>(approx));
  const double lo = std::max(0.0, d - err);
  const double hi = d + err;
  double lower = lo * lo;
  double upper = hi * hi;
  // Rounding: the errors and Distance() are float sums over the dimensions (relative error
  // far below 1e-3); cosine distance is 1 - cos from a float dot product (absolute).
  double slack_abs = 0;
  if (metric == DistanceMetric::kCosineDistance) {
    lower /= 2;
    upper /= 2;
    slack_abs = 1e-5;
  }
  lower = lower * (1 - 1e-3) - slack_abs;
  upper = upper * (1 + 1e-3) + slack_abs;
  return {static_cast<float>(std::max(0.0, lower)),
          std::isfinite(upper) ? static_cast<float>(upper) : kInf};
}

// ---------------------------------------------------------------------------------------
// IndexState

std::optional<uint32_t> IndexState::Docno(std::string_view id) const {
  auto it = docno_of_.find(std::string(id));
  if (it == docno_of_.end()) return std::nullopt;
  return it->second;
}

std::optional<uint32_t> IndexState::SlotOf(uint32_t centroid_id) const {
  auto it = slot_of_.find(centroid_id);
  if (it == slot_of_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> IndexState::Packs() const {
  std::vector<std::string> out;
  out.reserve(pack_refs_.size());
  for (const auto& [key, n] : pack_refs_) out.push_back(key);
  std::sort(out.begin(), out.end());
  return out;
}

size_t IndexState::StoredCount(uint32_t slot) const {
  size_t n = refs_[slot].count;
  for (const PostingRef& r : more_parts_[slot]) n += r.count;
  return n;
}

void IndexState::UnrefPacks(uint32_t slot) {
  auto unref = [&](const PostingRef& r) {
    auto pack = pack_refs_.find(r.pack);
    if (pack != pack_refs_.end() && --pack->second == 0) pack_refs_.erase(pack);
  };
  unref(refs_[slot]);
  for (const PostingRef& r : more_parts_[slot]) unref(r);
}

void IndexState::RemoveSlot(uint32_t slot) {
  const uint32_t last = static_cast<uint32_t>(cids_.size() - 1);
  UnrefPacks(slot);
  slot_of_.erase(cids_[slot]);
  if (slot != last) {
    cids_[slot] = cids_[last];
    refs_[slot] = std::move(refs_[last]);
    more_parts_[slot] = std::move(more_parts_[last]);
    std::copy(cvecs_.begin() + size_t{last} * dims_, cvecs_.begin() + size_t{last + 1} * dims_,
              cvecs_.begin() + size_t{slot} * dims_);
    std::copy(ccodes_.begin() + size_t{last} * dims_, ccodes_.begin() + size_t{last + 1} * dims_,
              ccodes_.begin() + size_t{slot} * dims_);
    cerrors_[slot] = cerrors_[last];
    csums_[slot] = csums_[last];
    slot_of_[cids_[slot]] = slot;
  }
  cids_.pop_back();
  cerrors_.pop_back();
  csums_.pop_back();
  refs_.pop_back();
  more_parts_.pop_back();
  cvecs_.resize(cvecs_.size() - dims_);
  ccodes_.resize(ccodes_.size() - dims_);
}

Status IndexState::Apply(const IndexMeta& meta) {
  if (meta.is_base) {
    // A base replaces every centroid: its projection is fitted afresh.
    *this = IndexState();
    metric_ = meta.metric;
    dims_ = meta.dims;
    sq8_ = meta.sq8;
  } else if (dims_ == 0) {
    return Status::Corruption("index delta without a base");
  }
  for (uint32_t id : meta.removed_centroids) {
    auto slot = SlotOf(id);
    if (!slot)
      return Status::Corruption("index delta removes unknown centroid " + std::to_string(id));
    RemoveSlot(*slot);
  }
  for (const CentroidRecord& c : meta.centroids) {
    auto slot = SlotOf(c.id);
    if (c.more_parts.size() >= kMaxPostingParts) {
      return Status::Corruption("index meta posting has too many parts");
    }
    if (slot) {
      if (!c.vector.empty()) return Status::Corruption("index meta re-creates a centroid");
      UnrefPacks(*slot);
      refs_[*slot] = c.ref;
      more_parts_[*slot] = c.more_parts;
    } else {
      if (c.vector.size() != dims_) return Status::Corruption("index meta centroid has wrong dims");
      slot_of_[c.id] = static_cast<uint32_t>(cids_.size());
      cids_.push_back(c.id);
      refs_.push_back(c.ref);
      more_parts_.push_back(c.more_parts);
      cvecs_.insert(cvecs_.end(), c.vector.begin(), c.vector.end());
      ccodes_.resize(ccodes_.size() + dims_);
      EncodeSq8(sq8_, c.vector.data(), &ccodes_[ccodes_.size() - dims_]);
      cerrors_.push_back(Sq8CodeError(sq8_, c.vector.data(), &ccodes_[ccodes_.size() - dims_]));
      csums_.push_back(Sq8Sums(&ccodes_[ccodes_.size() - dims_], dims_));
    }
    ++pack_refs_[c.ref.pack];
    for (const PostingRef& r : c.more_parts) ++pack_refs_[r.pack];
  }
  if (meta.next_docno < next_docno_ || meta.next_centroid_id < next_centroid_id_) {
    return Status::Corruption("index meta moves counters backwards");
  }
  next_centroid_id_ = meta.next_centroid_id;
  next_docno_ = meta.next_docno;
  version_.resize(next_docno_, 0);
  home_.resize(next_docno_, 0);
  doc_id_.resize(next_docno_);
  for (const DocRecord& d : meta.docs) {
    if (d.docno >= next_docno_) return Status::Corruption("index meta docno out of range");
    const bool was_live = version_[d.docno] != 0;
    if (was_live && doc_id_[d.docno] != d.id) {
      return Status::Corruption("index meta reuses a live docno for another id");
    }
    if (d.version == 0) {
      if (was_live) {
        docno_of_.erase(doc_id_[d.docno]);
        --live_docs_;
      }
      version_[d.docno] = 0;
      doc_id_[d.docno].clear();
      continue;
    }
    if (!was_live) {
      docno_of_[d.id] = d.docno;
      doc_id_[d.docno] = d.id;
      ++live_docs_;
    }
    version_[d.docno] = d.version;
    home_[d.docno] = d.home;
  }
  if (!meta.centroids.empty() || !meta.removed_centroids.empty() || meta.is_base) {
    graph_.reset();
    if (cids_.size() >= kGroupThreshold) {
      graph_ = std::make_shared<LazyGraph>();
      graph_->codes = ccodes_;
      graph_->count = cids_.size();
      graph_->dims = dims_;
    }
    std::shared_ptr<LazyProjection> old = std::move(projection_);
    projection_.reset();
    if (dims_ >= kProjectionMinDims && cids_.size() >= kProjectionMinCount &&
        cids_.size() < kGroupThreshold) {
      projection_ = std::make_shared<LazyProjection>();
      projection_->vecs = cvecs_;
      projection_->count = cids_.size();
      projection_->dims = dims_;
      if (old && old->ready.load(std::memory_order_acquire) && old->basis) {
        projection_->inherited = old->basis;
        projection_->inherited_fit_count = old->fit_count;
      }
    }
  }
  return Status::OK();
}

IndexMeta IndexState::MakeBase(uint64_t generation) const {
  IndexMeta m;
  m.is_base = true;
  m.generation = generation;
  m.metric = metric_;
  m.dims = dims_;
  m.sq8 = sq8_;
  m.next_centroid_id = next_centroid_id_;
  m.next_docno = next_docno_;
  for (size_t s = 0; s < cids_.size(); ++s) {
    CentroidRecord c;
    c.id = cids_[s];
    c.vector.assign(cvecs_.begin() + s * dims_, cvecs_.begin() + (s + 1) * dims_);
    c.ref = refs_[s];
    c.more_parts = more_parts_[s];
    m.centroids.push_back(std::move(c));
  }
  for (uint32_t d = 0; d < next_docno_; ++d) {
    if (version_[d] != 0) m.docs.push_back({d, version_[d], home_[d], doc_id_[d]});
  }
  return m;
}

void IndexState::LazyGraph::Build() {
  std::call_once(once, [this] {
    graph = CentroidGraph::Build(codes.data(), count, dims);
    ready.store(true, std::memory_order_release);
  });
}

const CentroidGraph* IndexState::Graph() const {
  if (!graph_) return nullptr;
  graph_->Build();
  return graph_->graph.get();
}

namespace {

// Starts lazy->Build() on a thread of its own, once per object (LazyGraph, LazyProjection).
template <class Lazy>
void BuildInBackground(const std::shared_ptr<Lazy>& lazy, const char* what) {
  if (lazy->background_started.exchange(true)) return;
  // The thread owns a reference: the state may be replaced (or gone) before it ends.
  try {
    std::thread([l = lazy] { l->Build(); }).detach();
  } catch (const std::system_error& e) {
    spdlog::warn("{}: no thread to build it ({}); queries compare every code", what, e.what());
  }
}

}  // namespace

const CentroidGraph* IndexState::ReadyGraph() const {
  if (!graph_) return nullptr;
  if (graph_->ready.load(std::memory_order_acquire)) return graph_->graph.get();
  BuildInBackground(graph_, "centroid graph");
  return nullptr;
}

void IndexState::LazyProjection::Build() {
  std::call_once(once, [this] {
    if (inherited && count <= 2 * inherited_fit_count && 2 * count >= inherited_fit_count) {
      basis = inherited;
      fit_count = inherited_fit_count;
    } else {
      basis = Projection::Fit(vecs.data(), count, dims, kProjectionDims);
      fit_count = count;
    }
    inherited.reset();
    if (basis) {
      const size_t d = basis->d();
      coords.resize(count * d);
      residual.resize(count);
      std::vector<float> y(d);
      for (size_t s = 0; s < count; ++s) {
        residual[s] = basis->Project(&vecs[s * dims], y.data());
        double sq = double{residual[s]} * residual[s];
        for (size_t t = 0; t < d; ++t) {
          coords[t * count + s] = y[t];
          sq += double{y[t]} * y[t];
        }
        max_sq = std::max(max_sq, sq);
      }
      if (!std::isfinite(max_sq)) basis.reset();  // no usable bounds
    }
    std::vector<float>().swap(vecs);
    ready.store(true, std::memory_order_release);
  });
}

const IndexState::LazyProjection* IndexState::ReadyProjection() const {
  if (!projection_) return nullptr;
  LazyProjection* p = projection_.get();
  if (p->ready.load(std::memory_order_acquire)) {
    return p->basis && !p->useless.load(std::memory_order_relaxed) ? p : nullptr;
  }
  BuildInBackground(projection_, "centroid projection");
  return nullptr;
}

bool IndexState::WaitForProjection() const {
  if (!projection_) return false;
  projection_->Build();
  return ReadyProjection() != nullptr;
}

void IndexState::CandidateSlots(const float* v, size_t n, std::vector<uint32_t>* out) const {
  out->clear();
  const size_t want = std::max<size_t>(4 * n, 64);
  // The graph pays off only when it visits far fewer centroids than there are.
  const CentroidGraph* graph = 16 * want > cids_.size() ? nullptr : Graph();
  if (graph == nullptr) {
    out->resize(cids_.size());
    std::iota(out->begin(), out->end(), 0u);
    return;
  }
  thread_local std::vector<uint8_t> code;
  thread_local std::vector<std::pair<uint32_t, uint32_t>> found;
  code.resize(dims_);
  EncodeSq8(sq8_, v, code.data());
  found.clear();
  graph->Candidates(code.data(), want, &found);
  for (const auto& [d, slot] : found) out->push_back(slot);
}

namespace {

// The n-th smallest of the values `each` pushes (a max-heap of the n smallest); +inf if it
// pushes fewer.
template <class Each>
float NthSmallest(size_t n, Each&& each) {
  thread_local std::vector<float> heap;
  heap.clear();
  each([&](float v) {
    if (heap.size() < n) {
      heap.push_back(v);
      std::push_heap(heap.begin(), heap.end());
    } else if (v < heap.front()) {
      std::pop_heap(heap.begin(), heap.end());
      heap.back() = v;
      std::push_heap(heap.begin(), heap.end());
    }
  });
  return heap.size() < n ? std::numeric_limits<float>::infinity() : heap.front();
}

}  // namespace

bool IndexState::ProjectionCandidates(const float* qn, size_t n, std::vector<uint32_t>* out) const {
  out->clear();
  const LazyProjection* proj = ReadyProjection();
  if (proj == nullptr) return false;
  const size_t c = cids_.size();
  const size_t d = proj->basis->d();
  thread_local std::vector<float> yq;
  yq.resize(d);
  double centered_sq = 0;
  proj->basis->ProjectQuery(qn, yq.data(), &centered_sq);
  double yq_sq = 0;
  for (float y : yq) yq_sq += double{y} * y;
  if (!std::isfinite(centered_sq) || !std::isfinite(yq_sq)) return false;  // no bounds
  // Rounding slack: float sums over `dims` terms of vectors this long.
  const double slack = 1e-4 * (centered_sq + proj->max_sq) + 1e-30;
  const double qr2 = centered_sq - yq_sq;
  const double qr_hi = std::sqrt(std::max(0.0, qr2 + slack));
  const double qr_lo = std::sqrt(std::max(0.0, qr2 - slack));
  thread_local std::vector<float> projected;
  thread_local std::vector<float> lower;
  projected.resize(c);
  lower.resize(c);
  BestKernels().squared_l2_columns(yq.data(), proj->coords.data(), d, c, c, projected.data());
  const float limit = NthSmallest(n, [&](auto&& push) {
    for (size_t s = 0; s < c; ++s) {
      const double lb = projected[s];
      const double cr = proj->residual[s];
      const double gap = std::max({0.0, qr_lo - cr, cr - qr_hi});
      lower[s] = static_cast<float>(lb + gap * gap - slack);
      const double hi = qr_hi + cr;
      push(static_cast<float>(lb + hi * hi + slack));
    }
  });
  for (size_t s = 0; s < c; ++s) {
    if (lower[s] <= limit) out->push_back(static_cast<uint32_t>(s));
  }
  // Not worth it where the bounds rule out too few: decided over the first queries.
  LazyProjection* p = projection_.get();
  if (p->trial_queries.load(std::memory_order_relaxed) < kProjectionTrialQueries) {
    const uint64_t kept =
        p->trial_kept.fetch_add(out->size(), std::memory_order_relaxed) + out->size();
    const uint64_t q = p->trial_queries.fetch_add(1, std::memory_order_relaxed) + 1;
    if (q == kProjectionTrialQueries && 2 * kept > q * c) {
      p->useless.store(true, std::memory_order_relaxed);
      spdlog::info("centroid projection: kept {:.0f}% of {} centroids; not used",
                   100.0 * kept / (q * c), c);
    }
  }
  return true;
}

void IndexState::NearestCentroids(const float* qn, size_t n,
                                  std::vector<std::pair<float, uint32_t>>* out,
                                  const uint8_t* qcode, float qerror) const {
  out->clear();
  if (cids_.empty() || n == 0) return;
  const size_t c = cids_.size();
  n = std::min(n, c);
  thread_local std::vector<uint8_t> own_code;
  thread_local std::vector<uint64_t> order;  // (code distance << 32 | slot)
  if (qcode == nullptr) {
    own_code.resize(dims_);
    EncodeSq8(sq8_, qn, own_code.data());
    qcode = own_code.data();
    qerror = -1;
  }
  order.clear();

  // With many centroids: candidates from the graph, the best by code ranked at full precision.
  const size_t want = std::max<size_t>(4 * n, kGraphMinWant);
  const CentroidGraph* graph =
      c >= kGroupThreshold && kGraphMinRatio * want <= c ? ReadyGraph() : nullptr;
  if (graph != nullptr) {
    thread_local std::vector<std::pair<uint32_t, uint32_t>> found;
    found.clear();
    graph->Candidates(qcode, want, &found);
    for (const auto& [d, slot] : found) order.push_back((uint64_t{d} << 32) | slot);
    const size_t m = std::min(order.size(), n + std::max<size_t>(n / 2, 4));
    if (m < order.size()) std::nth_element(order.begin(), order.begin() + m, order.end());
    order.resize(m);
  } else {
    NearestByBounds(qn, n, qcode, qerror, &order);
  }

  // Those left, at full precision.
  const auto& k = BestKernels();
  out->reserve(order.size());
  for (uint64_t o : order) {
    const uint32_t s = static_cast<uint32_t>(o);
    out->emplace_back(k.squared_l2(qn, &cvecs_[size_t{s} * dims_], dims_), s);
  }
  n = std::min(n, out->size());
  std::partial_sort(out->begin(), out->begin() + n, out->end());
  out->resize(n);
}

void IndexState::NearestByBounds(const float* qn, size_t n, const uint8_t* qcode, float qerror,
                                 std::vector<uint64_t>* order) const {
  const size_t c = cids_.size();
  // 1. The centroids the projection bounds cannot rule out, else all.
  thread_local std::vector<uint32_t> cand;
  const bool all = !ProjectionCandidates(qn, n, &cand);

  // 2. Their code distances and the bounds those give (Sq8DistanceBounds).
  const Sq8Kernels& k8 = Sq8KernelsBest();
  thread_local std::vector<uint32_t> approx;
  thread_local std::vector<float> lower;
  const size_t m = all ? c : cand.size();
  approx.resize(m);
  thread_local Sq8Query query;
  query.Prepare(qcode, dims_);
  if (all) {
    Sq8Distances(k8, query, ccodes_.data(), csums_.data(), c, dims_, approx.data());
  } else {
    for (size_t i = 0; i < m; ++i) {
      Sq8Distances(k8, query, &ccodes_[size_t{cand[i]} * dims_], &csums_[cand[i]], 1, dims_,
                   &approx[i]);
    }
  }
  const float query_error = qerror >= 0 ? qerror : Sq8CodeError(sq8_, qn, qcode);
  lower.resize(m);
  const float limit = NthSmallest(n, [&](auto&& push) {
    for (size_t i = 0; i < m; ++i) {
      const uint32_t s = all ? static_cast<uint32_t>(i) : cand[i];
      const DistanceBounds b = Sq8DistanceBounds(DistanceMetric::kEuclideanSquared, sq8_.scale,
                                                 approx[i], query_error, cerrors_[s]);
      lower[i] = b.lower;
      push(b.upper);
    }
  });
  for (size_t i = 0; i < m; ++i) {
    if (lower[i] <= limit) {
      const uint32_t s = all ? static_cast<uint32_t>(i) : cand[i];
      order->push_back((uint64_t{approx[i]} << 32) | s);
    }
  }
  // Coarse codes (bounds too loose): only the nearest by code.
  const size_t cap = std::max<size_t>(4 * n, 64);
  if (order->size() > cap) {
    std::nth_element(order->begin(), order->begin() + cap, order->end());
    order->resize(cap);
  }
}

void ScanPostings(const IndexState& state, const std::vector<const PostingData*>& postings,
                  const uint8_t* query_code, size_t limit,
                  const std::unordered_set<uint32_t>* masked, std::vector<ScanHit>* out,
                  const std::vector<const uint8_t*>* allowed) {
  out->clear();
  if (limit == 0 || postings.empty()) return;
  const Sq8Kernels& k = Sq8KernelsBest();
  const uint32_t dims = state.dims();
  // Every entry's code distance, as (distance << 32 | entry number) so that one integer
  // comparison orders by distance; entry numbers run through the postings in order.
  thread_local std::vector<uint32_t> dist;
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<size_t> first;  // first entry number of each posting
  struct Slot {
    const PostingData* posting;
    uint32_t index;
    uint32_t docno;
    const uint8_t* allowed;  // the posting's allowed entries, or null
  };
  thread_local std::vector<Slot> slots;
  first.clear();
  size_t total = 0;
  for (const PostingData* p : postings) {
    first.push_back(total);
    total += p->size();
  }
  if (total == 0) return;
  dist.resize(total);
  keys.resize(total);
  thread_local Sq8Query query;
  query.Prepare(query_code, dims);
  for (size_t j = 0; j < postings.size(); ++j) {
    const PostingData* p = postings[j];
    const bool sums = p->code_sums.size() == p->size();
    Sq8Distances(k, query, p->codes.data(), sums ? p->code_sums.data() : nullptr, p->size(), dims,
                 &dist[first[j]]);
  }
  for (size_t e = 0; e < total; ++e) keys[e] = (uint64_t{dist[e]} << 32) | e;

  // Valid entries in ascending order until `limit` are taken: select the nearest chunk,
  // sort it, filter it; the next chunk (twice as large) only if too many were invalid.
  std::unordered_set<uint32_t> seen;  // docnos taken, when `limit` is large
  const bool small = limit <= 64;
  auto taken = [&](uint32_t docno) {
    if (small) {
      for (const ScanHit& h : *out)
        if (h.docno == docno) return true;
      return false;
    }
    return !seen.insert(docno).second;
  };
  size_t begin = 0;
  size_t chunk = std::max<size_t>(2 * limit, 64);
  while (begin < total && out->size() < limit) {
    const size_t end = total - begin <= chunk ? total : begin + chunk;
    if (end < total) std::nth_element(keys.begin() + begin, keys.begin() + end, keys.end());
    std::sort(keys.begin() + begin, keys.begin() + end);
    // Where each entry is, its docno, then its version: each step's loads are prefetched a
    // pass ahead, as they miss the cache (entries are scattered over the postings, versions
    // over the whole version map).
    slots.resize(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const size_t e = static_cast<uint32_t>(keys[i]);
      const size_t j = std::upper_bound(first.begin(), first.end(), e) - first.begin() - 1;
      const uint32_t index = static_cast<uint32_t>(e - first[j]);
      slots[i - begin] = {postings[j], index, 0, allowed != nullptr ? (*allowed)[j] : nullptr};
      __builtin_prefetch(&postings[j]->docnos[index]);
      __builtin_prefetch(&postings[j]->versions[index]);
    }
    for (Slot& slot : slots) {
      slot.docno = slot.posting->docnos[slot.index];
      state.PrefetchVersion(slot.docno);
    }
    for (size_t i = begin; i < end && out->size() < limit; ++i) {
      const Slot& slot = slots[i - begin];
      const uint32_t docno = slot.docno;
      if (slot.allowed != nullptr && slot.allowed[slot.index] == 0) continue;
      if (state.Version(docno) != slot.posting->versions[slot.index]) continue;  // stale copy
      if (masked != nullptr && !masked->empty() && masked->count(docno)) continue;
      if (taken(docno)) continue;  // a replica of one already taken (same distance)
      out->push_back({static_cast<uint32_t>(keys[i] >> 32), docno, slot.posting, slot.index});
    }
    begin = end;
    chunk *= 2;
  }
}

// ---------------------------------------------------------------------------------------
// Compaction

namespace {

// Centroids during a compaction: the committed ones plus those created, minus those removed.
class WorkingCentroids {
 public:
  // Slot s < state.centroid_count() is the state's slot s, so the state's centroid groups
  // serve for them; centroids created here are always compared.
  // Centroids are also kept as codes of `sq8` (the index's quantizer) for a fast first pass.
  WorkingCentroids(const IndexState& state, const Sq8Params& sq8, uint32_t dims, uint32_t next_id)
      : state_(&state),
        sq8_(sq8),
        grouped_(state.centroid_count()),
        dims_(dims),
        next_id_(next_id) {
    for (uint32_t s = 0; s < state.centroid_count(); ++s) {
      Add(state.CentroidId(s), state.CentroidVector(s));
    }
  }

  // Builds groups over every centroid now present (a rebuild creates them all at once).
  void Regroup() {
    state_ = nullptr;
    groups_.reset();
    grouped_ = ids_.size();
    if (ids_.size() >= IndexState::kGroupThreshold) {
      groups_ = CentroidGraph::Build(codes_.data(), ids_.size(), dims_);
    }
  }

  uint32_t Create(const float* v) {
    const uint32_t id = next_id_++;
    Add(id, v);
    return id;
  }
  void Remove(uint32_t id) {
    auto it = slot_.find(id);
    if (it != slot_.end()) alive_[it->second] = 0, --live_;
  }
  bool Alive(uint32_t id) const {
    auto it = slot_.find(id);
    return it != slot_.end() && alive_[it->second];
  }
  const float* Vector(uint32_t id) const { return &vecs_[size_t{slot_.at(id)} * dims_]; }
  size_t live() const { return live_; }
  uint32_t next_id() const { return next_id_; }

  // Live centroids nearest to v: (squared distance, id), ascending, at most n.
  void Nearest(const float* v, size_t n, std::vector<std::pair<float, uint32_t>>* out) const {
    const auto& k = BestKernels();
    out->clear();
    auto consider = [&](uint32_t s) {
      if (alive_[s]) out->emplace_back(k.squared_l2(v, &vecs_[size_t{s} * dims_], dims_), ids_[s]);
    };
    const size_t want = std::max<size_t>(4 * n, 64);
    if (grouped_ >= IndexState::kGroupThreshold && 16 * want <= grouped_ &&
        (state_ != nullptr || groups_)) {
      std::vector<uint32_t> slots;
      if (state_ != nullptr) {
        state_->CandidateSlots(v, n, &slots);
      } else {
        std::vector<uint8_t> code(dims_);
        EncodeSq8(sq8_, v, code.data());
        std::vector<std::pair<uint32_t, uint32_t>> found;
        groups_->Candidates(code.data(), want, &found);
        for (const auto& [d, slot] : found) slots.push_back(slot);
      }
      for (uint32_t s : slots) consider(s);
      for (uint32_t s = static_cast<uint32_t>(grouped_); s < ids_.size(); ++s) consider(s);
    } else {
      // Every centroid by code, then the best n + max(n / 2, 4) at full precision.
      thread_local std::vector<uint8_t> code;
      thread_local std::vector<uint32_t> approx;
      thread_local std::vector<uint64_t> order;
      code.resize(dims_);
      EncodeSq8(sq8_, v, code.data());
      approx.resize(ids_.size());
      Sq8KernelsBest().squared_l2_batch(code.data(), codes_.data(), ids_.size(), dims_, dims_,
                                        approx.data());
      order.clear();
      for (uint32_t s = 0; s < ids_.size(); ++s) {
        if (alive_[s]) order.push_back((uint64_t{approx[s]} << 32) | s);
      }
      const size_t m = std::min(order.size(), n + std::max<size_t>(n / 2, 4));
      if (m < order.size()) std::nth_element(order.begin(), order.begin() + m, order.end());
      for (size_t i = 0; i < m; ++i) consider(static_cast<uint32_t>(order[i]));
    }
    n = std::min(n, out->size());
    std::partial_sort(out->begin(), out->begin() + n, out->end());
    out->resize(n);
  }

 private:
  void Add(uint32_t id, const float* v) {
    slot_[id] = static_cast<uint32_t>(ids_.size());
    ids_.push_back(id);
    alive_.push_back(1);
    vecs_.insert(vecs_.end(), v, v + dims_);
    codes_.resize(codes_.size() + dims_);
    EncodeSq8(sq8_, v, &codes_[codes_.size() - dims_]);
    ++live_;
  }

  const IndexState* state_;                      // whose groups cover slots < grouped_, or null
  std::shared_ptr<const CentroidGraph> groups_;  // our own, when state_ is null
  Sq8Params sq8_;
  size_t grouped_;
  uint32_t dims_;
  uint32_t next_id_;
  std::vector<uint32_t> ids_;
  std::vector<uint8_t> alive_;
  std::vector<float> vecs_;
  std::vector<uint8_t> codes_;  // vecs_ as codes of sq8_
  std::unordered_map<uint32_t, uint32_t> slot_;
  size_t live_ = 0;
};

// SPANN's closure assignment with the RNG rule (SPTAG RNGSelection): the nearest centroid
// always; then, nearest first, c_j if it is within closure_factor of the nearest and no
// accepted c_i is closer to c_j than v is (rng_factor * D(c_i, c_j) > D(v, c_j)).
std::vector<uint32_t> RngSelect(const float* v, const WorkingCentroids& wc,
                                const IndexTuning& tuning, uint32_t dims,
                                std::vector<std::pair<float, uint32_t>>* scratch) {
  wc.Nearest(v, tuning.candidate_centroids, scratch);
  std::vector<uint32_t> accepted;
  if (scratch->empty()) return accepted;
  const auto& k = BestKernels();
  const float first = (*scratch)[0].first;
  for (const auto& [d, id] : *scratch) {
    if (accepted.size() >= tuning.replica_count) break;
    if (!accepted.empty() && d > tuning.closure_factor * first + 1e-12f) break;
    bool ok = true;
    for (uint32_t a : accepted) {
      if (tuning.rng_factor * k.squared_l2(wc.Vector(a), wc.Vector(id), dims) <= d) {
        ok = false;
        break;
      }
    }
    if (ok) accepted.push_back(id);
  }
  return accepted;
}

// One entry being placed: its index-space vector is computed once.
struct Entry {
  uint32_t docno;
  uint64_t version;
  float norm;
  std::vector<float> vec;    // as written
  std::vector<float> space;  // index space: normalized for cosine; empty for L2 (= vec)
  const float* Space() const { return space.empty() ? vec.data() : space.data(); }
  std::string id;
  std::string attrs;
};

class Compactor {
 public:
  Compactor(const CompactionInput& in, const IndexTuning& tuning)
      : in_(in), state_(*in.state), tuning_(tuning), dims_(in.dims) {}

  Result<CompactionOutput> Run();

 private:
  uint64_t CurrentVersion(uint32_t docno) const {
    auto it = versions_.find(docno);
    if (it != versions_.end()) return it->second;
    return state_.Version(docno);
  }
  std::shared_ptr<Entry> EntryFrom(const PostingData& p, size_t i) const;
  void SetSpace(Entry* e) const {
    if (in_.metric == DistanceMetric::kEuclideanSquared) return;  // the vector itself
    e->space.resize(dims_);
    IndexSpaceVector(in_.metric, e->vec.data(), dims_, e->space.data());
  }
  // The working posting of a centroid: loaded, current entries only, one per docno.
  Result<std::vector<std::shared_ptr<Entry>>*> Load(uint32_t cid);
  Status Place(const std::shared_ptr<Entry>& e, const std::vector<uint32_t>& cids);
  Status Split(uint32_t cid);
  Status Merge(uint32_t cid);
  Status Settle();
  Result<std::vector<std::shared_ptr<const PostingData>>> ReadParts(uint32_t slot) const;
  Status Reassign(const std::shared_ptr<Entry>& e, uint32_t from);
  Result<CompactionOutput> Rebuild(std::vector<std::shared_ptr<Entry>> entries);
  Result<CompactionOutput> Finish(IndexMeta meta, std::map<uint32_t, std::vector<float>> created);
  float D(const float* a, const float* b) const { return BestKernels().squared_l2(a, b, dims_); }
  // OK, or Aborted once in_.cancel is set: checked between units of work.
  Status CheckCancel() const {
    if (in_.cancel != nullptr && in_.cancel->load(std::memory_order_relaxed)) {
      return Status::Aborted("compaction cancelled: the server is stopping");
    }
    return Status::OK();
  }

  const CompactionInput& in_;
  const IndexState& state_;
  const IndexTuning& tuning_;
  const uint32_t dims_;
  std::unique_ptr<WorkingCentroids> wc_;
  std::unordered_map<uint32_t, uint64_t> versions_;    // docno -> version changed here (0 gone)
  std::unordered_map<uint32_t, std::string> new_ids_;  // docno -> id, docnos new here
  std::unordered_map<uint32_t, std::vector<std::shared_ptr<Entry>>> postings_;  // working
  std::unordered_set<uint32_t> dirty_;
  // New entries for committed postings not read (yet): written as an extra part.
  std::unordered_map<uint32_t, std::vector<std::shared_ptr<Entry>>> appends_;
  // Per committed posting: documents of this batch whose copy there (at their home) went
  // stale. A posting that may have shrunk under merge_limit, or is half stale, is read.
  std::unordered_map<uint32_t, uint32_t> stale_hint_;
  std::unordered_set<uint32_t> unsplittable_;
  std::unordered_set<uint32_t> split_born_;  // centroids created by a split here
  bool rebuilding_ = false;        // building from scratch: committed centroids are not ours
  std::vector<uint32_t> removed_;  // committed centroids removed
  std::map<uint32_t, std::vector<float>> created_;
  std::unordered_map<uint32_t, std::vector<uint32_t>> loaded_;  // committed postings read: docnos
  std::vector<std::pair<float, uint32_t>> scratch_;
  uint32_t next_docno_ = 0;
  CompactionStats stats_;
};

std::shared_ptr<Entry> Compactor::EntryFrom(const PostingData& p, size_t i) const {
  auto e = std::make_shared<Entry>();
  e->docno = p.docnos[i];
  e->version = p.versions[i];
  e->norm = p.norms[i];
  e->vec.assign(p.vectors.begin() + i * dims_, p.vectors.begin() + (i + 1) * dims_);
  SetSpace(e.get());
  e->id = p.ids[i];
  e->attrs = p.attributes[i];
  return e;
}

Result<std::vector<std::shared_ptr<const PostingData>>> Compactor::ReadParts(uint32_t slot) const {
  std::vector<std::shared_ptr<const PostingData>> parts;
  const uint32_t cid = state_.CentroidId(slot);
  VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<const PostingData> base,
                           in_.source(cid, state_.Ref(slot)));
  parts.push_back(std::move(base));
  for (const PostingRef& r : state_.MoreParts(slot)) {
    VECPUFF_ASSIGN_OR_RETURN(std::shared_ptr<const PostingData> part, in_.source(cid, r));
    parts.push_back(std::move(part));
  }
  return parts;
}

Result<std::vector<std::shared_ptr<Entry>>*> Compactor::Load(uint32_t cid) {
  auto it = postings_.find(cid);
  if (it != postings_.end()) return &it->second;
  std::vector<std::shared_ptr<Entry>> entries;
  if (auto slot = rebuilding_ ? std::nullopt : state_.SlotOf(cid)) {
    VECPUFF_ASSIGN_OR_RETURN(auto parts, ReadParts(*slot));
    std::unordered_set<uint32_t> seen;
    auto& loaded = loaded_[cid];
    for (const auto& p : parts) {
      for (size_t i = 0; i < p->size(); ++i) {
        loaded.push_back(p->docnos[i]);
        if (CurrentVersion(p->docnos[i]) != p->versions[i]) continue;
        if (!seen.insert(p->docnos[i]).second) continue;
        entries.push_back(EntryFrom(*p, i));
      }
    }
  }
  // Entries appended before the posting had to be read join it; it is now rewritten whole.
  auto pending = appends_.find(cid);
  if (pending != appends_.end()) {
    entries.insert(entries.end(), pending->second.begin(), pending->second.end());
    appends_.erase(pending);
    dirty_.insert(cid);
  }
  return &postings_.emplace(cid, std::move(entries)).first->second;
}

// Appends to a committed posting that is not otherwise read are kept apart: unless the
// posting must be split or has too many parts, they become a new part and the posting is
// neither read nor rewritten.
Status Compactor::Place(const std::shared_ptr<Entry>& e, const std::vector<uint32_t>& cids) {
  for (uint32_t cid : cids) {
    auto it = postings_.find(cid);
    // A document moved by LIRE (its version unchanged) may already be in the target: the
    // target is read so that the rewrite keeps one copy. New versions cannot be there.
    const bool moved = !rebuilding_ && e->version == state_.Version(e->docno);
    if (it != postings_.end()) {
      it->second.push_back(e);
    } else if (!rebuilding_ && state_.SlotOf(cid) && !moved) {
      appends_[cid].push_back(e);
    } else if (moved && state_.SlotOf(cid)) {
      VECPUFF_ASSIGN_OR_RETURN(auto* posting, Load(cid));
      posting->push_back(e);
    } else {
      postings_[cid].push_back(e);
    }
    dirty_.insert(cid);
  }
  return Status::OK();
}

Status Compactor::Reassign(const std::shared_ptr<Entry>& e, uint32_t from) {
  std::vector<uint32_t> sel = RngSelect(e->Space(), *wc_, tuning_, dims_, &scratch_);
  if (std::find(sel.begin(), sel.end(), from) != sel.end()) return Status::OK();
  ++stats_.reassigned;
  VECPUFF_ASSIGN_OR_RETURN(auto* posting, Load(from));
  posting->erase(std::remove(posting->begin(), posting->end(), e), posting->end());
  dirty_.insert(from);
  return Place(e, sel);
}

// LIRE split: 2-means over the posting's live vectors; both halves get new centroids and the
// old one is removed. Then vectors of the new postings that were closer to the old centroid,
// and vectors of neighbouring postings now closer to a new centroid than to their own, are
// re-assigned by the RNG rule (SPFresh §4, SPTAG ExtraDynamicSearcher::CollectReAssign).
Status Compactor::Split(uint32_t cid) {
  VECPUFF_ASSIGN_OR_RETURN(auto* posting, Load(cid));
  std::vector<std::shared_ptr<Entry>> entries = *posting;
  std::vector<const float*> rows;
  for (const auto& e : entries) rows.push_back(e->Space());
  std::vector<float> centers;
  std::vector<uint32_t> label;
  if (!TwoMeans(rows, dims_, /*seed=*/cid, &centers, &label)) {
    unsplittable_.insert(cid);  // identical vectors: keep the posting large, never drop data
    return Status::OK();
  }
  ++stats_.splits;
  std::vector<float> old(wc_->Vector(cid), wc_->Vector(cid) + dims_);
  const uint32_t a = wc_->Create(centers.data());
  const uint32_t b = wc_->Create(centers.data() + dims_);
  split_born_.insert(a);
  split_born_.insert(b);
  created_[a] = std::vector<float>(centers.begin(), centers.begin() + dims_);
  created_[b] = std::vector<float>(centers.begin() + dims_, centers.end());
  wc_->Remove(cid);
  postings_.erase(cid);
  dirty_.erase(cid);
  if (!rebuilding_ && state_.SlotOf(cid)) removed_.push_back(cid);
  created_.erase(cid);
  auto& pa = postings_[a];
  auto& pb = postings_[b];
  for (size_t i = 0; i < entries.size(); ++i) (label[i] == 0 ? pa : pb).push_back(entries[i]);
  dirty_.insert(a);
  dirty_.insert(b);

  // A build assigned every vector to its nearest centroids a moment ago: splitting an
  // oversized build posting needs no reassignment around it.
  if (rebuilding_) return Status::OK();
  // (a) vectors of the new postings that are no closer to their new centroid than to the old.
  for (uint32_t nc : {a, b}) {
    std::vector<std::shared_ptr<Entry>> members = postings_[nc];
    const float* c = wc_->Vector(nc);
    for (const auto& e : members) {
      if (D(e->Space(), old.data()) <= D(e->Space(), c)) {
        VECPUFF_RETURN_IF_ERROR(Reassign(e, nc));
      }
    }
  }
  // (b) vectors of nearby postings now closer to a new centroid than to the old and their own.
  if (tuning_.reassign_neighbors > 0) {
    std::vector<std::pair<float, uint32_t>> near;
    wc_->Nearest(old.data(), tuning_.reassign_neighbors + 2, &near);
    for (const auto& [dist, nb] : near) {
      if (nb == a || nb == b) continue;
      VECPUFF_ASSIGN_OR_RETURN(auto* nposting, Load(nb));
      std::vector<std::shared_ptr<Entry>> members = *nposting;
      const float* nbv = wc_->Vector(nb);
      for (const auto& e : members) {
        const float* v = e->Space();
        const float to_new = std::min(D(v, wc_->Vector(a)), D(v, wc_->Vector(b)));
        if (to_new < D(v, old.data()) && to_new < D(v, nbv)) {
          VECPUFF_RETURN_IF_ERROR(Reassign(e, nb));
        }
      }
    }
  }
  return Status::OK();
}

// LIRE merge: the posting is removed and each of its vectors is re-assigned by the RNG rule
// among the remaining centroids.
Status Compactor::Merge(uint32_t cid) {
  VECPUFF_ASSIGN_OR_RETURN(auto* posting, Load(cid));
  std::vector<std::shared_ptr<Entry>> entries = *posting;
  ++stats_.merges;
  wc_->Remove(cid);
  postings_.erase(cid);
  dirty_.erase(cid);
  if (!rebuilding_ && state_.SlotOf(cid)) removed_.push_back(cid);
  created_.erase(cid);
  for (const auto& e : entries) {
    std::vector<uint32_t> sel = RngSelect(e->Space(), *wc_, tuning_, dims_, &scratch_);
    VECPUFF_RETURN_IF_ERROR(Place(e, sel));
  }
  return Status::OK();
}

// Splits postings over split_limit and merges postings under merge_limit until none is left
// (or the round cap). A posting born of a split in this compaction is never merged: merging
// a split's small half would send its vectors back to the large half and undo the split.
Status Compactor::Settle() {
  // Postings that lost many documents: read them (dropping stale entries; merged below if
  // now too small).
  for (const auto& [cid, stale] : stale_hint_) {
    VECPUFF_RETURN_IF_ERROR(CheckCancel());
    auto slot = state_.SlotOf(cid);
    if (!slot || !wc_->Alive(cid)) continue;
    const size_t stored = state_.StoredCount(*slot);
    if (stored < stale + 2 * size_t{tuning_.merge_limit} || 2 * size_t{stale} > stored) {
      VECPUFF_RETURN_IF_ERROR(Load(cid).status());
      dirty_.insert(cid);
    }
  }
  for (int round = 0; round < 64; ++round) {
    std::vector<uint32_t> todo(dirty_.begin(), dirty_.end());
    std::sort(todo.begin(), todo.end());
    bool changed = false;
    for (uint32_t cid : todo) {
      VECPUFF_RETURN_IF_ERROR(CheckCancel());
      if (!wc_->Alive(cid) || !dirty_.count(cid)) continue;
      auto pending = appends_.find(cid);
      if (pending != appends_.end()) {
        // Append-only so far: read it only if it may need a split or has no part to spare.
        const uint32_t slot = *state_.SlotOf(cid);
        const bool parts_full = state_.MoreParts(slot).size() + 2 > kMaxPostingParts;
        if (!parts_full &&
            state_.StoredCount(slot) + pending->second.size() <= tuning_.split_limit) {
          continue;
        }
        VECPUFF_RETURN_IF_ERROR(Load(cid).status());
      }
      auto it = postings_.find(cid);
      if (it == postings_.end()) continue;
      const size_t n = it->second.size();
      if (n > tuning_.split_limit && !unsplittable_.count(cid)) {
        VECPUFF_RETURN_IF_ERROR(Split(cid));
        changed = true;
      } else if (n < tuning_.merge_limit && wc_->live() > 1 && !split_born_.count(cid)) {
        VECPUFF_RETURN_IF_ERROR(Merge(cid));
        changed = true;
      }
    }
    if (!changed) return Status::OK();
  }
  spdlog::warn("compaction: postings still unsettled after 64 rounds of splits and merges");
  return Status::OK();
}

Result<CompactionOutput> Compactor::Run() {
  next_docno_ = state_.next_docno();
  if (!state_.empty() && (state_.metric() != in_.metric || state_.dims() != dims_)) {
    return Status::Corruption("index metric or dimensions differ from the namespace's");
  }
  // 1. The version map: every change gets its new version; new ids get docnos.
  std::vector<std::shared_ptr<Entry>> fresh;
  for (const DocChange& c : in_.changes) {
    if (fresh.size() % 1024 == 0) VECPUFF_RETURN_IF_ERROR(CheckCancel());
    std::optional<uint32_t> docno = state_.Docno(c.id);
    if (docno) ++stale_hint_[state_.Home(*docno)];  // its indexed copy goes stale
    if (c.kind == DocChange::Kind::kDelete) {
      if (docno) versions_[*docno] = 0;
      continue;
    }
    auto e = std::make_shared<Entry>();
    if (c.kind == DocChange::Kind::kPatch) {
      if (!docno) continue;  // patching a document the index does not have: nothing to do
      // The vector and attributes come from the document's current copy at its home.
      const uint32_t home = state_.Home(*docno);
      auto slot = state_.SlotOf(home);
      if (!slot) return Status::Corruption("document '" + c.id + "' has no home posting");
      VECPUFF_ASSIGN_OR_RETURN(auto parts, ReadParts(*slot));
      std::shared_ptr<Entry> found;
      for (const auto& p : parts) {
        for (size_t i = 0; i < p->size() && !found; ++i) {
          if (p->docnos[i] == *docno && p->versions[i] == state_.Version(*docno)) {
            found = EntryFrom(*p, i);
          }
        }
      }
      if (!found) {
        return Status::Corruption("document '" + c.id + "' is missing from its home posting");
      }
      e = found;
      nlohmann::json attrs = nlohmann::json::parse(e->attrs, nullptr, false);
      nlohmann::json patch = nlohmann::json::parse(c.attributes_json, nullptr, false);
      if (!attrs.is_object() || !patch.is_object()) {
        return Status::Corruption("document '" + c.id + "' has malformed attributes");
      }
      for (const auto& [key, value] : patch.items()) attrs[key] = value;
      e->attrs = attrs.dump();
    } else {
      if (c.vector.size() != dims_) {
        return Status::InvalidArgument("change for '" + c.id + "' has wrong dimensions");
      }
      e->vec = c.vector;
      e->norm = Norm(e->vec.data(), dims_);
      SetSpace(e.get());
      e->attrs = c.attributes_json;
      stats_.input_bytes += size_t{dims_} * 4;
    }
    e->id = c.id;
    e->version = c.version;
    if (docno) {
      e->docno = *docno;
    } else {
      e->docno = next_docno_++;
      new_ids_[e->docno] = c.id;
    }
    versions_[e->docno] = c.version;
    fresh.push_back(std::move(e));
  }

  // A first index, or a batch larger than the index: build from scratch (SPANN).
  if (state_.empty() || fresh.size() > state_.live_docs()) {
    std::vector<std::shared_ptr<Entry>> all;
    std::unordered_set<uint32_t> seen;
    for (const auto& e : fresh) seen.insert(e->docno);
    for (uint32_t s = 0; s < state_.centroid_count(); ++s) {
      VECPUFF_RETURN_IF_ERROR(CheckCancel());
      VECPUFF_ASSIGN_OR_RETURN(auto parts, ReadParts(s));
      for (const auto& p : parts) {
        for (size_t i = 0; i < p->size(); ++i) {
          const uint32_t d = p->docnos[i];
          if (CurrentVersion(d) != p->versions[i] || !seen.insert(d).second) continue;
          all.push_back(EntryFrom(*p, i));
        }
      }
    }
    all.insert(all.end(), fresh.begin(), fresh.end());
    VECPUFF_RETURN_IF_ERROR(CheckCancel());
    return Rebuild(std::move(all));
  }

  // 2. Append each new version to its postings (closure + RNG).
  wc_ = std::make_unique<WorkingCentroids>(state_, state_.sq8(), dims_, state_.next_centroid_id());
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (i % 1024 == 0) VECPUFF_RETURN_IF_ERROR(CheckCancel());
    std::vector<uint32_t> sel = RngSelect(fresh[i]->Space(), *wc_, tuning_, dims_, &scratch_);
    VECPUFF_RETURN_IF_ERROR(Place(fresh[i], sel));
  }
  // 3. LIRE: split what grew too large, merge what shrank too small, until stable.
  VECPUFF_RETURN_IF_ERROR(Settle());
  IndexMeta meta;
  meta.generation = in_.generation;
  meta.removed_centroids = removed_;
  return Finish(std::move(meta), created_);
}

Result<CompactionOutput> Compactor::Rebuild(std::vector<std::shared_ptr<Entry>> all) {
  stats_.rebuilt = true;
  IndexMeta meta;
  meta.is_base = true;
  meta.generation = in_.generation;
  meta.metric = in_.metric;
  meta.dims = dims_;
  // Docnos are renumbered densely; versions are kept.
  for (size_t i = 0; i < all.size(); ++i) {
    auto e = std::make_shared<Entry>(*all[i]);
    e->docno = static_cast<uint32_t>(i);
    all[i] = std::move(e);
  }
  versions_.clear();
  new_ids_.clear();
  for (const auto& e : all) {
    versions_[e->docno] = e->version;
    new_ids_[e->docno] = e->id;
  }
  next_docno_ = static_cast<uint32_t>(all.size());
  // SQ8 parameters from a sample of the index-space vectors.
  {
    std::vector<float> sample;
    const size_t step = std::max<size_t>(1, all.size() / tuning_.max_build_sample);
    for (size_t i = 0; i < all.size(); i += step) {
      sample.insert(sample.end(), all[i]->Space(), all[i]->Space() + dims_);
    }
    meta.sq8 = TrainSq8(sample.data(), sample.size() / dims_, dims_);
  }
  rebuilding_ = true;
  IndexState empty;
  wc_ = std::make_unique<WorkingCentroids>(empty, meta.sq8, dims_, state_.next_centroid_id());
  if (!all.empty()) {
    const size_t want = std::max<size_t>(
        1,
        (all.size() * std::min<uint32_t>(tuning_.replica_count, 2) + tuning_.posting_target - 1) /
            tuning_.posting_target);
    std::vector<const float*> rows;
    rows.reserve(all.size());
    for (const auto& e : all) rows.push_back(e->Space());
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<float> centers = HierarchicalKMeans(rows, dims_, want, tuning_.max_build_sample,
                                                    tuning_.build_threads, in_.cancel);
    VECPUFF_RETURN_IF_ERROR(CheckCancel());  // the centers may be incomplete
    const auto t1 = std::chrono::steady_clock::now();
    for (size_t c = 0; c < centers.size() / dims_; ++c) {
      const uint32_t id = wc_->Create(&centers[c * dims_]);
      created_[id] =
          std::vector<float>(centers.begin() + c * dims_, centers.begin() + (c + 1) * dims_);
      postings_[id];
    }
    wc_->Regroup();
    // Assignment, in parallel: each thread selects for a stripe of the entries.
    std::vector<std::vector<uint32_t>> sel(all.size());
    const unsigned threads = std::max(1u, tuning_.build_threads);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        std::vector<std::pair<float, uint32_t>> scratch;
        for (size_t i = t; i < all.size(); i += threads) {
          if (i % 4096 < threads && !CheckCancel().ok()) return;
          sel[i] = RngSelect(all[i]->Space(), *wc_, tuning_, dims_, &scratch);
        }
      });
    }
    for (auto& th : pool) th.join();
    VECPUFF_RETURN_IF_ERROR(CheckCancel());  // some selections may be missing
    const auto t2 = std::chrono::steady_clock::now();
    spdlog::info("rebuild of {} vectors: {} centroids by k-means in {:.2f}s, assigned in {:.2f}s",
                 all.size(), centers.size() / dims_, std::chrono::duration<double>(t1 - t0).count(),
                 std::chrono::duration<double>(t2 - t1).count());
    for (size_t i = 0; i < all.size(); ++i) {
      for (uint32_t cid : sel[i]) postings_[cid].push_back(all[i]);
    }
    for (auto& [cid, entries] : postings_) dirty_.insert(cid);
    // Postings left empty get no centroid.
    for (auto it = postings_.begin(); it != postings_.end();) {
      if (it->second.empty()) {
        dirty_.erase(it->first);
        created_.erase(it->first);
        wc_->Remove(it->first);
        it = postings_.erase(it);
      } else {
        ++it;
      }
    }
    // k-means on skewed data can leave a posting far over split_limit: settle it now.
    VECPUFF_RETURN_IF_ERROR(Settle());
  }
  return Finish(std::move(meta), created_);
}

Result<CompactionOutput> Compactor::Finish(IndexMeta meta,
                                           std::map<uint32_t, std::vector<float>> created) {
  VECPUFF_RETURN_IF_ERROR(CheckCancel());
  CompactionOutput out;
  const Sq8Params& sq8 = meta.is_base ? meta.sq8 : state_.sq8();
  std::vector<uint32_t> written(dirty_.begin(), dirty_.end());
  std::sort(written.begin(), written.end());
  // docno -> the first written posting holding it.
  std::unordered_map<uint32_t, uint32_t> holder;
  std::unordered_set<uint32_t> removed_or_written(removed_.begin(), removed_.end());
  std::string pack;
  auto close_pack = [&] {
    if (pack.empty()) return;
    stats_.bytes_written += pack.size();
    out.packs.emplace_back(in_.pack_key(out.packs.size()), std::move(pack));
    pack.clear();
  };
  for (uint32_t cid : written) {
    if (!wc_->Alive(cid)) continue;
    // An append-only posting gets one more part holding just its new entries; any other is
    // rewritten whole as a single base part.
    auto pending = appends_.find(cid);
    const bool append_only = pending != appends_.end() && !postings_.count(cid);
    if (!meta.is_base && !append_only) removed_or_written.insert(cid);
    const std::vector<std::shared_ptr<Entry>>& entries =
        append_only ? pending->second : postings_[cid];
    PostingData p;
    p.centroid_id = cid;
    p.dims = dims_;
    std::unordered_set<uint32_t> seen;
    for (const auto& e : entries) {
      if (!seen.insert(e->docno).second) continue;
      p.docnos.push_back(e->docno);
      p.versions.push_back(e->version);
      p.norms.push_back(e->norm);
      const size_t at = p.codes.size();
      p.codes.resize(at + dims_);
      EncodeSq8(sq8, e->Space(), p.codes.data() + at);
      p.vectors.insert(p.vectors.end(), e->vec.begin(), e->vec.end());
      p.ids.push_back(e->id);
      p.attributes.push_back(e->attrs);
      holder.emplace(e->docno, cid);
    }
    if (p.size() == 0 && !meta.is_base) {
      // Every entry went stale: the centroid stays, with an empty posting.
    }
    std::string blob = EncodePosting(p);
    if (!pack.empty() && pack.size() + blob.size() > tuning_.pack_bytes) close_pack();
    CentroidRecord rec;
    rec.id = cid;
    auto c = created.find(cid);
    if (c != created.end()) rec.vector = c->second;
    PostingRef ref;
    ref.offset = pack.size();
    ref.length = static_cast<uint32_t>(blob.size());
    ref.count = static_cast<uint32_t>(p.size());
    ref.pack = in_.pack_key(out.packs.size());
    {
      // What the entries' attributes can be, stored in the meta so that a filtered query can
      // skip this part unread (MayMatch, query/posting_summary_match.h).
      std::vector<nlohmann::json> parsed(p.size());
      for (size_t i = 0; i < p.size(); ++i) {
        parsed[i] = nlohmann::json::parse(p.attributes[i], nullptr, /*allow_exceptions=*/false);
      }
      ref.summary = std::make_shared<const PostingSummary>(SummarizePosting(parsed));
    }
    if (append_only) {
      const uint32_t slot = *state_.SlotOf(cid);
      rec.ref = state_.Ref(slot);
      rec.more_parts = state_.MoreParts(slot);
      rec.more_parts.push_back(std::move(ref));
    } else {
      rec.ref = std::move(ref);
    }
    pack += blob;
    ++stats_.postings_written;
    stats_.entries_written += p.size();
    meta.centroids.push_back(std::move(rec));
  }
  close_pack();

  // Document records: new versions, deletions, and homes that moved.
  auto home_of = [&](uint32_t docno) -> std::optional<uint32_t> {
    auto it = holder.find(docno);
    if (it == holder.end()) return std::nullopt;
    return it->second;
  };
  if (meta.is_base) {
    for (const auto& [docno, version] : versions_) {
      auto h = home_of(docno);
      if (!h) return Status::Internal("rebuild left a document without a posting");
      meta.docs.push_back({docno, version, *h, new_ids_.at(docno)});
    }
  } else {
    std::unordered_set<uint32_t> done;
    for (const auto& [docno, version] : versions_) {
      done.insert(docno);
      auto id_it = new_ids_.find(docno);
      const std::string& id = id_it != new_ids_.end() ? id_it->second : state_.DocId(docno);
      if (version == 0) {
        meta.docs.push_back({docno, 0, 0, id});
        continue;
      }
      auto h = home_of(docno);
      if (!h) return Status::Internal("compaction left document '" + id + "' without a posting");
      meta.docs.push_back({docno, version, *h, id});
    }
    // Unchanged documents whose home posting was removed, or rewritten without them.
    for (const auto& [cid, entries] : loaded_) {
      for (uint32_t docno : entries) {
        if (done.count(docno) || state_.Version(docno) == 0 || state_.Home(docno) != cid) continue;
        if (!removed_or_written.count(cid)) continue;
        auto h = home_of(docno);
        if (h && *h == cid) continue;
        if (!h) {
          return Status::Internal("compaction left document '" + state_.DocId(docno) +
                                  "' without a posting");
        }
        done.insert(docno);
        meta.docs.push_back({docno, state_.Version(docno), *h, state_.DocId(docno)});
      }
    }
    std::sort(meta.docs.begin(), meta.docs.end(),
              [](const DocRecord& a, const DocRecord& b) { return a.docno < b.docno; });
  }
  meta.next_docno = next_docno_;
  meta.next_centroid_id = wc_->next_id();

  // Packs whose every posting moved are retired.
  std::unordered_map<std::string, int64_t> refs;
  for (uint32_t s = 0; s < state_.centroid_count(); ++s) {
    ++refs[state_.Ref(s).pack];
    for (const PostingRef& r : state_.MoreParts(s)) ++refs[r.pack];
  }
  if (meta.is_base) {
    for (const auto& [key, n] : refs) out.retired_packs.push_back(key);
  } else {
    for (uint32_t cid : removed_or_written) {
      if (auto slot = state_.SlotOf(cid)) {
        --refs[state_.Ref(*slot).pack];
        for (const PostingRef& r : state_.MoreParts(*slot)) --refs[r.pack];
      }
    }
    for (const auto& [key, n] : refs) {
      if (n <= 0) out.retired_packs.push_back(key);
    }
  }
  std::sort(out.retired_packs.begin(), out.retired_packs.end());
  out.meta = std::move(meta);
  out.stats = stats_;
  return out;
}

}  // namespace

Result<CompactionOutput> Compact(const CompactionInput& input, const IndexTuning& tuning) {
  if (input.state == nullptr || input.dims == 0 || !input.source || !input.pack_key) {
    return Status::InvalidArgument("compaction input incomplete");
  }
  Compactor c(input, tuning);
  return c.Run();
}

}  // namespace vecpuff
