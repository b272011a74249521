// Domains that Monte Carlo paths start in and exit from: balls, boxes and
// level sets {g < 0} of a function sampled on a grid, each with a signed
// distance to its boundary and the outward normal.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp {

// A domain {x : dist(x) > 0} with a signed distance (positive inside) and an
// outward unit normal near its boundary.
enum class DomainKind : std::uint8_t { Ball = 0, Box = 1, LevelSet = 2 };

template <int D>
struct Domain {
  DomainKind kind = DomainKind::Ball;
  Vec<D> center{};
  double radius = 0.0;
  Vec<D> lower{}, upper{};
  // LevelSet: {g < 0}, g sampled on the SDE's grid (multilinear); nullptr otherwise.
  const double* g = nullptr;
  const Grid<D>* grid = nullptr;

  // Signed distance to the boundary (positive inside), and the outward normal.
  double distance(const Vec<D>& x, Vec<D>& normal) const {
    switch (kind) {
      case DomainKind::Ball: {
        const Vec<D> y = sub<D>(x, center);
        const double r = norm<D>(y);
        for (int k = 0; k < D; ++k) normal[k] = r > 0.0 ? y[k] / r : (k == 0 ? 1.0 : 0.0);
        return radius - r;
      }
      case DomainKind::Box: {
        double best = INFINITY;
        for (int k = 0; k < D; ++k) {
          const double lo = x[k] - lower[k], hi = upper[k] - x[k];
          if (lo < best) {
            best = lo;
            normal = Vec<D>{};
            normal[k] = -1.0;
          }
          if (hi < best) {
            best = hi;
            normal = Vec<D>{};
            normal[k] = 1.0;
          }
        }
        return best;
      }
      case DomainKind::LevelSet: {
        if (!grid->inside(x)) {
          normal = Vec<D>{};
          normal[0] = 1.0;
          return -1.0;
        }
        double value = 0.0;
        const Vec<D> grad = level_set_gradient(x, value);
        const double gn = norm<D>(grad);
        if (!(gn > 0.0)) {
          normal = Vec<D>{};
          normal[0] = 1.0;
          return value < 0.0 ? INFINITY : -1.0;
        }
        for (int k = 0; k < D; ++k) normal[k] = grad[k] / gn;
        return -value / gn;
      }
    }
    return 0.0;
  }

  // True only if x lies inside at a distance of more than `margin` >= 0
  // from the boundary: a test without square roots or divisions, for the
  // steps far from the boundary. It errs on the side of false (by a
  // relative 1e-9 of the size of the domain, far beyond rounding), so that
  // where it says true, distance() would have said more than margin too;
  // always false for a level set.
  bool surely_inside(const Vec<D>& x, double margin) const {
    switch (kind) {
      case DomainKind::Ball: {
        const double t = radius - margin - 1e-9 * radius;
        if (!(t > 0.0)) return false;
        const Vec<D> y = sub<D>(x, center);
        return dot<D>(y, y) < t * t;
      }
      case DomainKind::Box: {
        for (int k = 0; k < D; ++k) {
          const double slack = margin + 1e-9 * (upper[k] - lower[k]);
          if (!(x[k] - lower[k] > slack && upper[k] - x[k] > slack)) return false;
        }
        return true;
      }
      case DomainKind::LevelSet:
        return false;
    }
    return false;
  }

  // The nearest boundary point to x (one Newton step for a level set).
  Vec<D> project(const Vec<D>& x) const {
    Vec<D> normal{};
    const double dist = distance(x, normal);
    if (kind == DomainKind::Box) {
      Vec<D> p = x;
      for (int k = 0; k < D; ++k) p[k] = std::fmin(std::fmax(p[k], lower[k]), upper[k]);
      for (int k = 0; k < D; ++k)
        if (normal[k] != 0.0) p[k] = normal[k] > 0.0 ? upper[k] : lower[k];
      return p;
    }
    if (kind == DomainKind::LevelSet && !std::isfinite(dist)) return x;
    return axpy<D>(x, dist, normal);
  }

 private:
  // g and its gradient at x for the multilinear interpolant.
  Vec<D> level_set_gradient(const Vec<D>& x, double& value) const {
    Vec<D> grad{};
    std::array<double*, D> rows;
    for (int k = 0; k < D; ++k) rows[std::size_t(k)] = &grad[std::size_t(k)];
    value = 0.0;
    multilinear<1, D>(*grid, g, x, &value, rows);
    return grad;
  }
};


// A domain from its description, checked: a ball (center, radius), a box
// (lower, upper) or a level set {g < 0} of g sampled on `grid` (level: one
// value per node; grid and level must outlive the domain).
template <int D>
Domain<D> make_domain(DomainKind kind, const Vec<D>& center, double radius, const Vec<D>& lower,
                      const Vec<D>& upper, const double* level, const Grid<D>& grid) {
  Domain<D> dom;
  dom.kind = kind;
  switch (kind) {
    case DomainKind::Ball:
      if (!(radius > 0.0) || !std::isfinite(radius)) throw std::invalid_argument("radius must be positive");
      dom.center = center;
      dom.radius = radius;
      break;
    case DomainKind::Box:
      for (int k = 0; k < D; ++k)
        if (!(lower[k] < upper[k])) throw std::invalid_argument("box: lower must be < upper");
      dom.lower = lower;
      dom.upper = upper;
      break;
    case DomainKind::LevelSet:
      if (!level) throw std::invalid_argument("a level-set domain needs its sampled function");
      for (Index i = 0; i < grid.size(); ++i)
        if (!std::isfinite(level[i]))
          throw std::invalid_argument("the level-set function is not finite at " + describe_node(grid, i));
      dom.g = level;
      dom.grid = &grid;
      break;
    default:
      throw std::invalid_argument("unknown domain kind " + std::to_string(int(kind)));
  }
  return dom;
}

}  // namespace hjqp
