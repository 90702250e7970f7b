#include "index/projection.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "index/distance_kernels.h"

namespace vecpuff {

namespace {

// Columns of `count` vectors of `len` doubles, column j at [j * len, (j + 1) * len).
using Columns = std::vector<double>;

double Dot(const double* a, const double* b, size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

// Modified Gram-Schmidt, twice (enough for orthonormality to rounding): columns that turn
// out dependent on earlier ones are dropped. Returns the number kept.
size_t Orthonormalize(Columns* cols, size_t count, size_t len) {
  size_t kept = 0;
  for (size_t j = 0; j < count; ++j) {
    double* v = cols->data() + j * len;
    const double before = std::sqrt(Dot(v, v, len));
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t p = 0; p < kept; ++p) {
        const double* u = cols->data() + p * len;
        const double c = Dot(u, v, len);
        for (size_t i = 0; i < len; ++i) v[i] -= c * u[i];
      }
    }
    const double norm = std::sqrt(Dot(v, v, len));
    if (!(norm > 1e-9 * before) || !std::isfinite(norm)) continue;
    double* out = cols->data() + kept * len;
    for (size_t i = 0; i < len; ++i) out[i] = v[i] / norm;
    ++kept;
  }
  cols->resize(kept * len);
  return kept;
}

// Symmetric eigendecomposition of the n x n row-major matrix `a` by cyclic Jacobi rotations
// (n is small here: the subspace size). On return the eigenvalues are sorted descending,
// and column t of `vecs` (row-major n x n) is the eigenvector of values[t].
void JacobiEigen(std::vector<double> a, size_t n, std::vector<double>* values,
                 std::vector<double>* vecs) {
  std::vector<double> v(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) v[i * n + i] = 1;
  for (int sweep = 0; sweep < 64; ++sweep) {
    double off = 0;
    for (size_t p = 0; p < n; ++p)
      for (size_t q = p + 1; q < n; ++q) off += a[p * n + q] * a[p * n + q];
    if (off < 1e-30) break;
    for (size_t p = 0; p < n; ++p) {
      for (size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (std::abs(apq) < 1e-300) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1);
        const double s = t * c;
        for (size_t k = 0; k < n; ++k) {  // A = J^T A J: columns p, q, then rows p, q
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (size_t k = 0; k < n; ++k) {
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (size_t k = 0; k < n; ++k) {
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return a[x * n + x] > a[y * n + y]; });
  values->assign(n, 0);
  vecs->assign(n * n, 0);
  for (size_t t = 0; t < n; ++t) {
    (*values)[t] = a[order[t] * n + order[t]];
    for (size_t k = 0; k < n; ++k) (*vecs)[k * n + t] = v[k * n + order[t]];
  }
}

}  // namespace

std::shared_ptr<const Projection> Projection::Fit(const float* rows, size_t n, size_t dims,
                                                  size_t d) {
  if (n < 2 || d == 0 || dims == 0) return nullptr;
  // The rows used: evenly spaced, finite.
  std::vector<const float*> use;
  const size_t want = std::min(n, kMaxFitRows);
  for (size_t i = 0; i < want; ++i) {
    const float* row = rows + (i * n / want) * dims;
    bool finite = true;
    for (size_t k = 0; k < dims && finite; ++k) finite = std::isfinite(row[k]);
    if (finite) use.push_back(row);
  }
  const size_t m = use.size();
  if (m < 2) return nullptr;
  d = std::min({d, dims, m - 1});

  auto proj = std::shared_ptr<Projection>(new Projection());
  proj->dims_ = dims;
  std::vector<double> mean(dims, 0.0);
  for (const float* row : use)
    for (size_t k = 0; k < dims; ++k) mean[k] += row[k];
  for (double& x : mean) x /= static_cast<double>(m);
  std::vector<double> a(m * dims);  // centered rows, row-major
  for (size_t i = 0; i < m; ++i)
    for (size_t k = 0; k < dims; ++k) a[i * dims + k] = use[i][k] - mean[k];

  // Y = A Z (m-vectors from dims-vectors) and Z = A^T Y.
  auto times = [&](const Columns& z, size_t count) {
    Columns y(count * m);
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < count; ++j) y[j * m + i] = Dot(&a[i * dims], &z[j * dims], dims);
    return y;
  };
  auto times_t = [&](const Columns& y, size_t count) {
    Columns z(count * dims, 0.0);
    for (size_t j = 0; j < count; ++j) {
      double* out = &z[j * dims];
      for (size_t i = 0; i < m; ++i) {
        const double c = y[j * m + i];
        const double* row = &a[i * dims];
        for (size_t k = 0; k < dims; ++k) out[k] += c * row[k];
      }
    }
    return z;
  };

  // Randomized subspace iteration: l = d + 8 directions, 2 power iterations.
  size_t l = std::min({d + 8, dims, m});
  std::mt19937_64 rng(0x5eed);
  std::normal_distribution<double> gauss(0, 1);
  Columns z(l * dims);
  for (double& x : z) x = gauss(rng);
  Columns y = times(z, l);
  l = Orthonormalize(&y, l, m);
  for (int it = 0; it < 2 && l > 0; ++it) {
    z = times_t(y, l);
    l = Orthonormalize(&z, l, dims);
    y = times(z, l);
    l = Orthonormalize(&y, l, m);
  }
  z = times_t(y, l);
  l = Orthonormalize(&z, l, dims);
  if (l == 0) return nullptr;
  // Rotate within the subspace to the principal directions: the eigenvectors of
  // (A Z)^T (A Z), largest first.
  Columns w = times(z, l);
  std::vector<double> gram(l * l);
  for (size_t p = 0; p < l; ++p)
    for (size_t q = 0; q < l; ++q) gram[p * l + q] = Dot(&w[p * m], &w[q * m], m);
  std::vector<double> values, vecs;
  JacobiEigen(std::move(gram), l, &values, &vecs);
  d = std::min(d, l);
  Columns basis(d * dims, 0.0);
  for (size_t t = 0; t < d; ++t)
    for (size_t j = 0; j < l; ++j) {
      const double c = vecs[j * l + t];
      for (size_t k = 0; k < dims; ++k) basis[t * dims + k] += c * z[j * dims + k];
    }
  d = Orthonormalize(&basis, d, dims);
  if (d == 0) return nullptr;

  proj->d_ = d;
  proj->mean_.assign(mean.begin(), mean.end());
  proj->basis_.assign(basis.begin(), basis.end());
  proj->basis_mean_.resize(d);
  for (size_t t = 0; t < d; ++t) {
    proj->basis_mean_[t] = static_cast<float>(Dot(&basis[t * dims], mean.data(), dims));
  }
  return proj;
}

float Projection::Project(const float* v, float* out) const {
  std::vector<double> c(dims_);
  for (size_t k = 0; k < dims_; ++k) c[k] = static_cast<double>(v[k]) - mean_[k];
  std::vector<double> r = c;
  for (size_t t = 0; t < d_; ++t) {
    const float* b = &basis_[t * dims_];
    double y = 0;
    for (size_t k = 0; k < dims_; ++k) y += b[k] * c[k];
    out[t] = static_cast<float>(y);
    for (size_t k = 0; k < dims_; ++k) r[k] -= y * b[k];
  }
  const double len = std::sqrt(Dot(r.data(), r.data(), dims_));
  return std::isfinite(len) ? static_cast<float>(len) : std::numeric_limits<float>::infinity();
}

void Projection::ProjectQuery(const float* v, float* out, double* centered_sq) const {
  const DistanceKernels& k = BestKernels();
  for (size_t t = 0; t < d_; ++t) out[t] = k.dot(&basis_[t * dims_], v, dims_) - basis_mean_[t];
  *centered_sq = k.squared_l2(v, mean_.data(), dims_);
}

}  // namespace vecpuff
