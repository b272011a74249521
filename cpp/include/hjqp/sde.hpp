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
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hjqp/domain.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/parallel.hpp"
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
    // A constant L (additive noise, the commonest case) is kept once and
    // not interpolated: the multilinear mean of equal values is that value
    // (up to rounding), and a step then reads D values per corner rather
    // than kSdeValues (Example 3.1: about 20 % more steps per second).
    constexpr int L = kSdeValues<D> - D;
    std::copy(data_.begin() + D, data_.begin() + kSdeValues<D>, sigma_.begin());
    constant_sigma_ = true;
    for (Index i = 1; i < grid.size() && constant_sigma_; ++i)
      for (int m = 0; m < L; ++m)
        if (data_[std::size_t(i) * kSdeValues<D> + D + std::size_t(m)] != sigma_[std::size_t(m)])
          constant_sigma_ = false;
    if (constant_sigma_) {
      for (Index i = 0; i < grid.size(); ++i)
        for (int k = 0; k < D; ++k) data_[std::size_t(i * D + k)] = data_[std::size_t(i) * kSdeValues<D> + k];
      data_.resize(std::size_t(grid.size()) * D);
      data_.shrink_to_fit();
    }
  }

  const Grid<D>& grid() const { return grid_; }

  // Is L the same at every node?
  bool constant_sigma() const { return constant_sigma_; }

  // b and L at x (multilinear; x is clamped into the box).
  void at(const Vec<D>& x, double* v) const {
    if (constant_sigma_) {
      interpolate<D>(x, v);
      for (int m = D; m < kSdeValues<D>; ++m) v[m] = sigma_[std::size_t(m - D)];
    } else {
      interpolate<kSdeValues<D>>(x, v);
    }
  }

  // Is x inside the closed box?
  bool inside(const Vec<D>& x) const {
    for (int k = 0; k < D; ++k)
      if (!(x[k] >= lower_[k] && x[k] <= upper_[k])) return false;
    return true;
  }

 private:
  // The first Width values per node of data_ at x into v.
  template <int Width>
  void interpolate(const Vec<D>& x, double* v) const {
    if constexpr (D == 2) {
      multilinear_rows<Width>(grid_, data_.data(), x, v);
    } else {
      for (int m = 0; m < Width; ++m) v[m] = 0.0;
      multilinear<Width, D>(grid_, data_.data(), x, v);
    }
  }

  Grid<D> grid_;
  // Per node: b, then the lower triangle of L by rows; b alone when L is
  // constant (then in sigma_).
  std::vector<double> data_;
  std::array<double, kSdeValues<D> - D> sigma_{};
  bool constant_sigma_ = false;
  Vec<D> lower_{}, upper_{};
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

  const SampledSDE<D>& sde() const { return sde_; }

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
    run(
        b, n0, n1, PathStop::LeftGrid, stop,
        [&](int l, const Vec<D>& x, const double*, Index step) {
          if (step != current) {
            current = step;
            slot = (step - n0) % thin == 0 ? (step - n0) / thin : -1;
          }
          if (slot >= 0)
            for (int k = 0; k < D; ++k) out[l][slot * D + k] = x[k];
          return PathStop::Running;
        },
        [](int, const Vec<D>&) {});
  }

  // Advance each path until the first step n in [n0, n1] at which x is
  // within shift * |L(x)^T n| of the boundary (shift = 0.5826 sqrt(eps dt)
  // for the Gobet-Menozzi correction, 0 for none) or outside the domain.
  void exit(const Batch& b, Index n0, Index n1, const Domain<D>& domain, double shift,
            const std::atomic<bool>& stop) const {
    // |L^T n| <= |L|_F for a unit n, so a point surely farther than
    // shift |L|_F from the boundary has not exited, and most steps are
    // settled without the distance's square roots and divisions (the same
    // decisions: the bound carries a relative margin of 1e-9, far beyond
    // rounding). With a constant L the bound is computed once.
    constexpr int L = kSdeValues<D> - D;
    auto reach = [&](const double* v) {
      double f = 0.0;
      for (int m = 0; m < L; ++m) f += v[D + m] * v[D + m];
      return shift * std::sqrt(f) * (1.0 + 1e-9);
    };
    double constant_reach = 0.0;
    if (sde_.constant_sigma()) {
      double v[kSdeValues<D>];
      sde_.at(sde_.grid().point(MultiIndex<D>{}), v);
      constant_reach = reach(v);
    }
    // v: b and L at x.
    auto exited = [&](const Vec<D>& x, const double* v) {
      const double margin = shift == 0.0 ? 0.0 : sde_.constant_sigma() ? constant_reach : reach(v);
      if (domain.surely_inside(x, margin)) return false;
      Vec<D> normal{};
      const double dist = domain.distance(x, normal);
      if (dist <= 0.0) return true;
      return shift > 0.0 && dist <= shift * norm<D>(sigma_transpose_times<D>(v, normal));
    };
    // Outside the fields' box is outside a domain that lies within it.
    run(
        b, n0, n1, PathStop::Exited, stop,
        [&](int, const Vec<D>& x, const double* v, Index) {
          return exited(x, v) ? PathStop::Exited : PathStop::Running;
        },
        [](int, const Vec<D>&) {});
    double v[kSdeValues<D>];
    for (int l = 0; l < b.lanes; ++l)
      if (b.why[l] == PathStop::Running) {
        sde_.at(b.x[l], v);
        if (exited(b.x[l], v)) b.why[l] = PathStop::Exited;
      }
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
    run(
        b, n0, n1, PathStop::LeftGrid, stop, [](int, const Vec<D>&, const double*, Index) { return PathStop::Running; },
        [&](int l, const Vec<D>& x) {
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
          rng_(em.seed_, std::uint64_t(path), std::uint64_t(block_)), gauss_(Ziggurat::tables()) {
      // Skip to `step` within its block. The draws per step are not fixed
      // (the ziggurat rejects), so the block's normals are replayed.
      for (Index s = block_ * kStepBlock; s < step; ++s)
        for (int k = 0; k < D; ++k) gauss_(rng_);
    }

    // Step `step`: x <- x + b dt + sqrt(eps dt) L z, with b and L in v;
    // false if the new point leaves the box (x is then unchanged). Steps
    // must come in order, one call each.
    bool advance(Vec<D>& x, const double* v) {
      if (ahead_ == kAhead) draw();
      const double* z = &z_[ahead_ * D];
      ++ahead_;
      Vec<D> next;
      if constexpr (D == 2) {
        next[0] = x[0] + v[0] * em_.dt_ + em_.noise_ * (v[2] * z[0]);
        next[1] = x[1] + v[1] * em_.dt_ + em_.noise_ * (v[3] * z[0] + v[4] * z[1]);
      } else {
        double noise[D] = {};
        for (int c = 0; c < D; ++c)
          for (int r = c; r < D; ++r) noise[r] += v[D + r * (r + 1) / 2 + c] * z[c];
        for (int r = 0; r < D; ++r) next[r] = x[r] + v[r] * em_.dt_ + em_.noise_ * noise[r];
      }
      if (!em_.sde_.inside(next)) return false;
      x = next;
      return true;
    }

   private:
    // Steps whose normals are drawn in one go, in a loop that holds the
    // generator's state in registers (drawn one step at a time, the state
    // lives in the walker and every draw loads and stores it; this loop
    // takes a tenth fewer instructions per path-step). The numbers and their
    // order are those of one draw per step: drawing ahead past the last
    // step taken wastes a few draws and changes nothing.
    static constexpr int kAhead = 32;

    void draw() {
      // The generator and the count in locals, held in registers: as
      // members, every store of a normal could alias them.
      Xoshiro256pp rng = rng_;
      Index left = left_;
      for (int s = 0; s < kAhead; ++s) {
        if (left-- == 0) {
          ++block_;
          left = kStepBlock - 1;
          rng = Xoshiro256pp(em_.seed_, std::uint64_t(path_), std::uint64_t(block_));
        }
        for (int k = 0; k < D; ++k) z_[s * D + k] = gauss_(rng);
      }
      rng_ = rng;
      left_ = left;
      ahead_ = 0;
    }

    const EulerMaruyama& em_;
    Index path_;
    Index block_;
    Index left_;  // steps left in the block, counting draws
    Xoshiro256pp rng_;
    const Ziggurat& gauss_;
    int ahead_ = kAhead;  // the next step's normals are z_[ahead_ * D ...]
    double z_[kAhead * D];
  };

  // Step the batch's paths from n0 to n1. At each step: b and L at every
  // running path's state first (independent chains of loads, which the
  // processor overlaps when they come one after another), then, lane by
  // lane, check(l, x, v, step) (v: b and L at x), which returns Running to
  // go on or why the path stops at `step`; the step itself, which stops the
  // path at step + 1 with `left` if it leaves the grid's box; and after(l,
  // x) at the new state. Paths that run to n1 end with step = n1 and why =
  // Running.
  template <class Check, class After>
  void run(const Batch& b, Index n0, Index n1, PathStop left, const std::atomic<bool>& stop, Check&& check,
           After&& after) const {
    // The states live here while the batch runs: written back to b.x they
    // could share cache lines with another thread's batch.
    std::array<Vec<D>, kLanes> x;
    std::array<std::array<double, kSdeValues<D>>, kLanes> v;
    std::vector<Walker> walkers;
    walkers.reserve(std::size_t(b.lanes));
    std::array<int, kLanes> lane;  // the running lanes are lane[0, active)
    for (int l = 0; l < b.lanes; ++l) {
      x[std::size_t(l)] = b.x[l];
      walkers.emplace_back(*this, b.path[l], n0);
      b.why[l] = PathStop::Running;
      b.step[l] = n1;
      lane[std::size_t(l)] = l;
    }
    int active = b.lanes;
    for (Index step = n0; step < n1 && active > 0; ++step) {
      if (((step - n0) & (kStopCheck - 1)) == 0 && stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < active; ++i) b.why[lane[std::size_t(i)]] = PathStop::Stopped;
        break;
      }
      for (int i = 0; i < active; ++i) {
        const std::size_t l = std::size_t(lane[std::size_t(i)]);
        sde_.at(x[l], v[l].data());
      }
      int running = 0;
      for (int i = 0; i < active; ++i) {
        const int l = lane[std::size_t(i)];
        Vec<D>& xl = x[std::size_t(l)];
        const double* vl = v[std::size_t(l)].data();
        Index at = step;
        PathStop why = check(l, static_cast<const Vec<D>&>(xl), vl, step);
        if (why == PathStop::Running) {
          at = step + 1;
          if (walkers[std::size_t(l)].advance(xl, vl))
            after(l, static_cast<const Vec<D>&>(xl));
          else
            why = left;
        }
        if (why == PathStop::Running) {
          lane[std::size_t(running++)] = l;
        } else {
          b.why[l] = why;
          b.step[l] = at;
        }
      }
      active = running;
    }
    for (int l = 0; l < b.lanes; ++l) b.x[l] = x[std::size_t(l)];
  }

  const SampledSDE<D>& sde_;
  double dt_;
  double noise_;
  std::uint64_t seed_;
};

// The paths of a run: their states, ids, and where and why each stopped.
// The kernel runs them in batches of EulerMaruyama::kLanes (batch b holds
// paths [b * kLanes, ...)), the batches in parallel.
template <int D>
class PathSet {
 public:
  using EM = EulerMaruyama<D>;
  static constexpr int kLanes = EM::kLanes;

  // Start points (inside the SDE's box) and non-negative path ids (one each).
  PathSet(const SampledSDE<D>& sde, std::vector<Vec<D>> start, const std::int64_t* ids)
      : x_(std::move(start)), id_(ids), step_(x_.size(), 0), why_(x_.size(), PathStop::Running) {
    for (std::size_t i = 0; i < x_.size(); ++i) {
      if (!sde.grid().inside(x_[i]))
        throw std::invalid_argument("start point " + std::to_string(i) + " lies outside the grid's box");
      if (ids[i] < 0) throw std::invalid_argument("path ids must be non-negative");
    }
  }

  Index size() const { return Index(x_.size()); }
  Index batches() const { return (size() + kLanes - 1) / kLanes; }
  Index first(Index batch) const { return batch * kLanes; }
  // Worker threads for `threads` asked: no more than there are batches.
  int workers(int threads) const { return int(std::max<Index>(1, std::min<Index>(threads, batches()))); }
  typename EM::Batch batch(Index b) {
    const std::size_t i = std::size_t(first(b));
    return {id_ + i, &x_[i], int(std::min<Index>(kLanes, size() - Index(i))), &step_[i], &why_[i]};
  }

  // f(batch index, batch, worker, stop) for every batch on `threads`
  // threads; true if interrupted.
  template <class F>
  bool run(int threads, const F& f, const std::function<bool()>& interrupted) {
    return parallel_for(
        batches(), threads, 1,
        [&](Index b, int worker, const std::atomic<bool>& stop) { f(b, batch(b), worker, stop); }, interrupted);
  }

  const std::vector<Vec<D>>& states() const { return x_; }
  const std::vector<Index>& steps() const { return step_; }
  const std::vector<PathStop>& stops() const { return why_; }

 private:
  std::vector<Vec<D>> x_;
  const std::int64_t* id_;
  std::vector<Index> step_;
  std::vector<PathStop> why_;
};

inline void check_steps(Index n0, Index n1) {
  if (n0 < 0 || n1 < n0)
    throw std::invalid_argument("steps must satisfy 0 <= n0 <= n1, got " + std::to_string(n0) + ", " +
                                std::to_string(n1));
}

// Steps [n0, n1) of every path, the states at n0, n0 + thin, ... stored
// into samples (path-major: size() * ceil((n1 - n0) / thin) * D values).
// True if interrupted.
template <int D>
bool store_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, Index n0, Index n1, Index thin,
                 double* samples, int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  if (thin < 1) throw std::invalid_argument("thin must be >= 1");
  const Index m = (n1 - n0 + thin - 1) / thin;
  return paths.run(
      threads,
      [&](Index b, const auto& batch, int, const std::atomic<bool>& stop) {
        double* out[PathSet<D>::kLanes];
        for (int l = 0; l < batch.lanes; ++l) out[l] = samples + (paths.first(b) + l) * m * D;
        em.store(batch, n0, n1, thin, out, stop);
      },
      interrupted);
}

// Steps [n0, n1) of every path until it exits the domain (see
// EulerMaruyama::exit), and each path's last state projected onto the
// domain's boundary into boundary (size() * D). True if interrupted.
template <int D>
bool exit_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, Index n0, Index n1, const Domain<D>& domain,
                double shift, double* boundary, int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  if (!(shift >= 0.0) || !std::isfinite(shift)) throw std::invalid_argument("shift must be >= 0");
  const bool stopped = paths.run(
      threads,
      [&](Index, const auto& batch, int, const std::atomic<bool>& stop) { em.exit(batch, n0, n1, domain, shift, stop); },
      interrupted);
  for (Index i = 0; i < paths.size(); ++i) {
    const Vec<D> p = domain.project(paths.states()[std::size_t(i)]);
    for (int k = 0; k < D; ++k) boundary[i * D + k] = p[k];
  }
  return stopped;
}

// What a long run counts, per path and in all: milestone steps
// (size() x (k + 1)), transitions (size() x k x k), steps per basin label
// (size() x (n_labels + 1), with labels), and visits per nearest node
// (grid.size(), with a histogram). The arrays are added to.
struct Tallies {
  std::int64_t* milestones;
  std::int64_t* transitions;
  std::int64_t* labels = nullptr;
  std::int64_t* histogram = nullptr;
};

// Steps [n0, n1) of a long run tallied against the core sets (see
// EulerMaruyama::tally); core[i] is the last core path i visited (-1 if
// none), carried between calls; labels: a basin label in [-1, n_labels)
// per node of the SDE's grid, or nullptr. True if interrupted.
template <int D>
bool tally_paths(const EulerMaruyama<D>& em, PathSet<D>& paths, int* core, Index n0, Index n1,
                 const Cores<D>& cores, const std::int32_t* labels, int n_labels, const Tallies& out,
                 int threads, const std::function<bool()>& interrupted = {}) {
  check_steps(n0, n1);
  const Grid<D>& grid = em.sde().grid();
  const int k = int(cores.centers.size());
  if (cores.radii.size() != cores.centers.size()) throw std::invalid_argument("one core radius per centre is needed");
  for (double r : cores.radii)
    if (!(r > 0.0)) throw std::invalid_argument("core radii must be positive");
  for (Index i = 0; i < paths.size(); ++i)
    if (core[i] < -1 || core[i] >= k) throw std::invalid_argument("core indices must lie in [-1, k)");
  if (labels) {
    if (n_labels < 0) throw std::invalid_argument("n_labels must be >= 0");
    for (Index i = 0; i < grid.size(); ++i)
      if (labels[i] < -1 || labels[i] >= n_labels)
        throw std::invalid_argument("labels must lie in [-1, n_labels) at " + describe_node(grid, i));
  }
  const int L = labels ? n_labels : 0;
  std::vector<Counts> counts(std::size_t(paths.size()));
  for (Index i = 0; i < paths.size(); ++i)
    counts[std::size_t(i)] = {out.milestones + i * (k + 1), out.transitions + i * k * k,
                              labels ? out.labels + i * (L + 1) : nullptr};
  // One histogram per worker, added up at the end.
  const int workers = paths.workers(threads);
  std::vector<std::vector<std::int64_t>> histograms(std::size_t(out.histogram ? workers : 0),
                                                    std::vector<std::int64_t>(std::size_t(grid.size()), 0));
  const bool stopped = paths.run(
      workers,
      [&](Index b, const auto& batch, int worker, const std::atomic<bool>& stop) {
        const std::size_t i = std::size_t(paths.first(b));
        em.tally(batch, &core[i], n0, n1, cores, labels, L, &counts[i],
                 out.histogram ? histograms[std::size_t(worker)].data() : nullptr, stop);
      },
      interrupted);
  for (const auto& part : histograms)
    for (Index j = 0; j < grid.size(); ++j) out.histogram[j] += part[std::size_t(j)];
  return stopped;
}

}  // namespace hjqp
