// Interpolation of values sampled on the nodes of a grid, stored node-major
// with `Width` values per node: multilinear (with the gradient of the
// cell's interpolant), and cubic convolution. Points outside the box are
// clamped into it.
#pragma once

#include <array>

#include "hjqp/grid.hpp"

namespace hjqp {

// The 2^D corners of the cell that contains x: corner c is the cell's upper
// node along axis k when bit k of c is set. `node` holds their flat indices,
// `weight` their multilinear weights at x, and `slope[c][k]` the derivative
// of corner c's weight along axis k.
template <int D>
struct CellCorners {
  static constexpr int count = 1 << D;
  Index node[count];
  double weight[count];
  double slope[count][D];
};

template <int D, bool Slopes = false>
inline CellCorners<D> cell_corners(const Grid<D>& grid, const Vec<D>& x) {
  MultiIndex<D> cell;
  Vec<D> frac;
  grid.locate(x, cell, frac);
  const Index base = grid.flat(cell);
  CellCorners<D> c;
  for (int corner = 0; corner < c.count; ++corner) {
    double w = 1.0;
    Index i = base;
    if constexpr (Slopes)
      for (int j = 0; j < D; ++j) c.slope[corner][j] = 1.0;
    for (int k = 0; k < D; ++k) {
      const bool up = corner & (1 << k);
      const double wk = up ? frac[k] : 1.0 - frac[k];
      w *= wk;
      if (up) i += grid.stride(k);
      if constexpr (Slopes)
        for (int j = 0; j < D; ++j)
          c.slope[corner][j] *= j == k ? (up ? 1.0 : -1.0) / grid.spacing()[k] : wk;
    }
    c.node[corner] = i;
    c.weight[corner] = w;
  }
  return c;
}

// Call f(node, weight) for the corners of the cell that contains x.
template <int D, class F>
inline void for_each_corner(const Grid<D>& grid, const Vec<D>& x, F&& f) {
  const CellCorners<D> c = cell_corners<D>(grid, x);
  for (int k = 0; k < c.count; ++k) f(c.node[k], c.weight[k]);
}

// out[m] += the multilinear interpolant of values[node * Width + m] at x.
template <int Width, int D>
inline void multilinear(const Grid<D>& grid, const double* values, const Vec<D>& x, double* out) {
  const CellCorners<D> c = cell_corners<D>(grid, x);
  for (int k = 0; k < c.count; ++k) {
    const double* v = values + c.node[k] * Width;
    for (int m = 0; m < Width; ++m) out[m] += c.weight[k] * v[m];
  }
}

// The same, and gradient[k][m] += its derivative along axis k (that of the
// cell's interpolant).
template <int Width, int D>
inline void multilinear(const Grid<D>& grid, const double* values, const Vec<D>& x, double* out,
                        const std::array<double*, D>& gradient) {
  const CellCorners<D> c = cell_corners<D, true>(grid, x);
  for (int k = 0; k < c.count; ++k) {
    const double* v = values + c.node[k] * Width;
    for (int m = 0; m < Width; ++m) out[m] += c.weight[k] * v[m];
    for (int a = 0; a < D; ++a)
      for (int m = 0; m < Width; ++m) gradient[std::size_t(a)][m] += c.slope[k][a] * v[m];
  }
}

// Cubic convolution (Keys, a = -1/2: third order, exact for quadratics) on
// the 4^D nodes around x's cell: the weights along each axis and the flat
// index of the stencil's first node. False in cells next to the box edge,
// where the stencil does not fit.
template <int D>
struct CubicStencil {
  double weight[D][4];
  Index first = 0;
};

template <int D>
inline bool cubic_stencil(const Grid<D>& grid, const Vec<D>& x, CubicStencil<D>& s) {
  MultiIndex<D> cell;
  Vec<D> frac;
  grid.locate(x, cell, frac);
  s.first = 0;
  for (int k = 0; k < D; ++k) {
    if (cell[k] < 1 || cell[k] + 2 >= grid.shape()[k]) return false;
    const double t = frac[k];
    s.weight[k][0] = ((-0.5 * t + 1.0) * t - 0.5) * t;
    s.weight[k][1] = (1.5 * t - 2.5) * t * t + 1.0;
    s.weight[k][2] = ((-1.5 * t + 2.0) * t + 0.5) * t;
    s.weight[k][3] = (0.5 * t - 0.5) * t * t;
    s.first += (cell[k] - 1) * grid.stride(k);
  }
  return true;
}

// out[m] += sum over the stencil of its weight times values[node * Width + m].
template <int Width, int D>
inline void cubic_convolution(const Grid<D>& grid, const double* values, const CubicStencil<D>& s,
                              double* out) {
  const auto& w = s.weight;
  if constexpr (D == 2) {
    for (int a = 0; a < 4; ++a) {
      if (w[0][a] == 0.0) continue;  // points on grid lines need fewer nodes
      double row[Width] = {};
      const double* line = values + (s.first + a * grid.stride(0)) * Width;
      for (int b = 0; b < 4; ++b)
        for (int k = 0; k < Width; ++k) row[k] += w[1][b] * line[b * Width + k];
      for (int k = 0; k < Width; ++k) out[k] += w[0][a] * row[k];
    }
  } else {
    for (int a = 0; a < 4; ++a) {
      if (w[0][a] == 0.0) continue;
      for (int b = 0; b < 4; ++b) {
        const double wab = w[0][a] * w[1][b];
        if (wab == 0.0) continue;
        const double* line = values + (s.first + a * grid.stride(0) + b * grid.stride(1)) * Width;
        for (int c = 0; c < 4; ++c)
          for (int k = 0; k < Width; ++k) out[k] += wab * w[2][c] * line[c * Width + k];
      }
    }
  }
}

}  // namespace hjqp
