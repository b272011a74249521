// The geometric action of Freidlin-Wentzell theory and its quadrature along
// short path pieces.
//
// With A = D^{-1} and |v|_A^2 = v^T A v, the minimum over time
// parametrisations of the action 1/2 int |psi' - b|_A^2 dt is
//     S(psi) = int ( |psi'|_A |b(psi)|_A - <psi', b(psi)>_A ) ds,
// a degenerate Randers-type Finsler length: zero along the flow, largest
// against it. Its Lagrangian l(x, v) is positively 1-homogeneous in v, so a
// path may be parametrised over [0, 1] at any speed.
#pragma once

#include <cmath>

#include "hjqp/fields.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp {

// l(x, v) = |v|_A |b|_A - <v, b>_A with the fields f sampled at x, given
// |b|_A^2 = bab there.
template <int D>
inline double lagrangian(const FieldSample<D>& f, const Vec<D>& v, double bab) {
  const Vec<D> av = mul<D>(f.metric, v);
  const double vav = dot<D>(v, av);
  return std::sqrt(vav * bab) - dot<D>(av, f.drift);
}

// The same, |b|_A^2 formed from f.
template <int D>
inline double lagrangian(const FieldSample<D>& f, const Vec<D>& v) {
  return lagrangian<D>(f, v, form<D>(f.metric, f.drift, f.drift));
}

// The change of l(x, v) when the drift and metric change by df (the first
// FieldSample<D>::action_size components; v held). Where b = 0 the
// Lagrangian is not differentiable in b: the one-sided derivative along df
// is used, |v|_A |db|_A - <v, db>_A.
template <int D>
inline double lagrangian_change(const FieldSample<D>& f, const Vec<D>& v, const FieldSample<D>& df) {
  const Vec<D> av = mul<D>(f.metric, v), ab = mul<D>(f.metric, f.drift);
  const double vav = dot<D>(v, av), bab = dot<D>(f.drift, ab);
  const double v_da_v = form<D>(df.metric, v, v), v_da_b = form<D>(df.metric, v, f.drift);
  const double v_a_db = dot<D>(av, df.drift);
  if (!(bab > 0.0)) return std::sqrt(vav * form<D>(f.metric, df.drift, df.drift)) - v_a_db;
  const double d_bab = 2.0 * dot<D>(ab, df.drift) + form<D>(df.metric, f.drift, f.drift);
  const double root = std::sqrt(vav * bab);
  const double d_root = root > 0.0 ? 0.5 * (bab * v_da_v + vav * d_bab) / root : 0.0;
  return d_root - v_da_b - v_a_db;
}

// p = dl/dv = (|b|_A / |v|_A) A v - A b: the momentum, equal to grad U at the
// end of a minimum action path arriving with velocity v. It satisfies
// H(x, p) = 1/2 p^T D p + b . p = 0 for every v != 0.
template <int D>
inline Vec<D> momentum(const FieldSample<D>& f, const Vec<D>& v) {
  const Vec<D> av = mul<D>(f.metric, v);
  const double vav = dot<D>(v, av);
  const double bab = form<D>(f.metric, f.drift, f.drift);
  const Vec<D> ab = mul<D>(f.metric, f.drift);
  if (!(vav > 0.0)) return scale<D>(-1.0, ab);
  return axpy<D>(scale<D>(-1.0, ab), std::sqrt(bab / vav), av);
}

// Velocity of the minimum action path through x whose momentum is p:
// dH/dp = D p + b. Along the quasi-potential's characteristics p = grad U.
template <int D>
inline Vec<D> characteristic(const FieldSample<D>& f, const Vec<D>& p) {
  return add<D>(f.drift, mul<D>(f.diffusion, p));
}

// v / |v|, or 0 where v vanishes.
template <int D>
inline Vec<D> direction(const Vec<D>& v) {
  const double n = norm<D>(v);
  return n > 1e-300 ? scale<D>(1.0 / n, v) : Vec<D>{};
}

// The unit start tangent of a path piece along the characteristic's unit
// direction t, whose chord has the unit direction c: t, or the chord where
// t vanishes or points away from the end (a guess that far off would start
// the minimisation far from its minimum).
template <int D>
inline Vec<D> start_tangent(const Vec<D>& t, const Vec<D>& c) {
  return dot<D>(t, c) >= 0.2 ? t : c;
}

// The angle between a piece's start and arrival tangents.
template <int D>
inline double turn_angle(const Vec<D>& vy, const Vec<D>& vx) {
  return std::acos(std::fmin(1.0, std::fmax(-1.0, dot<D>(vy, vx) / (norm<D>(vy) * norm<D>(vx)))));
}

// Panels of about `panel_length` (at most 16) for the quadrature along a
// piece that reaches `reach` from its base: |b|_A has a kink where b
// vanishes (near a saddle), and one panel can miss much of the action of a
// long piece that passes it.
constexpr int kMaxPanels = 16;

inline int panel_count(double reach, double panel_length) {
  return int(std::fmin(double(kMaxPanels), std::fmax(1.0, std::ceil(reach / panel_length))));
}

// Action of the straight segment from y to x by Simpson's rule, with the
// fields at both ends and at the midpoint.
template <int D>
inline double segment_action(const FieldSample<D>& fy, const FieldSample<D>& fm,
                             const FieldSample<D>& fx, const Vec<D>& chord) {
  return (lagrangian<D>(fy, chord) + 4.0 * lagrangian<D>(fm, chord) +
          lagrangian<D>(fx, chord)) /
         6.0;
}

// A curved path piece from y to x: the cubic Hermite curve P(tau),
// tau in [0, 1], with P(0) = y, P(1) = x, P'(0) = vy, P'(1) = vx.
template <int D>
struct CubicPiece {
  Vec<D> y, x, vy, vx;

  // The Hermite weights of (y, vy, x, vx) in P(t) and in P'(t).
  struct Weights {
    double position[4];
    double velocity[4];
  };
  static Weights weights(double t) {
    const double t2 = t * t, t3 = t2 * t;
    return {{2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t, -2 * t3 + 3 * t2, t3 - t2},
            {6 * t2 - 6 * t, 3 * t2 - 4 * t + 1, -6 * t2 + 6 * t, 3 * t2 - 2 * t}};
  }

  Vec<D> position(double t) const { return combine(weights(t).position); }
  Vec<D> velocity(double t) const { return combine(weights(t).velocity); }
  // h[0] y + h[1] vy + h[2] x + h[3] vx: P(t) or P'(t) from weights(t).
  Vec<D> combine(const double (&h)[4]) const {
    Vec<D> r;
    for (int k = 0; k < D; ++k) r[k] = h[0] * y[k] + h[1] * vy[k] + h[2] * x[k] + h[3] * vx[k];
    return r;
  }
};

// The end tangent that mirrors the unit start tangent ty across the chord
// x - y: exact for circular arcs, and a good first guess in general.
template <int D>
inline Vec<D> mirrored_tangent(const Vec<D>& ty, const Vec<D>& chord_unit) {
  return axpy<D>(scale<D>(-1.0, ty), 2.0 * dot<D>(ty, chord_unit), chord_unit);
}

}  // namespace hjqp
