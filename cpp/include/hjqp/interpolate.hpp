// Multilinear interpolation of values sampled on the nodes of a grid,
// stored node-major with `Width` values per node (with the gradient of the
// cell's interpolant). Points outside the box are clamped into it. (Cubic
// convolution, used only for the march's fields, is SampledFields::cubic.)
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

// The 2D interpolant unrolled, assigned to out[0..Width): the same
// weights, summed over the cell's rows in turn (the Monte Carlo engine's
// innermost loop).
template <int Width>
inline void multilinear_rows(const Grid<2>& grid, const double* values, const Vec<2>& x, double* out) {
  MultiIndex<2> cell;
  Vec<2> frac;
  grid.locate(x, cell, frac);
  const double* p = values + grid.flat(cell) * Width;
  const Index row = grid.stride(0) * Width;
  const double a = frac[0], b = frac[1];
  const double w00 = (1.0 - a) * (1.0 - b), w01 = (1.0 - a) * b, w10 = a * (1.0 - b), w11 = a * b;
  for (int m = 0; m < Width; ++m)
    out[m] = w00 * p[m] + w01 * p[Width + m] + w10 * p[row + m] + w11 * p[row + Width + m];
}

}  // namespace hjqp
