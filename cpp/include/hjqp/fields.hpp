// Drift b and diffusion D sampled on the grid nodes, with the metric
// A = D^{-1} that the geometric action uses, and their interpolation between
// nodes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp {

// Everything the action and the characteristics need at one point. The
// members are laid out as one array of doubles (drift, metric, diffusion) so
// that interpolation can run over the first components only.
template <int D>
struct FieldSample {
  Vec<D> drift;       // b(x)
  Sym<D> metric;      // A(x) = D(x)^{-1}
  Sym<D> diffusion;   // D(x), symmetric positive definite

  static constexpr int size = D + 2 * sym_size<D>;
  // Components the geometric action needs (drift and metric).
  static constexpr int action_size = D + sym_size<D>;

  double* data() { return drift.data(); }
  const double* data() const { return drift.data(); }
};

template <int D>
inline FieldSample<D> lerp(const FieldSample<D>& a, const FieldSample<D>& b, double s) {
  FieldSample<D> r;
  for (int k = 0; k < FieldSample<D>::size; ++k)
    r.data()[k] = a.data()[k] + s * (b.data()[k] - a.data()[k]);
  return r;
}

// The fields at a point from b (D values) and D (its packed upper
// triangle, sym_index order). Throws std::invalid_argument, naming the
// point by where() (a string, made only then), when a value is not finite
// or D is not symmetric positive definite.
template <int D, class Where>
inline FieldSample<D> field_sample(const double* b, const Sym<D>& diffusion, const Where& where) {
  FieldSample<D> f;
  for (int k = 0; k < D; ++k) {
    if (!std::isfinite(b[k])) throw std::invalid_argument("drift is not finite at " + where());
    f.drift[k] = b[k];
  }
  for (int k = 0; k < sym_size<D>; ++k)
    if (!std::isfinite(diffusion[k])) throw std::invalid_argument("diffusion is not finite at " + where());
  f.diffusion = diffusion;
  if (!is_spd<D>(f.diffusion)) throw std::invalid_argument("diffusion is not positive definite at " + where());
  if (!inverse_representable<D>(f.diffusion))
    throw std::invalid_argument("diffusion cannot be inverted in double precision at " + where() +
                                ": its scale is too far from 1 (multiply b and D by a common factor)");
  f.metric = inverse<D>(f.diffusion);
  return f;
}

// The same from a full row-major D x D matrix, which must be symmetric to
// within kSymmetryTolerance: D is taken as the mean of the matrix and its
// transpose.
template <int D, class Where>
inline FieldSample<D> field_sample(const double* b, const double* m, const Where& where) {
  for (int r = 0; r < D * D; ++r)
    if (!std::isfinite(m[r])) throw std::invalid_argument("diffusion is not finite at " + where());
  Sym<D> diffusion;
  for (int r = 0; r < D; ++r) {
    for (int c = r; c < D; ++c) {
      const double upper = m[r * D + c], lower = m[c * D + r];
      const double tol = kSymmetryTolerance * (std::fabs(m[r * D + r]) + std::fabs(m[c * D + c]));
      if (std::fabs(upper - lower) > tol) throw std::invalid_argument("diffusion is not symmetric at " + where());
      diffusion[sym_index<D>(r, c)] = 0.5 * (upper + lower);
    }
  }
  return field_sample<D>(b, diffusion, where);
}

// How the diffusion at the nodes is laid out: one full D x D matrix for all
// nodes, a full row-major matrix per node, or a packed upper triangle
// (sym_size<D> values, sym_index order) per node.
enum class DiffusionLayout : std::uint8_t { Constant, Full, Packed };

// Storage of one field at the nodes: node i's component c at
// data[i * stride + offset[c]] (stride 0: the same at every node); with
// Contiguous, offset[c] = c, known at compile time (the interpolation's
// inner loops then read plain runs of doubles).
template <int Width, bool Contiguous = false>
struct NodeStrided {
  const double* data = nullptr;
  Index stride = 0;
  int offset[Width] = {};

  const double* node(Index i) const { return data + i * stride; }
  double get(const double* v, int c) const {
    if constexpr (Contiguous) return v[c];
    else return v[offset[c]];
  }
};

template <int D>
class SampledFields {
  static_assert(sizeof(FieldSample<D>) == sizeof(double) * FieldSample<D>::size,
                "FieldSample must be a plain array of doubles");

 public:
  // drift: size*D values, node-major; diffusion as `layout` says: a single
  // row-major D*D matrix for all nodes (Constant), size*D*D values, each a
  // full row-major matrix (Full), or size*sym_size<D> values, each a packed
  // upper triangle (Packed), node-major. Throws std::invalid_argument naming
  // the first node where a value is not finite or D is not symmetric
  // positive definite. The drift, a packed diffusion, and a full one where
  // every node's matrix is exactly symmetric, are read where they are (they
  // must outlive the fields); the fields store the metric A = D^{-1} (and a
  // packed, symmetrised copy of a full D that is symmetric only to within
  // kSymmetryTolerance).
  SampledFields(const Grid<D>& grid, const double* drift, const double* diffusion,
                DiffusionLayout layout = DiffusionLayout::Full)
      : grid_(grid), metric_(std::size_t(grid.size()) * sym_size<D>) {
    drift_.data = drift;
    drift_.stride = D;
    for (int k = 0; k < D; ++k) drift_.offset[k] = k;
    const bool constant = layout == DiffusionLayout::Constant;
    if (layout == DiffusionLayout::Packed) {
      for (Index i = 0; i < grid.size(); ++i) {
        Sym<D> m;
        std::copy(diffusion + i * sym_size<D>, diffusion + (i + 1) * sym_size<D>, m.begin());
        const FieldSample<D> f = field_sample<D>(drift + i * D, m, [&grid, i] { return describe_node(grid, i); });
        std::copy(f.metric.begin(), f.metric.end(), &metric_[std::size_t(i) * sym_size<D>]);
      }
      set_packed(diffusion_, diffusion);
      set_packed(metric_view_, metric_.data());
      return;
    }
    bool exact = true;  // every matrix exactly symmetric
    for (Index i = 0; i < grid.size(); ++i) {
      const double* m = constant ? diffusion : diffusion + i * D * D;
      const FieldSample<D> f = field_sample<D>(drift + i * D, m, [&grid, i] { return describe_node(grid, i); });
      std::copy(f.metric.begin(), f.metric.end(), &metric_[std::size_t(i) * sym_size<D>]);
      for (int r = 0; r < D && exact; ++r)
        for (int c = r + 1; c < D; ++c) exact = exact && m[r * D + c] == m[c * D + r];
    }
    // 0.5 (a + a) == a: the matrices as they are give field_sample's values.
    diffusion_.stride = constant ? 0 : D * D;
    for (int r = 0; r < D; ++r)
      for (int c = r; c < D; ++c) diffusion_.offset[sym_index<D>(r, c)] = r * D + c;
    diffusion_.data = diffusion;
    if (!exact) {
      copy_.resize(std::size_t(grid.size()) * sym_size<D>);
      for (Index i = 0; i < grid.size(); ++i) {
        const double* m = constant ? diffusion : diffusion + i * D * D;
        for (int r = 0; r < D; ++r)
          for (int c = r; c < D; ++c)
            copy_[std::size_t(i) * sym_size<D> + std::size_t(sym_index<D>(r, c))] = 0.5 * (m[r * D + c] + m[c * D + r]);
      }
      set_packed(diffusion_, copy_.data());
    }
    set_packed(metric_view_, metric_.data());
  }

  const Grid<D>& grid() const { return grid_; }
  FieldSample<D> at(Index i) const {
    FieldSample<D> f;
    f.drift = drift(i);
    const double* a = &metric_[std::size_t(i) * sym_size<D>];
    std::copy(a, a + sym_size<D>, f.metric.begin());
    f.diffusion = diffusion(i);
    return f;
  }
  const Vec<D>& drift(Index i) const { return *reinterpret_cast<const Vec<D>*>(drift_.node(i)); }
  Sym<D> diffusion(Index i) const {
    Sym<D> m;
    const double* p = diffusion_.node(i);
    for (int k = 0; k < sym_size<D>; ++k) m[k] = p[diffusion_.offset[k]];
    return m;
  }

  // Multilinear interpolation of all fields at x (clamped into the box).
  FieldSample<D> linear(const Vec<D>& x) const {
    FieldSample<D> r{};
    linear_into(x, FieldSample<D>::size, r);
    return r;
  }

  // Multilinear interpolation of the drift and metric only; with `gradient`
  // also its derivatives along each axis (those of the cell's interpolant).
  FieldSample<D> linear_action(const Vec<D>& x,
                               std::array<FieldSample<D>, D>* gradient = nullptr) const {
    FieldSample<D> r{};
    if (!gradient) {
      linear_into(x, action_size, r);
      return r;
    }
    *gradient = {};
    const CellCorners<D> c = cell_corners<D, true>(grid_, x);
    linear_add(drift_, c, r.data(), gradient, 0);
    linear_add(metric_view_, c, r.metric.data(), gradient, D);
    return r;
  }

  // Cubic convolution (Keys, a = -1/2: third order, exact for quadratics)
  // of the first `count` components at x; multilinear in cells next to the
  // box edge, where the four-node stencil does not fit. The geometric action
  // amplifies interpolation error in A where D is strongly anisotropic, and
  // this is what keeps that error below the march's own.
  FieldSample<D> cubic(const Vec<D>& x, int count = FieldSample<D>::size) const {
    return count == FieldSample<D>::action_size ? cubic_n<FieldSample<D>::action_size>(x)
                                                : cubic_n<FieldSample<D>::size>(x);
  }

 private:
  template <int Count>
  FieldSample<D> cubic_n(const Vec<D>& x) const {
    MultiIndex<D> cell;
    Vec<D> frac;
    grid_.locate(x, cell, frac);
    double w[D][4];
    Index first = 0;
    for (int k = 0; k < D; ++k) {
      if (cell[k] < 1 || cell[k] + 2 >= grid_.shape()[k]) {
        FieldSample<D> r{};
        linear_into(x, Count, r);
        return r;
      }
      const double t = frac[k];
      w[k][0] = ((-0.5 * t + 1.0) * t - 0.5) * t;
      w[k][1] = (1.5 * t - 2.5) * t * t + 1.0;
      w[k][2] = ((-1.5 * t + 2.0) * t + 0.5) * t;
      w[k][3] = (0.5 * t - 0.5) * t * t;
      first += (cell[k] - 1) * grid_.stride(k);
    }
    FieldSample<D> r{};
    accumulate_cubic(drift_, first, w, r.data());
    accumulate_cubic(metric_view_, first, w, r.metric.data());
    // Cubic convolution overshoots next to a jump of the metric and can lose
    // positive definiteness there; multilinear interpolation of SPD
    // matrices cannot.
    if (!is_spd<D>(r.metric)) {
      FieldSample<D> l{};
      linear_into(x, Count, l);
      return l;
    }
    if (Count > action_size) accumulate_cubic(diffusion_, first, w, r.diffusion.data());
    return r;
  }

  // out += sum over the 4^D stencil of weight * (the field's components).
  template <int Width, bool C>
  void accumulate_cubic(const NodeStrided<Width, C>& field, Index first, const double (&w)[D][4],
                        double* out) const {
    if constexpr (D == 2) {
      for (int a = 0; a < 4; ++a) {
        if (w[0][a] == 0.0) continue;  // points on grid lines need fewer nodes
        double row[Width] = {};
        const Index line = first + a * grid_.stride(0);
        for (int b = 0; b < 4; ++b) {
          const double* v = field.node(line + b);
          for (int k = 0; k < Width; ++k) row[k] += w[1][b] * field.get(v, k);
        }
        for (int k = 0; k < Width; ++k) out[k] += w[0][a] * row[k];
      }
    } else {
      for (int a = 0; a < 4; ++a) {
        if (w[0][a] == 0.0) continue;
        for (int b = 0; b < 4; ++b) {
          const double wab = w[0][a] * w[1][b];
          if (wab == 0.0) continue;
          const Index line = first + a * grid_.stride(0) + b * grid_.stride(1);
          for (int c = 0; c < 4; ++c) {
            const double* v = field.node(line + c);
            for (int k = 0; k < Width; ++k) out[k] += wab * w[2][c] * field.get(v, k);
          }
        }
      }
    }
  }

  template <int Width, bool C>
  void linear_add(const NodeStrided<Width, C>& field, const CellCorners<D>& c, double* out) const {
    for (int k = 0; k < c.count; ++k) {
      const double* v = field.node(c.node[k]);
      for (int m = 0; m < Width; ++m) out[m] += c.weight[k] * field.get(v, m);
    }
  }

  template <int Width, bool C>
  void linear_add(const NodeStrided<Width, C>& field, const CellCorners<D>& c, double* out,
                  std::array<FieldSample<D>, D>* gradient, int first) const {
    for (int k = 0; k < c.count; ++k) {
      const double* v = field.node(c.node[k]);
      for (int m = 0; m < Width; ++m) out[m] += c.weight[k] * field.get(v, m);
      for (int a = 0; a < D; ++a)
        for (int m = 0; m < Width; ++m)
          (*gradient)[std::size_t(a)].data()[first + m] += c.slope[k][a] * field.get(v, m);
    }
  }

  void linear_into(const Vec<D>& x, int count, FieldSample<D>& r) const {
    const CellCorners<D> c = cell_corners<D>(grid_, x);
    linear_add(drift_, c, r.data());
    linear_add(metric_view_, c, r.metric.data());
    if (count > action_size) linear_add(diffusion_, c, r.diffusion.data());
  }

  static constexpr int action_size = FieldSample<D>::action_size;

  template <bool C>
  static void set_packed(NodeStrided<sym_size<D>, C>& field, const double* data) {
    field.data = data;
    field.stride = sym_size<D>;
    for (int k = 0; k < sym_size<D>; ++k) field.offset[k] = k;
  }

  Grid<D> grid_;
  NodeStrided<D, true> drift_;         // the caller's
  std::vector<double> metric_;         // A = D^{-1}, node-major
  NodeStrided<sym_size<D>, true> metric_view_;
  NodeStrided<sym_size<D>> diffusion_;  // the caller's, or copy_
  std::vector<double> copy_;           // a full D symmetrised, where the caller's is not exactly symmetric
};

}  // namespace hjqp
