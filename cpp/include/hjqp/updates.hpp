// Local update rules: the value a target node gets from already accepted
// nodes by the dynamic programming principle
//     U(x) = min_y [ U(y) + S(path from y to x) ].
//
// * one-point update: y is a node, the path the straight segment;
// * triangle update: y slides along an edge [a, b] of accepted nodes, U(y)
//   interpolated linearly, the path the straight segment;
// * tetrahedron update (3D): y ranges over a triangle [a, b, c] of accepted
//   nodes, U(y) interpolated linearly, the path the straight segment;
// * triangle jet update (3D): y ranges over a triangle of accepted nodes,
//   U(y) is the cubic interpolant of their 1-jets, the path a cubic piece
//   along the base's characteristic. This is the high-order rule of the 3D
//   marcher;
// * jet update (2D): y slides along an edge, U(y) is the cubic Hermite
//   interpolant of the 1-jets (U, grad U) at a and b, and the path is a
//   cubic piece whose start and arrival directions are free. This is the
//   high-order rule of the marcher.
// Each returns the value and the gradient grad U(x).
#pragma once

#include <array>
#include <cmath>
#include <limits>

#include "hjqp/action.hpp"
#include "hjqp/fields.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/optimise.hpp"

namespace hjqp {

template <int D>
struct UpdateResult {
  double value = std::numeric_limits<double>::infinity();
  Vec<D> gradient{};
  double s = 0.0;       // minimiser along the base edge, in [0, 1]
  bool below = false;   // the minimum lies beyond s = 0 (off this edge)
  bool above = false;   // the minimum lies beyond s = 1
  double t = 0.0;       // second coordinate on a base face or triangle, in [0, 1]
  bool t_below = false; // the minimum lies beyond t = 0
  bool t_above = false; // the minimum lies beyond t = 1
  double turn = 0.0;    // angle between the path's start and arrival tangents
};

// One-point update along the straight segment from node y to node x.
template <int D>
inline UpdateResult<D> one_point_update(const Vec<D>& y, double uy, const FieldSample<D>& fy,
                                        const Vec<D>& x, const FieldSample<D>& fx) {
  const Vec<D> chord = sub<D>(x, y);
  const FieldSample<D> fm = lerp<D>(fy, fx, 0.5);
  UpdateResult<D> r;
  r.value = uy + segment_action<D>(fy, fm, fx, chord);
  r.gradient = momentum<D>(fx, chord);
  return r;
}

// Triangle update from the edge [a, b] with linear interpolation of U and of
// the fields along the edge, straight segments, Simpson's rule with the
// fields at the midpoint taken as the mean of the end fields.
template <int D>
inline UpdateResult<D> triangle_update(const Vec<D>& a, double ua, const FieldSample<D>& fa,
                                       const Vec<D>& b, double ub, const FieldSample<D>& fb,
                                       const Vec<D>& x, const FieldSample<D>& fx) {
  auto cost = [&](double s) {
    const Vec<D> y = lerp<D>(a, b, s);
    const FieldSample<D> fy = lerp<D>(fa, fb, s);
    const FieldSample<D> fm = lerp<D>(fy, fx, 0.5);
    return ua + s * (ub - ua) + segment_action<D>(fy, fm, fx, sub<D>(x, y));
  };
  const Minimum m = minimise_on_unit_interval(cost);
  UpdateResult<D> r;
  r.value = m.f;
  r.s = m.s;
  r.below = m.below;
  r.above = m.above;
  r.gradient = momentum<D>(fx, sub<D>(x, lerp<D>(a, b, m.s)));
  return r;
}

// Tetrahedron update from the triangle [a, b, c]: U and the fields linear
// over the triangle, straight segments, Simpson's rule as in the triangle
// update. The base point is y = a + u (b - a) + v (c - a) with u, v >= 0,
// u + v <= 1; the minimum is started from the best of 15 evenly spread
// samples (the cost need not be convex) and r.s, r.t report it.
template <int D>
inline UpdateResult<D> tetrahedron_update(const Vec<D>& a, double ua, const FieldSample<D>& fa,
                                          const Vec<D>& b, double ub, const FieldSample<D>& fb,
                                          const Vec<D>& c, double uc, const FieldSample<D>& fc,
                                          const Vec<D>& x, const FieldSample<D>& fx) {
  const Vec<D> ab = sub<D>(b, a), ac = sub<D>(c, a);
  auto base = [&](const std::array<double, 2>& w, Vec<D>& y, FieldSample<D>& fy) {
    y = axpy<D>(axpy<D>(a, w[0], ab), w[1], ac);
    const double w0 = 1.0 - w[0] - w[1];
    for (int k = 0; k < FieldSample<D>::size; ++k)
      fy.data()[k] = w0 * fa.data()[k] + w[0] * fb.data()[k] + w[1] * fc.data()[k];
    return w[0] * (ub - ua) + w[1] * (uc - ua);
  };
  auto cost = [&](const std::array<double, 2>& w) {
    Vec<D> y;
    FieldSample<D> fy;
    const double du = base(w, y, fy);
    return du + segment_action<D>(fy, lerp<D>(fy, fx, 0.5), fx, sub<D>(x, y));
  };
  std::array<double, 2> v{0.0, 0.0};
  double f = std::numeric_limits<double>::infinity();
  for (int i = 0; i <= 4; ++i)
    for (int j = 0; i + j <= 4; ++j) {
      const std::array<double, 2> w{0.25 * i, 0.25 * j};
      const double fw = cost(w);
      if (fw < f) f = fw, v = w;
    }
  v = newton_minimise_in<2>(cost, v, {1e-6, 1e-6}, {1e-9, 1e-9}, {0.25, 0.25}, f, 30, project_to_simplex);
  // Projected Newton steps can stall against an edge: the edges' own
  // minima (triangle updates, the same cost restricted) settle those.
  const UpdateResult<D> edges[3] = {triangle_update<D>(a, ua, fa, b, ub, fb, x, fx),
                                    triangle_update<D>(b, ub, fb, c, uc, fc, x, fx),
                                    triangle_update<D>(a, ua, fa, c, uc, fc, x, fx)};
  const std::array<double, 2> on_edge[3] = {{edges[0].s, 0.0},
                                            {1.0 - edges[1].s, edges[1].s},
                                            {0.0, edges[2].s}};
  for (int e = 0; e < 3; ++e)
    if (edges[e].value - ua < f) f = edges[e].value - ua, v = on_edge[e];
  UpdateResult<D> r;
  r.value = ua + f;
  r.s = v[0];
  r.t = v[1];
  r.below = v[0] <= 0.0;
  r.t_below = v[1] <= 0.0;
  r.above = v[0] + v[1] >= 1.0;
  Vec<D> y;
  FieldSample<D> fy;
  base(v, y, fy);
  r.gradient = momentum<D>(fx, sub<D>(x, y));
  return r;
}

// One end of a base edge for the jet update: position, 1-jet and fields.
template <int D>
struct JetNode {
  Vec<D> point;
  double value;
  Vec<D> gradient;
};

// The drift, metric and diffusion of SampledFields<2> as the jet update
// reads them: cubic interpolation with first and (unless `hessian` is
// null) second derivatives, at a point or, cheaper, at a point of a grid
// line with the derivatives along it.
template <int D>
struct CubicFields {
  const SampledFields<D>& fields;
  bool expansions = true;  // smooth() only if also allowed

  FieldSample<D> operator()(const Vec<D>& p, int count, std::array<FieldSample<D>, D>& gradient,
                            std::array<FieldSample<D>, 3>* hessian, double* room = nullptr) const {
    return fields.cubic(p, count, gradient, hessian, room);
  }
  FieldSample<D> along(const Vec<D>& p, int axis, int count, FieldSample<D>& slope, FieldSample<D>* curve,
                       double* room = nullptr) const {
    return fields.cubic_along(p, axis, count, slope, curve, room);
  }
  bool smooth() const { return expansions && fields.is_smooth(); }
};

// The jet update of x from the edge [a, b] (a grid edge). `Interpolate`
// reads the fields as CubicFields does: (point, count, gradient, hessian)
// interpolates the first `count` components of the fields and writes the
// first derivatives of the drift and metric into `gradient` and, unless
// `hessian` is null, their second derivatives (xx, xy, yy) into *hessian;
// along(point, axis, count, slope, curve) does the same at a point of the
// grid line along `axis`, with derivatives along the line. Both tell in an
// optional last argument how far from the point the derivatives describe
// the fields (SampledFields::cubic's `room`); smooth() whether the fields
// change little from node to node.
//
// The path is the cubic Hermite piece from y(s) = a + s (b - a) to x with
// free start and arrival tangents; the value is minimised over s and the two
// tangent directions by Newton's method from the guess: s0, the characteristic direction b + D grad U at y(s0), and its
// mirror image across the chord (exact for circular arcs). With both tangents
// free the piece is the best cubic between its ends, so neither the value nor
// the gradient depends on the accuracy of the base gradients, which enter
// only through the Hermite interpolation of U. The action is integrated by
// four-point Gauss-Lobatto quadrature.
//
// Newton's method takes the objective's derivatives by differences over
// steps of 1e-4, which move the base point and the quadrature points by
// 1e-4 of a cell or of the piece. There the fields come from their
// second-order Taylor expansion about the point last evaluated in full (the
// centre), exact at the centre itself: it errs by O(1e-12 len^3) times the
// fields' third derivatives, far below the differences' own truncation
// error, and the update interpolates several times less than when each
// difference interpolates anew. (A first-order expansion is not enough:
// the fields' curvature is part of the objective's Hessian, and without it
// Newton's method stops early where the fields vary on the scale of the
// piece.) Newton's iterates are evaluated in full, unless they lie within a
// few steps of the centre; so are the fields at a point that lies beyond
// its node's `room` (across a cell line, where the interpolant's second
// derivatives jump, or where it falls back to multilinear), which the
// expansion would miss by far where the fields jump between nodes. Where
// they do anywhere on the grid (smooth() is false), every point is
// evaluated in full: there the march's discrete choices are sensitive to
// rounding, and results should not depend on the expansions.
//
// grad U(x) = dS/dx: for a path that satisfies the Euler-Lagrange equations
// the derivative of its action with respect to the end point is the arrival
// momentum whatever the deformation, so it is taken with the tangents held
// fixed: the quadrature, differentiated exactly, with the point at tau
// moving by h01(tau) dx and its velocity by h01'(tau) dx (h01 the Hermite
// weight of the end x) and the fields at x by their derivatives `dfx` (one
// row per axis; drift and metric). Computing the momentum from the arrival
// direction instead would amplify the direction's error by up to
// |A b| / |grad U|, large where the drift has a strong component across a
// direction of small diffusion.
template <int D, class Interpolate>
class JetUpdate {
  static_assert(D == 2, "the jet update is written for 2D (two tangent angles)");

 public:
  // Pieces longer than `panel_length` are integrated on several panels
  // (at most kMaxPanels) of about that length.
  JetUpdate(const JetNode<D>& a, const JetNode<D>& b, const Vec<D>& x, const FieldSample<D>& fx,
            const std::array<FieldSample<D>, D>& dfx, const Interpolate& interpolate,
            double panel_length = std::numeric_limits<double>::infinity())
      : a_(a), b_(b), x_(x), fx_(fx), dfx_(dfx), interpolate_(interpolate) {
    edge_ = sub<D>(b.point, a.point);
    edge_axis_ = edge_[0] != 0.0 ? 0 : 1;
    expand_ = interpolate.smooth();
    edge_length_ = std::fabs(edge_[std::size_t(edge_axis_)]);
    panels_ = panel_count(norm<D>(sub<D>(x, axpy<D>(a.point, 0.5, edge_))), panel_length);
    bab_x_ = form<D>(fx.metric, fx.drift, fx.drift);
    da_ = dot<D>(a.gradient, edge_);
    db_ = dot<D>(b.gradient, edge_);
    set_nodes();
  }

  UpdateResult<D> solve(double s0) {
    std::array<double, 3> v = guess(std::fmin(std::fmax(s0, 0.0), 1.0));
    double f = 0.0;
    // The minimiser's error, first order in the differences' truncation
    // error, sets the error of grad U; the objective is taken relative to
    // U(a) so that rounding stays far below.
    v = newton_minimise<3>([this](const std::array<double, 3>& w) { return (*this)(w); }, v,
                           {kStep, kStep, kStep}, {2e-3, 2e-3, 2e-3}, {0.5, 0.3, 0.3}, f, 5, true);
    UpdateResult<D> r;
    r.value = a_.value + f;
    r.s = v[0];
    r.below = v[0] <= 0.0;
    r.above = v[0] >= 1.0;
    const CubicPiece<D> piece = piece_at(axpy<D>(a_.point, v[0], edge_), v[1], v[2]);
    r.turn = turn_angle<D>(piece.vy, piece.vx);
    // Newton's last step is taken on its quadratic model, so the fields on
    // the final piece are those of the centre's expansion only when it is
    // that close.
    const bool expand = expand_ && near_centre(v, kExpansionRadius);
    const double w = 1.0 / double(panels_);
    for (int k = 0; k < D; ++k)
      r.gradient[k] = w / 12.0 * lagrangian_change<D>(fx_, piece.vx, dfx_[std::size_t(k)]);
    for (int q = 0; q < 3 * panels_ - 1; ++q) {
      const double tau = node_tau(q), weight = w * (q % 3 == 2 ? 2.0 : 5.0) / 12.0;
      const Vec<D> point = piece.combine(hermite_[q].position);
      std::array<FieldSample<D>, D> df;
      FieldSample<D> fq;
      if (expand && within_room(q, point)) {
        fq = expanded(q, point);
        df = centre_.gradient[q];
      } else {
        fq = interpolate_(point, FieldSample<D>::action_size, df, nullptr);
      }
      const Vec<D> velocity = piece.combine(hermite_[q].velocity);
      const Vec<D> p = momentum<D>(fq, velocity);
      const double moves = tau * tau * (3.0 - 2.0 * tau), turns = 6.0 * tau * (1.0 - tau);
      for (int k = 0; k < D; ++k)
        r.gradient[k] += weight * (turns * p[k] + moves * lagrangian_change<D>(fq, velocity, df[std::size_t(k)]));
    }
    return r;
  }

  // U(y(s)) - U(a) + S(piece) for w = (s, e_a, e_b): the tangents are the
  // guessed ones turned by 2 atan(e / 2), about e (see turned()).
  double operator()(const std::array<double, 3>& w) {
    if (expand_ && near_centre(w, kExpansionRadius)) {
      if (!centre_.curved && !near_centre(w, kFirstOrderRadius)) curve_centre();
      const double s = w[0];
      FieldSample<D> fy;
      const double ds = s - centre_.s;
      const Vec<D> y = axpy<D>(a_.point, s, edge_);
      if (std::fabs(ds) * edge_length_ <= centre_.base_room) {
        const double half_ds = centre_.curved ? 0.5 * ds : 0.0;
        for (int c = 0; c < FieldSample<D>::action_size; ++c)
          fy.data()[c] = centre_.base_fields.data()[c] +
                         ds * (centre_.base_slope.data()[c] + half_ds * centre_.base_curve.data()[c]);
      } else {
        FieldSample<D> slope;
        fy = interpolate_.along(y, edge_axis_, FieldSample<D>::action_size, slope, nullptr);
      }
      const double value = base_value(s) + action(piece_at(y, w[1], w[2]), fy, [this](int q, const Vec<D>& point) {
                             if (within_room(q, point)) return expanded(q, point);
                             std::array<FieldSample<D>, D> g;
                             return interpolate_(point, FieldSample<D>::action_size, g, nullptr);
                           });
      // An expansion that leaves the metric indefinite (next to a jump of
      // the fields) gives no value: the point is evaluated in full.
      if (std::isfinite(value)) return value;
    }
    // Newton's method differentiates at its first point at once; where it
    // moves next, a forward difference of a hundredth of a step often
    // tells that it has converged, and that needs only the first
    // derivatives of the fields.
    return evaluate_centre(w, std::isnan(centre_.w[0]));
  }

 private:
  static constexpr double kStep = 1e-4;
  // Points within this distance of the centre (in each of s and the two
  // tangent parameters) take the centre's expansion: those of Newton's
  // differences, and steps too short to matter.
  static constexpr double kExpansionRadius = 4.0 * kStep;
  // Within this distance the first-order expansion is enough: Newton's
  // forward differences, a hundredth of a step long, check convergence
  // with the last Hessian, and their error from the missing curvature,
  // O(1e-6 len^2 |f''|), is far below what that test resolves.
  static constexpr double kFirstOrderRadius = 0.1 * kStep;
  static constexpr int kMaxNodes = 3 * kMaxPanels - 1;

  // Gauss-Lobatto's interior nodes on panel p are numbered 3p and 3p + 1;
  // the panel's right end, 3p + 2, is interior to the piece when p is not
  // the last panel.
  void set_nodes() {
    constexpr double t1 = 0.27639320225002102;  // (1 - 1/sqrt(5)) / 2
    constexpr double t2 = 0.72360679774997898;  // (1 + 1/sqrt(5)) / 2
    const double w = 1.0 / double(panels_);
    for (int q = 0; q < 3 * panels_ - 1; ++q) {
      const double t0 = double(q / 3) * w;
      tau_[q] = q % 3 == 0 ? t0 + t1 * w : q % 3 == 1 ? t0 + t2 * w : t0 + w;
      hermite_[q] = CubicPiece<D>::weights(tau_[q]);
    }
  }
  double node_tau(int q) const { return tau_[q]; }

  // Action along the piece by four-point Gauss-Lobatto quadrature (exact
  // for polynomials of degree 5, against 3 for Simpson's rule, with two
  // interior field evaluations) on panels_ equal panels of the parameter:
  // fy and fx_ are the fields at the ends, fields(q, point) those at the
  // quadrature node q inside. One panel is enough over a few cells; long
  // pieces need more, since |b|_A has a kink where b vanishes (near a
  // saddle) and one panel can then miss much of the action.
  template <class Fields>
  double action(const CubicPiece<D>& piece, const FieldSample<D>& fy, const Fields& fields) const {
    const double w = 1.0 / double(panels_);
    double left = lagrangian<D>(fy, piece.vy);
    double total = 0.0;
    for (int p = 0; p < panels_; ++p) {
      double right;
      if (p + 1 == panels_) {
        right = lagrangian<D>(fx_, piece.vx, bab_x_);
      } else {
        right = inner_lagrangian(piece, 3 * p + 2, fields);
      }
      const double inner = inner_lagrangian(piece, 3 * p, fields) + inner_lagrangian(piece, 3 * p + 1, fields);
      total += w * (left + right + 5.0 * inner) / 12.0;
      left = right;
    }
    return total;
  }

  // The Lagrangian at the quadrature node q inside the piece.
  template <class Fields>
  double inner_lagrangian(const CubicPiece<D>& piece, int q, const Fields& fields) const {
    const typename CubicPiece<D>::Weights& h = hermite_[q];
    return lagrangian<D>(fields(q, piece.combine(h.position)), piece.combine(h.velocity));
  }

  // The objective at w with the fields interpolated (and differentiated,
  // twice if `curved`) at the base point and the quadrature nodes: w
  // becomes the centre.
  double evaluate_centre(const std::array<double, 3>& w, bool curved) {
    const double s = w[0];
    const Vec<D> y = axpy<D>(a_.point, s, edge_);
    if (!(s == centre_.s) || (curved && !centre_.base_curved)) set_base(s, y, FieldSample<D>::action_size, curved);
    centre_.w = w;
    centre_.curved = curved;
    return base_value(s) + action(piece_at(y, w[1], w[2]), centre_.base_fields,
                                  [this, curved](int q, const Vec<D>& point) {
                                    centre_.point[q] = point;
                                    return centre_.fields[q] =
                                               interpolate_(point, FieldSample<D>::action_size, centre_.gradient[q],
                                                            curved ? &centre_.hessian[q] : nullptr, &centre_.room[q]);
                                  });
  }

  // The second derivatives of the fields at the centre's base point and
  // quadrature nodes.
  void curve_centre() {
    if (!centre_.base_curved)
      set_base(centre_.s, axpy<D>(a_.point, centre_.s, edge_), FieldSample<D>::action_size, true);
    for (int q = 0; q < 3 * panels_ - 1; ++q)
      interpolate_(centre_.point[q], FieldSample<D>::action_size, centre_.gradient[q], &centre_.hessian[q]);
    centre_.curved = true;
  }

  // Whether `point` lies within the room of the centre's quadrature node q.
  bool within_room(int q, const Vec<D>& point) const {
    const double r = centre_.room[q];
    return std::fabs(point[0] - centre_.point[q][0]) <= r && std::fabs(point[1] - centre_.point[q][1]) <= r;
  }

  bool near_centre(const std::array<double, 3>& w, double radius) const {
    for (int i = 0; i < 3; ++i)
      if (!(std::fabs(w[i] - centre_.w[i]) <= radius)) return false;
    return true;
  }

  // The drift and metric at `point` near the centre's quadrature node q.
  FieldSample<D> expanded(int q, const Vec<D>& point) const {
    FieldSample<D> f;
    const Vec<D> d = sub<D>(point, centre_.point[q]);
    const FieldSample<D>*g = centre_.gradient[q].data(), *h = centre_.hessian[q].data();
    for (int c = 0; c < FieldSample<D>::action_size; ++c)
      f.data()[c] = centre_.fields[q].data()[c] + g[0].data()[c] * d[0] + g[1].data()[c] * d[1];
    if (centre_.curved)
      for (int c = 0; c < FieldSample<D>::action_size; ++c)
        f.data()[c] += 0.5 * (h[0].data()[c] * d[0] * d[0] + h[2].data()[c] * d[1] * d[1]) +
                       h[1].data()[c] * d[0] * d[1];
    return f;
  }

  // U(y(s)) - U(a), Hermite along the edge.
  double base_value(double s) const {
    const double s2 = s * s, s3 = s2 * s;
    return (s3 - 2 * s2 + s) * da_ + (-2 * s3 + 3 * s2) * (b_.value - a_.value) + (s3 - s2) * db_;
  }

  // The first `count` components of the fields at the base point y = y(s),
  // and the first (and if `curved` the second) derivatives of the drift
  // and metric along the edge.
  void set_base(double s, const Vec<D>& y, int count, bool curved) {
    FieldSample<D> slope, curve;
    const FieldSample<D> f =
        interpolate_.along(y, edge_axis_, count, slope, curved ? &curve : nullptr, &centre_.base_room);
    if (count > FieldSample<D>::action_size || !(s == centre_.s)) centre_.base_fields = f;
    const double e = edge_[std::size_t(edge_axis_)];
    for (int c = 0; c < FieldSample<D>::action_size; ++c) {
      centre_.base_slope.data()[c] = e * slope.data()[c];
      if (curved) centre_.base_curve.data()[c] = e * e * curve.data()[c];
    }
    centre_.s = s;
    centre_.base_curved = curved;
  }

  // The piece from y to x with the guessed tangents turned by ea and eb,
  // both of the chord's length (kept from the last call with the same y:
  // Newton's differences in the tangents keep the base point).
  CubicPiece<D> piece_at(const Vec<D>& y, double ea, double eb) {
    if (!(y[0] == chord_from_[0] && y[1] == chord_from_[1])) {
      chord_from_ = y;
      chord_length_ = norm<D>(sub<D>(x_, y));
    }
    const double len = chord_length_;
    return {y, x_, scale<D>(len, turned(ta_, na_, ea)), scale<D>(len, turned(tb_, nb_, eb))};
  }

  // The unit vector t turned towards its unit normal n by the angle
  // 2 atan(e / 2): (1 - e^2/4) t + e n over 1 + e^2/4, of unit length with
  // no square root or trigonometry in the inner loop, and turned by e to
  // within e^3 / 12.
  static Vec<D> turned(const Vec<D>& t, const Vec<D>& n, double e) {
    const double q = 0.25 * e * e, c = 1.0 / (1.0 + q);
    return axpy<D>(scale<D>((1.0 - q) * c, t), e * c, n);
  }

  // Start: the characteristic b + D g at y(s0), g linear across the edge and
  // Hermite-exact along it; arrival: its mirror image across the chord.
  std::array<double, 3> guess(double s0) {
    // All the fields at y(s0); their drift and metric, with the derivative
    // along the edge, are the first centre's base.
    const Vec<D> y = axpy<D>(a_.point, s0, edge_);
    set_base(s0, y, FieldSample<D>::size, true);
    const Vec<D> chord = sub<D>(x_, y);
    const double len = norm<D>(chord);
    const Vec<D> c = scale<D>(1.0 / len, chord);
    const double s2 = s0 * s0;
    const double du = (6 * s2 - 6 * s0) * a_.value + (3 * s2 - 4 * s0 + 1) * da_ +
                      (-6 * s2 + 6 * s0) * b_.value + (3 * s2 - 2 * s0) * db_;
    Vec<D> g = lerp<D>(a_.gradient, b_.gradient, s0);
    g = axpy<D>(g, (du - dot<D>(g, edge_)) / dot<D>(edge_, edge_), edge_);
    const Vec<D> t = start_tangent<D>(direction<D>(characteristic<D>(centre_.base_fields, g)), c);
    ta_ = t;
    tb_ = mirrored_tangent<D>(t, c);
    na_ = {-ta_[1], ta_[0]};
    nb_ = {-tb_[1], tb_[0]};
    return {s0, 0.0, 0.0};
  }

  // The point last evaluated in full: its base point's fields and their
  // first and second derivatives in s, and the fields and their first and
  // second derivatives at its quadrature nodes.
  struct Centre {
    double s = std::numeric_limits<double>::quiet_NaN();
    std::array<double, 3> w{std::numeric_limits<double>::quiet_NaN(), 0.0, 0.0};
    FieldSample<D> base_fields;
    FieldSample<D> base_slope;
    FieldSample<D> base_curve;
    double base_room = 0.0;    // how far from the base point its expansion holds
    bool base_curved = false;  // base_curve holds
    bool curved = false;       // hessian holds
    Vec<D> point[kMaxNodes];
    FieldSample<D> fields[kMaxNodes];
    std::array<FieldSample<D>, D> gradient[kMaxNodes];
    std::array<FieldSample<D>, 3> hessian[kMaxNodes];
    double room[kMaxNodes];  // how far from each node its expansion holds
  };

  JetNode<D> a_, b_;
  Vec<D> x_;
  FieldSample<D> fx_;
  double bab_x_;  // |b|_A^2 at x
  std::array<FieldSample<D>, D> dfx_;
  const Interpolate& interpolate_;
  int panels_ = 1;
  Vec<D> edge_;
  int edge_axis_ = 0;         // the grid axis the edge lies along
  bool expand_ = true;        // Taylor expansions of smooth fields stand in for interpolation
  double edge_length_ = 0.0;  // |b - a|
  double da_, db_;
  Vec<D> ta_{}, tb_{}, na_{}, nb_{};  // guessed unit tangents and their normals
  Vec<D> chord_from_{std::numeric_limits<double>::quiet_NaN(), 0.0};  // the last base point of piece_at
  double chord_length_ = 0.0;                                            // |x - chord_from_|
  double tau_[kMaxNodes];             // the quadrature nodes inside the piece
  typename CubicPiece<D>::Weights hermite_[kMaxNodes];  // and the Hermite weights there
  Centre centre_;
};

// A triangle of accepted nodes with their 1-jets and fields.
template <int D>
struct JetTriangle {
  Vec<D> point[3];
  double value[3];
  Vec<D> gradient[3];
  FieldSample<D> fields[3];
};

// The triangle jet update of x (the high-order rule in 3D):
//     U(x) = min over y in the triangle of  U(y) + S(piece y -> x),
// with U(y) Zienkiewicz's cubic interpolant of the vertices' 1-jets (exact
// for quadratics, the cubic Hermite interpolant along each edge) and the
// fields linear over the triangle.
//
// The piece is the cubic Hermite curve that leaves y along the
// characteristic b + D g of the base jet (g linear over the triangle) and
// arrives along its mirror image across the chord: an arc to second order.
// Its action errs by O(L delta^2) for a tangent error delta, so first-order
// base gradients suffice, and pieces several cells long stay accurate where
// a straight segment would err by O(kappa^2 L^3) (near the attractor, where
// characteristics curve on the scale of the distance to it). The action is
// integrated by Simpson's rule, the fields inside the piece from
// `interpolate(point, gradient)` (drift and metric; with a non-null
// std::array<FieldSample<D>, D>* also their derivatives along the axes). The interpolation errs by
// O(h^3) where the vertex gradients are second-order accurate: the march
// is second order.
//
// grad U(x) = dS/dx at the minimising base point (the envelope theorem),
// differentiated exactly with the piece deforming as x moves (tangents
// held) and the fields at x moving with their derivatives `dfx` (one row
// per axis; drift and metric): O(h^2) accurate, whereas the arrival momentum of the piece alone
// would carry its direction error, amplified by the anisotropy of D.
//
// The base point is y = p0 + u (p1 - p0) + v (p2 - p0); the result reports
// s = u, t = v, and which barycentric coordinate vanishes at the minimum:
// below (u = 0), t_below (v = 0), above (1 - u - v = 0).
template <int D, class Interpolate>
class TriangleJetUpdate {
 public:
  // Pieces longer than `panel_length` are integrated on several panels (at
  // most 16) of about that length: one panel can miss much of the action
  // of a piece that passes a saddle, where |b|_A has a kink.
  TriangleJetUpdate(const JetTriangle<D>& tri, const Vec<D>& x, const FieldSample<D>& fx,
                    const std::array<FieldSample<D>, D>& dfx, const Interpolate& interpolate,
                    double panel_length = std::numeric_limits<double>::infinity())
      : tri_(tri), x_(x), fx_(fx), dfx_(dfx), interpolate_(interpolate) {
    e1_ = sub<D>(tri.point[1], tri.point[0]);
    e2_ = sub<D>(tri.point[2], tri.point[0]);
    const Vec<D> centre = scale<D>(1.0 / 3.0, add<D>(add<D>(tri.point[0], tri.point[1]), tri.point[2]));
    panels_ = panel_count(norm<D>(sub<D>(x, centre)), panel_length);
    for (int i = 0; i < 3; ++i) {
      u_[i] = tri.value[i] - tri.value[0];
      for (int j = 0; j < 3; ++j)
        slope_[i][j] = i == j ? 0.0 : dot<D>(tri.gradient[i], sub<D>(tri.point[j], tri.point[i]));
    }
  }

  // Minimise from the base point (u0, v0).
  UpdateResult<D> solve(double u0, double v0) const {
    std::array<double, 2> w{u0, v0};
    project_to_simplex(w);
    double f = 0.0;
    // Difference steps of 1e-4 and a last Newton step on the quadratic
    // model: the base point errs by O(1e-8).
    w = newton_minimise_in<2>([this](const std::array<double, 2>& q) { return (*this)(q); }, w,
                              {1e-4, 1e-4}, {1e-3, 1e-3}, {0.5, 0.5}, f, 8, project_to_simplex);
    // A projected Newton step can stall against an edge: minimise along
    // the edge the iterate ended on.
    const int edge = w[1] <= 0.0 ? 0 : w[0] <= 0.0 ? 1 : w[0] + w[1] >= 1.0 ? 2 : -1;
    if (edge >= 0) {
      auto along = [edge](double e) {
        return edge == 0 ? std::array<double, 2>{e, 0.0}
               : edge == 1 ? std::array<double, 2>{0.0, e}
                           : std::array<double, 2>{1.0 - e, e};
      };
      const std::array<double, 1> e0{edge == 0 ? w[0] : w[1]};
      double fe = f;
      const std::array<double, 1> e = newton_minimise<1, 1>(
          [&](const std::array<double, 1>& q) { return (*this)(along(q[0])); }, e0, {1e-4}, {1e-3}, {0.5},
          fe, 8);
      if (fe < f) f = fe, w = along(e[0]);
    }
    UpdateResult<D> r;
    r.value = tri_.value[0] + f;
    r.s = w[0];
    r.t = w[1];
    r.below = w[0] <= 0.0;
    r.t_below = w[1] <= 0.0;
    r.above = w[0] + w[1] >= 1.0;
    const Base b = base(w);
    const CubicPiece<D> piece = piece_from(b, x_);
    // d/dx of the quadrature with the tangents held: the point at tau
    // moves by h01(tau) dx and its velocity by h01'(tau) dx (h01 the cubic
    // Hermite weight of the end x); the start does not move.
    const int m = 2 * panels_;
    for (int k = 0; k < D; ++k) r.gradient[k] = lagrangian_change<D>(fx_, piece.vx, dfx_[std::size_t(k)]);
    for (int i = 1; i < m; ++i) {
      const double tau = double(i) / m, weight = i % 2 ? 4.0 : 2.0;
      const double moves = tau * tau * (3.0 - 2.0 * tau), turns = 6.0 * tau * (1.0 - tau);
      std::array<FieldSample<D>, D> df;
      const FieldSample<D> f = interpolate_(piece.position(tau), &df);
      const Vec<D> v = piece.velocity(tau);
      const Vec<D> p = momentum<D>(f, v);
      for (int k = 0; k < D; ++k)
        r.gradient[k] += weight * (turns * p[k] + moves * lagrangian_change<D>(f, v, df[std::size_t(k)]));
    }
    for (int k = 0; k < D; ++k) r.gradient[k] /= 3.0 * m;
    r.turn = turn_angle<D>(piece.vy, piece.vx);
    return r;
  }

  // U(y(u, v)) - U(p0) + S(piece) for q = (u, v).
  double operator()(const std::array<double, 2>& q) const {
    const Base b = base(q);
    return b.value + action(piece_from(b, x_), b.fields, fx_);
  }

 private:
  struct Base {
    Vec<D> point;
    double value;           // U - U(p0)
    FieldSample<D> fields;  // all components
    Vec<D> tangent;         // unit characteristic direction
  };

  // Composite Simpson's rule along the piece on panels_ panels.
  double action(const CubicPiece<D>& piece, const FieldSample<D>& fy, const FieldSample<D>& fx) const {
    const int m = 2 * panels_;
    double total = lagrangian<D>(fy, piece.vy) + lagrangian<D>(fx, piece.vx);
    for (int i = 1; i < m; ++i) {
      const double tau = double(i) / m;
      total += (i % 2 ? 4.0 : 2.0) *
               lagrangian<D>(interpolate_(piece.position(tau), nullptr), piece.velocity(tau));
    }
    return total / (3.0 * m);
  }

  // The piece from the base point to z: start tangent the base's
  // characteristic, arrival tangent its mirror image across the chord,
  // both of the chord's length.
  static CubicPiece<D> piece_from(const Base& b, const Vec<D>& z) {
    const Vec<D> chord = sub<D>(z, b.point);
    const double len = norm<D>(chord);
    const Vec<D> c = scale<D>(1.0 / len, chord);
    const Vec<D> t = start_tangent<D>(b.tangent, c);
    return {b.point, z, scale<D>(len, t), scale<D>(len, mirrored_tangent<D>(t, c))};
  }

  // The base point, U there relative to p0, its fields, and the unit
  // characteristic direction b + D g with g linear over the triangle.
  Base base(const std::array<double, 2>& q) const {
    const double l[3] = {1.0 - q[0] - q[1], q[0], q[1]};
    Base b;
    b.point = axpy<D>(axpy<D>(tri_.point[0], q[0], e1_), q[1], e2_);
    for (int c = 0; c < FieldSample<D>::size; ++c)
      b.fields.data()[c] = l[0] * tri_.fields[0].data()[c] + l[1] * tri_.fields[1].data()[c] +
                           l[2] * tri_.fields[2].data()[c];
    const double bubble = l[0] * l[1] * l[2];
    double u = 0.0;
    Vec<D> g{};
    for (int i = 0; i < 3; ++i) {
      u += u_[i] * (l[i] * l[i] * (3.0 - 2.0 * l[i]) + 2.0 * bubble);
      for (int j = 0; j < 3; ++j)
        if (j != i) u += slope_[i][j] * (l[i] * l[i] * l[j] + 0.5 * bubble);
      g = axpy<D>(g, l[i], tri_.gradient[i]);
    }
    b.value = u;
    b.tangent = direction<D>(characteristic<D>(b.fields, g));
    return b;
  }

  const JetTriangle<D>& tri_;
  Vec<D> x_;
  FieldSample<D> fx_;
  std::array<FieldSample<D>, D> dfx_;
  const Interpolate& interpolate_;
  Vec<D> e1_, e2_;
  int panels_ = 1;
  double u_[3];
  double slope_[3][3];  // grad U_i . (p_j - p_i)
};

// Fields affine over the tetrahedron spanned by a point x and a triangle
// of points: the barycentric interpolant of their samples at the four
// vertices, and its derivatives (differences over unit steps, exact for an
// affine field up to rounding). An `Interpolate` for TriangleJetUpdate
// under which the update can be compared with a reference that uses the
// same fields.
class TetrahedronFields {
 public:
  TetrahedronFields(const Vec<3>& x, const FieldSample<3>& fx, const JetTriangle<3>& tri) : x_(x), fx_(fx) {
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) m_[r][c] = tri.point[c][r] - x[r];
    for (int c = 0; c < 3; ++c) fields_[c] = tri.fields[c];
  }

  FieldSample<3> operator()(const Vec<3>& p, std::array<FieldSample<3>, 3>* gradient) const {
    const FieldSample<3> f = at(p);
    if (gradient)
      for (int k = 0; k < 3; ++k) {
        Vec<3> q = p;
        q[k] += 1.0;
        const FieldSample<3> g = at(q);
        for (int c = 0; c < FieldSample<3>::size; ++c) (*gradient)[std::size_t(k)].data()[c] = g.data()[c] - f.data()[c];
      }
    return f;
  }

 private:
  static double det3(const double (&a)[3][3]) {
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  }

  // Weights of the triangle's vertices at p (Cramer's rule for m w = p - x).
  FieldSample<3> at(const Vec<3>& p) const {
    const double det = det3(m_);
    double w[3];
    for (int c = 0; c < 3; ++c) {
      double mc[3][3];
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k) mc[r][k] = k == c ? p[r] - x_[r] : m_[r][k];
      w[c] = det3(mc) / det;
    }
    FieldSample<3> f = fx_;
    for (int k = 0; k < FieldSample<3>::size; ++k)
      for (int c = 0; c < 3; ++c) f.data()[k] += w[c] * (fields_[c].data()[k] - fx_.data()[k]);
    return f;
  }

  Vec<3> x_;
  FieldSample<3> fx_;
  FieldSample<3> fields_[3];
  double m_[3][3];
};

}  // namespace hjqp
