// The quasi-potential of a Hamiltonian of the exponential family (jump.hpp)
// by the ordered march (ordered_march.hpp): an ordered line integral
// method (Dahiya & Cameron 2018) with the geometric action h(x, v), the
// support function of K(x) = {p : H(x, p) <= 0}, in place of the quadratic
// Hamiltonian's closed form.
//
// When the node x of least tentative value is accepted its value is
//     U(x) = min over y of  U(y) + h((x + y) / 2, x - y),
// y ranging over the accepted simplices near x (midpoint rule along the
// straight segment: second order in its length), U linear over each
// simplex. The simplices are found hierarchically (Potter & Cameron's
// hierarchical OLIMs): the best one-point update among the accepted nodes
// within `update_radius` cells picks a node a; triangle updates pair a with
// each accepted node b next to it (still within the radius), and in 3D the
// best of those pairs adds a third node c next to both for tetrahedron
// updates. grad U(x) is the momentum p*(x, x - y*) of the best update.
// Neighbours of an accepted node get the first-order prediction
// U + grad U . (x - y) as heap key, as in the quadratic march.
//
// Every evaluation of h solves a small convex problem (support() in
// jump.hpp), started from the last solution found for this node: the
// points and directions of one update change little between evaluations.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/jump.hpp"
#include "hjqp/optimise.hpp"
#include "hjqp/ordered_march.hpp"
#include "hjqp/quasipotential.hpp"

namespace hjqp {

// The range of the jump march's update radius (cells).
constexpr int kJumpRadiusRange[2] = {1, 8};

struct JumpMarchOptions {
  // How far (cells of the smallest spacing) the one-point updates reach
  // back along the characteristic where the near nodes are not upwind.
  int update_radius = 4;
  double max_value = std::numeric_limits<double>::infinity();
  Index check_interval = 1 << 11;
};

struct JumpMarchStats {
  Index accepted = 0;
  Index updates = 0;      // simplex updates evaluated (one-point, triangle, tetrahedron)
  Index supports = 0;     // evaluations of h(x, v)
  Index unreachable = 0;  // nodes with no finite update (directions outside the jumps' cone)
  Index dual = 0;         // evaluations of h that needed the dual fallback
};

template <int D>
class JumpMarch : public OrderedMarch<D, JumpMarch<D>> {
  static_assert(D == 2 || D == 3, "the jump march works on 2D and 3D grids");
  using Base = OrderedMarch<D, JumpMarch<D>>;
  friend Base;
  using Base::grid_;
  using Base::state_;
  using Base::values_;

 public:
  JumpMarch(const JumpFields<D>& fields, double* values, double* gradients, std::uint8_t* rules,
            const JumpMarchOptions& options = {})
      : Base(fields.grid(), values, options.max_value, options.check_interval),
        fields_(fields),
        gradients_(gradients),
        rules_(rules),
        options_(options),
        parent_(std::size_t(fields.grid().size()), -1),
        stencil_(neighbour_offsets<D>()) {
    if (options.update_radius < kJumpRadiusRange[0] || options.update_radius > kJumpRadiusRange[1])
      throw std::invalid_argument("update_radius must be an integer in [1, 8], got " +
                                  std::to_string(options.update_radius));
    // Offsets within the update radius, nearest first (ties in
    // lexicographic order), in units of the smallest spacing.
    const double h = grid_.min_spacing();
    const int k = options.update_radius;
    MultiIndex<D> off{};
    std::vector<std::pair<double, MultiIndex<D>>> near;
    const int width = 2 * k + 1;
    int total = 1;
    for (int a = 0; a < D; ++a) total *= width;
    for (int c = 0; c < total; ++c) {
      int rest = c;
      double d2 = 0.0;
      bool centre = true;
      for (int a = D - 1; a >= 0; --a) {
        off[a] = rest % width - k;
        rest /= width;
        const double step = double(off[a]) * grid_.spacing()[a] / h;
        d2 += step * step;
        centre = centre && off[a] == 0;
      }
      if (!centre && d2 <= double(k * k) + 1e-9) near.push_back({d2, off});
    }
    std::stable_sort(near.begin(), near.end(), [](const auto& p, const auto& q) { return p.first < q.first; });
    for (const auto& n : near) reach_.push_back(n.second);
    for (Index i = 0; i < grid_.size(); ++i) {
      for (int a = 0; a < D; ++a) gradients_[i * D + a] = 0.0;
      rules_[i] = std::uint8_t(UpdateRule::Unreached);
    }
  }

  void seed(Index node, double value, const Vec<D>& gradient) {
    Base::check_seed(node, value, gradient);
    values_[node] = value;
    set_gradient(node, gradient);
    rules_[node] = std::uint8_t(UpdateRule::Seed);
    Base::accept_seed(node);
  }

  // As QuasiPotentialMarch::set_absorbing.
  void set_absorbing(const std::uint8_t* mask) { absorbing_ = mask; }

  JumpMarchStats run(const std::function<bool()>& interrupted = {}) {
    if (absorbing_)
      for (Index s : Base::seeds())
        if (absorbing_[s])
          throw std::invalid_argument("seed " + describe_node(grid_, s) + " lies in the absorbing region");
    Base::march([&interrupted]() { return interrupted && interrupted(); });
    stats_.accepted = Base::accepted();
    return stats_;
  }

 private:
  Vec<D> gradient(Index i) const {
    Vec<D> g;
    for (int k = 0; k < D; ++k) g[k] = gradients_[i * D + k];
    return g;
  }
  void set_gradient(Index i, const Vec<D>& g) {
    for (int k = 0; k < D; ++k) gradients_[i * D + k] = g[k];
  }
  bool accepted(Index i) const { return state_[std::size_t(i)] == NodeState::Accepted; }
  bool absorbs(Index x) const { return absorbing_ && absorbing_[x]; }
  void unreach(Index x) { set_gradient(x, Vec<D>{}); }

  // The heap keys: first-order predictions from the new 1-jet.
  void propagate(Index from) { Base::offer_predictions(from, gradient(from), stencil_, parent_); }

  // The action of the segment from y to x: h at its midpoint times its
  // length, warm-started from the node's last solution. Updates from a
  // simplex with a node beyond two cells (simpson_) use Simpson's rule:
  // the midpoint rule errs by -L^3 h'' / 24, and a long segment whose
  // action it underestimates would win over the short, accurate ones. The
  // rule is fixed per simplex so that the cost is smooth in the base point.
  double segment_action(const Vec<D>& y, const Vec<D>& x) {
    const Vec<D> chord = sub<D>(x, y);
    const double mid = action_at(lerp<D>(y, x, 0.5), chord);
    if (!simpson_) return mid;
    return (action_at(y, chord) + 4.0 * mid + action_at(x, chord)) / 6.0;
  }

  bool far(const Vec<D>& y, const Vec<D>& x) const {
    const Vec<D> chord = sub<D>(x, y);
    return dot<D>(chord, chord) > kMidpointReach2 * grid_.min_spacing() * grid_.min_spacing();
  }

  double action_at(const Vec<D>& p, const Vec<D>& chord) {
    const JumpSet<D> set = fields_.at(p, scratch_);
    ++stats_.supports;
    const Support<D> s = support_of<D>(set, chord, warm_.finite() ? &warm_ : nullptr);
    if (s.dual) ++stats_.dual;
    if (s.finite()) warm_ = s;
    return s.value;
  }

  struct Candidate {
    Index node;
    MultiIndex<D> index;
    Vec<D> point;
    double one_point;  // the one-point update's value from it
  };

  void settle(Index x) {
    const MultiIndex<D> mx = grid_.unflat(x);
    const Vec<D> px = grid_.point(mx);
    warm_ = Support<D>{};
    // The characteristic direction at x, H_p(x, grad U), with grad U from
    // the node the heap key came from.
    Vec<D> t{};
    bool traced = false;
    const Index parent = parent_[std::size_t(x)];
    if (parent >= 0) {
      JumpDerivatives<D> hd;
      if (jump_derivatives<D>(fields_.node(x), gradient(parent), hd, false)) {
        const double n = norm<D>(hd.gradient);
        if (n > 0.0 && std::isfinite(n)) t = scale<D>(1.0 / n, hd.gradient), traced = true;
      }
    }
    // The accepted nodes next to x (within two cells) and, where the
    // characteristic is known, those within a cell of it out to the update
    // radius: where characteristics cross the level sets of U at grazing
    // angles (strong rotation, anisotropy) the upwind nodes lie further
    // back along it than the near ones.
    gather(mx, t, traced);
    Vec<D> best_base{};
    const double best = hierarchical_update(px, best_base);
    if (!(best < std::numeric_limits<double>::infinity())) {
      // No accepted node within reach gives a finite action: the front
      // cannot move onto x from here.
      ++stats_.unreachable;
      values_[x] = std::numeric_limits<double>::infinity();
      rules_[x] = std::uint8_t(UpdateRule::Unreached);
      return;
    }
    values_[x] = best;
    set_gradient(x, end_momentum(best_base, px));
    rules_[x] = std::uint8_t(UpdateRule::Neighbour);
  }

  // The accepted candidates for x's one-point updates: the nodes within
  // two cells, and with `far` also those out to the update radius within
  // a cell of the backward characteristic (unit direction t).
  void gather(const MultiIndex<D>& mx, const Vec<D>& t, bool far) {
    const double h = grid_.min_spacing();
    candidates_.clear();
    for (const MultiIndex<D>& off : reach_) {
      MultiIndex<D> m;
      Vec<D> step;
      for (int k = 0; k < D; ++k) {
        m[k] = mx[k] + off[k];
        step[k] = double(off[k]) * grid_.spacing()[k];
      }
      if (!grid_.contains(m)) continue;
      const double d2 = dot<D>(step, step);
      if (d2 > 4.0 * h * h * (1.0 + 1e-9)) {
        if (!far) break;  // reach_ is sorted by distance
        const double along = -dot<D>(step, t);
        if (!(along > 0.0) || d2 - along * along > h * h) continue;
      }
      const Index i = grid_.flat(m);
      if (accepted(i)) candidates_.push_back({i, m, grid_.point(m), 0.0});
    }
  }

  // The hierarchical update of the point px from the gathered candidates:
  // its value (+inf if none is finite) and the base point of its segment.
  double hierarchical_update(const Vec<D>& px, Vec<D>& best_base) {
    warm_ = Support<D>{};
    double best = std::numeric_limits<double>::infinity();
    int a = -1;
    for (std::size_t c = 0; c < candidates_.size(); ++c) {
      const Candidate& y = candidates_[c];
      ++stats_.updates;
      simpson_ = far(y.point, px);
      const double u = values_[y.node] + segment_action(y.point, px);
      candidates_[c].one_point = u;
      if (u < best) best = u, a = int(c), best_base = y.point, best_simpson_ = simpson_;
    }
    if (a < 0) return best;
    const Candidate ca = candidates_[std::size_t(a)];
    warm_ = Support<D>{};
    simpson_ = far(ca.point, px);
    segment_action(ca.point, px);  // restart the warm start on the best segment
    // Triangle updates: a with the accepted candidates next to it whose
    // own one-point updates are best.
    partners_.clear();
    for (std::size_t c = 0; c < candidates_.size(); ++c)
      if (int(c) != a && adjacent(ca.index, candidates_[c].index) && std::isfinite(candidates_[c].one_point))
        partners_.push_back(int(c));
    std::stable_sort(partners_.begin(), partners_.end(),
                     [this](int p, int q) { return candidates_[std::size_t(p)].one_point < candidates_[std::size_t(q)].one_point; });
    if (int(partners_.size()) > kMaxPartners) partners_.resize(std::size_t(kMaxPartners));
    double best_pair = std::numeric_limits<double>::infinity(), best_pair_s = 0.0;
    int b = -1;
    for (int c : partners_) {
      const Candidate& cb = candidates_[std::size_t(c)];
      ++stats_.updates;
      simpson_ = far(ca.point, px) || far(cb.point, px);
      const Support<D> keep = warm_;
      const Vec<D> edge = sub<D>(cb.point, ca.point);
      const double ua = values_[ca.node], ub = values_[cb.node];
      const double da = dot<D>(gradient(ca.node), edge), db = dot<D>(gradient(cb.node), edge);
      auto cost = [&](const std::array<double, 1>& s) {
        return hermite(ua, da, ub, db, s[0]) + segment_action(axpy<D>(ca.point, s[0], edge), px);
      };
      double f = std::numeric_limits<double>::infinity();
      const std::array<double, 1> s =
          newton_minimise<1, 1>(cost, std::array<double, 1>{0.0}, {1e-4}, {1e-6}, {0.5}, f, 12);
      warm_ = keep;
      if (f < best_pair) best_pair = f, b = c, best_pair_s = s[0];
      if (f < best) best = f, best_base = lerp<D>(ca.point, cb.point, s[0]), best_simpson_ = simpson_;
    }
    if constexpr (D == 3) {
      // Tetrahedron updates: the best pair (a, b) with the accepted
      // candidates next to both, best one-point updates first, started
      // from the pair's minimiser on the edge ab.
      if (b >= 0) {
        const Candidate cb = candidates_[std::size_t(b)];
        int tried = 0;
        for (int c : partners_) {
          const Candidate& cc = candidates_[std::size_t(c)];
          if (c == b || !adjacent(cb.index, cc.index)) continue;
          if (++tried > kMaxTetrahedra) break;
          ++stats_.updates;
          simpson_ = far(ca.point, px) || far(cb.point, px) || far(cc.point, px);
          const Vec<D> ab = sub<D>(cb.point, ca.point), ac = sub<D>(cc.point, ca.point);
          auto base = [&](const std::array<double, 2>& w) { return axpy<D>(axpy<D>(ca.point, w[0], ab), w[1], ac); };
          const Support<D> keep = warm_;
          const Candidate* tri[3] = {&ca, &cb, &cc};
          double u[3], slope[3][3];
          for (int i = 0; i < 3; ++i) {
            u[i] = values_[tri[i]->node];
            for (int j = 0; j < 3; ++j)
              slope[i][j] = dot<D>(gradient(tri[i]->node), sub<D>(tri[j]->point, tri[i]->point));
          }
          auto cost = [&](const std::array<double, 2>& w) {
            return triangle_cubic(u, slope, w) + segment_action(base(w), px);
          };
          double f = std::numeric_limits<double>::infinity();
          const std::array<double, 2> w = newton_minimise_in<2>(
              cost, std::array<double, 2>{best_pair_s, 0.1}, {1e-4, 1e-4}, {1e-6, 1e-6}, {0.25, 0.25}, f, 8,
              project_to_simplex);
          warm_ = keep;
          if (f < best) best = f, best_base = base(w), best_simpson_ = simpson_;
        }
      }
    }
    return best;
  }

  // grad U(x) = d/dx h((x + y) / 2, x - y) with the base y held (the
  // envelope theorem), by central differences: the momentum at x of the
  // minimum action path to second order (the midpoint's momentum p*(m, v)
  // plus half the change h_x(m, v) along the segment), whereas p* at x for
  // the chord's direction would carry the chord's O(h) direction error.
  Vec<D> end_momentum(const Vec<D>& y, const Vec<D>& px) {
    simpson_ = best_simpson_;
    const double delta = 1e-3 * norm<D>(sub<D>(px, y));
    Vec<D> g{};
    for (int k = 0; k < D; ++k) {
      Vec<D> plus = px, minus = px;
      plus[k] += delta;
      minus[k] -= delta;
      const double sp = segment_action(y, plus), sm = segment_action(y, minus);
      if (!std::isfinite(sp) || !std::isfinite(sm)) {
        // At the edge of the jumps' cone: the momentum of the segment.
        const JumpSet<D> set = fields_.at(px, scratch_);
        const Support<D> s = support_of<D>(set, sub<D>(px, y), warm_.finite() ? &warm_ : nullptr);
        return s.finite() ? s.momentum : Vec<D>{};
      }
      g[k] = (sp - sm) / (2.0 * delta);
    }
    return g;
  }

  // The cubic Hermite interpolant on [0, 1] of values u0, u1 and slopes d0, d1.
  static double hermite(double u0, double d0, double u1, double d1, double s) {
    const double s2 = s * s, s3 = s2 * s;
    return (2 * s3 - 3 * s2 + 1) * u0 + (s3 - 2 * s2 + s) * d0 + (-2 * s3 + 3 * s2) * u1 + (s3 - s2) * d1;
  }

  // Zienkiewicz's cubic interpolant on a triangle of the vertices' 1-jets
  // (values u, slopes[i][j] = grad U_i . (p_j - p_i)) at the base point
  // w = (l1, l2) (the cubic Hermite interpolant along each edge).
  static double triangle_cubic(const double (&u)[3], const double (&slope)[3][3], const std::array<double, 2>& w) {
    const double l[3] = {1.0 - w[0] - w[1], w[0], w[1]};
    const double bubble = l[0] * l[1] * l[2];
    double value = 0.0;
    for (int i = 0; i < 3; ++i) {
      value += u[i] * (l[i] * l[i] * (3.0 - 2.0 * l[i]) + 2.0 * bubble);
      for (int j = 0; j < 3; ++j)
        if (j != i) value += slope[i][j] * (l[i] * l[i] * l[j] + 0.5 * bubble);
    }
    return value;
  }

  // How many of a's neighbours (best one-point updates first) pair with it
  // in triangle updates, and how many of those add a third vertex to the
  // best pair in tetrahedron updates (3D). Measured on the cyclic 3D
  // problem at 33^3: the mean error does not change beyond these, the time
  // does.
  static constexpr int kMaxPartners = D == 2 ? 8 : 6;
  static constexpr int kMaxTetrahedra = 3;
  // Segments up to this squared length (in cells) use the midpoint rule.
  static constexpr double kMidpointReach2 = 4.0 * (1.0 + 1e-9);

  static bool adjacent(const MultiIndex<D>& p, const MultiIndex<D>& q) {
    for (int k = 0; k < D; ++k)
      if (std::abs(p[k] - q[k]) > 1) return false;
    return true;
  }

  const JumpFields<D>& fields_;
  double* gradients_;
  std::uint8_t* rules_;
  JumpMarchOptions options_;
  const std::uint8_t* absorbing_ = nullptr;
  std::vector<std::int32_t> parent_;  // the node each heap key came from
  std::vector<MultiIndex<D>> stencil_;
  std::vector<MultiIndex<D>> reach_;
  std::vector<Candidate> candidates_;
  std::vector<int> partners_;
  std::vector<double> scratch_;
  Support<D> warm_;
  bool simpson_ = false;       // the quadrature of the simplex being updated from
  bool best_simpson_ = false;  // ... of the best update so far
  JumpMarchStats stats_;
};

}  // namespace hjqp
