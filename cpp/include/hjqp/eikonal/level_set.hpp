// Initial data of an eikonal march from the zero level set of a function.
#pragma once

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp {

// Initial data from the zero level set of phi, as in scikit-fmm: a node
// with a neighbour of the other sign (or phi = 0) gets the distance to the
// plane phi(x) + g . (y - x) = 0, where g_k is the one-sided difference
// of phi towards the nearer crossing along axis k (0 without a crossing):
// |phi| / |g|_{M^{-1}}, times the slowness. With M = I this is scikit-fmm's
// 1/d^2 = sum_k 1/d_k^2.
template <int D>
inline void level_set_seeds(const Grid<D>& grid, const double* phi, const double* slowness,
                            bool slowness_constant, const double* metric, bool metric_constant,
                            const std::uint8_t* obstacle, const std::array<bool, D>& periodic,
                            std::vector<Index>& nodes, std::vector<double>& values) {
  constexpr int S = sym_size<D>;
  const Vec<D>& h = grid.spacing();
  for (Index i = 0; i < grid.size(); ++i) {
    if (obstacle && obstacle[i]) continue;
    const double p = phi[i];
    if (p == 0.0) {
      nodes.push_back(i);
      values.push_back(0.0);
      continue;
    }
    const MultiIndex<D> m = grid.unflat(i);
    Vec<D> g{};
    bool crossing = false;
    for (int k = 0; k < D; ++k)
      for (int step = -1; step <= 1; step += 2) {
        Index c = m[k] + step;
        const Index n = grid.shape()[k];
        if (c < 0 || c >= n) {
          if (!periodic[std::size_t(k)]) continue;
          c = (c % n + n) % n;
        }
        const Index j = i + (c - m[k]) * grid.stride(k);
        if (obstacle && obstacle[j]) continue;
        const double pj = phi[j];
        // The other sign, or 0 (p is not 0). Not p * pj <= 0: for |phi|
        // below about 1e-154 the product underflows to +0 and every pair
        // of nodes looked like a crossing.
        if (p > 0.0 ? !(pj <= 0.0) : !(pj >= 0.0)) continue;
        const double gk = double(step) * (pj - p) / h[k];
        if (std::fabs(gk) > std::fabs(g[k])) g[k] = gk;
        crossing = true;
      }
    if (!crossing) continue;
    Sym<D> inverse_metric{};
    if (metric) {
      Sym<D> mm;
      for (int c = 0; c < S; ++c) mm[c] = metric[(metric_constant ? 0 : i * S) + c];
      inverse_metric = inverse<D>(mm);
    }
    auto norm2_of = [&](const Vec<D>& v) { return metric ? form<D>(inverse_metric, v, v) : dot<D>(v, v); };
    const double s = slowness[slowness_constant ? 0 : i];
    const double norm2 = norm2_of(g);
    double value = s * std::fabs(p) / std::sqrt(norm2);
    if (!(norm2 >= std::numeric_limits<double>::min()) || !std::isfinite(norm2) || !std::isfinite(value)) {
      // |g|^2 or s |phi| out of range (phi or the slowness beyond about
      // 1e+-154): the same value with g scaled by a power of two, 2^-k.
      double largest = 0.0;
      for (int k = 0; k < D; ++k) largest = std::fmax(largest, std::fabs(g[k]));
      const int e = std::ilogb(largest);
      Vec<D> scaled;
      for (int k = 0; k < D; ++k) scaled[k] = std::ldexp(g[k], -e);
      value = s * std::ldexp(std::fabs(p) / std::sqrt(norm2_of(scaled)), -e);
    }
    nodes.push_back(i);
    values.push_back(value);
  }
}

}  // namespace hjqp
