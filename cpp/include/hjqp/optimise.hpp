// Minimisers for the local updates: a bracketing search on [0, 1], Newton's
// method with difference derivatives and Levenberg damping inside a feasible
// set (box or triangle), and the exact Newton step for small positive
// definite systems with analytic derivatives.
#pragma once

#include <array>
#include <cmath>

namespace hjqp {

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
// steps bounded by `max_step`, backtracking, and every iterate mapped into
// the feasible set by `project(v)` (in place).
// A step that moves every variable by less than `tolerance` is the last:
// Newton's quadratic convergence makes the next one negligible.
// From the second iteration on, the last Hessian tells from the new
// gradient alone whether one more step would still move; with
// `forward_check` that gradient is a forward difference (N evaluations
// instead of 2N, see below).
// Returns the minimiser found; `fmin` receives its value.
template <int N, class F, class Project>
std::array<double, N> newton_minimise_in(const F& f, std::array<double, N> v,
                                         const std::array<double, N>& step,
                                         const std::array<double, N>& tolerance,
                                         const std::array<double, N>& max_step, double& fmin,
                                         int max_iterations, const Project& project,
                                         bool forward_check = false) {
  double f0 = f(v);
  double H[N][N] = {};
  bool have_hessian = false;
  for (int it = 0; it < max_iterations; ++it) {
    double g[N], fp[N], fm[N], d[N];
    auto central = [&]() {
      for (int i = 0; i < N; ++i) {
        std::array<double, N> w = v;
        w[i] = v[i] + step[i];
        fp[i] = f(w);
        w[i] = v[i] - step[i];
        fm[i] = f(w);
        g[i] = (fp[i] - fm[i]) / (2 * step[i]);
      }
    };
    // Near the minimum the last Hessian tells, from the new gradient alone,
    // whether one more step would still move: if not, stop here without
    // forming the Hessian again. With forward_check that gradient is a
    // forward difference over a hundredth of `step`, corrected by the last
    // Hessian's curvature: its truncation error, a hundredth of step/2
    // times the change of the curvature since the last iterate, is below
    // that of the central difference over `step`.
    bool forward = have_hessian && forward_check;
    if (forward) {
      for (int i = 0; i < N; ++i) {
        const double hf = 0.01 * step[i];
        std::array<double, N> w = v;
        w[i] = v[i] + hf;
        g[i] = (f(w) - f0) / hf - 0.5 * hf * H[i][i];
      }
      forward = newton_step<N>(H, g, d);
    }
    if (!forward) central();
    if (have_hessian && (forward || newton_step<N>(H, g, d))) {
      bool tiny = true;
      for (int i = 0; i < N; ++i) tiny = tiny && std::fabs(d[i]) < tolerance[i];
      if (tiny) {
        // Take that last step on the quadratic model.
        double decrease = 0.0;
        for (int i = 0; i < N; ++i) decrease += 0.5 * g[i] * d[i];
        for (int i = 0; i < N; ++i) v[i] += d[i];
        project(v);
        f0 += decrease;
        break;
      }
      if (forward) central();  // the next Hessian needs them
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
      project(w);
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

// newton_minimise_in with the first `Bounded` variables kept in [0, 1].
template <int N, int Bounded = 1, class F>
std::array<double, N> newton_minimise(const F& f, const std::array<double, N>& v,
                                      const std::array<double, N>& step,
                                      const std::array<double, N>& tolerance,
                                      const std::array<double, N>& max_step, double& fmin,
                                      int max_iterations = 5, bool forward_check = false) {
  return newton_minimise_in<N>(
      f, v, step, tolerance, max_step, fmin, max_iterations,
      [](std::array<double, N>& w) {
        for (int i = 0; i < Bounded; ++i) w[i] = std::fmin(std::fmax(w[i], 0.0), 1.0);
      },
      forward_check);
}

// Euclidean projection of (u, v) onto the triangle u, v >= 0, u + v <= 1.
inline void project_to_simplex(std::array<double, 2>& w) {
  if (w[0] + w[1] > 1.0) {
    const double d = 0.5 * (w[0] + w[1] - 1.0);
    w[0] -= d;
    w[1] -= d;
  }
  w[0] = std::fmin(std::fmax(w[0], 0.0), 1.0);
  w[1] = std::fmin(std::fmax(w[1], 0.0), 1.0);
}

// The Newton step d = -H^{-1} g for N = 1 or 2 (Cramer's rule) when H is
// positive definite; false otherwise (the caller stops iterating).
template <int N>
bool exact_newton_step(const double (&H)[N][N], const double (&g)[N], std::array<double, N>& d) {
  static_assert(N == 1 || N == 2, "exact_newton_step solves 1 x 1 and 2 x 2 systems");
  if constexpr (N == 1) {
    if (!(H[0][0] > 0.0)) return false;
    d[0] = -g[0] / H[0][0];
  } else {
    const double det = H[0][0] * H[1][1] - H[0][1] * H[1][0];
    if (!(H[0][0] > 0.0) || !(det > 0.0)) return false;
    d[0] = -(H[1][1] * g[0] - H[0][1] * g[1]) / det;
    d[1] = -(H[0][0] * g[1] - H[1][0] * g[0]) / det;
  }
  return true;
}

}  // namespace hjqp
