// The quasi-potential of a Hamiltonian of the exponential family (jump.hpp)
// by the ordered march (ordered_march.hpp): an ordered line integral
// method (Dahiya & Cameron 2018) with the geometric action h(x, v), the
// support function of K(x) = {p : H(x, p) <= 0}, in place of the quadratic
// Hamiltonian's closed form.
//
// When the node x of least tentative value is accepted its value is
//     U(x) = min over y of  U(y) + h((x + y) / 2, x - y),
// y ranging over the accepted simplices near x (midpoint rule along the
// straight segment: second order in its length; Simpson's rule beyond two
// cells). The simplices are found hierarchically (Potter & Cameron's
// hierarchical OLIMs): the best one-point update among the accepted nodes
// within `update_radius` cells picks a node a; triangle updates pair a with
// each accepted node b next to it (still within the radius), and in 3D the
// best of those pairs adds a third node c next to both for tetrahedron
// updates. U over an edge is the cubic Hermite interpolant of the ends'
// 1-jets where these agree with the values (hermite_trusted), else
// linear; over a triangle, Zienkiewicz's cubic with the same rule per edge.
// grad U(x) is the momentum p*(x, x - y*) of the best update.
// Neighbours of an accepted node get the first-order prediction
// U + grad U . (x - y) as heap key, as in the quadratic march.
//
// Every evaluation of h solves a small convex problem (support() in
// jump.hpp), started from the solution found for this node in the nearest
// direction, with its exponentials where the jumps are constant: the
// points of one node's updates differ by a few cells, their directions
// are what changes. (Simpson's term at x prefers the directions solved at
// x itself; its term at y starts from the extrapolation of the segment's
// other two, for the same direction.)
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
  Index linear_edges = 0; // simplex edges with U interpolated linearly (hermite_trusted false)
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

  // A support point found, for a unit direction, with its exponentials.
  struct Solved {
    Vec<D> direction;
    bool at_x = false;  // solved at x (t = 1)
    Support<D> support;
    std::vector<double> exps;
  };

  // The action of the segment from y to x (h at its midpoint times its
  // length) and its derivatives with respect to both ends, warm-started
  // as add_term says. Updates from a simplex with a node
  // beyond two cells (simpson_) use Simpson's rule: the midpoint rule errs
  // by -L^3 h'' / 24, and a long segment whose action it underestimates
  // would win over the short, accurate ones. The rule is fixed per simplex
  // so that the cost is smooth in the base point.
  //
  // By the envelope theorem the derivatives need no further solve: the
  // term A = h(q, c) at q = y + t c (c = x - y) has dA/dc = p* and dA/dq =
  // -lambda grad_x H(q, p*) (lambda the multiplier of c = lambda H_p), so
  // dA/dy = -p* + (1 - t) dA/dq and dA/dx = p* + t dA/dq. dA/dx of the
  // winning update is grad U at x (the momentum of the minimum action path
  // to second order: the midpoint's p* plus half its change along the
  // segment, where p* at x for the chord's direction would carry the
  // chord's O(h) direction error); dA/dy drives the triangle updates.
  struct SegmentJet {
    double value = std::numeric_limits<double>::infinity();
    Vec<D> base{};     // dA/dy
    Vec<D> end{};      // dA/dx
    bool simpson = false;
    int entry = -1;    // its midpoint term's index in solved_
    bool finite() const { return value < std::numeric_limits<double>::infinity(); }
  };

  SegmentJet segment_jet(const Vec<D>& y, const Vec<D>& x, int from = -1) {
    const Vec<D> chord = sub<D>(x, y);
    SegmentJet jet;
    jet.simpson = simpson_;
    Vec<D> base{}, end{};
    double mid = 0.0;
    // The edge search starts the midpoint's solve from entry `from`, the
    // midpoint's of its bracket end nearer to y (a fraction of the edge away).
    Start first = Start::nearest;
    if (from >= 0 && from < solved_count_) predicted_ = solved_[std::size_t(from)], first = Start::predicted;
    jet.entry = solved_count_;
    if (!add_term(y, x, 0.5, chord, simpson_ ? 4.0 / 6.0 : 1.0, mid, base, end, first)) return jet;
    if (simpson_) {
      double ay = 0.0, ax = 0.0;
      // The term at x starts from the support point of the nearest
      // direction solved at x itself (many segments end there), the term
      // at y from the one extrapolated linearly from those at the midpoint
      // and at x (the two entries just made): its error is of the size of
      // the second derivative along the segment, not the first.
      if (!add_term(y, x, 1.0, chord, 1.0 / 6.0, ax, base, end, Start::nearest_at_x)) return jet;
      const Start start =
          extrapolate(solved_[std::size_t(solved_count_ - 2)], solved_[std::size_t(solved_count_ - 1)])
              ? Start::predicted
              : Start::nearest;
      if (!add_term(y, x, 0.0, chord, 1.0 / 6.0, ay, base, end, start)) return jet;
      mid = (ay + 4.0 * mid + ax) / 6.0;
    }
    jet.value = mid;
    jet.base = base;
    jet.end = end;
    return jet;
  }

  // The support point at one end of the segment for the chord, extrapolated
  // linearly from those at the midpoint and at the other end (into
  // predicted_, with its exponentials e_r(2 p_m - p_o) = e_r(p_m)^2 / e_r(p_o)
  // where the jumps are constant). False where the multiplier would not
  // stay positive or an exponential is not finite.
  bool extrapolate(const Solved& mid, const Solved& other) {
    const double mu = 2.0 * mid.support.multiplier - other.support.multiplier;
    if (!(mu > 0.0)) return false;
    predicted_.support.multiplier = mu;
    for (int k = 0; k < D; ++k) predicted_.support.momentum[k] = 2.0 * mid.support.momentum[k] - other.support.momentum[k];
    predicted_.support.value = 0.0;
    if (fields_.constant_jumps()) {
      predicted_.exps.resize(mid.exps.size());
      for (std::size_t r = 0; r < mid.exps.size(); ++r) {
        const double e = mid.exps[r] * (mid.exps[r] / other.exps[r]);
        if (!(e < std::numeric_limits<double>::infinity())) return false;
        predicted_.exps[r] = e;
      }
    }
    return true;
  }

  // One term of the quadrature: h at y + t (x - y) for the chord, its
  // action into `value`, its derivatives times `omega` added to base and end.
  // Newton's method starts as `start` says: from predicted_, or from the
  // entry for the nearest direction (with nearest_at_x, among those solved
  // at x first).
  enum class Start { nearest, nearest_at_x, predicted };
  bool add_term(const Vec<D>& y, const Vec<D>& x, double t, const Vec<D>& chord, double omega, double& value,
                Vec<D>& base, Vec<D>& end, Start start = Start::nearest) {
    const Vec<D> q = t == 0.0 ? y : t == 1.0 ? x : lerp<D>(y, x, t);
    const JumpSet<D> set = fields_.at(q, scratch_);
    ++stats_.supports;
    // Newton's method starts from the support point found in this update
    // for the nearest direction (the chord's direction matters far more
    // than the point: segments to x from nodes around it point every way),
    // with its exponentials where the jumps are the same everywhere; the
    // Gaussian solution where no direction is near.
    const double length = norm<D>(chord);
    const Vec<D> unit = scale<D>(1.0 / length, chord);
    int nearest = -1;
    double closest = kWarmCosine;
    const bool predicted = start == Start::predicted;
    for (int pass = start == Start::nearest_at_x ? 0 : 1; pass < 2 && nearest < 0; ++pass)
      for (int i = predicted ? -1 : solved_count_ - 1; i >= 0; --i) {
        if (pass == 0 && !solved_[std::size_t(i)].at_x) continue;
        const double c = dot<D>(solved_[std::size_t(i)].direction, unit);
        if (c > closest) closest = c, nearest = i;
      }
    const Solved* from = predicted ? &predicted_ : nearest >= 0 ? &solved_[std::size_t(nearest)] : nullptr;
    const Support<D>* warm = from ? &from->support : nullptr;
    exps_.start_known = warm && fields_.constant_jumps();
    exps_.start = exps_.start_known ? from->exps.data() : nullptr;
    const Support<D> s = support_of<D>(set, chord, warm, &exps_);
    if (s.dual) ++stats_.dual;
    if (!s.finite()) return false;
    if (solved_count_ == int(solved_.size())) solved_.emplace_back();
    Solved& entry = solved_[std::size_t(solved_count_++)];
    entry.direction = unit;
    entry.at_x = t == 1.0;
    entry.support = s;
    std::swap(entry.exps, exps_.solution);  // (no copy: the next solve overwrites exps_.solution)
    value = s.value;
    const double lambda = length * s.multiplier;
    const Vec<D> dq =
        scale<D>(-lambda, fields_.hamiltonian_gradient(q, s.momentum, scratch_gradient_, entry.exps.data()));
    for (int k = 0; k < D; ++k) {
      base[k] += omega * ((1.0 - t) * dq[k] - s.momentum[k]);
      end[k] += omega * (t * dq[k] + s.momentum[k]);
    }
    return true;
  }

  bool far(const Vec<D>& y, const Vec<D>& x) const {
    const Vec<D> chord = sub<D>(x, y);
    return dot<D>(chord, chord) > kMidpointReach2 * grid_.min_spacing() * grid_.min_spacing();
  }

  struct Candidate {
    Index node;
    MultiIndex<D> index;
    Vec<D> point;
    double one_point;  // the one-point update's value from it
    SegmentJet jet;    // ... and its segment
    double pair = std::numeric_limits<double>::infinity();  // the pair update's with a (3D)
  };

  void settle(Index x) {
    const MultiIndex<D> mx = grid_.unflat(x);
    const Vec<D> px = grid_.point(mx);
    solved_count_ = 0;
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
    Vec<D> best_gradient{};
    const double best = hierarchical_update(px, best_gradient);
    if (!(best < std::numeric_limits<double>::infinity())) {
      // No accepted node within reach gives a finite action: the front
      // cannot move onto x from here.
      ++stats_.unreachable;
      values_[x] = std::numeric_limits<double>::infinity();
      rules_[x] = std::uint8_t(UpdateRule::Unreached);
      return;
    }
    values_[x] = best;
    set_gradient(x, best_gradient);
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
      if (accepted(i)) candidates_.push_back({i, m, grid_.point(m), 0.0, SegmentJet{}});
    }
  }

  // The hierarchical update of the point px from the gathered candidates:
  // its value (+inf if none is finite) and grad U at px from the winning
  // update.
  double hierarchical_update(const Vec<D>& px, Vec<D>& best_gradient) {
    double best = std::numeric_limits<double>::infinity();
    int a = -1;
    for (std::size_t c = 0; c < candidates_.size(); ++c) {
      Candidate& y = candidates_[c];
      ++stats_.updates;
      simpson_ = far(y.point, px);
      y.jet = segment_jet(y.point, px);
      const double u = values_[y.node] + y.jet.value;
      y.one_point = u;
      if (u < best) best = u, a = int(c), best_gradient = y.jet.end;
    }
    if (a < 0) return best;
    const Candidate& ca = candidates_[std::size_t(a)];
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
      Vec<D> gradient_here{};
      double s = 0.0;
      const double f = edge_minimum(ca, cb, px, s, gradient_here);
      candidates_[std::size_t(c)].pair = f;
      if (f < best_pair) best_pair = f, b = c, best_pair_s = s;
      if (f < best) best = f, best_gradient = gradient_here;
    }
    if constexpr (D == 3) {
      // Tetrahedron updates: the best pair (a, b) with the accepted
      // candidates next to both, best pair updates with a first (the face
      // spanned by the two best edges holds the minimiser where it lies
      // inside a face), started from the pair's minimiser on the edge ab.
      if (b >= 0) {
        std::stable_sort(partners_.begin(), partners_.end(), [this](int p, int q) {
          return candidates_[std::size_t(p)].pair < candidates_[std::size_t(q)].pair;
        });
        Face face;
        int tried = 0;
        for (int c : partners_) {
          if (c == b || !adjacent(candidates_[std::size_t(b)].index, candidates_[std::size_t(c)].index)) continue;
          if (++tried > kMaxTetrahedra) break;
          face_update({a, b, c}, {best_pair_s, 0.1}, px, face, best, best_gradient);
        }
        // Where the best face's minimiser lies on one of its edges the
        // characteristic may cross that edge into a face the search above
        // did not reach (one without a): the faces across it are tried,
        // from the edge's point, while they improve. The minimum there
        // differs from the true one by the square of the distance, but
        // grad U (the momentum of the chord) by the distance itself, and
        // the cubic interpolants of the nodes downstream carry that error
        // times a cell: measured on jump_cyclic(3), gradients off by up to
        // 0.07 at 129^3 (median 1.3e-4) whose neighbours erred by up to
        // 25 h^3 in one update, and a largest error that did not converge.
        for (int walk = 0; walk < kMaxFaceWalks && face.vertex[0] >= 0; ++walk) {
          const double l[3] = {1.0 - face.w[0] - face.w[1], face.w[0], face.w[1]};
          int off = -1, zeros = 0;
          for (int i = 0; i < 3; ++i)
            if (l[i] <= kOnEdge) off = i, ++zeros;
          if (zeros != 1) break;
          const int e0 = face.vertex[(off + 1) % 3], e1 = face.vertex[(off + 2) % 3], away = face.vertex[off];
          const double s = l[(off + 2) % 3];
          const double before = face.value;
          for (int d = 0; d < int(candidates_.size()); ++d) {
            const Candidate& cd = candidates_[std::size_t(d)];
            if (d == e0 || d == e1 || d == away || !std::isfinite(cd.one_point) ||
                !adjacent(cd.index, candidates_[std::size_t(e0)].index) ||
                !adjacent(cd.index, candidates_[std::size_t(e1)].index))
              continue;
            face_update({e0, e1, d}, {s, kIntoFace}, px, face, best, best_gradient);
          }
          if (!(face.value < before)) break;
        }
      }
    }
    return best;
  }

  // The best tetrahedron update so far: its value, its face (candidates)
  // and the minimiser's coordinates (w: those of the second and third
  // vertices; -1: none yet).
  struct Face {
    double value = std::numeric_limits<double>::infinity();
    std::array<int, 3> vertex{-1, -1, -1};
    std::array<double, 2> w{};
  };

  // The tetrahedron update of px from the face of three candidates: the
  // least of U(base) + A(base, px) over the face, U Zienkiewicz's cubic of
  // the vertices' 1-jets (linear along an edge whose jets disagree with its
  // values), by Newton's method from `start`. Updates `face`, and `best`
  // and its gradient where it is lower.
  void face_update(const std::array<int, 3>& vertex, const std::array<double, 2>& start, const Vec<D>& px,
                   Face& face, double& best, Vec<D>& best_gradient) {
    const Candidate* tri[3];
    for (int i = 0; i < 3; ++i) tri[i] = &candidates_[std::size_t(vertex[std::size_t(i)])];
    ++stats_.updates;
    simpson_ = far(tri[0]->point, px) || far(tri[1]->point, px) || far(tri[2]->point, px);
    const Vec<D> ab = sub<D>(tri[1]->point, tri[0]->point), ac = sub<D>(tri[2]->point, tri[0]->point);
    auto base = [&](const std::array<double, 2>& w) { return axpy<D>(axpy<D>(tri[0]->point, w[0], ab), w[1], ac); };
    double u[3], slope[3][3];
    for (int i = 0; i < 3; ++i) {
      u[i] = values_[tri[i]->node];
      for (int j = 0; j < 3; ++j) slope[i][j] = dot<D>(gradient(tri[i]->node), sub<D>(tri[j]->point, tri[i]->point));
    }
    for (int i = 0; i < 3; ++i)
      for (int j = i + 1; j < 3; ++j)
        if (!hermite_trusted(*tri[i], *tri[j], slope[i][j], -slope[j][i])) {
          ++stats_.linear_edges;
          slope[i][j] = u[j] - u[i], slope[j][i] = u[i] - u[j];
        }
    auto cost = [&](const std::array<double, 2>& w) { return triangle_cubic(u, slope, w) + segment_jet(base(w), px).value; };
    double f = std::numeric_limits<double>::infinity();
    const std::array<double, 2> w =
        newton_minimise_in<2>(cost, start, {1e-4, 1e-4}, {1e-6, 1e-6}, {0.25, 0.25}, f, 8, project_to_simplex);
    if (f < face.value) face.value = f, face.vertex = vertex, face.w = w;
    if (f < best) {
      const SegmentJet jet = segment_jet(base(w), px);
      if (jet.finite()) best = f, best_gradient = jet.end;
    }
  }

  // The triangle update of px from the edge from a to b: the least of
  // C(s) = U(a + s (b - a)) + A(a + s (b - a), px) over s in [0, 1], U the
  // cubic Hermite interpolant of the ends' 1-jets. C'(s) comes with each
  // action (SegmentJet::base): nothing to solve where C'(0) >= 0 (the
  // one-point update from a stands) or C'(1) <= 0 (that from b, no better
  // than a's), and otherwise a minimiser bracketed by points where C' < 0
  // and C' > 0, found by cubic interpolation of C and C' at the bracket's
  // ends (superlinear; bisection where C is +inf). The search stops when
  // the next estimate lies within kEdgeTolerance of a point already
  // evaluated.
  // Returns the least C found, its s, and grad U at px from that update.
  double edge_minimum(const Candidate& ca, const Candidate& cb, const Vec<D>& px, double& s_min, Vec<D>& grad) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    const Vec<D> edge = sub<D>(cb.point, ca.point);
    const double ua = values_[ca.node], ub = values_[cb.node];
    double da = dot<D>(gradient(ca.node), edge), db = dot<D>(gradient(cb.node), edge);
    if (!hermite_trusted(ca, cb, da, db)) ++stats_.linear_edges, da = db = ub - ua;
    // The jets at the ends (the one-point updates' where the rule is the same).
    const SegmentJet ja = ca.jet.simpson == simpson_ ? ca.jet : segment_jet(ca.point, px);
    s_min = 0.0;
    if (!ja.finite()) return inf;
    double f = ua + ja.value;
    grad = ja.end;
    double lo = 0.0, flo = f, slo = da + dot<D>(ja.base, edge);
    int elo = ja.entry, ehi = -1;
    if (!(slo < 0.0)) return f;
    const SegmentJet jb = cb.jet.simpson == simpson_ ? cb.jet : segment_jet(cb.point, px);
    double hi = 1.0, fhi = inf, shi = inf;
    if (jb.finite()) {
      fhi = ub + jb.value;
      shi = db + dot<D>(jb.base, edge);
      ehi = jb.entry;
      if (fhi < f) f = fhi, s_min = 1.0, grad = jb.end;
      if (!(shi > 0.0)) return f;
    }
    for (int it = 0; it < kEdgeIterations && hi - lo > kEdgeTolerance; ++it) {
      double s = 0.5 * (lo + hi);
      if (fhi < inf) {
        // The minimiser of the cubic with these values and slopes at lo
        // and hi (Nocedal and Wright, (3.59)).
        const double w = hi - lo;
        const double d1 = slo + shi - 3.0 * (fhi - flo) / w;
        const double d2 = std::sqrt(d1 * d1 - slo * shi);
        const double c = lo + w * (1.0 - (shi + d2 - d1) / (shi - slo + 2.0 * d2));
        if (c > lo && c < hi) s = c;
        if (std::fmin(s - lo, hi - s) <= kEdgeTolerance) break;
      }
      const SegmentJet js = segment_jet(axpy<D>(ca.point, s, edge), px, ehi < 0 || s - lo < hi - s ? elo : ehi);
      if (!js.finite()) {
        hi = s, fhi = inf, shi = inf, ehi = -1;
        continue;
      }
      const double fs = hermite(ua, da, ub, db, s) + js.value;
      const double ds = hermite_slope(ua, da, ub, db, s) + dot<D>(js.base, edge);
      if (fs < f) f = fs, s_min = s, grad = js.end;
      if (ds < 0.0)
        lo = s, flo = fs, slo = ds, elo = js.entry;
      else if (ds > 0.0)
        hi = s, fhi = fs, shi = ds, ehi = js.entry;
      else
        break;
    }
    return f;
  }

  // Whether the 1-jets of the edge from a to b (slopes da, db of U along
  // it at a and b, per unit of s) may be interpolated by the cubic Hermite
  // interpolant: each slope differs from the secant U(b) - U(a) by at most
  // half of max |grad U| |b - a|. Where U is smooth and resolved the
  // difference is |U_ss| / 2 + O(|b - a|^3), so this fails only within about
  // a cell of a critical point of U (the attractor, saddles), where the
  // linear interpolant replaces it at a bounded number of nodes, and where
  // the gradients do not agree with the values: on grids too coarse for a
  // nearly singular diffusion the winning momenta are large and nearly
  // normal to their chords, the cubic then dips far below both ends, and
  // the march returned U < 0 (down to -26 on iris_mixture(learn_weight=True)
  // at 15^3). Measured with 1/2: the exact problems' errors are unchanged
  // in 2D; in 3D (jump_cyclic(3), about 30 edges) the RMS errors move by at
  // most 2e-7 and the largest at 33^3 falls from 1.97e-3 to 1.57e-3. With
  // 1/4 the 3D errors grow by half.
  bool hermite_trusted(const Candidate& a, const Candidate& b, double da, double db) const {
    const double secant = values_[b.node] - values_[a.node];
    const double scale = kHermiteSlack * std::fmax(norm<D>(gradient(a.node)), norm<D>(gradient(b.node))) *
                         norm<D>(sub<D>(b.point, a.point));
    return std::fabs(da - secant) <= scale && std::fabs(db - secant) <= scale;
  }
  static constexpr double kHermiteSlack = 0.5;

  // The cubic Hermite interpolant on [0, 1] of values u0, u1 and slopes d0, d1.
  static double hermite(double u0, double d0, double u1, double d1, double s) {
    const double s2 = s * s, s3 = s2 * s;
    return (2 * s3 - 3 * s2 + 1) * u0 + (s3 - 2 * s2 + s) * d0 + (-2 * s3 + 3 * s2) * u1 + (s3 - s2) * d1;
  }
  static double hermite_slope(double u0, double d0, double u1, double d1, double s) {
    const double s2 = s * s;
    return (6 * s2 - 6 * s) * (u0 - u1) + (3 * s2 - 4 * s + 1) * d0 + (3 * s2 - 2 * s) * d1;
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
  // At most this many walks across an edge of the best face (3D), where its
  // minimiser lies within kOnEdge (barycentric) of the edge; the faces
  // across it start kIntoFace inside. Measured on jump_cyclic(3) at
  // 65^3 and 129^3: one update from exact data errs by at most 0.83 h^3
  // (against 4.3 h^3 and 25 h^3 without), at 1 % more actions.
  static constexpr int kMaxFaceWalks = 3;
  static constexpr double kOnEdge = 1e-9;
  static constexpr double kIntoFace = 0.05;
  // The triangle update's search on an edge: at most this many actions,
  // to this tolerance (a fraction of the edge). Where C has a kink (the
  // fields' cell lines) the cubic model's estimate can lie near a point
  // already evaluated while the minimiser lies further on: with 1e-5 the
  // largest error of jump_cyclic on 1025^2 was 1.99e-6, with 1e-7 it is
  // 1.64e-6 (as with Newton's method on finite differences), at 10% more
  // actions.
  static constexpr int kEdgeIterations = 12;
  static constexpr double kEdgeTolerance = 1e-7;
  // Support points for directions within this cosine of a new one start
  // its Newton iteration; beyond, the Gaussian solution is nearer.
  static constexpr double kWarmCosine = 0.8;
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
  std::vector<double> scratch_gradient_;
  // The support points found while settling the current node, by unit
  // direction (warm starts for the next ones).
  std::vector<Solved> solved_;
  int solved_count_ = 0;
  Solved predicted_;  // see extrapolate()
  SupportExponentials exps_;
  bool simpson_ = false;  // the quadrature of the simplex being updated from
  JumpMarchStats stats_;
};

}  // namespace hjqp
