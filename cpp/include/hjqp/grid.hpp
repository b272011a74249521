// A uniform Cartesian grid in D dimensions, C-ordered (last axis fastest),
// matching numpy's indexing="ij" layout of the Python side.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/linalg.hpp"

namespace hjqp {

using Index = std::int64_t;

template <int D>
using MultiIndex = std::array<Index, D>;

template <int D>
class Grid {
 public:
  Grid(const Vec<D>& lower, const Vec<D>& spacing, const MultiIndex<D>& shape)
      : lower_(lower), spacing_(spacing), shape_(shape) {
    Index n = 1;
    for (int k = D - 1; k >= 0; --k) {
      if (shape[k] < 3)
        throw std::invalid_argument("grid: axis " + std::to_string(k) + " has " +
                                    std::to_string(shape[k]) + " nodes; at least 3 are needed");
      if (!(spacing[k] > 0.0) || !std::isfinite(spacing[k]))
        throw std::invalid_argument("grid: spacing along axis " + std::to_string(k) +
                                    " must be positive and finite");
      if (!std::isfinite(lower[k]))
        throw std::invalid_argument("grid: lower bound along axis " + std::to_string(k) +
                                    " must be finite");
      stride_[k] = n;
      if (n > std::numeric_limits<std::int32_t>::max() / shape[k])
        throw std::invalid_argument("grid: more than 2^31 - 1 nodes are not supported");
      n *= shape[k];
    }
    size_ = n;
    for (int k = 0; k < D; ++k) {
      inverse_spacing_[k] = 1.0 / spacing[k];
      last_[k] = double(shape[k] - 1);
    }
    min_spacing_ = spacing[0];
    for (int k = 1; k < D; ++k) min_spacing_ = std::fmin(min_spacing_, spacing[k]);
  }

  Index size() const { return size_; }
  const MultiIndex<D>& shape() const { return shape_; }
  const Vec<D>& lower() const { return lower_; }
  const Vec<D>& spacing() const { return spacing_; }
  Index stride(int k) const { return stride_[k]; }
  double min_spacing() const { return min_spacing_; }
  double upper(int k) const { return lower_[k] + spacing_[k] * double(shape_[k] - 1); }
  const Vec<D>& inverse_spacing() const { return inverse_spacing_; }
  // The last node's index along each axis, as a double.
  const Vec<D>& last() const { return last_; }

  Index flat(const MultiIndex<D>& m) const {
    Index i = 0;
    for (int k = 0; k < D; ++k) i += m[k] * stride_[k];
    return i;
  }

  MultiIndex<D> unflat(Index i) const {
    MultiIndex<D> m;
    for (int k = 0; k < D; ++k) {
      m[k] = i / stride_[k];
      i -= m[k] * stride_[k];
    }
    return m;
  }

  bool contains(const MultiIndex<D>& m) const {
    for (int k = 0; k < D; ++k)
      if (m[k] < 0 || m[k] >= shape_[k]) return false;
    return true;
  }

  Vec<D> point(const MultiIndex<D>& m) const {
    Vec<D> x;
    for (int k = 0; k < D; ++k) x[k] = lower_[k] + spacing_[k] * double(m[k]);
    return x;
  }

  // Is x inside the closed box (with a relative tolerance of rounding size)?
  bool inside(const Vec<D>& x) const {
    for (int k = 0; k < D; ++k) {
      const double tol = 1e-12 * spacing_[k];
      if (x[k] < lower_[k] - tol || x[k] > upper(k) + tol) return false;
    }
    return true;
  }

  // Cell containing x (clamped into the box) and the local coordinates in
  // [0, 1]^D of x within it.
  void locate(const Vec<D>& x, MultiIndex<D>& cell, Vec<D>& frac) const {
    for (int k = 0; k < D; ++k) {
      double t = (x[k] - lower_[k]) * inverse_spacing_[k];
      // (not fmin/fmax: this is the innermost loop, and NaN cannot occur)
      t = t < 0.0 ? 0.0 : t;
      t = t > last_[k] ? last_[k] : t;
      Index c = Index(t);
      if (c > shape_[k] - 2) c = shape_[k] - 2;
      cell[k] = c;
      frac[k] = t - double(c);
    }
  }

 private:
  Vec<D> lower_;
  Vec<D> spacing_;
  Vec<D> inverse_spacing_{};
  Vec<D> last_{};  // the last node's index along each axis, as a double
  MultiIndex<D> shape_;
  MultiIndex<D> stride_{};
  Index size_ = 0;
  double min_spacing_ = 0.0;
};

// The offsets of the 3^D - 1 nodes of the cells around a node, in
// lexicographic order (first axis slowest): the stencil of the marches'
// neighbour updates.
template <int D>
std::vector<MultiIndex<D>> neighbour_offsets() {
  int count = 1;
  for (int k = 0; k < D; ++k) count *= 3;
  std::vector<MultiIndex<D>> out;
  for (int c = 0; c < count; ++c) {
    MultiIndex<D> off;
    int rest = c;
    bool centre = true;
    for (int k = D - 1; k >= 0; --k) {
      off[k] = rest % 3 - 1;
      rest /= 3;
      centre = centre && off[k] == 0;
    }
    if (!centre) out.push_back(off);
  }
  return out;
}

// "grid node [i, j]": how error messages name a node.
template <int D>
std::string describe_node(const Grid<D>& grid, Index i) {
  const MultiIndex<D> m = grid.unflat(i);
  std::string s = "grid node [";
  for (int k = 0; k < D; ++k) s += (k ? ", " : "") + std::to_string(m[k]);
  return s + "]";
}

}  // namespace hjqp
