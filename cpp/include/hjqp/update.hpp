// Local update rules: the value a target node gets from already accepted
// nodes by the dynamic programming principle
//     U(x) = min_y [ U(y) + S(path from y to x) ].
//
// * one-point update: y is a node, the path the straight segment;
// * triangle update: y slides along an edge [a, b] of accepted nodes, U(y)
//   interpolated linearly, the path the straight segment;
// * jet update: y slides along an edge, U(y) is the cubic Hermite
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

namespace hjqp {

template <int D>
struct UpdateResult {
  double value = std::numeric_limits<double>::infinity();
  Vec<D> gradient{};
  double s = 0.0;       // minimiser along the base edge, in [0, 1]
  bool below = false;   // the minimum lies beyond s = 0 (off this edge)
  bool above = false;   // the minimum lies beyond s = 1
  double turn = 0.0;    // angle between the path's start and arrival tangents
};

struct Minimum {
  double s;
  double f;
  bool below;
  bool above;
};

// Minimise a function on [0, 1]: the best of five equally spaced samples,
// then golden-section search between its neighbours (for the triangle
// update, whose cost need not be convex in s). A minimum at an end point is
// reported through `below` / `above`.
template <class F>
Minimum minimise_on_unit_interval(const F& f) {
  double best_s = 0.0, best_f = f(0.0);
  for (int k = 1; k <= 4; ++k) {
    const double fk = f(0.25 * k);
    if (fk < best_f) best_f = fk, best_s = 0.25 * k;
  }
  constexpr double ratio = 0.61803398874989485;  // (sqrt(5) - 1) / 2
  double lo = std::fmax(best_s - 0.25, 0.0), hi = std::fmin(best_s + 0.25, 1.0);
  double c = hi - ratio * (hi - lo), d = lo + ratio * (hi - lo);
  double fc = f(c), fd = f(d);
  while (hi - lo > 1e-9) {
    if (fc < fd) {
      hi = d, d = c, fd = fc;
      c = hi - ratio * (hi - lo), fc = f(c);
    } else {
      lo = c, c = d, fc = fd;
      d = lo + ratio * (hi - lo), fd = f(d);
    }
  }
  if (fc < best_f) best_f = fc, best_s = c;
  if (fd < best_f) best_f = fd, best_s = d;
  return Minimum{best_s, best_f, best_s <= 0.0, best_s >= 1.0};
}

// The Newton step d solving (H + lambda I) d = -g, with the least lambda
// >= 0 (from a geometric sequence) that makes the matrix positive definite.
// False if none does (H not finite).
template <int N>
bool newton_step(const double (&H)[N][N], const double (&g)[N], double (&d)[N]) {
  double scale = 0.0;
  for (int i = 0; i < N; ++i) scale = std::fmax(scale, std::fabs(H[i][i]));
  if (!(scale > 0.0) || !std::isfinite(scale)) return false;
  for (double lambda = 0.0; lambda <= 1e6 * scale; lambda = lambda > 0.0 ? 10 * lambda : 1e-8 * scale) {
    double L[N][N] = {};
    bool ok = true;
    for (int i = 0; i < N && ok; ++i)
      for (int j = 0; j <= i && ok; ++j) {
        double sum = H[i][j] + (i == j ? lambda : 0.0);
        for (int k = 0; k < j; ++k) sum -= L[i][k] * L[j][k];
        if (i == j) {
          ok = sum > 0.0;
          if (ok) L[i][i] = std::sqrt(sum);
        } else {
          L[i][j] = sum / L[j][j];
        }
      }
    if (!ok) continue;
    double y[N];
    for (int i = 0; i < N; ++i) {
      double sum = -g[i];
      for (int k = 0; k < i; ++k) sum -= L[i][k] * y[k];
      y[i] = sum / L[i][i];
    }
    for (int i = N - 1; i >= 0; --i) {
      double sum = y[i];
      for (int k = i + 1; k < N; ++k) sum -= L[k][i] * d[k];
      d[i] = sum / L[i][i];
    }
    return true;
  }
  return false;
}

// Minimise a smooth function of N variables from a good first guess by
// Newton's method with a central-difference gradient and Hessian (steps
// `step`), Levenberg damping where the Hessian is not positive definite,
// steps bounded by `max_step`, backtracking, and variable 0 kept in [0, 1].
// A step that moves every variable by less than `tolerance` is the last:
// Newton's quadratic convergence makes the next one negligible.
// Returns the minimiser found; `fmin` receives its value.
template <int N, class F>
std::array<double, N> newton_minimise(const F& f, std::array<double, N> v,
                                      const std::array<double, N>& step,
                                      const std::array<double, N>& tolerance,
                                      const std::array<double, N>& max_step, double& fmin,
                                      int max_iterations = 5) {
  double f0 = f(v);
  double H[N][N] = {};
  bool have_hessian = false;
  for (int it = 0; it < max_iterations; ++it) {
    double g[N], fp[N], fm[N], d[N];
    for (int i = 0; i < N; ++i) {
      std::array<double, N> w = v;
      w[i] = v[i] + step[i];
      fp[i] = f(w);
      w[i] = v[i] - step[i];
      fm[i] = f(w);
      g[i] = (fp[i] - fm[i]) / (2 * step[i]);
    }
    // Near the minimum the last Hessian tells, from the new gradient alone,
    // whether one more step would still move: if not, stop here without
    // forming the Hessian again.
    if (have_hessian && newton_step<N>(H, g, d)) {
      bool tiny = true;
      for (int i = 0; i < N; ++i) tiny = tiny && std::fabs(d[i]) < tolerance[i];
      if (tiny) {
        // Take that last step on the quadratic model.
        double decrease = 0.0;
        for (int i = 0; i < N; ++i) decrease += 0.5 * g[i] * d[i];
        for (int i = 0; i < N; ++i) v[i] += d[i];
        v[0] = std::fmin(std::fmax(v[0], 0.0), 1.0);
        f0 += decrease;
        break;
      }
    }
    for (int i = 0; i < N; ++i) H[i][i] = (fp[i] - 2 * f0 + fm[i]) / (step[i] * step[i]);
    for (int i = 0; i < N; ++i)
      for (int j = i + 1; j < N; ++j) {
        std::array<double, N> w = v;
        w[i] += step[i];
        w[j] += step[j];
        H[i][j] = H[j][i] = (f(w) - fp[i] - fp[j] + f0) / (step[i] * step[j]);
      }
    have_hessian = true;
    if (!newton_step<N>(H, g, d)) break;
    double shrink = 1.0;
    for (int i = 0; i < N; ++i)
      if (std::fabs(d[i]) > max_step[i]) shrink = std::fmin(shrink, max_step[i] / std::fabs(d[i]));
    bool moved = false, converged = false;
    for (int attempt = 0; attempt < 4 && !moved; ++attempt, shrink *= 0.5) {
      std::array<double, N> w = v;
      for (int i = 0; i < N; ++i) w[i] = v[i] + shrink * d[i];
      w[0] = std::fmin(std::fmax(w[0], 0.0), 1.0);
      const double fw = f(w);
      if (fw <= f0) {
        converged = true;
        for (int i = 0; i < N; ++i) converged = converged && std::fabs(w[i] - v[i]) < tolerance[i];
        v = w;
        f0 = fw;
        moved = true;
      }
    }
    if (!moved || converged) break;
  }
  fmin = f0;
  return v;
}

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
  JetUpdate(const JetNode<D>& a, const JetNode<D>& b, const Vec<D>& x, const FieldSample<D>& fx,
            const Interpolate& interpolate,
            double panel_length = std::numeric_limits<double>::infinity())
      : a_(a), b_(b), x_(x), fx_(fx), interpolate_(interpolate) {
    edge_ = sub<D>(b.point, a.point);
    const double reach = norm<D>(sub<D>(x, axpy<D>(a.point, 0.5, edge_)));
    panels_ = int(std::fmin(16.0, std::fmax(1.0, std::ceil(reach / panel_length))));
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
                           {1e-4, 1e-4, 1e-4}, {2e-3, 2e-3, 2e-3}, {0.5, 0.3, 0.3}, f);
    UpdateResult<D> r;
    r.value = a_.value + f;
    r.s = v[0];
    r.below = v[0] <= 0.0;
    r.above = v[0] >= 1.0;
    const Base base = at(v[0]);
    const CubicPiece<D> piece = piece_at(base, v[1], v[2]);
    r.turn = std::acos(std::fmin(1.0, std::fmax(-1.0, dot<D>(piece.vy, piece.vx) /
                                                        (norm<D>(piece.vy) * norm<D>(piece.vx)))));
    const double delta = 1e-4 * norm<D>(sub<D>(x_, piece.y));
    for (int k = 0; k < D; ++k) {
      CubicPiece<D> plus = piece, minus = piece;
      plus.x[k] += delta;
      minus.x[k] -= delta;
      const double sp = cubic_action<D>(plus, base.fields,
                                        interpolate_(plus.x, FieldSample<D>::action_size),
                                        interpolate_, panels_);
      const double sm = cubic_action<D>(minus, base.fields,
                                        interpolate_(minus.x, FieldSample<D>::action_size),
                                        interpolate_, panels_);
      r.gradient[k] = (sp - sm) / (2.0 * delta);
    }
    return r;
  }

  // U(y(s)) - U(a) + S(piece) for w = (s, e_a, e_b): the tangents are the
  // guessed ones turned by atan(e) (no trigonometry in the inner loop).
  double operator()(const std::array<double, 3>& w) {
    if (w[0] != cached_s_) {
      cached_ = at(w[0]);
      cached_s_ = w[0];
    }
    return cached_.value + cubic_action<D>(piece_at(cached_, w[1], w[2]), cached_.fields, fx_,
                                           interpolate_, panels_);
  }

 private:
  struct Base {
    Vec<D> point;
    double value;
    FieldSample<D> fields;
  };

  Base at(double s) const {
    const double s2 = s * s, s3 = s2 * s;
    Base base;
    // U(y(s)) - U(a)
    base.value = (s3 - 2 * s2 + s) * da_ + (-2 * s3 + 3 * s2) * (b_.value - a_.value) + (s3 - s2) * db_;
    base.point = axpy<D>(a_.point, s, edge_);
    base.fields = interpolate_(base.point, FieldSample<D>::action_size);
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
    Base base = at(s0);
    base.fields = interpolate_(base.point, FieldSample<D>::size);
    const Vec<D> chord = sub<D>(x_, base.point);
    const double len = norm<D>(chord);
    const Vec<D> c = scale<D>(1.0 / len, chord);
    const double s2 = s0 * s0;
    const double du = (6 * s2 - 6 * s0) * a_.value + (3 * s2 - 4 * s0 + 1) * da_ +
                      (-6 * s2 + 6 * s0) * b_.value + (3 * s2 - 2 * s0) * db_;
    Vec<D> g = lerp<D>(a_.gradient, b_.gradient, s0);
    g = axpy<D>(g, (du - dot<D>(g, edge_)) / dot<D>(edge_, edge_), edge_);
    Vec<D> t = characteristic<D>(base.fields, g);
    const double tn = norm<D>(t);
    // Where the characteristic speed vanishes the direction is free: chord.
    t = tn > 1e-300 ? scale<D>(1.0 / tn, t) : c;
    // A guess pointing away from x would start Newton far from the minimum.
    if (dot<D>(t, c) < 0.2) t = c;
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
  int panels_ = 1;
  Vec<D> edge_;
  double da_, db_;
  Vec<D> ta_{}, tb_{}, na_{}, nb_{};  // guessed unit tangents and their normals
  Base cached_{};                      // the base point of the last s evaluated
  double cached_s_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace hjqp
