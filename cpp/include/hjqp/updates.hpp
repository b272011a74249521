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

// The jet update of x from the edge [a, b]. `Interpolate` is a callable
// (point, count) -> FieldSample<D> that interpolates the first `count`
// components of the fields (cubic interpolation on the grid).
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
// grad U(x) = dS/dx: for a path that satisfies the Euler-Lagrange equations
// the derivative of its action with respect to the end point is the arrival
// momentum whatever the deformation, so it is taken by central differences
// with the tangents held fixed. Computing the momentum from the arrival
// direction instead would amplify the direction's error by up to
// |A b| / |grad U|, large where the drift has a strong component across a
// direction of small diffusion.
template <int D, class Interpolate>
class JetUpdate {
  static_assert(D == 2, "the jet update is written for 2D (two tangent angles)");

 public:
  // Pieces longer than `panel_length` are integrated on several panels
  // (at most 16) of about that length.
  //
  // With `dfx` (the derivatives of the drift and metric at x along each
  // axis) the fields at the displaced end points x +- delta e_k of the
  // central differences are fx +- delta dfx[k]: their second-order terms
  // cancel in the difference, and the update interpolates four times less.
  JetUpdate(const JetNode<D>& a, const JetNode<D>& b, const Vec<D>& x, const FieldSample<D>& fx,
            const Interpolate& interpolate,
            double panel_length = std::numeric_limits<double>::infinity(),
            const std::array<FieldSample<D>, D>* dfx = nullptr)
      : a_(a), b_(b), x_(x), fx_(fx), interpolate_(interpolate), dfx_(dfx) {
    edge_ = sub<D>(b.point, a.point);
    panels_ = panel_count(norm<D>(sub<D>(x, axpy<D>(a.point, 0.5, edge_))), panel_length);
    da_ = dot<D>(a.gradient, edge_);
    db_ = dot<D>(b.gradient, edge_);
  }

  UpdateResult<D> solve(double s0) {
    std::array<double, 3> v = guess(std::fmin(std::fmax(s0, 0.0), 1.0));
    double f = 0.0;
    // Difference steps of 1e-4 (in s and in the tangents): the minimiser's
    // error, first order in the step's truncation error, sets the error of
    // grad U; the objective is taken relative to U(a) so that rounding stays
    // far below.
    v = newton_minimise<3>([this](const std::array<double, 3>& w) { return (*this)(w); }, v,
                           {1e-4, 1e-4, 1e-4}, {2e-3, 2e-3, 2e-3}, {0.5, 0.3, 0.3}, f, 5, true);
    UpdateResult<D> r;
    r.value = a_.value + f;
    r.s = v[0];
    r.below = v[0] <= 0.0;
    r.above = v[0] >= 1.0;
    const Base base = at_cached(v[0]);
    const CubicPiece<D> piece = piece_at(base, v[1], v[2]);
    r.turn = turn_angle<D>(piece.vy, piece.vx);
    const double delta = 1e-4 * norm<D>(sub<D>(x_, piece.y));
    for (int k = 0; k < D; ++k) {
      CubicPiece<D> plus = piece, minus = piece;
      plus.x[k] += delta;
      minus.x[k] -= delta;
      FieldSample<D> fp, fm;
      if (dfx_) {
        for (int c = 0; c < FieldSample<D>::action_size; ++c) {
          fp.data()[c] = fx_.data()[c] + delta * (*dfx_)[std::size_t(k)].data()[c];
          fm.data()[c] = fx_.data()[c] - delta * (*dfx_)[std::size_t(k)].data()[c];
        }
      } else {
        fp = interpolate_(plus.x, FieldSample<D>::action_size);
        fm = interpolate_(minus.x, FieldSample<D>::action_size);
      }
      double sp = cubic_action<D>(plus, base.fields, fp, interpolate_, panels_);
      double sm = cubic_action<D>(minus, base.fields, fm, interpolate_, panels_);
      if (dfx_ && !(std::isfinite(sp) && std::isfinite(sm))) {
        // Where the fields jump at x the linear extrapolation can leave the
        // metric indefinite: the fields there are interpolated after all.
        sp = cubic_action<D>(plus, base.fields, interpolate_(plus.x, FieldSample<D>::action_size), interpolate_,
                             panels_);
        sm = cubic_action<D>(minus, base.fields, interpolate_(minus.x, FieldSample<D>::action_size), interpolate_,
                             panels_);
      }
      r.gradient[k] = (sp - sm) / (2.0 * delta);
    }
    return r;
  }

  // U(y(s)) - U(a) + S(piece) for w = (s, e_a, e_b): the tangents are the
  // guessed ones turned by atan(e) (no trigonometry in the inner loop).
  double operator()(const std::array<double, 3>& w) {
    const Base& base = at_cached(w[0]);
    return base.value + cubic_action<D>(piece_at(base, w[1], w[2]), base.fields, fx_, interpolate_, panels_);
  }

 private:
  struct Base {
    Vec<D> point;
    double value;
    FieldSample<D> fields;
  };

  // at(s) from the last few base points evaluated: the minimiser comes
  // back to s, s + step and s - step (gradient, Hessian, line search).
  const Base& at_cached(double s) {
    for (int k = 0; k < kCached; ++k)
      if (cached_s_[k] == s) return cached_[k];
    const int k = next_cached_;
    next_cached_ = (next_cached_ + 1) % kCached;
    cached_[k] = at(s);
    cached_s_[k] = s;
    return cached_[k];
  }

  Base at(double s, int count = FieldSample<D>::action_size) const {
    const double s2 = s * s, s3 = s2 * s;
    Base base;
    // U(y(s)) - U(a)
    base.value = (s3 - 2 * s2 + s) * da_ + (-2 * s3 + 3 * s2) * (b_.value - a_.value) + (s3 - s2) * db_;
    base.point = axpy<D>(a_.point, s, edge_);
    base.fields = interpolate_(base.point, count);
    return base;
  }

  CubicPiece<D> piece_at(const Base& base, double ea, double eb) const {
    const double len = norm<D>(sub<D>(x_, base.point));
    const Vec<D> ta = axpy<D>(ta_, ea, na_), tb = axpy<D>(tb_, eb, nb_);
    return {base.point, x_, scale<D>(len / norm<D>(ta), ta), scale<D>(len / norm<D>(tb), tb)};
  }

  // Start: the characteristic b + D g at y(s0), g linear across the edge and
  // Hermite-exact along it; arrival: its mirror image across the chord.
  std::array<double, 3> guess(double s0) {
    // All the fields at y(s0); their drift and metric (interpolated as by
    // at(s0)) start the cache.
    Base base = at(s0, FieldSample<D>::size);
    cached_[0] = base;
    cached_s_[0] = s0;
    next_cached_ = 1;
    const Vec<D> chord = sub<D>(x_, base.point);
    const double len = norm<D>(chord);
    const Vec<D> c = scale<D>(1.0 / len, chord);
    const double s2 = s0 * s0;
    const double du = (6 * s2 - 6 * s0) * a_.value + (3 * s2 - 4 * s0 + 1) * da_ +
                      (-6 * s2 + 6 * s0) * b_.value + (3 * s2 - 2 * s0) * db_;
    Vec<D> g = lerp<D>(a_.gradient, b_.gradient, s0);
    g = axpy<D>(g, (du - dot<D>(g, edge_)) / dot<D>(edge_, edge_), edge_);
    const Vec<D> t = start_tangent<D>(direction<D>(characteristic<D>(base.fields, g)), c);
    ta_ = t;
    tb_ = mirrored_tangent<D>(t, c);
    na_ = {-ta_[1], ta_[0]};
    nb_ = {-tb_[1], tb_[0]};
    return {s0, 0.0, 0.0};
  }

  JetNode<D> a_, b_;
  Vec<D> x_;
  FieldSample<D> fx_;
  const Interpolate& interpolate_;
  const std::array<FieldSample<D>, D>* dfx_;
  int panels_ = 1;
  Vec<D> edge_;
  double da_, db_;
  Vec<D> ta_{}, tb_{}, na_{}, nb_{};  // guessed unit tangents and their normals
  static constexpr int kCached = 4;
  Base cached_[kCached]{};  // the base points of the last values of s evaluated
  double cached_s_[kCached] = {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN(),
                               std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  int next_cached_ = 0;
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
