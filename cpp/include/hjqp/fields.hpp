// Drift b and diffusion D sampled on the grid nodes, with the metric
// A = D^{-1} that the geometric action uses, and their interpolation between
// nodes.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
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

// The checks hjqp.problem.fields makes of the sampled fields before a
// march, at every node and each with a margin: drift and D finite; D
// positive definite by the kernel's test (spd_margin above twice
// kSpdTolerance) with normal diagonal entries; D^{-1} representable, its
// entries below half the largest double; |b|^2, b^T A b and |A b|^2 at
// most half `limit`. drift: n x D values; diffusion: n packed upper
// triangles (sym_index order) or n full row-major matrices, each taken as
// the mean of the matrix and its transpose, which must agree within half
// kSymmetryTolerance. `clear` is false at the first node that fails; the
// largest squares and `moving` (b nonzero somewhere) cover the nodes
// scanned. Python runs its own checks, which name the first offending node,
// only where the scan is not clear.
struct FieldScan {
  bool clear = true;
  bool moving = false;
  double largest[3] = {0.0, 0.0, 0.0};  // |b|^2, b^T A b, |A b|^2
};

template <int D>
inline FieldScan scan_fields(const double* drift, const double* diffusion, bool packed, Index n, double limit) {
  constexpr int S = sym_size<D>;
  const double big = 0.5 * std::numeric_limits<double>::max();
  FieldScan r;
  for (Index i = 0; i < n && r.clear; ++i) {
    Sym<D> m;
    if (packed) {
      for (int k = 0; k < S; ++k) m[k] = diffusion[i * S + k];
    } else {
      const double* f = diffusion + i * D * D;
      for (int row = 0; row < D; ++row)
        for (int c = row; c < D; ++c) {
          const double up = f[row * D + c], lo = f[c * D + row];
          const double tol = 0.5 * kSymmetryTolerance * (std::fabs(f[row * D + row]) + std::fabs(f[c * D + c]));
          r.clear = r.clear && std::fabs(up - lo) <= tol;
          m[sym_index<D>(row, c)] = 0.5 * (up + lo);
        }
    }
    Vec<D> b;
    for (int k = 0; k < D; ++k) {
      b[k] = drift[i * D + k];
      r.clear = r.clear && std::isfinite(b[k]);
      r.moving = r.moving || b[k] != 0.0;
    }
    for (int k = 0; k < S; ++k) r.clear = r.clear && std::isfinite(m[k]);
    for (int k = 0; k < D; ++k) r.clear = r.clear && m[sym_index<D>(k, k)] >= std::numeric_limits<double>::min();
    if (!r.clear) break;
    if (!(spd_margin<D>(m) > 2.0 * kSpdTolerance) || !inverse_representable<D>(m)) {
      r.clear = false;
      break;
    }
    const Sym<D> a = inverse<D>(m);
    for (int k = 0; k < S; ++k) r.clear = r.clear && std::fabs(a[k]) <= big;
    const Vec<D> ab = mul<D>(a, b);
    const double squares[3] = {dot<D>(b, b), dot<D>(b, ab), dot<D>(ab, ab)};
    for (int k = 0; k < 3; ++k) {
      r.clear = r.clear && std::fabs(squares[k]) <= 0.5 * limit;
      r.largest[k] = std::fmax(r.largest[k], squares[k]);
    }
  }
  return r;
}

// The cells of a field sampled at the nodes whose difference marks a jump,
// as hjqp.problem.fields.jump_nodes defines it (the same arithmetic, so
// the same cells): `values` holds `entries` values per node, the nodes in
// row-major order over `shape`. Along each axis of at least 7 nodes, cell
// c = 2 .. m - 3 (m cells) of an entry marks its two nodes in `marked`
// (set to 1; the rest set to 0) where the entry's difference across it,
// times 1 / ratio, exceeds those two cells away on both sides, exceeds
// `ratio` times every difference 2 to `reach` cells away within the axis,
// and exceeds `floor` times the largest |entry| of all entries at its two
// nodes. Maxima propagate NaN, as numpy's do: a NaN marks nothing.
inline void jump_cells(const double* values, const std::vector<Index>& shape, Index entries, double ratio,
                       int reach, double floor, std::uint8_t* marked) {
  const int ndim = int(shape.size());
  Index nodes = 1;
  for (Index n : shape) nodes *= n;
  std::fill(marked, marked + nodes, std::uint8_t(0));
  const double inverse_ratio = 1.0 / ratio;
  auto nan_max = [](double a, double b) { return std::isnan(a) || std::isnan(b) ? a + b : a > b ? a : b; };
  constexpr Index kChunk = 64;  // values across the axis walked together (m x 64 doubles of scratch)
  std::vector<double> step;
  for (int axis = 0; axis < ndim; ++axis) {
    const Index n = shape[std::size_t(axis)], m = n - 1;
    if (m < 6 || entries == 0) continue;
    Index outer = 1, inner = 1;  // nodes before and after the axis
    for (int a = 0; a < axis; ++a) outer *= shape[std::size_t(a)];
    for (int a = axis + 1; a < ndim; ++a) inner *= shape[std::size_t(a)];
    const Index width = inner * entries;  // values between neighbours along the axis
    step.resize(std::size_t(m * kChunk));
    for (Index o = 0; o < outer; ++o) {
      const double* base = values + o * n * width;
      for (Index c0 = 0; c0 < width; c0 += kChunk) {
        const Index w = std::min(kChunk, width - c0);
        for (Index j = 0; j < m; ++j) {
          const double* lo = base + j * width + c0;
          const double* hi = lo + width;
          double* s = &step[std::size_t(j * kChunk)];
          for (Index c = 0; c < w; ++c) s[c] = std::fabs(hi[c] - lo[c]);
        }
        for (Index j = 2; j <= m - 3; ++j) {
          const double* s = &step[std::size_t(j * kChunk)];
          for (Index c = 0; c < w; ++c) {
            const double scaled = s[c] * inverse_ratio;
            if (!(scaled > step[std::size_t((j - 2) * kChunk + c)] && scaled > step[std::size_t((j + 2) * kChunk + c)]))
              continue;
            double bound = 0.0;
            for (Index k = 2; k <= reach; ++k)
              for (const Index i : {j - k, j + k})
                if (i >= 0 && i < m) bound = nan_max(bound, step[std::size_t(i * kChunk + c)]);
            const Index node = (c0 + c) / entries;  // within the inner block
            const double* first = base + j * width + node * entries;
            const double* second = first + width;
            double size = 0.0;
            for (Index e = 0; e < entries; ++e) size = nan_max(nan_max(size, std::fabs(first[e])), std::fabs(second[e]));
            if (s[c] > ratio * bound && s[c] > floor * size) {
              const Index at = (o * n + j) * inner + node;
              marked[at] = 1;
              marked[at + inner] = 1;
            }
          }
        }
      }
    }
  }
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
  // kSymmetryTolerance). A D that is the same at every node (given once,
  // or the same bit for bit at every node) is kept once, with its metric,
  // and interpolation takes both as they are.
  SampledFields(const Grid<D>& grid, const double* drift, const double* diffusion,
                DiffusionLayout layout = DiffusionLayout::Full)
      : grid_(grid),
        constant_(uniform(diffusion, layout, grid.size())),
        metric_(std::size_t(constant_ ? 1 : grid.size()) * sym_size<D>) {
    drift_.data = drift;
    drift_.stride = D;
    for (int k = 0; k < D; ++k) drift_.offset[k] = k;
    const bool constant = constant_;
    if (layout == DiffusionLayout::Packed) {
      for (Index i = 0; i < grid.size(); ++i) {
        Sym<D> m;
        std::copy(diffusion + i * sym_size<D>, diffusion + (i + 1) * sym_size<D>, m.begin());
        const FieldSample<D> f = field_sample<D>(drift + i * D, m, [&grid, i] { return describe_node(grid, i); });
        if (!constant || i == 0) std::copy(f.metric.begin(), f.metric.end(), &metric_[std::size_t(i) * sym_size<D>]);
      }
      set_packed(diffusion_, diffusion);
      set_packed(metric_view_, metric_.data());
      if (constant) diffusion_.stride = metric_view_.stride = 0;
      if constexpr (D == 2) smooth_ = smooth();  // (only the 2D jet update expands)
      return;
    }
    bool exact = true;  // every matrix exactly symmetric
    for (Index i = 0; i < grid.size(); ++i) {
      const double* m = constant ? diffusion : diffusion + i * D * D;
      const FieldSample<D> f = field_sample<D>(drift + i * D, m, [&grid, i] { return describe_node(grid, i); });
      if (!constant || i == 0) std::copy(f.metric.begin(), f.metric.end(), &metric_[std::size_t(i) * sym_size<D>]);
      for (int r = 0; r < D && exact; ++r)
        for (int c = r + 1; c < D; ++c) exact = exact && m[r * D + c] == m[c * D + r];
    }
    // 0.5 (a + a) == a: the matrices as they are give field_sample's values.
    diffusion_.stride = constant ? 0 : D * D;
    for (int r = 0; r < D; ++r)
      for (int c = r; c < D; ++c) diffusion_.offset[sym_index<D>(r, c)] = r * D + c;
    diffusion_.data = diffusion;
    if (!exact) {
      copy_.resize(std::size_t(constant ? 1 : grid.size()) * sym_size<D>);
      for (Index i = 0; i < (constant ? 1 : grid.size()); ++i) {
        const double* m = constant ? diffusion : diffusion + i * D * D;
        for (int r = 0; r < D; ++r)
          for (int c = r; c < D; ++c)
            copy_[std::size_t(i) * sym_size<D> + std::size_t(sym_index<D>(r, c))] = 0.5 * (m[r * D + c] + m[c * D + r]);
      }
      set_packed(diffusion_, copy_.data());
      if (constant) diffusion_.stride = 0;
    }
    set_packed(metric_view_, metric_.data());
    if (constant) metric_view_.stride = 0;
    if constexpr (D == 2) smooth_ = smooth();
  }

  const Grid<D>& grid() const { return grid_; }
  // Whether the drift and metric change little from node to node (smooth();
  // 2D only, false in 3D, where nothing expands the fields).
  bool is_smooth() const { return smooth_; }
  FieldSample<D> at(Index i) const {
    FieldSample<D> f;
    f.drift = drift(i);
    const double* a = metric_view_.node(i);
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

  // Derivatives of the drift and metric at node m along each axis: central
  // differences of the nodal fields (those of the cubic interpolant at a
  // node), one-sided at the box edge.
  std::array<FieldSample<D>, D> node_derivatives(const MultiIndex<D>& m) const {
    std::array<FieldSample<D>, D> d{};
    const Index i = grid_.flat(m);
    for (int k = 0; k < D; ++k) {
      const Index lo = m[k] > 0 ? i - grid_.stride(k) : i;
      const Index hi = m[k] + 1 < grid_.shape()[k] ? i + grid_.stride(k) : i;
      const double span = double((hi - lo) / grid_.stride(k)) * grid_.spacing()[k];
      const FieldSample<D> fl = at(lo), fh = at(hi);
      for (int c = 0; c < action_size; ++c) d[std::size_t(k)].data()[c] = (fh.data()[c] - fl.data()[c]) / span;
    }
    return d;
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
    if (constant_)
      set_constant(r, action_size);
    else
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

  // The cubic interpolation (2D) at a point x of a grid line along `axis`
  // (the base point of a jet update), with the derivatives of the drift
  // and metric along the line, and with `curve` their second derivatives:
  // those of the one-dimensional cubic convolution of the line's nodes,
  // which is what the two-dimensional one is on a grid line; linear along
  // the line where the four-node stencil does not fit or the metric would
  // not be positive definite.
  // `room` as for cubic(), along the line.
  FieldSample<D> cubic_along(const Vec<D>& x, int axis, int count, FieldSample<D>& slope,
                             FieldSample<D>* curve = nullptr, double* room = nullptr) const {
    static_assert(D == 2, "the cubic interpolation along a grid line is written for 2D");
    MultiIndex<D> cell;
    Vec<D> frac;
    grid_.locate(x, cell, frac);
    const int across = 1 - axis;
    if (frac[across] > 0.5) ++cell[across];  // the nearest node line
    const double t = frac[axis], u = 1.0 / grid_.spacing()[axis];
    if (room) *room = 0.0;
    const Index stride = grid_.stride(axis);
    FieldSample<D> r{};
    slope = FieldSample<D>{};
    if (curve) *curve = FieldSample<D>{};
    if (cell[axis] >= 1 && cell[axis] + 2 < grid_.shape()[axis]) {
      const double w[4] = {((-0.5 * t + 1.0) * t - 0.5) * t, (1.5 * t - 2.5) * t * t + 1.0,
                           ((-1.5 * t + 2.0) * t + 0.5) * t, (0.5 * t - 0.5) * t * t};
      const double dw[4] = {((-1.5 * t + 2.0) * t - 0.5) * u, (4.5 * t - 5.0) * t * u,
                            ((-4.5 * t + 4.0) * t + 0.5) * u, (1.5 * t - 1.0) * t * u};
      const double ddw[4] = {(-3.0 * t + 2.0) * u * u, (9.0 * t - 5.0) * u * u, (-9.0 * t + 4.0) * u * u,
                             (3.0 * t - 1.0) * u * u};
      const Index first = grid_.flat(cell) - stride;
      auto add = [&](const auto& field, int offset, int width) {
        for (int b = 0; b < 4; ++b) {
          const double* v = field.node(first + b * stride);
          for (int k = 0; k < width; ++k) {
            const double f = field.get(v, k);
            r.data()[offset + k] += w[b] * f;
            slope.data()[offset + k] += dw[b] * f;
            if (curve) curve->data()[offset + k] += ddw[b] * f;
          }
        }
      };
      add(drift_, 0, D);
      const double edge_room = smooth_ ? std::fmin(t, 1.0 - t) * grid_.spacing()[axis] : 0.0;
      if (constant_) {
        set_constant(r, count);
        if (room) *room = edge_room;
        return r;
      }
      add(metric_view_, D, sym_size<D>);
      if (room && spd_margin<D>(r.metric) > kExpansionMargin) *room = edge_room;
      if (is_spd<D>(r.metric)) {
        if (count > action_size)
          for (int b = 0; b < 4; ++b) {
            const double* v = diffusion_.node(first + b * stride);
            for (int k = 0; k < sym_size<D>; ++k) r.diffusion[std::size_t(k)] += w[b] * diffusion_.get(v, k);
          }
        return r;
      }
      r = FieldSample<D>{};
      slope = FieldSample<D>{};
      if (curve) *curve = FieldSample<D>{};
    }
    // Linear between the line's nodes around x.
    const Index lo = grid_.flat(cell);
    const FieldSample<D> f0 = at(lo), f1 = at(lo + stride);
    for (int c = 0; c < FieldSample<D>::size; ++c) {
      r.data()[c] = f0.data()[c] + t * (f1.data()[c] - f0.data()[c]);
      slope.data()[c] = (f1.data()[c] - f0.data()[c]) * u;
    }
    if (constant_) set_constant(r, count);
    return r;
  }

  // The least scaled minor (spd_margin) of the metric at which derivatives
  // of the interpolant still describe it nearby (see `room`).
  static constexpr double kExpansionMargin = 1e-3;

  // Second derivatives of the drift and metric (2D): xx, xy, yy.
  using FieldHessian = std::array<FieldSample<D>, 3>;

  // The same (2D), with the derivatives of the drift and metric along each
  // axis, and with `hessian` also their second derivatives: those of the
  // interpolant used at x (cubic convolution, C^1 with second derivatives
  // that jump across cell lines; or multilinear in the cells where cubic()
  // falls back to it). The values are bit for bit those of cubic(x, count).
  //
  // With `room`, also how far from x (in each coordinate) the derivatives
  // describe the interpolant: to the nearest cell line, across which the
  // second derivatives jump; 0 where the multilinear fallback was taken or
  // the metric is close to indefinite (a Taylor expansion about x is then
  // no guide to the values nearby).
  FieldSample<D> cubic(const Vec<D>& x, int count, std::array<FieldSample<D>, D>& gradient,
                       FieldHessian* hessian = nullptr, double* room = nullptr) const {
    static_assert(D == 2, "the derivatives of the cubic interpolant are written for 2D");
    MultiIndex<D> cell;
    Vec<D> frac;
    grid_.locate(x, cell, frac);
    if (room) {
      *room = smooth_ ? std::numeric_limits<double>::infinity() : 0.0;
      for (int k = 0; k < D; ++k)
        *room = std::fmin(*room, std::fmin(frac[k], 1.0 - frac[k]) * grid_.spacing()[k]);
    }
    double w[D][4], dw[D][4], ddw[D][4];
    Index first = 0;
    bool inside = true;
    for (int k = 0; k < D; ++k) {
      inside = inside && cell[k] >= 1 && cell[k] + 2 < grid_.shape()[k];
      const double t = frac[k], u = 1.0 / grid_.spacing()[k];
      w[k][0] = ((-0.5 * t + 1.0) * t - 0.5) * t;
      w[k][1] = (1.5 * t - 2.5) * t * t + 1.0;
      w[k][2] = ((-1.5 * t + 2.0) * t + 0.5) * t;
      w[k][3] = (0.5 * t - 0.5) * t * t;
      dw[k][0] = ((-1.5 * t + 2.0) * t - 0.5) * u;
      dw[k][1] = (4.5 * t - 5.0) * t * u;
      dw[k][2] = ((-4.5 * t + 4.0) * t + 0.5) * u;
      dw[k][3] = (1.5 * t - 1.0) * t * u;
      ddw[k][0] = (-3.0 * t + 2.0) * u * u;
      ddw[k][1] = (9.0 * t - 5.0) * u * u;
      ddw[k][2] = (-9.0 * t + 4.0) * u * u;
      ddw[k][3] = (3.0 * t - 1.0) * u * u;
      first += (cell[k] - 1) * grid_.stride(k);
    }
    FieldSample<D> r{};
    if (inside) {
      if (hessian)
        accumulate_cubic<true>(drift_, first, w, dw, ddw, r.data(), gradient, hessian, 0);
      else
        accumulate_cubic<false>(drift_, first, w, dw, ddw, r.data(), gradient, hessian, 0);
      if (constant_) {
        set_constant(r, count);
        for (int k = 0; k < D; ++k) std::fill(gradient[std::size_t(k)].metric.begin(), gradient[std::size_t(k)].metric.end(), 0.0);
        if (hessian)
          for (FieldSample<D>& h : *hessian) std::fill(h.metric.begin(), h.metric.end(), 0.0);
        return r;
      }
      if (hessian)
        accumulate_cubic<true>(metric_view_, first, w, dw, ddw, r.metric.data(), gradient, hessian, D);
      else
        accumulate_cubic<false>(metric_view_, first, w, dw, ddw, r.metric.data(), gradient, hessian, D);
    }
    if (room && (!inside || !(spd_margin<D>(r.metric) > kExpansionMargin))) *room = 0.0;
    if (!inside || !is_spd<D>(r.metric)) {
      r = FieldSample<D>{};
      gradient = {};
      const CellCorners<D> c = cell_corners<D, true>(grid_, x);
      linear_add(drift_, c, r.data(), &gradient, 0);
      if (constant_) {
        set_constant(r, count);
      } else {
        linear_add(metric_view_, c, r.metric.data(), &gradient, D);
        if (count > action_size) linear_add(diffusion_, c, r.diffusion.data());
      }
      if (hessian) {
        // The multilinear interpolant's only second derivative is the mixed
        // one, the cell's twist.
        *hessian = {};
        const double twist = 1.0 / (grid_.spacing()[0] * grid_.spacing()[1]);
        for (int k = 0; k < c.count; ++k) {
          const double sign = ((k & 1) ? 1.0 : -1.0) * ((k & 2) ? 1.0 : -1.0) * twist;
          const double* v = drift_.node(c.node[k]);
          for (int m = 0; m < D; ++m) (*hessian)[1].data()[m] += sign * drift_.get(v, m);
          if (constant_) continue;
          const double* a = metric_view_.node(c.node[k]);
          for (int m = 0; m < sym_size<D>; ++m) (*hessian)[1].data()[D + m] += sign * metric_view_.get(a, m);
        }
      }
      return r;
    }
    if (count > action_size) accumulate_cubic(diffusion_, first, w, r.diffusion.data());
    return r;
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
    if (constant_) {
      set_constant(r, Count);
      return r;
    }
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

  // The same with the derivatives along each axis (2D), and with `Second`
  // the second derivatives too: the field's values go to out, its
  // derivatives to the components from `offset` on of gradient[k] and
  // (*hessian)[xx, xy, yy].
  template <bool Second, int Width, bool C>
  void accumulate_cubic(const NodeStrided<Width, C>& field, Index first, const double (&w)[D][4],
                        const double (&dw)[D][4], const double (&ddw)[D][4], double* out,
                        std::array<FieldSample<D>, D>& gradient, FieldHessian* hessian, int offset) const {
    // Local sums, stored once at the end: the compiler cannot tell the
    // outputs from the field's own storage.
    double value[Width] = {}, d0[Width] = {}, d1[Width] = {}, d00[Width] = {}, d01[Width] = {}, d11[Width] = {};
    for (int a = 0; a < 4; ++a) {
      double row[Width] = {}, slope[Width] = {}, curve[Width] = {};
      const Index line = first + a * grid_.stride(0);
      for (int b = 0; b < 4; ++b) {
        const double* v = field.node(line + b);
        for (int k = 0; k < Width; ++k) {
          row[k] += w[1][b] * field.get(v, k);
          slope[k] += dw[1][b] * field.get(v, k);
          if constexpr (Second) curve[k] += ddw[1][b] * field.get(v, k);
        }
      }
      for (int k = 0; k < Width; ++k) {
        value[k] += w[0][a] * row[k];
        d0[k] += dw[0][a] * row[k];
        d1[k] += w[0][a] * slope[k];
        if constexpr (Second) {
          d00[k] += ddw[0][a] * row[k];
          d01[k] += dw[0][a] * slope[k];
          d11[k] += w[0][a] * curve[k];
        }
      }
    }
    for (int k = 0; k < Width; ++k) {
      out[k] = value[k];
      gradient[0].data()[offset + k] = d0[k];
      gradient[1].data()[offset + k] = d1[k];
      if constexpr (Second) {
        (*hessian)[0].data()[offset + k] = d00[k];
        (*hessian)[1].data()[offset + k] = d01[k];
        (*hessian)[2].data()[offset + k] = d11[k];
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
    if (constant_) {
      set_constant(r, count);
      return;
    }
    linear_add(metric_view_, c, r.metric.data());
    if (count > action_size) linear_add(diffusion_, c, r.diffusion.data());
  }

  // Whether the drift and metric change by at most kSmoothChange of their
  // scale (the largest |b| on the grid; the larger of the two metrics)
  // from every node to its neighbours along the axes: fields that jump
  // between nodes (Example 4.1 of Zhou et al., cell means next to a jump)
  // do not, and there the interpolant's Taylor expansions are no guide to
  // its values nearby (see `room`).
  static constexpr double kSmoothChange = 0.05;
  // ... and whether D's condition number stays below this: the geometric
  // action amplifies a small error of the fields by up to the condition
  // number (Example 4.1's 2e4 moved a barrier by 2 % through rounding-level
  // changes of the fields at the quadrature points).
  static constexpr double kSmoothCondition = 1e3;

  bool smooth() const {
    static_assert(D == 2, "smooth() serves the 2D jet update's expansions");
    for (Index i = 0; i < (constant_ ? 1 : grid_.size()); ++i) {
      const double* a = metric_view_.node(i);
      const double half = 0.5 * (a[0] + a[2]), det = a[0] * a[2] - a[1] * a[1];
      const double root = std::sqrt(std::fmax(half * half - det, 0.0));
      if (!(half + root <= kSmoothCondition * (half - root))) return false;
    }
    double top = 0.0;
    for (Index i = 0; i < grid_.size(); ++i) top = std::fmax(top, norm<D>(drift(i)));
    for (Index i = 0; i < grid_.size(); ++i) {
      const MultiIndex<D> m = grid_.unflat(i);
      for (int k = 0; k < D; ++k) {
        if (m[k] + 1 >= grid_.shape()[k]) continue;
        const Index j = i + grid_.stride(k);
        if (!(norm<D>(sub<D>(drift(i), drift(j))) <= kSmoothChange * top)) return false;
        if (constant_) continue;
        const double* a = metric_view_.node(i);
        const double* b = metric_view_.node(j);
        double scale = 0.0, change = 0.0;
        for (int c = 0; c < sym_size<D>; ++c) {
          scale = std::fmax(scale, std::fmax(std::fabs(a[c]), std::fabs(b[c])));
          change = std::fmax(change, std::fabs(a[c] - b[c]));
        }
        if (!(change <= kSmoothChange * scale)) return false;
      }
    }
    return true;
  }

  // Whether D is the same at every node, bit for bit.
  static bool uniform(const double* diffusion, DiffusionLayout layout, Index size) {
    if (layout == DiffusionLayout::Constant) return true;
    const Index width = layout == DiffusionLayout::Packed ? sym_size<D> : D * D;
    for (Index i = 1; i < size; ++i)
      for (Index k = 0; k < width; ++k)
        if (!(diffusion[i * width + k] == diffusion[k])) return false;
    return true;
  }

  // The metric (and with count > action_size the diffusion) of a constant
  // D, exactly.
  void set_constant(FieldSample<D>& r, int count) const {
    std::copy(metric_.begin(), metric_.begin() + sym_size<D>, r.metric.begin());
    if (count > action_size) r.diffusion = diffusion(0);
  }

  static constexpr int action_size = FieldSample<D>::action_size;

  template <bool C>
  static void set_packed(NodeStrided<sym_size<D>, C>& field, const double* data) {
    field.data = data;
    field.stride = sym_size<D>;
    for (int k = 0; k < sym_size<D>; ++k) field.offset[k] = k;
  }

  Grid<D> grid_;
  bool constant_;                      // D (and so the metric) the same at every node
  bool smooth_ = false;                // smooth(), set by the constructor in 2D
  NodeStrided<D, true> drift_;         // the caller's
  std::vector<double> metric_;         // A = D^{-1}, node-major
  NodeStrided<sym_size<D>, true> metric_view_;
  NodeStrided<sym_size<D>> diffusion_;  // the caller's, or copy_
  std::vector<double> copy_;           // a full D symmetrised, where the caller's is not exactly symmetric
};

}  // namespace hjqp
