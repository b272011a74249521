// The local mathematics of the eikonal updates: the point-source factor,
// the closed-form minimum of a linear interpolant plus a Riemannian length
// over a simplex, and the derivatives of a Riemannian norm.
#pragma once

#include <array>
#include <cmath>
#include <limits>

#include "hjqp/linalg.hpp"

namespace hjqp {

// Point-source factor T0(x) = slowness |x - source|_metric.
template <int D>
struct PointFactor {
  Vec<D> source{};
  double slowness = 1.0;
  Sym<D> metric{};

  double value(const Vec<D>& x) const {
    const Vec<D> q = sub<D>(x, source);
    return slowness * std::sqrt(form<D>(metric, q, q));
  }
};

namespace detail {

// Closed-form minimum over the relative interior of a simplex of
//     f(mu) = u0 + delta . mu + s |p0 + E mu|_M,
// mu in R^n (n = 1, 2), the segment y(mu) -> x having the vector
// p0 + E mu. With G = E^T M E, the norm is least at mu_n = -G^{-1} E^T M p0,
// where its square is k^2; writing mu = mu_n - t G^{-1} delta, stationarity
// gives t = k / sqrt(s^2 - m) with m = delta^T G^{-1} delta, and no interior
// minimum when m >= s^2 (u rises across the simplex faster than s allows).
// Returns false when the minimiser leaves the simplex.
//
// mu depends on s and delta only through delta / s: both are scaled by the
// power of two that brings the larger into [1, 2) (exact, so the result is
// the same bit for bit), and s^2 and m can neither overflow (a slowness or
// values above about 1e154) nor underflow.
template <int N, int D>
inline bool simplex_minimiser(const Vec<D>& p0, const std::array<Vec<D>, N>& e, const Sym<D>& metric,
                              double s, std::array<double, N> delta, std::array<double, N>& mu) {
  mu.fill(std::numeric_limits<double>::quiet_NaN());
  double largest = s;
  for (int a = 0; a < N; ++a) largest = std::fmax(largest, std::fabs(delta[a]));
  if (!(largest > 0.0) || !std::isfinite(largest)) return false;
  const int f = std::ilogb(largest);
  s = std::ldexp(s, -f);
  for (int a = 0; a < N; ++a) delta[a] = std::ldexp(delta[a], -f);
  std::array<Vec<D>, N> me;
  for (int a = 0; a < N; ++a) me[a] = mul<D>(metric, e[a]);
  double g[N][N], r[N];
  for (int a = 0; a < N; ++a) {
    r[a] = dot<D>(me[a], p0);
    for (int b = 0; b < N; ++b) g[a][b] = dot<D>(me[a], e[b]);
  }
  const double c = form<D>(metric, p0, p0);
  double gi[N][N];
  if constexpr (N == 1) {
    if (!(g[0][0] > 0.0)) return false;
    gi[0][0] = 1.0 / g[0][0];
  } else {
    const double det = g[0][0] * g[1][1] - g[0][1] * g[1][0];
    // G is a Gram matrix: SPD unless the edges are (nearly) parallel in M.
    if (!(det > kSpdTolerance * g[0][0] * g[1][1])) return false;
    gi[0][0] = g[1][1] / det;
    gi[1][1] = g[0][0] / det;
    gi[0][1] = gi[1][0] = -g[0][1] / det;
  }
  double mu_n[N], gd[N], k2 = c, m = 0.0;
  for (int a = 0; a < N; ++a) {
    mu_n[a] = 0.0;
    gd[a] = 0.0;
    for (int b = 0; b < N; ++b) {
      mu_n[a] -= gi[a][b] * r[b];
      gd[a] += gi[a][b] * delta[b];
    }
  }
  for (int a = 0; a < N; ++a) {
    k2 += mu_n[a] * r[a];
    m += delta[a] * gd[a];
  }
  if (!(m < s * s)) return false;
  const double t = std::sqrt(std::fmax(k2, 0.0) / (s * s - m));
  // mu is the minimiser over the simplex's plane, inside or not. One on
  // the boundary up to rounding is moved onto it: the neighbouring
  // simplices may reject it by the same rounding.
  constexpr double slack = 1e-12;
  double total = 0.0;
  bool inside = true;
  for (int a = 0; a < N; ++a) {
    mu[a] = mu_n[a] - t * gd[a];
    inside = inside && mu[a] >= -slack;
    total += mu[a];
  }
  if (!inside || !(total <= 1.0 + slack)) return false;
  total = 0.0;
  for (int a = 0; a < N; ++a) total += (mu[a] = std::fmax(mu[a], 0.0));
  if (total > 1.0)
    for (int a = 0; a < N; ++a) mu[a] /= total;
  return true;
}

// Value, gradient and Hessian of n(v) = |v|_M.
template <int D>
struct NormJet {
  double value;
  Vec<D> gradient;
  Sym<D> hessian;
};

template <int D>
inline NormJet<D> norm_jet(const Sym<D>& metric, const Vec<D>& v) {
  NormJet<D> j;
  const Vec<D> mv = mul<D>(metric, v);
  j.value = std::sqrt(dot<D>(v, mv));
  j.gradient = scale<D>(1.0 / j.value, mv);
  for (int a = 0; a < D; ++a)
    for (int b = a; b < D; ++b)
      j.hessian[sym_index<D>(a, b)] = (metric[sym_index<D>(a, b)] - j.gradient[a] * j.gradient[b]) / j.value;
  return j;
}

}  // namespace detail

}  // namespace hjqp
