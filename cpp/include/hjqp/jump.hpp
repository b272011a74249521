// Hamiltonians of the exponential family
//     H(x, p) = sum_r w_r(x) (exp(<p, nu_r(x)>) - 1),     w_r >= 0,
// (Markov jump processes with jumps nu_r at rates w_r; minibatch SGD's own
// large deviations, w_i = 1/n, nu_i = -grad f_i) and their geometric action.
//
// The quasi-potential depends on H only through the zero sublevel sets
// K(x) = {p : H(x, p) <= 0}: the action of a path is int h(psi, psi') ds with
// the support function
//     h(x, v) = sup { <p, v> : H(x, p) <= 0 },
// positively 1-homogeneous in v, zero along the drift H_p(x, 0) = sum w_r nu_r,
// and +inf for directions v outside the cone spanned by the jumps (K is
// unbounded there: the process cannot move that way). The maximiser p*(x, v)
// is the momentum (dh/dv = p*, Danskin), and v = mu H_p(x, p*) for a
// multiplier mu > 0: the characteristic through x with momentum p* moves
// along v.
//
// support() finds p* from the optimality conditions
//     mu H_p(p) = v,   H(p) = 0
// by steps to the support point of H's second-order Taylor model about the
// iterate (closed-form, as for the Gaussian Hamiltonian; Newton's method
// with the curvature of K kept), from the Gaussian solution (H's quadratic
// part b.p + 1/2 p^T M p) or from a nearby solution, with steps limited so
// that no exponent changes by more than a few units. Where that
// fails (a set so thin that one jump dominates, a direction near the edge
// of the cone) it falls back on the dual problem
//     h(v) = min_{mu > 0} max_p <p, v> - mu H(p),
// whose inner maximisation is strictly concave (damped Newton, backtracking)
// and whose outer derivative -H(p(mu)) is decreasing in mu (bracketing):
// slower, and it cannot fail. An inner maximisation that runs off to
// infinity means v lies outside the cone of the jumps: h = +inf.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp {

// The jumps at one point: `count` weights and jump vectors (row-major,
// count x D). A view: the arrays belong to the caller.
template <int D>
struct JumpSet {
  int count = 0;
  const double* weight = nullptr;
  const double* jump = nullptr;
  // The jumps grouped into terms {r, q}: jump q is exactly -nu_r (opposite
  // pairs: detailed balance, reversible reactions), or q = -1 where r has
  // none. Every jump is in one term. A pair needs one exponential,
  // exp <p, -nu> = 1 / exp <p, nu>, and one term in H_p and H_pp.
  int terms = 0;
  const std::array<int, 2>* term = nullptr;

  Vec<D> jump_at(int r) const {
    Vec<D> v;
    for (int k = 0; k < D; ++k) v[k] = jump[r * D + k];
    return v;
  }
};

// The terms of a JumpSet for `count` jumps (count x dim, row-major): each
// jump r with the first later jump q not yet paired with nu_q = -nu_r
// exactly, if any; with `pair` false each jump alone.
inline std::vector<std::array<int, 2>> jump_terms(int count, int dim, const double* jumps, bool pair = true) {
  std::vector<std::array<int, 2>> terms;
  std::vector<char> paired(std::size_t(count), 0);
  for (int r = 0; r < count; ++r) {
    if (paired[std::size_t(r)]) continue;
    int opposite = -1;
    for (int q = r + 1; pair && q < count && opposite < 0; ++q) {
      if (paired[std::size_t(q)]) continue;
      bool negated = true;
      for (int k = 0; k < dim; ++k) negated = negated && jumps[q * dim + k] == -jumps[r * dim + k];
      if (negated) opposite = q;
    }
    if (opposite >= 0) paired[std::size_t(opposite)] = 1;
    terms.push_back({r, opposite});
  }
  return terms;
}

// The maximiser of <p, v> over K for a unit v, h = <p*, v>, and the
// multiplier mu of v = mu H_p(p*). value = +inf outside the jumps' cone.
template <int D>
struct Support {
  double value = std::numeric_limits<double>::infinity();
  Vec<D> momentum{};
  double multiplier = 0.0;
  bool dual = false;  // found by the dual fallback
  bool finite() const { return value < std::numeric_limits<double>::infinity(); }
};

// Exponentials e_r = exp <p, nu_r> that support() reuses and hands back
// (a solve evaluates R of them per Newton step, and they are most of its
// cost). `start` holds them at the warm start's momentum when
// `start_known`, which a caller may set where the jumps are the same as
// at the warm start's point (they do not depend on the weights);
// `solution` receives them at the support point found.
struct SupportExponentials {
  const double* start = nullptr;  // count values, the caller's
  std::vector<double> solution, trial;
  bool start_known = false;
};

// H, H_p and H_pp at p. False when an exponent exceeds kMaxExponent (H is
// then treated as +inf: far outside K).
template <int D>
struct JumpDerivatives {
  double value = 0.0;  // H
  double scale = 0.0;  // sum w_r (e_r + 1): the size of the terms H sums
  Vec<D> gradient{};   // H_p
  Sym<D> hessian{};    // H_pp
};

constexpr double kMaxExponent = 600.0;

template <int D>
inline bool jump_derivatives(const JumpSet<D>& set, const Vec<D>& p, JumpDerivatives<D>& out, bool second = true,
                             double* exps = nullptr, const double* known = nullptr) {
  // exps, if given, receives e_r = exp <p, nu_r> (count values; +inf past
  // kMaxExponent, where a jump of weight 0 is ignored); known, if given,
  // holds them already (the same p and jumps, other weights): no
  // exponential is evaluated.
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (known && exps) std::copy(known, known + set.count, exps);
  // The sums go into a local (out might alias the weights, as far as the
  // compiler knows: every term would be stored and loaded back), the
  // exponentials of a block of terms before them (exp is a call, across
  // which no floating-point register survives).
  JumpDerivatives<D> sum;
  const Vec<D> at = p;  // (the same for p, which exps might alias)
  constexpr int kBlock = 32;
  double block[kBlock][2];
  for (int first = 0; first < set.terms; first += kBlock) {
    const int last = std::min(set.terms, first + kBlock);
    for (int t = first; t < last; ++t) {
      const int r = set.term[t][0], q = set.term[t][1];
      double* e = block[t - first];
      if (known) {
        e[0] = known[r];
        e[1] = q >= 0 ? known[q] : 0.0;
        continue;
      }
      if (!exps && set.weight[r] == 0.0 && (q < 0 || set.weight[q] == 0.0)) {
        e[0] = e[1] = 0.0;  // (read below, with both weights 0: unused)
        continue;
      }
      const double* nu = set.jump + r * D;
      double s = 0.0;
      for (int k = 0; k < D; ++k) s += at[k] * nu[k];
      e[0] = s <= kMaxExponent ? std::exp(s) : inf;
      e[1] = q < 0 ? 0.0 : -s > kMaxExponent ? inf : e[0] < inf ? 1.0 / e[0] : std::exp(-s);
      if (exps) {
        exps[r] = e[0];
        if (q >= 0) exps[q] = e[1];
      }
    }
    for (int t = first; t < last; ++t) {
      const int r = set.term[t][0], q = set.term[t][1];
      const double wr = set.weight[r], wq = q >= 0 ? set.weight[q] : 0.0;
      const double er = block[t - first][0], eq = block[t - first][1];
      // w e for the jump nu and for its opposite.
      double up = 0.0, down = 0.0;
      if ((wr != 0.0 && !(er < inf)) || (wq != 0.0 && !(eq < inf))) {
        out = sum;
        return false;
      }
      if (wr != 0.0) {
        sum.value += wr * (er - 1.0);
        sum.scale += wr * (er + 1.0);
        up = wr * er;
      }
      if (wq != 0.0) {
        sum.value += wq * (eq - 1.0);
        sum.scale += wq * (eq + 1.0);
        down = wq * eq;
      }
      const double* nu = set.jump + r * D;
      const double odd = up - down, even = up + down;
      for (int k = 0; k < D; ++k) sum.gradient[k] += odd * nu[k];
      if (second)
        for (int i = 0; i < D; ++i)
          for (int j = i; j < D; ++j) sum.hessian[sym_index<D>(i, j)] += even * nu[i] * nu[j];
    }
  }
  out = sum;
  return true;
}

// H(p) alone (+inf past kMaxExponent).
template <int D>
inline double jump_hamiltonian(const JumpSet<D>& set, const Vec<D>& p) {
  double h = 0.0;
  for (int r = 0; r < set.count; ++r) {
    const double w = set.weight[r];
    if (w == 0.0) continue;
    double s = 0.0;
    for (int k = 0; k < D; ++k) s += p[k] * set.jump[r * D + k];
    if (!(s <= kMaxExponent)) return std::numeric_limits<double>::infinity();
    h += w * (std::exp(s) - 1.0);
  }
  return h;
}

// Solve the SPD system m y = rhs (D = 2, 3) by the explicit inverse.
template <int D>
inline Vec<D> spd_solve(const Sym<D>& m, const Vec<D>& rhs) {
  return mul<D>(inverse<D>(m), rhs);
}

namespace detail {

// The largest increase and the largest |<dp, nu_r>| over the jumps with
// positive weight (a pair's changes are s and -s).
// (Comparisons rather than fmax, which is a call: the maxima start at 0
// and s is finite, so the result is the same.)
template <int D>
inline void exponent_changes(const JumpSet<D>& set, const Vec<D>& dp, double& rise, double& change) {
  rise = 0.0;
  change = 0.0;
  for (int t = 0; t < set.terms; ++t) {
    const int r = set.term[t][0], q = set.term[t][1];
    const bool up = set.weight[r] != 0.0, down = q >= 0 && set.weight[q] != 0.0;
    if (!up && !down) continue;
    double s = 0.0;
    for (int k = 0; k < D; ++k) s += dp[k] * set.jump[r * D + k];
    const double a = std::fabs(s), most = up && down ? a : up ? s : -s;
    rise = most > rise ? most : rise;
    change = a > change ? a : change;
  }
}

// The largest |<dp, nu_r>| (or, with `rises_only`, the largest increase
// <dp, nu_r>) over the jumps with positive weight.
template <int D>
inline double largest_exponent_change(const JumpSet<D>& set, const Vec<D>& dp, bool rises_only = false) {
  double rise, change;
  exponent_changes<D>(set, dp, rise, change);
  return rises_only ? rise : change;
}

// Is v (D = 2) outside the open cone spanned by the jumps of positive
// weight? It is inside iff it lies along a jump, or the jumps nearest to
// it on either side are less than a half turn apart.
inline bool outside_cone_2d(const JumpSet<2>& set, const Vec<2>& v) {
  int left = -1, right = -1;
  double left_cos = -2.0, right_cos = -2.0;
  for (int r = 0; r < set.count; ++r) {
    if (set.weight[r] == 0.0) continue;
    const double* nu = set.jump + 2 * r;
    const double n = std::hypot(nu[0], nu[1]);
    const double cross = v[0] * nu[1] - v[1] * nu[0], along = (v[0] * nu[0] + v[1] * nu[1]) / n;
    if (cross == 0.0 && along > 0.0) return false;
    if (cross >= 0.0 && along > left_cos) left_cos = along, left = r;
    if (cross <= 0.0 && along > right_cos) right_cos = along, right = r;
  }
  if (left < 0 || right < 0) return true;
  const double* a = set.jump + 2 * right;
  const double* b = set.jump + 2 * left;
  return !(a[0] * b[1] - a[1] * b[0] > 0.0);
}

// The solution of mu H_p(p) = v, H(p) = 0 from (p, mu) by the model's
// steps (Newton's where the model is empty), cut back until the residual
// (|mu H_p - v|^2 + (H / scale)^2) falls. True
// when it converges: residuals at rounding level, or a full step so small
// that the next would be below rounding (quadratic convergence).
template <int D>
inline bool support_newton(const JumpSet<D>& set, const Vec<D>& v, Vec<D>& p, double& mu, int max_iterations,
                           SupportExponentials* ex = nullptr, bool start_known = false) {
  JumpDerivatives<D> hd, trial;
  // With `ex`, the exponentials at p are kept in ex->solution (those at
  // the start, ex->start, are used if start_known).
  double* current = nullptr;
  if (ex) {
    ex->solution.resize(std::size_t(set.count));
    ex->trial.resize(std::size_t(set.count));
    current = ex->solution.data();
  }
  // In the unknowns (p, lambda = 1 / mu) the conditions H_p - lambda v = 0,
  // H = 0 are linear in lambda: Newton's model errs only by the change of
  // H_p along the step (in (p, mu) the product mu H_p adds an error of the
  // size of dmu / mu, and from a warm start for another direction mu
  // changes by tens of per cent: linear convergence).
  double lambda = 1.0 / mu;
  // The merit |H_p - lambda v|^2 / lambda_k^2 + (H / scale)^2 (lambda_k
  // that of the iterate: |mu H_p - v|^2 there) falls along Newton's step.
  auto residual = [&v](const JumpDerivatives<D>& d, double l, double weight) {
    Vec<D> f1;
    for (int k = 0; k < D; ++k) f1[k] = d.gradient[k] - l * v[k];
    const double f2 = d.value / d.scale;
    return weight * dot<D>(f1, f1) + f2 * f2;
  };
  if (!jump_derivatives<D>(set, p, hd, true, current, start_known && ex ? ex->start : nullptr)) return false;
  // The longest jump (its length bounds the exponents' changes in a step).
  double reach2 = 0.0;
  for (int t = 0; t < set.terms; ++t) {
    const double* nu = set.jump + set.term[t][0] * D;
    double n2 = 0.0;
    for (int k = 0; k < D; ++k) n2 += nu[k] * nu[k];
    reach2 = n2 > reach2 ? n2 : reach2;
  }
  const double reach = std::sqrt(reach2);
  for (int it = 0; it < max_iterations; ++it) {
    Vec<D> f1;
    for (int k = 0; k < D; ++k) f1[k] = hd.gradient[k] - lambda * v[k];
    const double f2 = hd.value;
    if (norm<D>(f1) <= 1e-13 * (lambda + norm<D>(hd.gradient)) && std::fabs(f2) <= 1e-14 * hd.scale) break;
    // The step to the support point of the quadratic model
    //     H + H_p . d + 1/2 d^T S d <= 0,   S = H_pp (+ a ridge),
    // an ellipsoid with centre -S^-1 H_p and |.|_S-radius^2 c = H_p S^-1 H_p - 2 H:
    //     d = -S^-1 H_p + sqrt(c / v S^-1 v) S^-1 v,  lambda = sqrt(c / v S^-1 v)
    // (the Gaussian solution about p). Newton's step on the conditions is
    // its linearisation; the model keeps the curvature of K, which near
    // p = 0 (directions near the drift) is of the size of p itself, so
    // that Newton's steps from another direction's solution converge only
    // linearly at first. Where the model is empty (c <= 0: far outside
    // K) Newton's step on the bordered system
    //     [H_pp, -v; H_p^T, 0] [dp; dlambda] = -[f1; f2].
    // H_pp is nearly singular where one jump dominates: a ridge of
    // rounding size keeps the solves finite.
    Sym<D> s = hd.hessian;
    double trace = 0.0;
    for (int k = 0; k < D; ++k) trace += s[sym_index<D>(k, k)];
    for (int k = 0; k < D; ++k) s[sym_index<D>(k, k)] += 1e-12 * trace;
    const Sym<D> inv = inverse<D>(s);
    const Vec<D> yg = mul<D>(inv, hd.gradient), yv = mul<D>(inv, v);
    const double gyv = dot<D>(hd.gradient, yv), vyv = dot<D>(v, yv), c = dot<D>(hd.gradient, yg) - 2.0 * f2;
    Vec<D> dp;
    double dlambda;
    const bool model = c > 0.0 && vyv > 0.0;
    if (model) {
      const double l = std::sqrt(c / vyv);
      for (int k = 0; k < D; ++k) dp[k] = l * yv[k] - yg[k];
      dlambda = l - lambda;
    } else {
      if (!(gyv > 0.0) || !std::isfinite(gyv)) return false;
      const Vec<D> y1 = mul<D>(inv, f1);
      dlambda = (dot<D>(hd.gradient, y1) - f2) / gyv;
      for (int k = 0; k < D; ++k) dp[k] = dlambda * yv[k] - y1[k];
    }
    if (!std::isfinite(dlambda) || !std::isfinite(norm<D>(dp))) return false;
    // No exponent may rise by more than 20 in one step (exp grows too fast
    // for Newton's model beyond); falling exponents are harmless.
    // A full step this small is the last one (the next would be below
    // rounding): take it without evaluating H there. The model's step
    // errs by the third derivatives of H times its square: by 1e-14 in
    // the exponents after a step of 1e-7 (Newton's by its square too, but
    // with the curvature of K, which can be of the size of p).
    // |dp| |nu|max bounds the changes (with a margin for the rounding of
    // the dot products): they are summed over the jumps only where the
    // bound leaves a decision open (the same decisions).
    const double limit = model ? 1e-7 : 1e-8;
    const bool small_dlambda = std::fabs(dlambda) <= (model ? 1e-4 : 1e-8) * lambda;
    const double bound = norm<D>(dp) * reach * (1.0 + 1e-12);
    double t = 1.0, rise = bound, largest = bound;
    if ((small_dlambda && bound > limit) || bound > 20.0) exponent_changes<D>(set, dp, rise, largest);
    const bool last_step = small_dlambda && largest <= limit;
    if (last_step) {
      p = axpy<D>(p, 1.0, dp);
      lambda += dlambda;
      // exp(a + s) = exp(a) (1 + s + s^2 / 2) to rounding for |s| <= 1e-7.
      if (ex)
        for (int t = 0; t < set.terms; ++t) {
          const int r = set.term[t][0], q = set.term[t][1];
          double s = 0.0;
          for (int k = 0; k < D; ++k) s += dp[k] * set.jump[r * D + k];
          current[r] *= 1.0 + s * (1.0 + 0.5 * s);
          if (q >= 0) current[q] *= 1.0 - s * (1.0 - 0.5 * s);
        }
      mu = 1.0 / lambda;
      return true;
    }
    if (rise > 20.0) t = 20.0 / rise;
    if (lambda + t * dlambda < 0.25 * lambda) t = 0.75 * lambda / -dlambda;
    const double weight = 1.0 / (lambda * lambda), merit = residual(hd, lambda, weight);
    bool moved = false;
    for (int k = 0; k < 30; ++k, t *= 0.5) {
      const Vec<D> q = axpy<D>(p, t, dp);
      if (!jump_derivatives<D>(set, q, trial, true, ex ? ex->trial.data() : nullptr)) continue;
      if (residual(trial, lambda + t * dlambda, weight) < merit) {
        p = q;
        lambda += t * dlambda;
        hd = trial;
        if (ex) {
          std::swap(ex->solution, ex->trial);
          current = ex->solution.data();
        }
        moved = true;
        break;
      }
    }
    if (!moved || it + 1 == max_iterations) return false;
  }
  mu = 1.0 / lambda;
  return true;
}

// max_p <p, v> - mu H(p) by damped Newton from p (strictly concave where
// the jumps span R^D). False if the iterates run off (v outside the cone:
// the maximum is +inf) or H overflows.
template <int D>
inline bool dual_maximise(const JumpSet<D>& set, const Vec<D>& v, double mu, Vec<D>& p, double p_limit) {
  JumpDerivatives<D> hd;
  for (int it = 0; it < 100; ++it) {
    if (!jump_derivatives<D>(set, p, hd)) return false;
    Vec<D> g;
    for (int k = 0; k < D; ++k) g[k] = v[k] - mu * hd.gradient[k];
    if (norm<D>(g) <= 1e-13) return true;
    Sym<D> s = hd.hessian;
    for (double& c : s) c *= mu;
    Vec<D> step = spd_solve<D>(s, g);
    if (!std::isfinite(norm<D>(step))) return false;
    // Steps that raise an exponent by more than a few tens overshoot (or
    // overflow: H = +inf); the line search cuts back the rest. Falling
    // exponents are harmless, and outside the cone of the jumps the
    // iterates must be free to run off.
    const double change = largest_exponent_change<D>(set, step, true);
    double t = change > 16.0 ? 16.0 / change : 1.0;
    const double psi = dot<D>(p, v) - mu * hd.value;
    // Backtracking (Armijo) on the concave objective.
    const double slope = dot<D>(g, step);
    for (int k = 0; k < 60; ++k) {
      const Vec<D> q = axpy<D>(p, t, step);
      const double hq = jump_hamiltonian<D>(set, q);
      if (dot<D>(q, v) - mu * hq >= psi + 1e-4 * t * slope) break;
      t *= 0.5;
    }
    p = axpy<D>(p, t, step);
    if (norm<D>(p) > p_limit) return false;
    if (t * norm<D>(step) <= 1e-15 * (1.0 + norm<D>(p)) && norm<D>(g) <= 1e-9) return true;
  }
  return true;  // converged to rounding (the residual cannot shrink further)
}

}  // namespace detail

// The Gaussian part of H at a point: b = H_p(0) = sum w nu (the drift) and
// M = H_pp(0) = sum w nu nu^T (the diffusion).
template <int D>
inline void gaussian_part(const JumpSet<D>& set, Vec<D>& drift, Sym<D>& diffusion) {
  JumpDerivatives<D> hd;
  jump_derivatives<D>(set, Vec<D>{}, hd);
  drift = hd.gradient;
  diffusion = hd.hessian;
}

// The support point of K for the unit direction v (see the file comment).
// `warm`, if given and finite, is a solution for a nearby point and
// direction to start from.
template <int D>
inline Support<D> support(const JumpSet<D>& set, const Vec<D>& v, const Support<D>* warm = nullptr,
                          SupportExponentials* ex = nullptr) {
  Support<D> out;
  // From a nearby solution the iteration converges in a few steps (where
  // b = 0 the bordered system is singular at once and this returns false).
  if (warm && warm->finite() && warm->multiplier > 0.0) {
    Vec<D> pw = warm->momentum;
    double muw = warm->multiplier;
    if (detail::support_newton<D>(set, v, pw, muw, 12, ex, ex && ex->start_known)) {
      out.momentum = pw;
      out.multiplier = muw;
      out.value = dot<D>(pw, v);
      return out;
    }
  }
  Vec<D> b;
  Sym<D> m;
  gaussian_part<D>(set, b, m);
  const Sym<D> a = inverse<D>(m);
  const double vav = form<D>(a, v, v), bab = form<D>(a, b, b);
  // b = 0: H >= 0 with equality only at p = 0 (H is strictly convex), so
  // K = {0} and h = 0.
  double total = 0.0;
  for (int r = 0; r < set.count; ++r) total += set.weight[r];
  if (!(bab > 1e-30 * total)) {
    out.value = 0.0;
    if (ex) ex->solution.assign(std::size_t(set.count), 1.0);
    return out;
  }
  if constexpr (D == 2)
    if (detail::outside_cone_2d(set, v)) return out;
  // The Gaussian solution: p = (|b|_A / |v|_A) A v - A b, mu = |v|_A / |b|_A.
  const Vec<D> av = mul<D>(a, v), ab = mul<D>(a, b);
  Vec<D> p = axpy<D>(scale<D>(-1.0, ab), std::sqrt(bab / vav), av);
  double mu = std::sqrt(vav / bab);
  {
    Vec<D> pg = p;
    double mug = mu;
    if (detail::support_newton<D>(set, v, pg, mug, 40, ex)) {
      out.momentum = pg;
      out.multiplier = mug;
      out.value = dot<D>(pg, v);
      return out;
    }
  }
  // The dual problem: phi(mu) = H(p(mu)) decreases from +inf to min H < 0.
  out.dual = true;
  double nu_max = 0.0;
  for (int r = 0; r < set.count; ++r)
    if (set.weight[r] > 0.0) nu_max = std::fmax(nu_max, norm<D>(set.jump_at(r)));
  const double p_limit = 1e10 / nu_max;
  Vec<D> q{};
  auto phi = [&](double m_, Vec<D>& pq, double& value) {
    if (!detail::dual_maximise<D>(set, v, m_, pq, p_limit)) return false;
    value = jump_hamiltonian<D>(set, pq);
    return std::isfinite(value);
  };
  // Bracket the root: lo with H(p(lo)) > 0, hi with H(p(hi)) <= 0.
  double f;
  if (!phi(mu, q, f)) return out;  // unbounded: v outside the cone
  double lo = mu, hi = mu, flo = f, fhi = f;
  for (int k = 0; k < 60 && fhi > 0.0; ++k) {
    lo = hi, flo = fhi;
    hi *= 2.0;
    if (!phi(hi, q, fhi)) return out;
  }
  for (int k = 0; k < 60 && flo <= 0.0; ++k) {
    hi = lo, fhi = flo;
    lo *= 0.5;
    if (!phi(lo, q, flo)) return out;
  }
  if (fhi > 0.0 || flo <= 0.0) return out;
  // Bisection in log mu with a secant guess, H(p(mu)) -> 0, each iterate
  // polished on the optimality conditions (a few steps of support_newton,
  // which converge once near; any solution of the conditions is the
  // support point, K being convex).
  for (int it = 0; it < 100; ++it) {
    double mid = std::sqrt(lo * hi);
    const double secant = lo + flo * (hi - lo) / (flo - fhi);
    if (secant > lo && secant < hi) mid = 0.5 * (mid + secant);
    if (!phi(mid, q, f)) return out;
    if (f > 0.0) lo = mid, flo = f;
    else hi = mid, fhi = f;
    mu = mid;
    Vec<D> pp = q;
    double mp = mu;
    if (detail::support_newton<D>(set, v, pp, mp, 8, ex)) {
      q = pp, mu = mp;
      break;
    }
    if (hi - lo <= 1e-14 * hi) break;
  }
  // The bracket can close on a maximiser that did not converge (a
  // direction within rounding of the cone's edge): only a point on the
  // boundary of K is an answer.
  JumpDerivatives<D> hd;
  if (ex) ex->solution.resize(std::size_t(set.count));
  if (!jump_derivatives<D>(set, q, hd, false, ex ? ex->solution.data() : nullptr) ||
      !(std::fabs(hd.value) <= 1e-8 * hd.scale))
    return out;
  out.momentum = q;
  out.multiplier = mu;
  out.value = dot<D>(q, v);
  return out;
}

// h(x, v) for any v (1-homogeneous): |v| h(x, v / |v|), and the momentum.
template <int D>
inline Support<D> support_of(const JumpSet<D>& set, const Vec<D>& v, const Support<D>* warm = nullptr,
                             SupportExponentials* ex = nullptr) {
  const double n = norm<D>(v);
  if (!(n > 0.0)) {
    Support<D> s;
    s.value = 0.0;
    if (ex) ex->solution.assign(std::size_t(set.count), 1.0);
    return s;
  }
  Support<D> s = support<D>(set, scale<D>(1.0 / n, v), warm, ex);
  if (s.finite()) s.value *= n;
  return s;
}

// Weights and jumps sampled on the nodes of a grid, interpolated between
// them (multilinearly: weights stay non-negative).
template <int D>
class JumpFields {
 public:
  // weights: size * count values, node-major; jumps: count * D values (the
  // same at every node) when `constant_jumps`, else size * count * D. The
  // arrays are used in place and must outlive the fields.
  // Throws std::invalid_argument naming the first node where a weight is
  // negative or not finite, a jump not finite, or the jumps with positive
  // weight do not span R^D (K(x) would then be unbounded along a whole
  // subspace: no noise in some direction).
  JumpFields(const Grid<D>& grid, int count, const double* weights, const double* jumps, bool constant_jumps)
      : grid_(grid), count_(count), constant_(constant_jumps), weights_(weights), jumps_(jumps) {
    if (count < 1) throw std::invalid_argument("there must be at least one jump");
    // Opposite pairs only where the jumps are the same everywhere (a pair
    // at the nodes need not be one in between).
    terms_ = jump_terms(count, D, jumps, constant_jumps);
    const std::size_t n = std::size_t(grid.size());
    const std::size_t nj = (constant_jumps ? 1 : n) * std::size_t(count) * D;
    for (std::size_t j = 0; j < nj; ++j)
      if (!std::isfinite(jumps_[j]))
        throw std::invalid_argument(constant_jumps ? "a jump vector is not finite"
                                                   : "a jump is not finite at " +
                                                         describe_node(grid, Index(j / (std::size_t(count) * D))));
    for (Index i = 0; i < grid.size(); ++i) {
      for (int r = 0; r < count; ++r) {
        const double w = weights_[std::size_t(i) * count + r];
        if (!(w >= 0.0) || !std::isfinite(w))
          throw std::invalid_argument("weight " + std::to_string(r) + " is negative or not finite at " +
                                      describe_node(grid, i));
      }
      Vec<D> b;
      Sym<D> m;
      gaussian_part<D>(node(i), b, m);
      if (!is_spd<D>(m))
        throw std::invalid_argument("the jumps with positive weight do not span R^" + std::to_string(D) + " at " +
                                    describe_node(grid, i) +
                                    ": K(x) is unbounded (the process cannot move in some direction)");
    }
  }

  const Grid<D>& grid() const { return grid_; }
  int count() const { return count_; }
  bool constant_jumps() const { return constant_; }

  JumpSet<D> node(Index i) const {
    return {count_, weights_ + std::size_t(i) * count_, constant_ ? jumps_ : jumps_ + std::size_t(i) * count_ * D,
            int(terms_.size()), terms_.data()};
  }

  // The set at a point, interpolated into `scratch` (which it resizes).
  JumpSet<D> at(const Vec<D>& x, std::vector<double>& scratch) const {
    const CellCorners<D> c = cell_corners<D>(grid_, x);
    // At a node (one corner of weight 1, the others 0) that node's own
    // set: the sums below would return its values unchanged.
    int nonzero = 0, last = 0;
    for (int k = 0; k < c.count; ++k)
      if (c.weight[k] != 0.0) ++nonzero, last = k;
    if (nonzero == 1 && c.weight[last] == 1.0) return node(c.node[last]);
    const std::size_t width = std::size_t(count_) * (constant_ ? 1 : 1 + D);
    scratch.resize(width);
    // (The first corner's terms are assigned, the others added.)
    bool first = true;
    for (int k = 0; k < c.count; ++k) {
      const double w = c.weight[k];
      if (w == 0.0) continue;
      const double* wn = &weights_[std::size_t(c.node[k]) * count_];
      double* out = scratch.data();
      if (first)
        for (int r = 0; r < count_; ++r) out[r] = w * wn[r];
      else
        for (int r = 0; r < count_; ++r) out[r] += w * wn[r];
      if (!constant_) {
        const double* jn = &jumps_[std::size_t(c.node[k]) * count_ * D];
        out += count_;
        if (first)
          for (int j = 0; j < count_ * D; ++j) out[j] = w * jn[j];
        else
          for (int j = 0; j < count_ * D; ++j) out[j] += w * jn[j];
      }
      first = false;
    }
    return {count_, scratch.data(), constant_ ? jumps_ : scratch.data() + count_, int(terms_.size()), terms_.data()};
  }

  // grad_x H(x, p) at fixed p: the derivative of H with the weights and
  // jumps of the cell's multilinear interpolant,
  //     sum_r grad w_r (e_r - 1) + w_r e_r grad <p, nu_r>,  e_r = exp <p, nu_r(x)>.
  // Through the envelope theorem it gives the action's dependence on the
  // point where h is evaluated: d/dx h(x, v) = -lambda grad_x H(x, p*).
  // Across a grid line the interpolant's derivative jumps; on one (the
  // midpoints of segments between nodes often are) the component across it
  // is the mean of the two sides' (a one-sided one errs by O(h)).
  //
  // With the interpolant's slopes sl_k at the cell's corners k,
  // grad_x H = sum_k sl_k (sum_r w_kr (e_r - 1) + w_r e_r <p, nu_kr>): R
  // exponentials and a sum over R per corner. `scratch` is resized.
  //
  // `exps`, if given, holds e_r at x (support()'s SupportExponentials::solution
  // for the set at x): no exponential is evaluated.
  Vec<D> hamiltonian_gradient(const Vec<D>& x, const Vec<D>& p, std::vector<double>& scratch,
                              const double* exps = nullptr) const {
    // The cell of x, and for each axis whose grid line x lies on, the cells
    // on either side of it. At an interior node (x on a grid line along
    // every axis, exactly) the mean of the two sides' derivatives is the
    // central difference of the terms at the node's neighbours along the
    // axis: the sums below give it with the same operations where all the
    // terms are finite, their other corners entering with slope 0.
    MultiIndex<D> node_index;
    Vec<D> frac;
    grid_.locate(x, node_index, frac);
    bool at_node = true;
    for (int a = 0; a < D; ++a)
      at_node = at_node && frac[a] == 0.0 && node_index[a] >= 1 && node_index[a] <= grid_.shape()[a] - 2;
    CellCorners<D> cells[1 + 2 * D];
    int axis[1 + 2 * D];
    int n = 1;
    cells[0] = cell_corners<D, true>(grid_, x);
    axis[0] = -1;
    auto add_line_cells = [&]() {
      for (int a = 0; a < D; ++a) {
        const double t = (x[a] - grid_.lower()[a]) / grid_.spacing()[a];
        const double line = double(Index(t + 0.5));
        if (!(std::fabs(t - line) <= 1e-9) || line < 1.0 || line > double(grid_.shape()[a] - 2)) continue;
        for (double side : {-1e-6, 1e-6}) {
          Vec<D> y = x;
          y[a] = grid_.lower()[a] + (line + side) * grid_.spacing()[a];
          cells[n] = cell_corners<D, true>(grid_, y);
          axis[n++] = a;
        }
      }
    };
    if (!at_node) add_line_cells();
    // e_r at x, and w_r(x) e_r where the jumps vary.
    const std::size_t count = std::size_t(count_);
    if (constant_)
      scratch.resize(count);  // (all assigned below)
    else
      scratch.assign(2 * count, 0.0);
    double* e = scratch.data();
    double* we = e + count;
    if (constant_) {
      for (std::size_t r = 0; r < count; ++r) {
        if (exps && exps[r] < std::numeric_limits<double>::infinity()) {
          e[r] = exps[r];
          continue;
        }
        double s = 0.0;
        for (int a = 0; a < D; ++a) s += p[a] * jumps_[r * D + std::size_t(a)];
        e[r] = std::exp(s);
      }
    } else {
      for (int k = 0; k < cells[0].count; ++k) {
        const double wk = cells[0].weight[k];
        const double* wn = &weights_[std::size_t(cells[0].node[k]) * count];
        const double* nu = &jumps_[std::size_t(cells[0].node[k]) * count * D];
        for (std::size_t r = 0; r < count; ++r) {
          double pn = 0.0;
          for (int a = 0; a < D; ++a) pn += p[a] * nu[r * D + std::size_t(a)];
          e[r] += wk * pn;  // <p, nu_r(x)> for now
          we[r] += wk * wn[r];
        }
      }
      for (std::size_t r = 0; r < count; ++r) {
        e[r] = exps && exps[r] < std::numeric_limits<double>::infinity() ? exps[r] : std::exp(e[r]);
        we[r] *= e[r];
      }
    }
    // The corner terms, once per node.
    Index seen[(1 + 2 * D) << D];
    double term[(1 + 2 * D) << D];
    int known = 0;
    auto corner = [&](Index node) {
      for (int i = 0; i < known; ++i)
        if (seen[i] == node) return term[i];
      const double* wn = &weights_[std::size_t(node) * count];
      double t = 0.0;
      for (std::size_t r = 0; r < count; ++r) t += wn[r] * (e[r] - 1.0);
      if (!constant_) {
        const double* nu = &jumps_[std::size_t(node) * count * D];
        for (std::size_t r = 0; r < count; ++r) {
          double pn = 0.0;
          for (int a = 0; a < D; ++a) pn += p[a] * nu[r * D + std::size_t(a)];
          t += we[r] * pn;
        }
      }
      seen[known] = node;
      term[known++] = t;
      return t;
    };
    Vec<D> g{};
    if (at_node) {
      bool finite = true;
      for (std::size_t r = 0; r < count; ++r) finite = finite && e[r] < std::numeric_limits<double>::infinity();
      if (finite) {
        const Index centre = grid_.flat(node_index);
        const double here = corner(centre);
        for (int a = 0; a < D; ++a) {
          const double down = -1.0 / grid_.spacing()[a], up = 1.0 / grid_.spacing()[a];
          double below = 0.0, above = 0.0;
          below += down * corner(centre - grid_.stride(a));
          below += up * here;
          above += down * here;
          above += up * corner(centre + grid_.stride(a));
          g[a] = 0.5 * (below + above);
        }
        bool all = true;
        for (int a = 0; a < D; ++a) all = all && std::isfinite(g[a]);
        if (all) return g;
        g = Vec<D>{};
      }
      add_line_cells();  // (not finite: the general sums)
    }
    for (int k = 0; k < cells[0].count; ++k) {
      const double t = corner(cells[0].node[k]);
      for (int a = 0; a < D; ++a) g[a] += cells[0].slope[k][a] * t;
    }
    for (int m = 1; m < n; m += 2) {
      const int a = axis[m];
      double below = 0.0, above = 0.0;
      for (int k = 0; k < cells[m].count; ++k) below += cells[m].slope[k][a] * corner(cells[m].node[k]);
      for (int k = 0; k < cells[m + 1].count; ++k) above += cells[m + 1].slope[k][a] * corner(cells[m + 1].node[k]);
      g[a] = 0.5 * (below + above);
    }
    return g;
  }

  // The drift H_p(x_i, 0) at a node.
  Vec<D> drift(Index i) const {
    Vec<D> b;
    Sym<D> m;
    gaussian_part<D>(node(i), b, m);
    return b;
  }

 private:
  Grid<D> grid_;
  int count_;
  bool constant_;
  const double* weights_;
  const double* jumps_;
  std::vector<std::array<int, 2>> terms_;  // the sets' (see JumpSet)
};

}  // namespace hjqp
