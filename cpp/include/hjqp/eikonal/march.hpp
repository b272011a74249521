// The eikonal solver: fast marching for
//     |grad u|_{M(x)^{-1}} = s(x),    i.e.  grad u^T M(x)^{-1} grad u = s(x)^2,
// whose solution is the least Riemannian length  int s(psi) |psi'|_M ds  of
// the paths from the source: M is the metric tensor (SPD), s the slowness
// (1 / speed). It is the Freidlin-Wentzell action of action.hpp with the
// drift term replaced by this Riemannian one, and the same ordered march
// (ordered_march.hpp) solves it; only
// the local update differs, and it is cheap enough here to be exact.
//
// Two local updates:
// - Isotropic (M = I): the upwind finite differences of Sethian's fast
//   marching method along the grid axes, first or second order (the
//   second-order one-sided difference where the two upwind nodes are
//   accepted and monotone), as in scikit-fmm.
// - Anisotropic (an M field): the semi-Lagrangian update of ordered upwind
//   and line-integral methods over the ring of the 3^D - 1 surrounding nodes:
//   u(x) = min over y on a ring simplex (edge in 2D, triangle in 3D) of the
//   linear interpolant of u at y plus the length of the segment y -> x in
//   the simplex's mean metric and slowness. The minimum has a closed form
//   (below). The ring is not causal for every metric (an obtuse metric can
//   reach x from nodes accepted after it), so the march is followed by
//   Gauss-Seidel sweeps of the same update until nothing changes: the
//   march's values are a supersolution of the scheme, and the sweeps
//   decrease them to its fixed point.
//
// Point sources are factored (Fomel, Luo & Zhao 2009; Luo & Qian 2012):
// u = T0 tau with T0(x) = s0 |x - x0|_{M0}, the exact solution for the
// slowness and metric frozen at the source, and the march solves for the
// smooth factor tau. With constant s and M the schemes are exact (tau = 1
// solves them), and elsewhere the error no longer comes from the source
// singularity: with a smooth speed the isotropic second-order scheme
// converges at order 1.5 in the maximum norm (1.7 RMS; the largest errors
// lie on the grid lines through the source), against order 1 unfactored.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/eikonal/simplex.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/optimise.hpp"
#include "hjqp/ordered_march.hpp"

namespace hjqp {


template <int D>
struct EikonalOptions {
  // Order of the isotropic finite differences (1 or 2). The anisotropic
  // ring update is first order.
  int order = 2;
  // Narrow band: stop once the least tentative value exceeds this; the
  // nodes beyond stay +inf.
  double max_value = std::numeric_limits<double>::infinity();
  // Axes along which the grid wraps around.
  std::array<bool, D> periodic{};
  // Gauss-Seidel sweeps after an anisotropic march, at most.
  int max_sweeps = 200;
  // Accepted nodes (or swept nodes) between two interrupt checks.
  Index check_interval = 1 << 14;
};

struct EikonalStats {
  Index accepted = 0;
  int sweeps = 0;          // anisotropic: Gauss-Seidel sweeps run
  Index swept_nodes = 0;   // ... and node values they lowered
  bool converged = true;   // ... whether the last sweep changed nothing
                           // (false when max_sweeps ran out or is 0)
};

template <int D>
class EikonalMarch : public OrderedMarch<D, EikonalMarch<D>> {
  static_assert(D == 2 || D == 3, "the eikonal march works on 2D and 3D grids");
  using Base = OrderedMarch<D, EikonalMarch<D>>;
  friend Base;
  using Base::grid_;
  using Base::state_;
  using Base::values_;
  static constexpr int S = sym_size<D>;
  // Factored ring updates try the simplices on which the linear
  // interpolant of u has no interior minimum within this many cells of a
  // point source, and beyond, those whose linear minimiser lies at most
  // kNearSourceCells / (cells from the source) outside.
  static constexpr double kNearSourceCells = 8.0;

 public:
  // slowness: size() values, or one (constant). metric: nullptr (M = I,
  // isotropic update), one packed SPD matrix (constant) or size() of them.
  // obstacle: nullptr or size() flags (nonzero: never reached). values is
  // written in place. All must outlive the marcher.
  EikonalMarch(const Grid<D>& grid, const double* slowness, bool slowness_constant,
               const double* metric, bool metric_constant, const std::uint8_t* obstacle,
               double* values, const EikonalOptions<D>& options = {})
      : Base(grid, values, options.max_value, options.check_interval),
        slowness_(slowness),
        slowness_step_(slowness_constant ? 0 : 1),
        metric_(metric),
        metric_step_(metric_constant ? 0 : S),
        options_(options) {
    if (options.order != 1 && options.order != 2)
      throw std::invalid_argument("order must be 1 or 2, got " + std::to_string(options.order));
    if (options.max_sweeps < 0) throw std::invalid_argument("max_sweeps must be >= 0");
    if (obstacle)
      for (Index i = 0; i < grid.size(); ++i)
        if (obstacle[i]) state_[std::size_t(i)] = NodeState::Obstacle;
    if (metric_) build_ring();
  }

  // Which side of the source's level set each node lies on (-1, 0, +1),
  // for level-set data: updates use nodes of the same side only.
  void set_sides(const double* phi) {
    side_.resize(std::size_t(grid_.size()));
    for (Index i = 0; i < grid_.size(); ++i) side_[std::size_t(i)] = std::int8_t((phi[i] > 0.0) - (phi[i] < 0.0));
  }

  // Fix the value of a node before the march (level-set data).
  void seed(Index node, double value) {
    check_seed(node, value);
    values_[node] = value;
    Base::accept_seed(node);
  }

  // A point source at x0 (anywhere in the box): the march solves for
  // tau = u / T0 with T0 = s0 |x - x0|_{M0}. The nodes within two cells of
  // x0 along every axis (a block of 4^D nodes around its cell) are seeded by
  // the trapezoidal rule along the segment from x0. Seeding a block rather
  // than the cell keeps the march causal next to an off-node source, where
  // a node's upwind neighbour along an axis can lie farther from the source
  // than the node itself. (Obstacles inside the block do not shield its
  // nodes from the source.)
  void seed_point(const Vec<D>& x0, double s0, const Sym<D>& m0) {
    if (!grid_.inside(x0)) throw std::invalid_argument("the point source lies outside the grid");
    if (!(s0 > 0.0) || !std::isfinite(s0))
      throw std::invalid_argument("the slowness at the point source must be positive and finite");
    if (!is_spd<D>(m0)) throw std::invalid_argument("the metric at the point source is not SPD");
    factor_ = PointFactor<D>{x0, s0, m0};
    factored_ = true;
    tau_.assign(std::size_t(grid_.size()), 1.0);
    MultiIndex<D> cell, lo, hi;
    Vec<D> frac;
    grid_.locate(x0, cell, frac);
    Index count = 1;
    for (int k = 0; k < D; ++k) {
      lo[k] = std::max<Index>(cell[k] - 1, 0);
      hi[k] = std::min<Index>(cell[k] + 2, grid_.shape()[k] - 1);
      count *= hi[k] - lo[k] + 1;
    }
    bool any = false;
    for (Index c = 0; c < count; ++c) {
      MultiIndex<D> m;
      Index rest = c;
      for (int k = D - 1; k >= 0; --k) {
        const Index len = hi[k] - lo[k] + 1;
        m[k] = lo[k] + rest % len;
        rest /= len;
      }
      const Index node = grid_.flat(m);
      if (state_[std::size_t(node)] != NodeState::Far) continue;
      const Vec<D> y = grid_.point(m);
      const Vec<D> v = sub<D>(y, x0);
      const double t0 = factor_.value(y);
      const double u = 0.5 * (t0 + slowness(node) * std::sqrt(form<D>(metric(node), v, v)));
      values_[node] = u;
      tau_[std::size_t(node)] = t0 > 0.0 ? u / t0 : 1.0;
      Base::accept_seed(node);
      any = true;
    }
    if (!any) throw std::invalid_argument("the point source is surrounded by obstacles");
  }

  // `interrupted` is polled every options.check_interval nodes; when it
  // returns true the march throws Interrupted.
  template <class Check>
  EikonalStats run(const Check& interrupted) {
    EikonalStats stats;
    Base::march(interrupted);
    stats.accepted = Index(Base::seeds().size()) + Base::accepted();
    if (metric_) sweep(stats, interrupted);
    return stats;
  }

 private:
  // The march's hooks: the updates offer values to the neighbours of an
  // accepted node; nothing is left to do when a node is accepted.
  void settle(Index) {}
  bool absorbs(Index) const { return false; }
  void unreach(Index) {}

  double slowness(Index i) const { return slowness_[i * slowness_step_]; }
  Sym<D> metric(Index i) const {
    Sym<D> m;
    if (!metric_) {
      for (int a = 0; a < D; ++a)
        for (int b = a; b < D; ++b) m[sym_index<D>(a, b)] = a == b ? 1.0 : 0.0;
      return m;
    }
    const double* p = metric_ + i * metric_step_;
    for (int k = 0; k < S; ++k) m[k] = p[k];
    return m;
  }
  double tau(Index i) const { return factored_ ? tau_[std::size_t(i)] : values_[i]; }

  void check_seed(Index node, double value) const {
    if (node < 0 || node >= grid_.size())
      throw std::out_of_range("seed node " + std::to_string(node) + " is outside the grid");
    if (!(value >= 0.0) || !std::isfinite(value))
      throw std::invalid_argument("seed value at " + describe_node<D>(grid_, node) +
                                  " must be finite and >= 0");
    if (state_[std::size_t(node)] == NodeState::Obstacle)
      throw std::invalid_argument("seed at " + describe_node<D>(grid_, node) + " is an obstacle");
  }

  // The node `step` cells from m along axis k, wrapping around periodic
  // axes; -1 outside the grid.
  Index along(Index i, const MultiIndex<D>& m, int k, int step) const {
    Index c = m[k] + step;
    const Index n = grid_.shape()[k];
    if (c < 0 || c >= n) {
      if (!options_.periodic[std::size_t(k)]) return -1;
      c = (c % n + n) % n;
    }
    return i + (c - m[k]) * grid_.stride(k);
  }

  // The node at offset o from m; -1 outside the grid.
  Index offset(Index i, const MultiIndex<D>& m, const std::array<int, D>& o) const {
    Index j = i;
    for (int k = 0; k < D && j >= 0; ++k)
      if (o[k]) {
        const Index c = m[k] + o[k];
        const Index n = grid_.shape()[k];
        if (c < 0 || c >= n) {
          if (!options_.periodic[std::size_t(k)]) return -1;
          j += (((c % n) + n) % n - m[k]) * grid_.stride(k);
        } else {
          j += o[k] * grid_.stride(k);
        }
      }
    return j;
  }

  // Accepted and on the same side of the level set as x: the march runs
  // on |u| on both sides at once, and a difference across the interface
  // would mix the two.
  bool usable(Index x, Index j) const {
    return j >= 0 && state_[std::size_t(j)] == NodeState::Accepted && same_side(x, j);
  }
  // Inside the grid and neither accepted nor an obstacle.
  bool open(Index j) const {
    return j >= 0 && (state_[std::size_t(j)] == NodeState::Far || state_[std::size_t(j)] == NodeState::Considered);
  }
  bool same_side(Index x, Index j) const {
    return side_.empty() || side_[std::size_t(j)] == 0 || side_[std::size_t(j)] == side_[std::size_t(x)];
  }

  void offer(Index node, double u) {
    if (u < values_[node]) {
      values_[node] = u;
      Base::lowered(node);
    }
  }

  void propagate(Index node) {
    const MultiIndex<D> m = grid_.unflat(node);
    if (!metric_) {
      for (int k = 0; k < D; ++k)
        for (int step = -1; step <= 1; step += 2) {
          const Index j = along(node, m, k, step);
          if (j < 0) continue;
          const NodeState st = state_[std::size_t(j)];
          if (st == NodeState::Far || st == NodeState::Considered) axis_update(j);
        }
      return;
    }
    for (std::size_t r = 0; r < ring_.size(); ++r) {
      // node is ring member r of x = node - ring_[r].
      std::array<int, D> back;
      for (int k = 0; k < D; ++k) back[k] = -ring_[r][k];
      const Index x = offset(node, m, back);
      if (x < 0) continue;
      const NodeState st = state_[std::size_t(x)];
      if (st != NodeState::Far && st != NodeState::Considered) continue;
      const double u = ring_update(x, int(r), false);
      if (factored_ && u < values_[x]) tau_[std::size_t(x)] = u / factor_.value(grid_.point(grid_.unflat(x)));
      offer(x, u);
    }
  }

  // --- Isotropic update: upwind differences along the axes ----------------

  // d_k u = a tau + b in the difference of the scheme; a1 tau + b1 in the
  // first-order one, whose sign says whether the axis is upwind; sign: +1
  // if the upwind node is behind x.
  struct AxisTerm {
    double a, b, a1, b1, sign;
  };

  // tau solving sum_k (a_k tau + b_k)^2 = s^2 over the axes in `set` (bit
  // mask), or NaN if there is no root or the differences are not upwind
  // (sign_k (a_k tau + b_k) < 0).
  //
  // The root is (-b + sqrt(b^2 - a c)) / a with a = sum a_k^2, b = sum a_k b_k,
  // c = sum b_k^2 - s^2, as scikit-fmm computes it. But b^2 - a c subtracts
  // two numbers of size (a tau)^2 to obtain a (s^2 - r) (r below): at a node
  // much faster than its neighbours (s h below about 1e-8 u) that difference
  // was all rounding, the root was lost and the node stayed +inf. Where more
  // than half the digits cancel the root is taken about the least-squares
  // point tau_c = -b / a instead, where the left side takes its least value r
  // (the squared residual):
  //     sum_k (a_k tau + b_k)^2 = a (tau - tau_c)^2 + r,
  //     tau = tau_c + sqrt((s^2 - r) / a),
  // r a sum of squares (exactly 0 for one axis) and s entering as is.
  //
  // The a_k are scaled by a power of two, 2^-e, to lie in [1, 2), and the
  // root by 2^e back: exact, so results are the same bit for bit, but a_k^2
  // cannot underflow. With a point source at a node of slowness s0 below
  // about 1e-154 (speed 1e154 and up), a_k = O(s0) and tau = u / T0 =
  // O(1 / s0): a_k^2 was 0 and the nodes around stayed +inf. Likewise the
  // b_k and s are scaled by the power of two 2^-f that brings the largest
  // of them into [1, 2), and the root by 2^f: at a node of slowness above
  // about 1e154 (a speed below 1e-154, or neighbours' values above 1e154)
  // s^2 or b_k^2 overflowed, and the node stayed +inf although its value
  // was finite.
  static double solve_axes(const AxisTerm* terms, int set, double s) {
    constexpr double nan = std::numeric_limits<double>::quiet_NaN();
    constexpr double kCancellation = 1e-6;
    double largest = 0.0, largest_b = s;
    for (int k = 0; k < D; ++k)
      if (set & (1 << k)) {
        largest = std::fmax(largest, std::fabs(terms[k].a));
        largest_b = std::fmax(largest_b, std::fmax(std::fabs(terms[k].b), std::fabs(terms[k].b1)));
      }
    if (!(largest > 0.0) || !std::isfinite(largest)) return nan;
    if (!(largest_b > 0.0) || !std::isfinite(largest_b)) return nan;
    const int e = std::ilogb(largest);
    const int f = std::ilogb(largest_b);
    AxisTerm t[D]{};
    for (int k = 0; k < D; ++k)
      if (set & (1 << k))
        t[k] = AxisTerm{std::ldexp(terms[k].a, -e), std::ldexp(terms[k].b, -f), std::ldexp(terms[k].a1, -e),
                        std::ldexp(terms[k].b1, -f), terms[k].sign};
    s = std::ldexp(s, -f);
    double a = 0.0, b = 0.0, c = -s * s;
    int axes = 0;
    for (int k = 0; k < D; ++k)
      if (set & (1 << k)) {
        a += t[k].a * t[k].a;
        b += t[k].a * t[k].b;
        c += t[k].b * t[k].b;
        ++axes;
      }
    if (!(a > 0.0) || !std::isfinite(a)) return nan;
    const double disc = b * b - a * c;
    double tau;
    if (disc > kCancellation * b * b) {
      tau = (-b + std::sqrt(disc)) / a;
    } else {
      const double centre = -b / a;
      double r = 0.0;
      if (axes > 1)
        for (int k = 0; k < D; ++k)
          if (set & (1 << k)) {
            const double residual = t[k].a * centre + t[k].b;
            r += residual * residual;
          }
      // s^2 - r as (s - sqrt r)(s + sqrt r): no underflow of s^2 for tiny s.
      const double root_r = std::sqrt(r);
      if (!(s >= root_r)) return nan;
      tau = centre + std::sqrt((s - root_r) * (s + root_r) / a);
    }
    if (!(tau > 0.0) || !std::isfinite(tau)) return nan;
    for (int k = 0; k < D; ++k)
      if (set & (1 << k)) {
        // Upwind up to the rounding of a1 tau + b1 itself: where s is below
        // that rounding the root is tau_c, on the edge of the test.
        const double d = t[k].a1 * tau + t[k].b1;
        const double rounding = 4.0 * std::numeric_limits<double>::epsilon() *
                                (std::fabs(t[k].a1 * tau) + std::fabs(t[k].b1));
        if (t[k].sign * d < -rounding) return nan;
      }
    const double root = std::ldexp(tau, f - e);
    return std::isfinite(root) ? root : nan;
  }

  // The least valid tau over `set` and its proper subsets (NaN if none).
  static double solve_axes_or_fewer(const AxisTerm* t, int set, double s) {
    double best = solve_axes(t, set, s);
    if (!std::isnan(best)) return best;
    for (int sub = (set - 1) & set; sub > 0; sub = (sub - 1) & set) {
      const double tau = solve_axes(t, sub, s);
      if (!std::isnan(tau) && !(tau >= best)) best = tau;
    }
    return best;
  }

  void axis_update(Index x) {
    const MultiIndex<D> m = grid_.unflat(x);
    const Vec<D>& h = grid_.spacing();
    // Factor T0 and its gradient at x (T0 = 1, grad 0 without a point source).
    double t0 = 1.0;
    Vec<D> g{}, q{};
    if (factored_) {
      double nq = 0.0;
      for (int k = 0; k < D; ++k) {
        q[k] = double(m[k]) * h[k] - factor_.source[k];
        nq += q[k] * q[k];
      }
      nq = std::sqrt(nq);
      if (!(nq > 0.0)) return;  // x is the source: seeded
      t0 = factor_.slowness * nq;
      for (int k = 0; k < D; ++k) g[k] = factor_.slowness * q[k] / nq;
    }
    AxisTerm terms[D]{};
    int set = 0;
    for (int k = 0; k < D; ++k) {
      const Index back = along(x, m, k, -1), ahead = along(x, m, k, 1);
      const bool ok_back = usable(x, back), ok_ahead = usable(x, ahead);
      if (!ok_back && !ok_ahead) {
        // Within a cell of the line through an off-node source along the
        // other axes, both axis-k neighbours can lie farther from the source
        // than x and be accepted after it. The upwind scheme would take
        // d_k u = 0 there; the factored scheme takes d_k tau = 0, i.e.
        // d_k u = tau g_k = O(h / |x - x0|), as consistent, and exact where
        // tau is constant.
        if (factored_ && g[k] != 0.0 && std::fabs(q[k]) < h[k] && open(back) && open(ahead)) {
          const double sign = g[k] > 0.0 ? 1.0 : -1.0;
          terms[k] = AxisTerm{g[k], 0.0, g[k], 0.0, sign};
          set |= 1 << k;
        }
        continue;
      }
      int step = -1;
      Index j1 = back;
      if (!ok_back || (ok_ahead && values_[ahead] < values_[back])) {
        step = 1;
        j1 = ahead;
      }
      double alpha = 1.0, beta = tau(j1);
      if (options_.order == 2) {
        // Across the level set the march's |u| is continued by -|u|: the
        // signed distance is smooth there (level-set data only; x is not
        // a seed, so j1 lies on its side).
        const Index j2 = along(x, m, k, 2 * step);
        if (j2 >= 0 && state_[std::size_t(j2)] == NodeState::Accepted) {
          const double v2 = same_side(x, j2) ? values_[j2] : -values_[j2];
          if (v2 <= values_[j1]) {
            alpha = 1.5;
            beta = 2.0 * tau(j1) - 0.5 * (same_side(x, j2) ? tau(j2) : v2);
          }
        }
      }
      const double sign = step < 0 ? 1.0 : -1.0;
      terms[k] = AxisTerm{g[k] + t0 * sign * alpha / h[k], -t0 * sign * beta / h[k],
                          g[k] + t0 * sign / h[k], -t0 * sign * tau(j1) / h[k], sign};
      set |= 1 << k;
    }
    if (!set) return;
    const double s = slowness(x);
    double best = solve_axes_or_fewer(terms, set, s);
    if (std::isnan(best) && options_.order == 2) {
      // No admissible second-order value: the first-order one (as where
      // the second upwind node is missing). A node with an accepted
      // neighbour must get a value, or it is never accepted and stays +inf.
      AxisTerm first[D];
      for (int k = 0; k < D; ++k) first[k] = AxisTerm{terms[k].a1, terms[k].b1, terms[k].a1, terms[k].b1, terms[k].sign};
      best = solve_axes_or_fewer(first, set, s);
    }
    if (std::isnan(best)) return;
    // The new value replaces the old one even when larger: second-order
    // differences are not monotone in the neighbours' values, and keeping
    // the least of successive estimates would bias the march low.
    values_[x] = t0 * best;
    if (factored_) tau_[std::size_t(x)] = best;
    Base::changed(x);
  }

  // --- Anisotropic update over the ring of surrounding nodes -------------

  // The ring: 3^D - 1 offsets; simplices: 2D edges between an axis node and
  // a diagonal one; 3D triangles {s e_i, s e_i + t e_j, s e_i + t e_j + r e_k}
  // on the faces of the 3x3x3 cube, and their edges. Each simplex is listed
  // under each of its members, so that when a node is accepted only the
  // simplices holding it are evaluated.
  void build_ring() {
    auto index_of = [](const std::array<int, D>& o) {
      int c = 0;
      for (int k = 0; k < D; ++k) c = 3 * c + (o[k] + 1);
      return c;
    };
    int count = 1;
    for (int k = 0; k < D; ++k) count *= 3;
    std::vector<int> ring_of_code(std::size_t(count), -1);
    for (const MultiIndex<D>& off : neighbour_offsets<D>()) {
      std::array<int, D> o;
      for (int k = 0; k < D; ++k) o[k] = int(off[k]);
      ring_of_code[std::size_t(index_of(o))] = int(ring_.size());
      ring_.push_back(o);
    }
    std::vector<std::array<int, 3>> tri;
    std::vector<std::array<int, 2>> edges;
    auto add_edge = [&](int a, int b) {
      for (const auto& e : edges)
        if ((e[0] == a && e[1] == b) || (e[0] == b && e[1] == a)) return;
      edges.push_back({a, b});
    };
    for (int i = 0; i < D; ++i)
      for (int si = -1; si <= 1; si += 2)
        for (int j = 0; j < D; ++j) {
          if (j == i) continue;
          for (int sj = -1; sj <= 1; sj += 2) {
            std::array<int, D> a{}, b{};
            a[i] = si;
            b = a;
            b[j] = sj;
            const int ra = ring_of_code[std::size_t(index_of(a))];
            const int rb = ring_of_code[std::size_t(index_of(b))];
            add_edge(ra, rb);
            if (D == 3) {
              const int k = 3 - i - j;
              for (int sk = -1; sk <= 1; sk += 2) {
                std::array<int, D> c = b;
                c[k] = sk;
                const int rc = ring_of_code[std::size_t(index_of(c))];
                add_edge(rb, rc);
                add_edge(ra, rc);
                tri.push_back({ra, rb, rc});
              }
            }
          }
        }
    edges_of_.assign(ring_.size(), {});
    triangles_of_.assign(ring_.size(), {});
    for (const auto& e : edges) {
      edges_of_[std::size_t(e[0])].push_back(e);
      edges_of_[std::size_t(e[1])].push_back(e);
    }
    for (const auto& t : tri)
      for (int a = 0; a < 3; ++a) triangles_of_[std::size_t(t[std::size_t(a)])].push_back(t);
    all_edges_ = edges;
    all_triangles_ = tri;
  }

  // The least value at x over the point, edges and triangles of the ring
  // holding ring member r (r < 0 and all = true: over the whole ring, with
  // any finite values; used by the sweeps).
  double ring_update(Index x, int r, bool all) {
    const MultiIndex<D> m = grid_.unflat(x);
    const Vec<D>& h = grid_.spacing();
    const double sx = slowness(x);
    const Sym<D> mx = metric(x);
    Vec<D> xq{};
    if (factored_) xq = sub<D>(grid_.point(m), factor_.source);
    double best = std::numeric_limits<double>::infinity();
    auto member = [&](int q, Index& j) {
      j = offset(x, m, ring_[std::size_t(q)]);
      if (j < 0) return false;
      if (!same_side(x, j)) return false;
      return all ? (state_[std::size_t(j)] != NodeState::Obstacle && std::isfinite(values_[j]))
                 : state_[std::size_t(j)] == NodeState::Accepted;
    };
    auto vec_to_x = [&](int q) {
      Vec<D> p;
      for (int k = 0; k < D; ++k) p[k] = -double(ring_[std::size_t(q)][k]) * h[k];
      return p;
    };
    auto consider_point = [&](int q) {
      Index j;
      if (!member(q, j)) return;
      const Vec<D> p = vec_to_x(q);
      const Sym<D> mj = metric(j);
      const double len = 0.5 * (sx * std::sqrt(form<D>(mx, p, p)) + slowness(j) * std::sqrt(form<D>(mj, p, p)));
      best = std::fmin(best, values_[j] + len);
    };
    if (all) {
      for (std::size_t q = 0; q < ring_.size(); ++q) consider_point(int(q));
      for (const auto& e : all_edges_) consider_simplex<2>(sx, mx, xq, e, member, vec_to_x, best);
      if constexpr (D == 3)
        for (const auto& t : all_triangles_) consider_simplex<3>(sx, mx, xq, t, member, vec_to_x, best);
      return best;
    }
    consider_point(r);
    for (const auto& e : edges_of_[std::size_t(r)]) consider_simplex<2>(sx, mx, xq, e, member, vec_to_x, best);
    if constexpr (D == 3)
      for (const auto& t : triangles_of_[std::size_t(r)])
        consider_simplex<3>(sx, mx, xq, t, member, vec_to_x, best);
    return best;
  }

  // The simplex update from ring members q[0..K-1], all usable: the length
  // of y -> x in the mean slowness and metric of x and the members, plus u
  // at y interpolated linearly (or, with a point source, T0(y) times the
  // linear interpolant of tau, minimised by Newton from the closed-form
  // minimiser of the linear interpolant of u).
  template <int K, class Member, class VecToX>
  void consider_simplex(double sx, const Sym<D>& mx, const Vec<D>& xq,
                        const std::array<int, K>& q, const Member& member, const VecToX& vec_to_x,
                        double& best) {
    constexpr int N = K - 1;
    std::array<Index, K> j;
    for (int a = 0; a < K; ++a)
      if (!member(q[std::size_t(a)], j[std::size_t(a)])) return;
    double s = 0.0;
    Sym<D> metric_mean{};
    for (int a = 0; a < K; ++a) {
      s += slowness(j[std::size_t(a)]);
      const Sym<D> mj = metric(j[std::size_t(a)]);
      for (int c = 0; c < S; ++c) metric_mean[c] += mj[c];
    }
    s = 0.5 * (sx + s / K);
    for (int c = 0; c < S; ++c) metric_mean[c] = 0.5 * (mx[c] + metric_mean[c] / K);
    const Vec<D> p0 = vec_to_x(q[0]);
    std::array<Vec<D>, N> e;
    std::array<double, N> delta, mu;
    for (int a = 0; a < N; ++a) {
      e[std::size_t(a)] = sub<D>(vec_to_x(q[std::size_t(a + 1)]), p0);
      delta[std::size_t(a)] = values_[j[std::size_t(a + 1)]] - values_[j[0]];
    }
    const bool interior = detail::simplex_minimiser<N, D>(p0, e, metric_mean, s, delta, mu);
    if (!interior && !factored_) return;
    auto length = [&](const std::array<double, N>& w) {
      Vec<D> v = p0;
      for (int a = 0; a < N; ++a) v = axpy<D>(v, w[std::size_t(a)], e[std::size_t(a)]);
      return s * std::sqrt(form<D>(metric_mean, v, v));
    };
    if (!factored_) {
      double u = values_[j[0]] + length(mu);
      for (int a = 0; a < N; ++a) u += delta[std::size_t(a)] * mu[std::size_t(a)];
      best = std::fmin(best, u);
      return;
    }
    std::array<double, N> dtau;
    for (int a = 0; a < N; ++a) dtau[std::size_t(a)] = tau_[std::size_t(j[std::size_t(a + 1)])] - tau_[std::size_t(j[0])];
    const double tau0 = tau_[std::size_t(j[0])];
    // f(mu) = T0(y(mu)) tau(mu) + s |v(mu)|_M, y = x - v, v = p0 + E mu.
    auto at = [&](const std::array<double, N>& w, Vec<D>& v, double& t) {
      v = p0;
      t = tau0;
      for (int a = 0; a < N; ++a) {
        v = axpy<D>(v, w[std::size_t(a)], e[std::size_t(a)]);
        t += dtau[std::size_t(a)] * w[std::size_t(a)];
      }
    };
    auto value = [&](const std::array<double, N>& w) {
      Vec<D> v;
      double t;
      at(w, v, t);
      const Vec<D> qy = sub<D>(xq, v);
      return factor_.slowness * std::sqrt(form<D>(factor_.metric, qy, qy)) * t +
             s * std::sqrt(form<D>(metric_mean, v, v));
    };
    // The factored objective can have an interior minimum where the linear
    // interpolant of u has none: Newton then starts from the projection of
    // that one's minimiser onto the simplex (the centroid if it has none).
    // The two minimisers differ by O(h / |x - x0|) (T0 bends over a cell),
    // so beyond a few cells from the source only simplices whose linear
    // minimiser lies within that distance outside are tried.
    if (!interior) {
      double cells = 0.0;
      for (int k = 0; k < D; ++k) cells = std::fmax(cells, std::fabs(xq[k]) / grid_.spacing()[k]);
      if (cells > kNearSourceCells) {
        double outside = 0.0, total = 0.0;
        for (int a = 0; a < N; ++a) {
          outside = std::fmax(outside, -mu[std::size_t(a)]);
          total += mu[std::size_t(a)];
        }
        outside = std::fmax(outside, total - 1.0);
        if (!(outside <= kNearSourceCells / cells)) return;  // (NaN: no stationary point)
      }
      if (std::isnan(mu[0])) {
        mu.fill(1.0 / K);
      } else {
        double total = 0.0;
        for (int a = 0; a < N; ++a) total += (mu[std::size_t(a)] = std::fmax(mu[std::size_t(a)], 0.0));
        if (total > 1.0)
          for (int a = 0; a < N; ++a) mu[std::size_t(a)] /= total;
      }
    }
    const double f = interior ? value(mu) : std::numeric_limits<double>::infinity();
    std::array<double, N> w = mu;
    for (int it = 0; it < 8; ++it) {
      Vec<D> v;
      double t;
      at(w, v, t);
      const Vec<D> qy = sub<D>(xq, v);
      if (!(form<D>(factor_.metric, qy, qy) > 1e-24 * form<D>(factor_.metric, p0, p0))) break;
      const auto nq = detail::norm_jet<D>(factor_.metric, qy);
      const auto nv = detail::norm_jet<D>(metric_mean, v);
      // d/dmu_a: y moves by -e_a.
      double grad[N], hess[N][N], dt0[N];
      for (int a = 0; a < N; ++a) {
        dt0[a] = -factor_.slowness * dot<D>(nq.gradient, e[std::size_t(a)]);
        grad[a] = dt0[a] * t + factor_.slowness * nq.value * dtau[std::size_t(a)] +
                  s * dot<D>(nv.gradient, e[std::size_t(a)]);
      }
      for (int a = 0; a < N; ++a)
        for (int b = 0; b < N; ++b)
          hess[a][b] = factor_.slowness * t * form<D>(nq.hessian, e[std::size_t(a)], e[std::size_t(b)]) +
                       dt0[a] * dtau[std::size_t(b)] + dtau[std::size_t(a)] * dt0[b] +
                       s * form<D>(nv.hessian, e[std::size_t(a)], e[std::size_t(b)]);
      std::array<double, N> step;
      if (!exact_newton_step<N>(hess, grad, step)) break;
      // Any point of the simplex gives an upper bound of its minimum: the
      // step is shortened to stay inside (a minimum on the boundary is the
      // boundary simplices' business).
      double scale_step = 1.0;
      for (int a = 0; a < N; ++a)
        if (w[std::size_t(a)] + step[std::size_t(a)] < 0.0)
          scale_step = std::fmin(scale_step, w[std::size_t(a)] / -step[std::size_t(a)]);
      double total = 0.0, total_step = 0.0, size = 0.0;
      for (int a = 0; a < N; ++a) {
        total += w[std::size_t(a)];
        total_step += step[std::size_t(a)];
      }
      if (total + total_step > 1.0) scale_step = std::fmin(scale_step, (1.0 - total) / total_step);
      for (int a = 0; a < N; ++a) {
        w[std::size_t(a)] += scale_step * step[std::size_t(a)];
        size = std::fmax(size, std::fabs(scale_step * step[std::size_t(a)]));
      }
      if (size < 1e-10) break;  // quadratic convergence: the next step is below rounding
    }
    const double fw = value(w);
    best = std::fmin(best, std::fmin(f, fw));
  }

  // Gauss-Seidel sweeps of the ring update over the reached nodes, in the
  // 2^D axis orders in turn, until one changes nothing.
  template <class Check>
  void sweep(EikonalStats& stats, const Check& interrupted) {
    std::vector<char> seed(std::size_t(grid_.size()), 0);
    for (Index node : Base::seeds()) seed[std::size_t(node)] = 1;
    const MultiIndex<D>& n = grid_.shape();
    Index since_check = 0;
    int quiet = 0;  // consecutive sweeps that changed nothing
    for (int pass = 0; pass < options_.max_sweeps; ++pass) {
      const int dir = pass % (1 << D);
      Index changed = 0;
      const Index total = grid_.size();
      for (Index c = 0; c < total; ++c) {
        // c enumerates the nodes; axis k runs backwards when bit k of dir is set.
        Index rest = c, x = 0;
        for (int k = D - 1; k >= 0; --k) {
          Index mk = rest % n[k];
          rest /= n[k];
          if (dir & (1 << k)) mk = n[k] - 1 - mk;
          x += mk * grid_.stride(k);
        }
        if (seed[std::size_t(x)] || state_[std::size_t(x)] == NodeState::Obstacle ||
            !std::isfinite(values_[x]))
          continue;
        const double u = ring_update(x, -1, true);
        if (u < values_[x] * (1.0 - 1e-13)) {
          values_[x] = u;
          if (factored_) tau_[std::size_t(x)] = u / factor_.value(grid_.point(grid_.unflat(x)));
          ++changed;
        }
        if (++since_check >= options_.check_interval) {
          since_check = 0;
          if (interrupted()) throw Interrupted();
        }
      }
      ++stats.sweeps;
      stats.swept_nodes += changed;
      quiet = changed ? 0 : quiet + 1;
      // A sweep in one order that changes nothing proves a fixed point.
      if (quiet >= 1) {
        stats.converged = true;
        return;
      }
    }
    stats.converged = false;  // out of sweeps (or none allowed)
  }

  const double* slowness_;
  Index slowness_step_;
  const double* metric_;
  Index metric_step_;
  EikonalOptions<D> options_;
  std::vector<std::int8_t> side_;
  bool factored_ = false;
  PointFactor<D> factor_{};
  std::vector<double> tau_;
  std::vector<std::array<int, D>> ring_;
  std::vector<std::vector<std::array<int, 2>>> edges_of_;
  std::vector<std::vector<std::array<int, 3>>> triangles_of_;
  std::vector<std::array<int, 2>> all_edges_;
  std::vector<std::array<int, 3>> all_triangles_;
};

}  // namespace hjqp
