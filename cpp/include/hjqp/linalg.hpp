// Small fixed-size vectors and symmetric matrices for 2D and 3D kernels.
//
// The local updates work with d-vectors (d = 2, 3) and symmetric d x d
// matrices (diffusion D and its inverse A). Symmetric matrices are stored
// packed, upper triangle by rows: (a00, a01, a11) in 2D and
// (a00, a01, a02, a11, a12, a22) in 3D.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

namespace hjqp {

template <int D>
using Vec = std::array<double, D>;

template <int D>
constexpr int sym_size = D * (D + 1) / 2;

template <int D>
using Sym = std::array<double, sym_size<D>>;

// Position of entry (i, j) in the packed upper triangle.
template <int D>
constexpr int sym_index(int i, int j) {
  if (i > j) {
    const int t = i;
    i = j;
    j = t;
  }
  return i * D - i * (i - 1) / 2 + (j - i);
}

template <int D>
inline double dot(const Vec<D>& a, const Vec<D>& b) {
  double s = 0.0;
  for (int k = 0; k < D; ++k) s += a[k] * b[k];
  return s;
}

template <int D>
inline double norm(const Vec<D>& a) {
  return std::sqrt(dot<D>(a, a));
}

template <int D>
inline Vec<D> add(const Vec<D>& a, const Vec<D>& b) {
  Vec<D> r;
  for (int k = 0; k < D; ++k) r[k] = a[k] + b[k];
  return r;
}

template <int D>
inline Vec<D> sub(const Vec<D>& a, const Vec<D>& b) {
  Vec<D> r;
  for (int k = 0; k < D; ++k) r[k] = a[k] - b[k];
  return r;
}

template <int D>
inline Vec<D> scale(double c, const Vec<D>& a) {
  Vec<D> r;
  for (int k = 0; k < D; ++k) r[k] = c * a[k];
  return r;
}

// a + c * b
template <int D>
inline Vec<D> axpy(const Vec<D>& a, double c, const Vec<D>& b) {
  Vec<D> r;
  for (int k = 0; k < D; ++k) r[k] = a[k] + c * b[k];
  return r;
}

// (1 - s) a + s b
template <int D>
inline Vec<D> lerp(const Vec<D>& a, const Vec<D>& b, double s) {
  Vec<D> r;
  for (int k = 0; k < D; ++k) r[k] = a[k] + s * (b[k] - a[k]);
  return r;
}

template <int D>
inline Vec<D> mul(const Sym<D>& m, const Vec<D>& v) {
  Vec<D> r;
  for (int i = 0; i < D; ++i) {
    double s = 0.0;
    for (int j = 0; j < D; ++j) s += m[sym_index<D>(i, j)] * v[j];
    r[i] = s;
  }
  return r;
}

// Bilinear form u^T M v.
template <int D>
inline double form(const Sym<D>& m, const Vec<D>& u, const Vec<D>& v) {
  return dot<D>(u, mul<D>(m, v));
}

template <int D>
inline Sym<D> lerp(const Sym<D>& a, const Sym<D>& b, double s) {
  Sym<D> r;
  for (int k = 0; k < sym_size<D>; ++k) r[k] = a[k] + s * (b[k] - a[k]);
  return r;
}

// Leading principal minors of the matrix scaled to unit diagonal,
// S = diag(m)^{-1/2} m diag(m)^{-1/2}: all positive <=> symmetric positive
// definite (Sylvester's criterion). Returns the smallest, dimensionless and
// independent of the matrix's scale (m and c m give the same margin for any
// c > 0, so that 1e300 I and 1e-200 I are as definite as I), or the smallest
// diagonal entry when one is not positive.
template <int D>
inline double spd_margin(const Sym<D>& m);

template <>
inline double spd_margin<2>(const Sym<2>& m) {
  const double a = m[0], b = m[1], c = m[2];
  if (!(a > 0.0) || !(c > 0.0)) return std::fmin(a, c);
  const double s = b / (std::sqrt(a) * std::sqrt(c));
  return 1.0 - s * s;
}

template <>
inline double spd_margin<3>(const Sym<3>& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
  if (!(a > 0.0) || !(d > 0.0) || !(f > 0.0)) return std::fmin(a, std::fmin(d, f));
  const double ra = std::sqrt(a), rd = std::sqrt(d), rf = std::sqrt(f);
  const double s01 = b / (ra * rd), s02 = c / (ra * rf), s12 = e / (rd * rf);
  const double m2 = 1.0 - s01 * s01;
  const double det = 1.0 + 2.0 * s01 * s02 * s12 - s01 * s01 - s02 * s02 - s12 * s12;
  return std::fmin(m2, det);
}

// The one tolerance of every test for symmetric positive definiteness, in
// the kernel and in Python (exported as hjqp._core.SPD_TOLERANCE): a matrix
// counts as SPD when its smallest scaled leading minor (spd_margin) exceeds
// it. Off-diagonal pairs count as equal when they differ by at most
// kSymmetryTolerance times the sum of the two diagonal entries.
constexpr double kSpdTolerance = 1e-13;
constexpr double kSymmetryTolerance = 1e-10;

template <int D>
inline bool is_spd(const Sym<D>& m) {
  if constexpr (D == 2) {
    // A clearly definite matrix (scaled off-diagonal entry at most 1/sqrt 2)
    // needs no square roots: the interpolation of the fields asks this at
    // every point.
    const double ac = m[0] * m[2];
    if (m[0] > 0.0 && m[2] > 0.0 && ac <= std::numeric_limits<double>::max() && 2.0 * m[1] * m[1] <= ac)
      return true;
  }
  return spd_margin<D>(m) > kSpdTolerance;
}

// Inverse of an SPD matrix (the caller checks definiteness first).
template <int D>
inline Sym<D> inverse(const Sym<D>& m);

template <>
inline Sym<2> inverse<2>(const Sym<2>& m) {
  const double det = m[0] * m[2] - m[1] * m[1];
  return {m[2] / det, -m[1] / det, m[0] / det};
}

template <>
inline Sym<3> inverse<3>(const Sym<3>& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
  const double c00 = d * f - e * e;
  const double c01 = c * e - b * f;
  const double c02 = b * e - c * d;
  const double det = a * c00 + b * c01 + c * c02;
  const double c11 = a * f - c * c;
  const double c12 = b * c - a * e;
  const double c22 = a * d - b * b;
  return {c00 / det, c01 / det, c02 / det, c11 / det, c12 / det, c22 / det};
}

// Whether inverse<D> of an SPD matrix is usable in double precision: the
// determinant it divides by a normal number (a subnormal one has lost
// digits) and the inverse's entries finite. Fails only for a scale far from
// 1 (beyond about 1e+-150 in 2D, 1e+-100 in 3D).
template <int D>
inline bool inverse_representable(const Sym<D>& m);

template <>
inline bool inverse_representable<2>(const Sym<2>& m) {
  const double det = m[0] * m[2] - m[1] * m[1];
  if (!std::isnormal(det)) return false;
  const Sym<2> inv = inverse<2>(m);
  for (double v : inv)
    if (!std::isfinite(v)) return false;
  return true;
}

template <>
inline bool inverse_representable<3>(const Sym<3>& m) {
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
  const double det = a * (d * f - e * e) + b * (c * e - b * f) + c * (b * e - c * d);
  if (!std::isnormal(det)) return false;
  const Sym<3> inv = inverse<3>(m);
  for (double v : inv)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace hjqp
