// The quasi-potential's update rule for the ordered march (ordered_march.hpp),
// in the family of ordered line integral methods (OLIMs, Dahiya & Cameron
// 2018): it marches the 1-jet (U, grad U). When the node x of least
// tentative value is accepted it is settled in two stages.
//
// 1. Settle. The characteristic through x is traced backwards in steps of h
//    (midpoint rule) through the direction field b + D grad U of the
//    accepted 1-jets, and x is updated by the jet rule (updates.hpp) from the
//    first grid edge (3D: half cell face) the trace crosses whose nodes are
//    accepted and on which the update has an interior minimum. Because the update's own minimiser
//    places the path, the trace only has to find the right edge. Tracing as
//    far back as needed (up to `update_radius` cells) is what keeps the
//    update causal where characteristics meet the level sets of U at grazing
//    angles (strong rotation, anisotropic D): there the nearest upwind edges
//    are not accepted yet. OLIMs reach the same edges by updating from every
//    accepted node within the update radius; the trace visits only those
//    on the characteristic.
// 2. Propagate. Its Far and Considered neighbours get the prediction
//    U + grad U . (x - y) from the new 1-jet as heap key (second order, so
//    that the march order follows U closely), and remember the node their
//    least prediction came from: its gradient starts the next trace.
//
// Where the trace finds no such edge (at the box edge, where b = 0 and U is
// flat, or beyond the update radius) x gets the best one-point or triangle
// update from its accepted neighbours, with the mean of their gradients.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hjqp/action.hpp"
#include "hjqp/fields.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/ordered_march.hpp"
#include "hjqp/updates.hpp"

namespace hjqp {

// Which rule gave an accepted node its value.
enum class UpdateRule : std::uint8_t {
  Unreached = 0,
  Seed = 1,       // initial data
  Jet = 2,        // jet update from an edge crossed by the traced characteristic
  PinnedJet = 3,  // jet update whose minimum sits at an end of the accepted edge
  Neighbour = 4,  // one-point / triangle update from the neighbours
};

// The ranges the options must lie in (exported to Python, whose wrapper
// checks them first, as _core.UPDATE_RADIUS_RANGE and MAX_TURN_RANGE).
constexpr double kUpdateRadiusRange[2] = {1.0, 1e4};
constexpr double kMaxTurnRange[2] = {1e-3, 1.5};

struct MarchOptions {
  // How far (in cells of the smallest spacing) characteristics are traced.
  double update_radius = 64.0;
  // Largest angle (radians) a traced characteristic, or the path of an
  // update, may turn; beyond it cubic pieces are poor approximations.
  double max_turn = 1.4;
  // Stop once the least tentative value exceeds this; the rest stays +inf.
  double max_value = std::numeric_limits<double>::infinity();
  // How many accepted nodes between two calls of the interrupt check.
  Index check_interval = 1 << 13;
  // Whether the 2D jet update may take Newton's differences from Taylor
  // expansions of the fields (JetUpdate; only where they are smooth).
  // Off for the refined grids of the initial region, whose values seed
  // everything downstream.
  bool expansions = true;
};

struct MarchStats {
  Index accepted = 0;
  Index jet = 0;          // nodes settled by UpdateRule::Jet
  Index pinned_jet = 0;   // ... by UpdateRule::PinnedJet
  Index neighbour = 0;    // ... by UpdateRule::Neighbour
  Index jet_updates = 0;  // jet updates evaluated
  Index retraced = 0;     // nodes traced a second time (3D)
  // Nodes settled by a pinned or neighbour update because their traced
  // characteristic turned by more than max_turn, or ran update_radius
  // cells, before it crossed an accepted edge: where characteristics spiral
  // (strong rotation) in few cells, the march is then first order there and
  // its error is O(1) on coarse grids (the README's scope section).
  Index truncated_traces = 0;
};

template <int D>
class QuasiPotentialMarch : public OrderedMarch<D, QuasiPotentialMarch<D>> {
  static_assert(D == 2 || D == 3, "the quasi-potential march works on 2D and 3D grids");
  using Base = OrderedMarch<D, QuasiPotentialMarch<D>>;
  friend Base;
  using Base::grid_;
  using Base::state_;
  using Base::values_;

 public:
  // values (size), gradients (size * D) and rules (size: the UpdateRule of
  // each node) are written in place; they and the fields must outlive the
  // march.
  QuasiPotentialMarch(const SampledFields<D>& fields, double* values, double* gradients,
                      std::uint8_t* rules, const MarchOptions& options = {})
      : Base(fields.grid(), values, options.max_value, options.check_interval),
        fields_(fields),
        gradients_(gradients),
        rules_(rules),
        options_(options),
        parent_(std::size_t(fields.grid().size()), -1),
        truncated_(std::size_t(fields.grid().size()), 0),
        min_cos_turn_(std::cos(options.max_turn)),
        stencil_(neighbour_offsets<D>()) {
    if (!(options.update_radius >= kUpdateRadiusRange[0] && options.update_radius <= kUpdateRadiusRange[1]))
      throw std::invalid_argument("update_radius must lie in [1, 1e4], got " +
                                  std::to_string(options.update_radius));
    if (!(options.max_turn >= kMaxTurnRange[0] && options.max_turn <= kMaxTurnRange[1]))
      throw std::invalid_argument("max_turn must lie in [0.001, 1.5] radians, got " +
                                  std::to_string(options.max_turn));
    for (Index i = 0; i < grid_.size(); ++i) {
      for (int k = 0; k < D; ++k) gradients_[i * D + k] = 0.0;
      rules_[i] = std::uint8_t(UpdateRule::Unreached);
    }
  }

  // Fix the 1-jet of a node before the march (the initial data).
  void seed(Index node, double value, const Vec<D>& gradient) {
    Base::check_seed(node, value, gradient);
    values_[node] = value;
    set_gradient(node, gradient);
    rules_[node] = std::uint8_t(UpdateRule::Seed);
    Base::accept_seed(node);
  }

  // Nodes with mask[i] != 0 absorb the front: they receive a value but do
  // not propagate it (the direct costs between attractors, whose fronts must
  // not pass through the neighbourhoods of other attractors). The mask must
  // outlive the march; seeds must not lie in it.
  void set_absorbing(const std::uint8_t* mask) { absorbing_ = mask; }

  // March until every reachable node is accepted (or max_value is passed).
  // `interrupted` is polled every options.check_interval acceptances; when
  // it returns true the march stops by throwing Interrupted.
  MarchStats run(const std::function<bool()>& interrupted = {}) {
    if (absorbing_)
      for (Index s : Base::seeds())
        if (absorbing_[s])
          throw std::invalid_argument("seed " + describe_node(grid_, s) +
                                      " lies in the absorbing region");
    Base::march([&interrupted]() { return interrupted && interrupted(); });
    stats_.accepted = Base::accepted();
    return stats_;
  }

  UpdateRule rule(Index node) const { return UpdateRule(rules_[node]); }
  // Whether the node counts in MarchStats::truncated_traces.
  bool truncated(Index node) const { return truncated_[std::size_t(node)] != 0; }
  const MarchStats& stats() const { return stats_; }

 private:
  enum class LineResult { None, Pinned, Interior };

  // Panel length of the jet update's quadrature, in cells: Gauss-Lobatto
  // in 2D, Simpson's rule in 3D.
  static constexpr double kPanelCells = 8.0;
  static constexpr double kPanelCells3 = 4.0;
  // cos(10 degrees): a settled direction this far from the guessed one
  // triggers a second trace (3D).
  static constexpr double kRetraceCos = 0.984807753012208;
  // Base simplices a walk along a grid line or plane visits at most.
  static constexpr int kMaxHops = 6;

  Vec<D> gradient(Index i) const {
    Vec<D> g;
    for (int k = 0; k < D; ++k) g[k] = gradients_[i * D + k];
    return g;
  }
  void set_gradient(Index i, const Vec<D>& g) {
    for (int k = 0; k < D; ++k) gradients_[i * D + k] = g[k];
  }
  bool accepted(Index i) const { return state_[std::size_t(i)] == NodeState::Accepted; }

  // The march's hooks.
  bool absorbs(Index x) const { return absorbing_ && absorbing_[x]; }
  void unreach(Index x) { set_gradient(x, Vec<D>{}); }

  // Stage 2.
  void propagate(Index from) { Base::offer_predictions(from, gradient(from), stencil_, parent_); }

  static bool unit(const Vec<D>& v, Vec<D>& t) {
    const double n = norm<D>(v);
    if (!(n > 0.0) || !std::isfinite(n)) return false;
    t = scale<D>(1.0 / n, v);
    return true;
  }

  // Unit characteristic direction b + D grad U at a point p: b interpolated
  // at p, plus the multilinear mean of D grad U over the accepted corners of
  // its cell. D grad U is formed where grad U is known: D g with an
  // interpolated g would amplify the interpolation error in g by up to the
  // condition number of D. False if no corner is accepted.
  bool direction_at(const Vec<D>& p, Vec<D>& t) const {
    Vec<D> b{}, dg{};
    double wsum = 0.0;
    for_each_corner<D>(grid_, p, [&](Index i, double w) {
      b = axpy<D>(b, w, fields_.drift(i));
      if (!accepted(i)) return;
      w += 1e-12;  // a corner at zero weight still counts when it is the only one
      dg = axpy<D>(dg, w, mul<D>(fields_.diffusion(i), gradient(i)));
      wsum += w;
    });
    if (!(wsum > 0.0)) return false;
    return unit(axpy<D>(b, 1.0 / wsum, dg), t);
  }


  bool touches_absorbing(const Vec<D>& p) const {
    bool touches = false;
    for_each_corner<D>(grid_, p, [&](Index i, double) { touches = touches || absorbing_[i] != 0; });
    return touches;
  }

  // Stage 1.
  void settle(Index x) {
    const Index p = parent_[std::size_t(x)];
    const MultiIndex<D> mx = grid_.unflat(x);
    const Vec<D> px = grid_.point(mx);
    UpdateResult<D> best;
    UpdateRule rule = UpdateRule::Neighbour;
    // The characteristic direction at x: its own drift plus D grad U at the
    // node its heap key came from.
    Vec<D> t;
    trace_truncated_ = false;
    if (p >= 0 && unit(add<D>(fields_.drift(x), mul<D>(fields_.diffusion(p), gradient(p))), t))
      rule = trace_and_update(x, mx, px, t, best);
    if constexpr (D == 3) {
      // Near the attractor, where |grad U| is a few cells' worth of its
      // Hessian, the direction guessed from a neighbour's gradient can be
      // far off, and the cubic pieces, whose tangents follow the base's
      // characteristics, then give the plane crossed there spurious local
      // minima. The update's own gradient gives the direction at x: when it
      // disagrees, trace again along it and keep the lower value.
      Vec<D> t2;
      if (rule == UpdateRule::Jet &&
          unit(add<D>(fields_.drift(x), mul<D>(fields_.diffusion(x), best.gradient)), t2) &&
          dot<D>(t, t2) < kRetraceCos) {
        UpdateResult<D> again;
        if (trace_and_update(x, mx, px, t2, again) == UpdateRule::Jet && again.value < best.value)
          best = again;
        ++stats_.retraced;
      }
    }
    if (rule != UpdateRule::Jet && trace_truncated_) {
      ++stats_.truncated_traces;
      truncated_[std::size_t(x)] = 1;
    }
    if (rule == UpdateRule::Neighbour) best = neighbour_update(mx, px, fields_.at(x));
    if (rule != UpdateRule::Jet) best.gradient = neighbour_gradient(mx);
    switch (rule) {
      case UpdateRule::Jet: ++stats_.jet; break;
      case UpdateRule::PinnedJet: ++stats_.pinned_jet; break;
      default: ++stats_.neighbour; break;
    }
    // U >= 0: an update can dip below only through interpolation error next
    // to the attractor.
    values_[x] = std::fmax(best.value, 0.0);
    set_gradient(x, best.gradient);
    rules_[x] = std::uint8_t(rule);
  }

  // Trace the characteristic back from x (see the file comment). Returns
  // Jet with the first interior jet update found, else PinnedJet with the
  // best pinned one, else Neighbour; sets trace_truncated_ when the trace
  // ended by turning too far or by running out of steps (rather than at the
  // box edge or an absorbing node).
  UpdateRule trace_and_update(Index x, const MultiIndex<D>& mx, const Vec<D>& px, Vec<D> t,
                              UpdateResult<D>& best) {
    const double h = grid_.min_spacing();
    const int steps = std::max(1, int(std::ceil(options_.update_radius)));
    const Vec<D> t_start = t;
    const Vec<D>& lo = grid_.lower();
    const Vec<D>& sp = grid_.spacing();
    Vec<D> y = px;
    UpdateResult<D> pinned;
    bool truncated = true;  // unless the box edge or an absorbing node ends it
    for (int step = 0; step < steps; ++step) {
      // Midpoint rule: Euler steps drift off a curved characteristic by
      // O(h kappa) per unit length, as much as a grazing one gains in depth.
      // In 3D the first step reaches just past the nearest grid plane (x is
      // a node, so a step of h rarely crosses one): one step instead of two.
      double len = h;
      if constexpr (D == 3) {
        if (step == 0) {
          double reach = 2.0 * h;
          for (int a = 0; a < D; ++a)
            if (std::fabs(t[a]) >= 0.25) reach = std::fmin(reach, 1.02 * sp[a] / std::fabs(t[a]));
          len = std::fmax(reach, h);
        }
      }
      Vec<D> t_mid = t;
      direction_at(axpy<D>(y, -0.5 * len, t), t_mid);
      const Vec<D> next = axpy<D>(y, -len, t_mid);
      // Grid lines crossed between y and next, nearest first.
      double when[D];
      Index line[D];
      int order[D];
      int n = 0;
      for (int a = 0; a < D; ++a) {
        // An edge the characteristic crosses at a shallow angle leaves the
        // crossing point, hence the arrival direction, ill-determined; the
        // other family of lines is crossed within a cell or two.
        if (std::fabs(t_mid[a]) < 0.25) continue;
        const double ua = (y[a] - lo[a]) / sp[a], ub = (next[a] - lo[a]) / sp[a];
        const double l = ub > ua ? std::floor(ua) + 1.0 : std::ceil(ua) - 1.0;
        if ((ub > ua && l > ub) || (ub < ua && l < ub)) continue;
        if (l < 0.0 || l > double(grid_.shape()[a] - 1)) continue;
        when[a] = (l - ua) / (ub - ua);
        line[a] = Index(l);
        order[n++] = a;
      }
      for (int c = 1; c < n; ++c)
        for (int e = c; e > 0 && when[order[e]] < when[order[e - 1]]; --e)
          std::swap(order[e], order[e - 1]);
      for (int c = 0; c < n; ++c) {
        const int a = order[c];
        UpdateResult<D> r;
        const Vec<D> z = lerp<D>(y, next, when[a]);
        LineResult kind;
        if constexpr (D == 2) kind = update_from_line(x, mx, px, a, line[a], z, r);
        else kind = update_from_face(x, mx, px, a, line[a], z, r);
        // A piece that turns much is a poor approximation of the
        // characteristic: its value is still that of a path, not its
        // arrival direction.
        if (kind == LineResult::Interior && r.turn <= options_.max_turn) {
          best = r;
          return UpdateRule::Jet;
        }
        if (kind != LineResult::None && r.value < pinned.value) pinned = r;
      }
      if (!grid_.inside(next)) {
        truncated = false;
        break;
      }
      // A path must not pass over an absorbing node: the trace ends at the
      // first cell that touches one.
      if (absorbing_ && touches_absorbing(next)) {
        truncated = false;
        break;
      }
      Vec<D> t_next;
      if (direction_at(next, t_next)) {
        if (dot<D>(t_start, t_next) < min_cos_turn_) break;
        t = t_next;
      } else {
        t = t_mid;
      }
      y = next;
    }
    trace_truncated_ = trace_truncated_ || truncated;
    best = pinned;
    return best.value < std::numeric_limits<double>::infinity() ? UpdateRule::PinnedJet
                                                                : UpdateRule::Neighbour;
  }

  // Jet updates of x from the base simplices of a grid line (2D: its edges)
  // or plane (3D: half cell faces) that a traced characteristic crossed:
  // from the simplex that holds the crossing, while the update's minimum
  // lies on the simplex's boundary, on to the simplex across it if its
  // nodes are accepted. `update()` gives the jet update from the current
  // simplex and the least value at its nodes; `next(r, hop, best)` moves to
  // the next simplex (Step::Moved) or ends the walk with its verdict; a walk
  // that uses all its hops ends with `exhausted(best)`.
  enum class Step { Moved, Interior, Pinned };

  template <class Update, class Next, class Exhausted>
  LineResult walk(const Update& update, const Next& next, const Exhausted& exhausted, UpdateResult<D>& result) {
    UpdateResult<D> best;
    Step step = Step::Moved;
    for (int hop = 0; hop < kMaxHops && step == Step::Moved; ++hop) {
      auto [r, lowest] = update();
      ++stats_.jet_updates;
      // The action is non-negative, so U(x) is at least U at the base
      // point, which is at least the least node value up to O(h^2). The
      // interpolated base value can dip below that by O(h |grad U error|)
      // where grad U is poor (on the far side of a saddle, where U is flat
      // along the flow lines that converge on the next attractor), and such
      // dips would accumulate.
      r.value = std::fmax(r.value, lowest);
      if (r.value < best.value) best = r;
      step = next(r, hop, best);
    }
    result = best;
    if (step == Step::Moved) step = exhausted(best);
    return step == Step::Interior ? LineResult::Interior : LineResult::Pinned;
  }

  // 2D: jet updates of x from the edges of grid line `line` (normal to axis
  // a), starting from the one that contains the crossing point z and
  // moving in one direction along the line.
  LineResult update_from_line(Index x, const MultiIndex<D>& mx, const Vec<D>& px, int a,
                              Index line, const Vec<D>& z, UpdateResult<D>& result) {
    const int o = 1 - a;
    const Index no = grid_.shape()[o];
    const double q = (z[o] - grid_.lower()[o]) / grid_.spacing()[o];
    Index j = std::min<Index>(std::max<Index>(Index(std::floor(q)), 0), no - 2);
    MultiIndex<D> m = mx;
    m[a] = line;
    auto edge_accepted = [&](Index jj) {
      if (jj < 0 || jj > no - 2) return false;
      m[o] = jj;
      const Index i = grid_.flat(m);
      return accepted(i) && accepted(i + grid_.stride(o));
    };
    // The trace is accurate to a fraction of a cell: if the edge it crosses
    // is not accepted yet, the characteristic comes from further back.
    if (!edge_accepted(j)) return LineResult::None;
    double s0 = std::fmin(std::fmax(q - double(j), 0.0), 1.0);
    const FieldSample<D> fx = fields_.at(x);
    const std::array<FieldSample<D>, D> dfx = fields_.node_derivatives(mx);
    const CubicFields<D> interpolate{fields_, options_.expansions};
    int moved = 0;  // -1 / +1 once the walk moves along the line
    auto update = [&]() {
      MultiIndex<D> ma = m, mb = m;
      ma[o] = j;
      mb[o] = j + 1;
      const Index ia = grid_.flat(ma), ib = grid_.flat(mb);
      const JetNode<D> ja{grid_.point(ma), values_[ia], gradient(ia)};
      const JetNode<D> jb{grid_.point(mb), values_[ib], gradient(ib)};
      JetUpdate<D, decltype(interpolate)> u(ja, jb, px, fx, dfx, interpolate, kPanelCells * grid_.min_spacing());
      return std::make_pair(u.solve(s0), std::fmin(ja.value, jb.value));
    };
    auto verdict = [](const UpdateResult<D>& best) {
      return best.below || best.above ? Step::Pinned : Step::Interior;
    };
    auto next = [&](const UpdateResult<D>& r, int, const UpdateResult<D>& best) {
      if (r.below && moved <= 0 && edge_accepted(j - 1)) {
        --j;
        s0 = 1.0;
        moved = -1;
        return Step::Moved;
      }
      if (r.above && moved >= 0 && edge_accepted(j + 1)) {
        ++j;
        s0 = 0.0;
        moved = 1;
        return Step::Moved;
      }
      return verdict(best);
    };
    return walk(update, next, verdict, result);
  }

  // 3D: triangle jet updates of x from grid plane `line` (normal to axis
  // a), crossed by the traced characteristic at z. The base triangle is a
  // half of the cell face that contains z, split along either diagonal,
  // whose three nodes are accepted (a face often has one node still
  // downwind). While the minimum lies on an edge, the walk moves to the
  // triangle across it (the node opposite, reflected through the edge's
  // midpoint, is a grid node), never back. The update counts as interior
  // (a minimum over the plane) when it lies inside a triangle or on the
  // edge between the last two; it is pinned when the triangle beyond is
  // not accepted.
  LineResult update_from_face(Index x, const MultiIndex<D>& mx, const Vec<D>& px, int a,
                              Index line, const Vec<D>& z, UpdateResult<D>& result) {
    using Node2 = std::array<Index, 2>;  // in-plane node coordinates (along os, ot)
    const int os = (a + 1) % D, ot = (a + 2) % D;
    const Index ns = grid_.shape()[os], nt = grid_.shape()[ot];
    const Vec<D>& sp = grid_.spacing();
    const double qs = (z[os] - grid_.lower()[os]) / sp[os];
    const double qt = (z[ot] - grid_.lower()[ot]) / sp[ot];
    const Index js = std::min<Index>(std::max<Index>(Index(std::floor(qs)), 0), ns - 2);
    const Index jt = std::min<Index>(std::max<Index>(Index(std::floor(qt)), 0), nt - 2);
    const double s0 = std::fmin(std::fmax(qs - double(js), 0.0), 1.0);
    const double t0 = std::fmin(std::fmax(qt - double(jt), 0.0), 1.0);
    MultiIndex<D> m = mx;
    m[a] = line;
    auto index = [&](const Node2& p) {
      MultiIndex<D> c = m;
      c[os] = p[0];
      c[ot] = p[1];
      return c;
    };
    auto flat = [&](const Node2& p) { return grid_.flat(index(p)); };
    auto usable = [&](const Node2& p) {
      return p[0] >= 0 && p[0] < ns && p[1] >= 0 && p[1] < nt && accepted(flat(p));
    };
    // The triangles of the two diagonals that contain z.
    const Node2 c00{js, jt}, c10{js + 1, jt}, c01{js, jt + 1}, c11{js + 1, jt + 1};
    std::array<Node2, 3> candidates[2] = {
        s0 >= t0 ? std::array<Node2, 3>{c00, c10, c11} : std::array<Node2, 3>{c00, c01, c11},
        s0 + t0 <= 1.0 ? std::array<Node2, 3>{c00, c10, c01} : std::array<Node2, 3>{c11, c01, c10}};
    int chosen = -1;
    for (int c = 0; c < 2 && chosen < 0; ++c)
      if (usable(candidates[c][0]) && usable(candidates[c][1]) && usable(candidates[c][2])) chosen = c;
    if (chosen < 0) return LineResult::None;
    std::array<Node2, 3> tri = candidates[chosen];
    // z in the triangle's coordinates: z - p0 = u (p1 - p0) + v (p2 - p0).
    double w[2];
    {
      const double e1s = double(tri[1][0] - tri[0][0]), e1t = double(tri[1][1] - tri[0][1]);
      const double e2s = double(tri[2][0] - tri[0][0]), e2t = double(tri[2][1] - tri[0][1]);
      const double rs = double(js) + s0 - double(tri[0][0]), rt = double(jt) + t0 - double(tri[0][1]);
      const double det = e1s * e2t - e1t * e2s;  // +-1 for these half squares
      w[0] = (rs * e2t - rt * e2s) / det;
      w[1] = (e1s * rt - e1t * rs) / det;
    }
    const FieldSample<D> fx = fields_.at(x);
    const std::array<FieldSample<D>, D> dfx = fields_.node_derivatives(mx);
    auto interpolate = [this](const Vec<D>& p, std::array<FieldSample<D>, D>* gradient) {
      return fields_.linear_action(p, gradient);
    };
    JetTriangle<D> jt3;
    auto update = [&]() {
      double lowest = std::numeric_limits<double>::infinity();
      for (int v = 0; v < 3; ++v) {
        const MultiIndex<D> c = index(tri[std::size_t(v)]);
        const Index n = grid_.flat(c);
        jt3.point[v] = grid_.point(c);
        jt3.value[v] = values_[n];
        jt3.gradient[v] = gradient(n);
        jt3.fields[v] = fields_.at(n);
        lowest = std::fmin(lowest, values_[n]);
      }
      return std::make_pair(TriangleJetUpdate<D, decltype(interpolate)>(
                                jt3, px, fx, dfx, interpolate, kPanelCells3 * grid_.min_spacing())
                                .solve(w[0], w[1]),
                            lowest);
    };
    auto next = [&](const UpdateResult<D>& r, int hop, const UpdateResult<D>& best) {
      // Which vertex's barycentric coordinate vanishes at the minimum.
      const int k = r.above ? 0 : r.below ? 1 : r.t_below ? 2 : -1;
      // Inside the triangle; or, after a hop (vertex 0 is the new one and
      // its opposite edge the way back), on that edge or at a vertex of it:
      // a minimum on both sides of the edge, over the plane, not a boundary
      // of the accepted region.
      if (k < 0 || (hop > 0 && k == 0)) return r.value <= best.value ? Step::Interior : Step::Pinned;
      const int i1 = (k + 1) % 3, i2 = (k + 2) % 3;
      const Node2 q{tri[std::size_t(i1)][0] + tri[std::size_t(i2)][0] - tri[std::size_t(k)][0],
                    tri[std::size_t(i1)][1] + tri[std::size_t(i2)][1] - tri[std::size_t(k)][1]};
      if (!usable(q)) return Step::Pinned;
      const double l[3] = {1.0 - r.s - r.t, r.s, r.t};
      w[0] = l[i1];
      w[1] = l[i2];
      tri = {q, tri[std::size_t(i1)], tri[std::size_t(i2)]};
      return Step::Moved;
    };
    return walk(update, next, [](const UpdateResult<D>&) { return Step::Pinned; }, result);
  }

  // grad U where no jet update along a characteristic was found: the mean
  // of the accepted neighbours' gradients, weighted by inverse squared
  // distance (first order). The momentum of a path that is not a
  // characteristic would carry the path's direction error amplified by the
  // anisotropy of D, and a gradient fitted to the values its value error
  // divided by h.
  Vec<D> neighbour_gradient(const MultiIndex<D>& mx) const {
    Vec<D> sum{};
    double wsum = 0.0;
    const Vec<D>& sp = grid_.spacing();
    for (const MultiIndex<D>& off : stencil_) {
      MultiIndex<D> mn;
      double d2 = 0.0;
      for (int k = 0; k < D; ++k) {
        mn[k] = mx[k] + off[k];
        d2 += double(off[k] * off[k]) * sp[k] * sp[k];
      }
      if (!grid_.contains(mn)) continue;
      const Index n = grid_.flat(mn);
      if (!accepted(n)) continue;
      sum = axpy<D>(sum, 1.0 / d2, gradient(n));
      wsum += 1.0 / d2;
    }
    return wsum > 0.0 ? scale<D>(1.0 / wsum, sum) : sum;
  }

  // The best one-point or triangle update from the accepted neighbours (in
  // 3D hierarchically, with tetrahedron updates: neighbour_update_3d).
  UpdateResult<D> neighbour_update(const MultiIndex<D>& mx, const Vec<D>& px,
                                   const FieldSample<D>& fx) const {
    if constexpr (D == 3) return neighbour_update_3d(mx, px, fx);
    UpdateResult<D> best;
    for (std::size_t e = 0; e < stencil_.size(); ++e) {
      MultiIndex<D> ma;
      for (int k = 0; k < D; ++k) ma[k] = mx[k] + stencil_[e][k];
      if (!grid_.contains(ma)) continue;
      const Index ia = grid_.flat(ma);
      if (!accepted(ia)) continue;
      const Vec<D> pa = grid_.point(ma);
      const UpdateResult<D> r = one_point_update<D>(pa, values_[ia], fields_.at(ia), px, fx);
      if (r.value < best.value) best = r;
      for (std::size_t f = e + 1; f < stencil_.size(); ++f) {
        MultiIndex<D> mb;
        bool adjacent = true;
        for (int k = 0; k < D; ++k) {
          mb[k] = mx[k] + stencil_[f][k];
          if (std::abs(stencil_[f][k] - stencil_[e][k]) > 1) adjacent = false;
        }
        if (!adjacent || !grid_.contains(mb)) continue;
        const Index ib = grid_.flat(mb);
        if (!accepted(ib)) continue;
        const UpdateResult<D> rt = triangle_update<D>(pa, values_[ia], fields_.at(ia), grid_.point(mb),
                                                      values_[ib], fields_.at(ib), px, fx);
        if (rt.value < best.value) best = rt;
      }
    }
    return best;
  }

  // The hierarchical strategy of Yang, Potter & Cameron (2019) on the 26
  // neighbours: the best one-point update picks a node a; triangle updates
  // pair a with each accepted neighbour b adjacent to it; the best of them
  // adds a third accepted neighbour c adjacent to both for the tetrahedron
  // updates. The best value found wins.
  UpdateResult<D> neighbour_update_3d(const MultiIndex<D>& mx, const Vec<D>& px,
                                      const FieldSample<D>& fx) const {
    struct Near {
      MultiIndex<D> off;
      Index node;
      Vec<D> point;
    };
    Near near[26];
    int n = 0;
    for (const MultiIndex<D>& off : stencil_) {
      MultiIndex<D> mn;
      for (int k = 0; k < D; ++k) mn[k] = mx[k] + off[k];
      if (!grid_.contains(mn)) continue;
      const Index i = grid_.flat(mn);
      if (accepted(i)) near[n++] = Near{off, i, grid_.point(mn)};
    }
    auto adjacent = [](const Near& p, const Near& q) {
      for (int k = 0; k < D; ++k)
        if (std::abs(p.off[k] - q.off[k]) > 1) return false;
      return true;
    };
    UpdateResult<D> best;
    int a = -1;
    for (int e = 0; e < n; ++e) {
      const UpdateResult<D> r =
          one_point_update<D>(near[e].point, values_[near[e].node], fields_.at(near[e].node), px, fx);
      if (r.value < best.value) best = r, a = e;
    }
    if (a < 0) return best;
    const Near& na = near[a];
    const FieldSample<D> fa = fields_.at(na.node);
    double best_pair = std::numeric_limits<double>::infinity();
    int b = -1;
    for (int e = 0; e < n; ++e) {
      if (e == a || !adjacent(na, near[e])) continue;
      const UpdateResult<D> r = triangle_update<D>(na.point, values_[na.node], fa, near[e].point,
                                                   values_[near[e].node], fields_.at(near[e].node), px, fx);
      if (r.value < best_pair) best_pair = r.value, b = e;
      if (r.value < best.value) best = r;
    }
    if (b < 0) return best;
    const Near& nb = near[b];
    const FieldSample<D> fb = fields_.at(nb.node);
    for (int e = 0; e < n; ++e) {
      if (e == a || e == b || !adjacent(na, near[e]) || !adjacent(nb, near[e])) continue;
      const UpdateResult<D> r = tetrahedron_update<D>(
          na.point, values_[na.node], fa, nb.point, values_[nb.node], fb, near[e].point,
          values_[near[e].node], fields_.at(near[e].node), px, fx);
      if (r.value < best.value) best = r;
    }
    return best;
  }

  const SampledFields<D>& fields_;
  double* gradients_;
  std::uint8_t* rules_;
  MarchOptions options_;
  const std::uint8_t* absorbing_ = nullptr;
  std::vector<std::int32_t> parent_;
  std::vector<std::uint8_t> truncated_;  // see truncated()
  double min_cos_turn_;  // cos(options_.max_turn)
  std::vector<MultiIndex<D>> stencil_;
  MarchStats stats_;
  bool trace_truncated_ = false;  // the current node's trace (settle)
};

}  // namespace hjqp
