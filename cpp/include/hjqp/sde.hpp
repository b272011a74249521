// Euler-Maruyama for dx = b(x) dt + sqrt(eps) L(x) dW over fields sampled on a
// grid (multilinear interpolation of b and of the Cholesky factor L of D).
//
// Three ways to run a path: store its states, stop it at the first exit from
// a domain (with the Gobet-Menozzi boundary shift), or tally a long run
// (visits of core sets around attractors, transitions between them, basin
// occupancy and a histogram of positions).
//
// Random numbers are keyed by (seed, path, block of kStepBlock steps), so a
// path is the same whatever thread runs it and however its steps are split
// between calls.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/random.hpp"

namespace hjqp {

// Steps per random stream of a path.
constexpr Index kStepBlock = Index(1) << 16;
// Steps between checks of the stop flag.
constexpr Index kStopCheck = 4096;

// Values per node: b (D), then the lower triangle of L by rows.
template <int D>
constexpr int kSdeValues = D + D * (D + 1) / 2;

template <int D>
class SampledSDE {
 public:
  // drift: grid.size() * D values; sigma: grid.size() * D * D values, the
  // lower-triangular Cholesky factors, row-major (the upper part is ignored).
  SampledSDE(const Grid<D>& grid, const double* drift, const double* sigma)
      : grid_(grid), data_(std::size_t(grid.size()) * kSdeValues<D>) {
    for (int k = 0; k < D; ++k) {
      lower_[k] = grid.lower()[k];
      upper_[k] = grid.upper(k);
      inverse_spacing_[k] = 1.0 / grid.spacing()[k];
      last_[k] = double(grid.shape()[k] - 1);
      cells_[k] = grid.shape()[k] - 1;
    }
    for (Index i = 0; i < grid.size(); ++i) {
      double* out = &data_[std::size_t(i) * kSdeValues<D>];
      for (int k = 0; k < D; ++k) {
        out[k] = drift[i * D + k];
        if (!std::isfinite(out[k]))
          throw std::invalid_argument("drift is not finite at " + describe_node(grid, i));
      }
      int m = D;
      for (int r = 0; r < D; ++r)
        for (int c = 0; c <= r; ++c) {
          const double v = sigma[(i * D + r) * D + c];
          if (!std::isfinite(v) || (r == c && !(v > 0.0)))
            throw std::invalid_argument(
                "sigma must be lower triangular with a positive diagonal and finite at " +
                describe_node(grid, i));
          out[m++] = v;
        }
    }
  }

  const Grid<D>& grid() const { return grid_; }

  // b and L at x (multilinear; x is clamped into the box).
  void at(const Vec<D>& x, double* v) const {
    constexpr int M = kSdeValues<D>;
    Index base = 0;
    double frac[D];
    for (int k = 0; k < D; ++k) {
      double t = (x[k] - lower_[k]) * inverse_spacing_[k];
      t = t < 0.0 ? 0.0 : (t > last_[k] ? last_[k] : t);
      Index c = Index(t);
      c = c > cells_[k] - 1 ? cells_[k] - 1 : c;
      frac[k] = t - double(c);
      base += c * grid_.stride(k);
    }
    const double* p = &data_[std::size_t(base) * M];
    if constexpr (D == 2) {
      const Index s0 = grid_.stride(0) * M;
      const double a = frac[0], b = frac[1];
      const double w00 = (1.0 - a) * (1.0 - b), w01 = (1.0 - a) * b, w10 = a * (1.0 - b), w11 = a * b;
      for (int m = 0; m < M; ++m)
        v[m] = w00 * p[m] + w01 * p[M + m] + w10 * p[s0 + m] + w11 * p[s0 + M + m];
    } else {
      for (int m = 0; m < M; ++m) v[m] = 0.0;
      for (int corner = 0; corner < (1 << D); ++corner) {
        double w = 1.0;
        Index off = 0;
        for (int k = 0; k < D; ++k) {
          const bool up = corner & (1 << k);
          w *= up ? frac[k] : 1.0 - frac[k];
          off += up ? grid_.stride(k) * M : 0;
        }
        for (int m = 0; m < M; ++m) v[m] += w * p[off + m];
      }
    }
  }

  // Is x inside the closed box?
  bool inside(const Vec<D>& x) const {
    for (int k = 0; k < D; ++k)
      if (!(x[k] >= lower_[k] && x[k] <= upper_[k])) return false;
    return true;
  }

 private:
  Grid<D> grid_;
  std::vector<double> data_;
  Vec<D> lower_{}, upper_{}, inverse_spacing_{}, last_{};
  MultiIndex<D> cells_{};
};

// L^T n for the packed lower triangle that follows b in v.
template <int D>
inline Vec<D> sigma_transpose_times(const double* v, const Vec<D>& n) {
  Vec<D> out{};
  int m = D;
  for (int r = 0; r < D; ++r)
    for (int c = 0; c <= r; ++c) out[c] += v[m++] * n[r];
  return out;
}

// A domain {x : dist(x) > 0} with a signed distance (positive inside) and an
// outward unit normal near its boundary.
template <int D>
struct Domain {
  enum class Kind { Ball, Box, LevelSet };
  Kind kind = Kind::Ball;
  Vec<D> center{};
  double radius = 0.0;
  Vec<D> lower{}, upper{};
  // LevelSet: {g < 0}, g sampled on the SDE's grid (multilinear); nullptr otherwise.
  const double* g = nullptr;
  const Grid<D>* grid = nullptr;

  // Signed distance to the boundary (positive inside), and the outward normal.
  double distance(const Vec<D>& x, Vec<D>& normal) const {
    switch (kind) {
      case Kind::Ball: {
        const Vec<D> y = sub<D>(x, center);
        const double r = norm<D>(y);
        for (int k = 0; k < D; ++k) normal[k] = r > 0.0 ? y[k] / r : (k == 0 ? 1.0 : 0.0);
        return radius - r;
      }
      case Kind::Box: {
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
      case Kind::LevelSet: {
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

  // The nearest boundary point to x (one Newton step for a level set).
  Vec<D> project(const Vec<D>& x) const {
    Vec<D> normal{};
    const double dist = distance(x, normal);
    if (kind == Kind::Box) {
      Vec<D> p = x;
      for (int k = 0; k < D; ++k) p[k] = std::fmin(std::fmax(p[k], lower[k]), upper[k]);
      for (int k = 0; k < D; ++k)
        if (normal[k] != 0.0) p[k] = normal[k] > 0.0 ? upper[k] : lower[k];
      return p;
    }
    if (kind == Kind::LevelSet && !std::isfinite(dist)) return x;
    return axpy<D>(x, dist, normal);
  }

 private:
  // g and its gradient at x for the multilinear interpolant.
  Vec<D> level_set_gradient(const Vec<D>& x, double& value) const {
    MultiIndex<D> cell;
    Vec<D> frac;
    grid->locate(x, cell, frac);
    const Index base = grid->flat(cell);
    Vec<D> grad{};
    value = 0.0;
    for (int corner = 0; corner < (1 << D); ++corner) {
      Index i = base;
      double w = 1.0;
      Vec<D> dw;
      for (int j = 0; j < D; ++j) dw[j] = 1.0;
      for (int k = 0; k < D; ++k) {
        const bool up = corner & (1 << k);
        if (up) i += grid->stride(k);
        const double wk = up ? frac[k] : 1.0 - frac[k];
        w *= wk;
        for (int j = 0; j < D; ++j) dw[j] *= j == k ? (up ? 1.0 : -1.0) / grid->spacing()[k] : wk;
      }
      // dw[k] = d/dx_k of the corner's weight.
      value += w * g[i];
      for (int k = 0; k < D; ++k) grad[k] += dw[k] * g[i];
    }
    return grad;
  }
};

// Core sets: balls around attractors.
template <int D>
struct Cores {
  std::vector<Vec<D>> centers;
  std::vector<double> radii;

  int which(const Vec<D>& x) const {
    for (std::size_t c = 0; c < centers.size(); ++c) {
      const Vec<D> y = sub<D>(x, centers[c]);
      if (dot<D>(y, y) <= radii[c] * radii[c]) return int(c);
    }
    return -1;
  }
};

// Where a long run counts, per path: steps with the last core visited = c
// at milestones[c + 1] (0: none yet); entries into core j with i the last
// core visited at transitions[i * k + j]; steps with the nearest node
// labelled l at labels[l + 1] (0: label -1; nullptr when unused).
struct Counts {
  std::int64_t* milestones;
  std::int64_t* transitions;
  std::int64_t* labels;
};

// Why a path stopped.
enum class PathStop : std::uint8_t {
  Running = 0,   // reached the last step asked for
  Exited = 1,    // left the domain
  LeftGrid = 2,  // stepped outside the grid's box (the fields end there)
  Stopped = 3,   // the stop flag was raised
};

template <int D>
class EulerMaruyama {
 public:
  EulerMaruyama(const SampledSDE<D>& sde, double eps, double dt, std::uint64_t seed)
      : sde_(sde), dt_(dt), noise_(std::sqrt(eps * dt)), seed_(seed) {
    if (!(eps > 0.0) || !std::isfinite(eps))
      throw std::invalid_argument("eps must be positive and finite");
    if (!(dt > 0.0) || !std::isfinite(dt)) throw std::invalid_argument("dt must be positive and finite");
  }

  // Paths are run in batches of up to kLanes, stepped in turn: one path's
  // steps form a chain of dependent loads and multiplies, and interleaving
  // independent chains keeps the processor busy.
  static constexpr int kLanes = 8;

  // A batch of `lanes` paths: ids path[l], states x[l]. On return step[l] is
  // where path l stopped and why[l] why.
  struct Batch {
    const Index* path;
    Vec<D>* x;
    int lanes;
    Index* step;
    PathStop* why;
  };

  // Store x at steps n with (n - n0) % thin == 0, n0 <= n < n1, into out[l]
  // (D values each), then advance to n1.
  void store(const Batch& b, Index n0, Index n1, Index thin, double* const* out,
             const std::atomic<bool>& stop) const {
    Index current = -1, slot = -1;  // the step being made, and its slot if stored
    run(b, n0, n1, stop, [&](int l, Walker& w, Vec<D>& x, Index step, Index&) {
      if (step != current) {
        current = step;
        slot = (step - n0) % thin == 0 ? (step - n0) / thin : -1;
      }
      if (slot >= 0)
        for (int k = 0; k < D; ++k) out[l][slot * D + k] = x[k];
      double v[kSdeValues<D>];
      sde_.at(x, v);
      return w.advance(x, v) ? PathStop::Running : PathStop::LeftGrid;
    });
  }

  // Advance each path until the first step n in [n0, n1] at which x is
  // within shift * |L(x)^T n| of the boundary (shift = 0.5826 sqrt(eps dt)
  // for the Gobet-Menozzi correction, 0 for none) or outside the domain.
  void exit(const Batch& b, Index n0, Index n1, const Domain<D>& domain, double shift,
            const std::atomic<bool>& stop) const {
    auto exited = [&](const Vec<D>& x, double* v) {
      Vec<D> normal{};
      const double dist = domain.distance(x, normal);
      if (dist <= 0.0) return true;
      sde_.at(x, v);
      return shift > 0.0 && dist <= shift * norm<D>(sigma_transpose_times<D>(v, normal));
    };
    run(b, n0, n1, stop, [&](int, Walker& w, Vec<D>& x, Index step, Index& at) {
      double v[kSdeValues<D>];
      if (exited(x, v)) {
        at = step;
        return PathStop::Exited;
      }
      // Outside the fields' box is outside a domain that lies within it.
      return w.advance(x, v) ? PathStop::Running : PathStop::Exited;
    });
    double v[kSdeValues<D>];
    for (int l = 0; l < b.lanes; ++l)
      if (b.why[l] == PathStop::Running && exited(b.x[l], v)) b.why[l] = PathStop::Exited;
  }

  // A long run from step n0 to n1; core[l] is the last core path l visited
  // (-1 if none), carried between calls. labels: basin label per node, or
  // nullptr.
  void tally(const Batch& b, int* core, Index n0, Index n1, const Cores<D>& cores,
             const std::int32_t* labels, int n_labels, const Counts* counts, std::int64_t* histogram,
             const std::atomic<bool>& stop) const {
    const Grid<D>& grid = sde_.grid();
    const int k = int(cores.centers.size());
    // Counted here and added to counts at the end: rows of neighbouring
    // paths may share a cache line with another thread's batch.
    std::vector<std::int64_t> milestones(std::size_t(kLanes * (k + 1)), 0);
    std::vector<std::int64_t> transitions(std::size_t(kLanes * k * k), 0);
    std::vector<std::int64_t> visits(std::size_t(kLanes * (n_labels + 1)), 0);
    const bool nodes = labels != nullptr || histogram != nullptr;
    Vec<D> inverse_spacing;
    for (int a = 0; a < D; ++a) inverse_spacing[a] = 1.0 / grid.spacing()[a];
    run(b, n0, n1, stop, [&](int l, Walker& w, Vec<D>& x, Index, Index&) {
      double v[kSdeValues<D>];
      sde_.at(x, v);
      if (!w.advance(x, v)) return PathStop::LeftGrid;
      const int c = cores.which(x);
      if (c >= 0 && c != core[l]) {
        if (core[l] >= 0) ++transitions[std::size_t((l * k + core[l]) * k + c)];
        core[l] = c;
      }
      ++milestones[std::size_t(l * (k + 1) + core[l] + 1)];
      if (nodes) {
        MultiIndex<D> m;
        for (int a = 0; a < D; ++a) {
          const double s = (x[a] - grid.lower()[a]) * inverse_spacing[a];
          m[a] = std::min<Index>(grid.shape()[a] - 1, std::max<Index>(0, Index(std::lround(s))));
        }
        const Index node = grid.flat(m);
        if (labels) ++visits[std::size_t(l * (n_labels + 1) + labels[node] + 1)];
        if (histogram) ++histogram[node];
      }
      return PathStop::Running;
    });
    for (int l = 0; l < b.lanes; ++l) {
      for (int c = 0; c <= k; ++c) counts[l].milestones[c] += milestones[std::size_t(l * (k + 1) + c)];
      for (int c = 0; c < k * k; ++c) counts[l].transitions[c] += transitions[std::size_t(l * k * k + c)];
      if (labels)
        for (int c = 0; c <= n_labels; ++c)
          counts[l].labels[c] += visits[std::size_t(l * (n_labels + 1) + c)];
    }
  }

  // Raw normals of the stream (seed, path, block): for tests of the generator.
  static void normals(std::uint64_t seed, Index path, Index block, double* out, Index n) {
    Xoshiro256pp rng(seed, std::uint64_t(path), std::uint64_t(block));
    const Ziggurat& z = Ziggurat::tables();
    for (Index i = 0; i < n; ++i) out[i] = z(rng);
  }

 private:
  // One path's generator, re-keyed at every block of kStepBlock steps.
  class Walker {
   public:
    Walker(const EulerMaruyama& em, Index path, Index step)
        : em_(em), path_(path), block_(step / kStepBlock),
          left_(kStepBlock - step % kStepBlock),
          rng_(em.seed_, std::uint64_t(path), std::uint64_t(block_)), z_(Ziggurat::tables()) {
      // Skip to `step` within its block. The draws per step are not fixed
      // (the ziggurat rejects), so the block's normals are replayed.
      for (Index s = block_ * kStepBlock; s < step; ++s)
        for (int k = 0; k < D; ++k) z_(rng_);
    }

    // Step `step`: x <- x + b dt + sqrt(eps dt) L z, with b and L in v;
    // false if the new point leaves the box (x is then unchanged). Steps
    // must come in order, one call each.
    bool advance(Vec<D>& x, const double* v) {
      if (left_-- == 0) {
        ++block_;
        left_ = kStepBlock - 1;
        rng_ = Xoshiro256pp(em_.seed_, std::uint64_t(path_), std::uint64_t(block_));
      }
      // L z accumulated as the normals come, in scalars: an array written
      // element by element and read back as a vector stalls store forwarding.
      Vec<D> next;
      if constexpr (D == 2) {
        const double z0 = z_(rng_);
        const double z1 = z_(rng_);
        next[0] = x[0] + v[0] * em_.dt_ + em_.noise_ * (v[2] * z0);
        next[1] = x[1] + v[1] * em_.dt_ + em_.noise_ * (v[3] * z0 + v[4] * z1);
      } else {
        double noise[D] = {};
        for (int c = 0; c < D; ++c) {
          const double zc = z_(rng_);
          for (int r = c; r < D; ++r) noise[r] += v[D + r * (r + 1) / 2 + c] * zc;
        }
        for (int r = 0; r < D; ++r) next[r] = x[r] + v[r] * em_.dt_ + em_.noise_ * noise[r];
      }
      if (!em_.sde_.inside(next)) return false;
      x = next;
      return true;
    }

   private:
    const EulerMaruyama& em_;
    Index path_;
    Index block_;
    Index left_;  // steps left in the block
    Xoshiro256pp rng_;
    const Ziggurat& z_;
  };

  // Step the batch's paths in turn from n0 to n1; f(l, walker, x, step, at)
  // makes one step of lane l from x and returns Running to go on, or why the path stopped
  // and (in `at`, step + 1 unless set) the step it stopped at. Paths that
  // run to n1 end with step = n1 and why = Running.
  template <class F>
  void run(const Batch& b, Index n0, Index n1, const std::atomic<bool>& stop, F&& f) const {
    // The states live here while the batch runs: written back to b.x they
    // could share cache lines with another thread's batch.
    std::array<Vec<D>, kLanes> x;
    std::vector<Walker> walkers;
    walkers.reserve(std::size_t(b.lanes));
    for (int l = 0; l < b.lanes; ++l) {
      x[std::size_t(l)] = b.x[l];
      walkers.emplace_back(*this, b.path[l], n0);
      b.why[l] = PathStop::Running;
      b.step[l] = n1;
    }
    std::array<bool, kLanes> done{};
    int active = b.lanes;
    for (Index step = n0; step < n1 && active > 0; ++step) {
      if (((step - n0) & (kStopCheck - 1)) == 0 && stop.load(std::memory_order_relaxed)) {
        for (int l = 0; l < b.lanes; ++l)
          if (!done[std::size_t(l)]) b.why[l] = PathStop::Stopped;
        break;
      }
      for (int l = 0; l < b.lanes; ++l) {
        if (done[std::size_t(l)]) continue;
        Index at = step + 1;
        const PathStop why = f(l, walkers[std::size_t(l)], x[std::size_t(l)], step, at);
        if (why != PathStop::Running) {
          done[std::size_t(l)] = true;
          b.why[l] = why;
          b.step[l] = at;
          --active;
        }
      }
    }
    for (int l = 0; l < b.lanes; ++l) b.x[l] = x[std::size_t(l)];
  }

  const SampledSDE<D>& sde_;
  double dt_;
  double noise_;
  std::uint64_t seed_;
};

// Run body(i, worker, stop) for i in [0, n) on `threads` worker threads
// (worker in [0, threads)), items claimed one at a time. The calling thread polls `interrupted` every 20 ms;
// when it returns true the stop flag is raised and the workers return early.
// Returns true if interrupted.
inline bool run_items(Index n, int threads,
                      const std::function<void(Index, int, const std::atomic<bool>&)>& body,
                      const std::function<bool()>& interrupted = {}) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1");
  std::atomic<Index> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  auto work = [&](int worker) {
    for (;;) {
      if (stop.load()) break;
      const Index i = next.fetch_add(1);
      if (i >= n) break;
      body(i, worker, stop);
    }
    running.fetch_sub(1);
  };
  const int workers = int(std::min<Index>(threads, std::max<Index>(n, 1)));
  running.store(workers);
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t) pool.emplace_back(work, t);
  for (int tick = 1; running.load() > 0; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (tick % 10 == 0 && interrupted && !stop.load() && interrupted()) stop.store(true);
  }
  for (std::thread& t : pool) t.join();
  return stop.load();
}

}  // namespace hjqp
