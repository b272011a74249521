// Exact stochastic simulation of a Markov jump process on a lattice of
// integer copy numbers: Gillespie's direct method (J. Comput. Phys. 22,
// 1976). State n jumps to n + nu_r at rate a_r(n); the waiting time is
// exponential with rate a_0(n) = sum_r a_r(n), the reaction is r with
// probability a_r(n) / a_0(n).
//
// The rates are tabulated once on a box of the lattice (the caller
// evaluates its propensities there), so a path never calls back and the
// simulation is exact, not interpolated. A jump that would leave the box is
// suppressed (the path stays; it is counted): the chain simulated is the
// box's truncated chain, the one whose master equation is solved on the
// same box.
//
// Three ways to run a path, as for Euler-Maruyama (sde.hpp): keep its state
// at times 0, dt, 2 dt, ...; stop it at the first jump out of a set of
// states; or tally a long run against core sets of states (time spent with
// each last core visited, transitions between cores, time per label).
// Random numbers: one xoshiro256++ stream per path keyed by (seed, path),
// so a path is the same whatever thread runs it; waiting times by the
// exponential ziggurat (random.hpp).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/parallel.hpp"
#include "hjqp/random.hpp"
#include "hjqp/sde.hpp"

namespace hjqp {

// Events between checks of the stop flag.
constexpr Index kEventCheck = 1 << 14;

class ReactionLattice {
 public:
  // dims species; the box holds counts lower[k] .. lower[k] + size[k] - 1
  // (lower[k] >= 0); jumps: reactions * dims integers (row r is nu_r);
  // rates: states() * reactions values, a_r(n) at rates[s * reactions + r]
  // for the state of index s (row-major over the box, the last species
  // fastest), finite and >= 0.
  ReactionLattice(int dims, const std::int64_t* lower, const std::int64_t* size, int reactions,
                  const std::int64_t* jumps, const double* rates)
      : dims_(dims), reactions_(reactions) {
    if (dims < 1) throw std::invalid_argument("a reaction lattice needs at least one species");
    if (reactions < 1) throw std::invalid_argument("a reaction lattice needs at least one reaction");
    lower_.assign(lower, lower + dims);
    size_.assign(size, size + dims);
    stride_.assign(std::size_t(dims), 1);
    states_ = 1;
    for (int k = dims - 1; k >= 0; --k) {
      if (lower_[std::size_t(k)] < 0) throw std::invalid_argument("lattice counts must be >= 0");
      if (size_[std::size_t(k)] < 1) throw std::invalid_argument("the lattice must hold at least one count per species");
      stride_[std::size_t(k)] = states_;
      if (states_ > std::numeric_limits<Index>::max() / size_[std::size_t(k)] / reactions)
        throw std::invalid_argument("the lattice is too large");
      states_ *= size_[std::size_t(k)];
    }
    jumps_.assign(jumps, jumps + std::size_t(reactions) * std::size_t(dims));
    offset_.assign(std::size_t(reactions), 0);
    for (int r = 0; r < reactions; ++r)
      for (int k = 0; k < dims; ++k) offset_[std::size_t(r)] += jumps_[std::size_t(r * dims + k)] * stride_[std::size_t(k)];
    // Cumulative rates per state: the last one is a_0.
    cumulative_.resize(std::size_t(states_) * std::size_t(reactions));
    for (Index s = 0; s < states_; ++s) {
      double sum = 0.0;
      for (int r = 0; r < reactions; ++r) {
        const double a = rates[s * reactions + r];
        if (!(a >= 0.0) || !std::isfinite(a))
          throw std::invalid_argument("the rate of reaction " + std::to_string(r) + " is " + std::to_string(a) +
                                      " at state " + describe(s) + ": rates must be finite and >= 0");
        sum += a;
        cumulative_[std::size_t(s * reactions + r)] = sum;
      }
    }
  }

  int dims() const { return dims_; }
  int reactions() const { return reactions_; }
  Index states() const { return states_; }
  std::int64_t lower(int k) const { return lower_[std::size_t(k)]; }
  std::int64_t size(int k) const { return size_[std::size_t(k)]; }

  // The index of the state with counts n, or -1 outside the box.
  Index index(const std::int64_t* n) const {
    Index s = 0;
    for (int k = 0; k < dims_; ++k) {
      const std::int64_t j = n[k] - lower_[std::size_t(k)];
      if (j < 0 || j >= size_[std::size_t(k)]) return -1;
      s += j * stride_[std::size_t(k)];
    }
    return s;
  }

  std::string describe(Index s) const {
    std::string out = "n = (";
    for (int k = 0; k < dims_; ++k) {
      const Index j = (s / stride_[std::size_t(k)]) % size_[std::size_t(k)];
      out += (k ? ", " : "") + std::to_string(lower_[std::size_t(k)] + j);
    }
    return out + ")";
  }

  double total_rate(Index s) const { return cumulative_[std::size_t(s * reactions_ + reactions_ - 1)]; }

  // The reaction whose cumulative rate first exceeds u in [0, a_0(s)).
  int choose(Index s, double u) const {
    const double* c = &cumulative_[std::size_t(s * reactions_)];
    int r = 0;
    while (r < reactions_ - 1 && !(u < c[r])) ++r;
    // Skip reactions of zero rate that u landed on through rounding.
    while (r > 0 && c[r] == c[r - 1]) --r;
    return r;
  }

  // Applies reaction r to counts n (state s); false, with n and s
  // unchanged, if the result leaves the box.
  bool apply(int r, std::int64_t* n, Index& s) const {
    const std::int64_t* nu = &jumps_[std::size_t(r * dims_)];
    for (int k = 0; k < dims_; ++k) {
      const std::int64_t j = n[k] + nu[k] - lower_[std::size_t(k)];
      if (j < 0 || j >= size_[std::size_t(k)]) return false;
    }
    for (int k = 0; k < dims_; ++k) n[k] += nu[k];
    s += offset_[std::size_t(r)];
    return true;
  }

 private:
  int dims_, reactions_;
  Index states_ = 0;
  std::vector<std::int64_t> lower_, size_, jumps_;
  std::vector<Index> stride_, offset_;
  std::vector<double> cumulative_;
};

// One path of the direct method: counts n, state index s, time t.
class GillespiePath {
 public:
  GillespiePath(const ReactionLattice& lattice, std::uint64_t seed, Index path, const std::int64_t* n)
      : lattice_(lattice), rng_(seed, std::uint64_t(path), 0), n_(n, n + lattice.dims()) {
    s_ = lattice.index(n);
    if (s_ < 0) throw std::invalid_argument("a start point lies outside the lattice");
    draw_wait();
  }

  Index state() const { return s_; }
  const std::int64_t* counts() const { return n_.data(); }
  double time() const { return t_; }
  // When the next jump happens (+inf in a state with no reaction).
  double next() const { return next_; }

  // Makes the next jump (at next()); false if it would leave the box:
  // the path then stays where it is (the reaction is suppressed).
  bool jump() {
    const double a0 = lattice_.total_rate(s_);
    const int r = lattice_.choose(s_, (1.0 - rng_.uniform_open0()) * a0);
    const bool moved = lattice_.apply(r, n_.data(), s_);
    t_ = next_;
    draw_wait();
    return moved;
  }

 private:
  void draw_wait() {
    const double a0 = lattice_.total_rate(s_);
    next_ = a0 > 0.0 ? t_ + exponential_(rng_) / a0 : std::numeric_limits<double>::infinity();
  }

  const ReactionLattice& lattice_;
  const ExponentialZiggurat& exponential_ = ExponentialZiggurat::tables();
  Xoshiro256pp rng_;
  std::vector<std::int64_t> n_;
  Index s_ = 0;
  double t_ = 0.0, next_ = 0.0;
};

// Paths i in [0, count) with ids ids[i] start from counts start[i * dims];
// on return ends[i * dims] holds where each stopped, stops[i] why,
// events[i] how many jumps it made and suppressed[i] how many of them
// would have left the box.
struct JumpPaths {
  Index count;
  const std::int64_t* ids;
  const std::int64_t* start;
  std::int64_t* ends;
  PathStop* stops;
  std::int64_t* events;
  std::int64_t* suppressed;
};

namespace detail {

inline void check_paths(const ReactionLattice& lattice, const JumpPaths& p) {
  for (Index i = 0; i < p.count; ++i)
    if (lattice.index(p.start + i * lattice.dims()) < 0)
      throw std::invalid_argument("the start of path " + std::to_string(p.ids[i]) + " lies outside the lattice");
}

inline void finish(const ReactionLattice& lattice, const JumpPaths& p, Index i, const GillespiePath& g,
                   PathStop why, Index events, Index suppressed) {
  std::copy(g.counts(), g.counts() + lattice.dims(), p.ends + i * lattice.dims());
  p.stops[i] = why;
  p.events[i] = events;
  p.suppressed[i] = suppressed;
}

}  // namespace detail

// The counts of every path at times 0, dt, ..., (m - 1) dt into samples
// (count * m * dims, path-major). True if interrupted.
inline bool jump_store(const ReactionLattice& lattice, const JumpPaths& p, std::uint64_t seed, double dt, Index m,
                       std::int64_t* samples, int threads, const std::function<bool()>& interrupted = {}) {
  if (!(dt > 0.0) || !std::isfinite(dt)) throw std::invalid_argument("dt must be positive and finite");
  if (m < 1) throw std::invalid_argument("at least one sample per path is needed");
  detail::check_paths(lattice, p);
  const int d = lattice.dims();
  return parallel_for(
      p.count, threads, 1,
      [&](Index i, int, const std::atomic<bool>& stop) {
        GillespiePath g(lattice, seed, p.ids[i], p.start + i * d);
        std::int64_t* out = samples + i * m * d;
        Index events = 0, suppressed = 0;
        PathStop why = PathStop::Running;
        for (Index j = 0; j < m; ++j) {
          const double t = double(j) * dt;
          while (why == PathStop::Running && g.next() <= t) {
            if (!g.jump()) ++suppressed;
            if (++events % kEventCheck == 0 && stop.load()) why = PathStop::Stopped;
          }
          if (why != PathStop::Running) {
            // The rest of this path is unknown: the sentinel -1.
            std::fill(out + j * d, out + m * d, std::int64_t(-1));
            break;
          }
          std::copy(g.counts(), g.counts() + d, out + j * d);
        }
        detail::finish(lattice, p, i, g, why, events, suppressed);
      },
      interrupted);
}

// Every path until its first jump to a state with inside[s] == 0, or time
// max_time: times[i] is the time of that jump (stops Exited) or max_time
// (Running). True if interrupted.
inline bool jump_exit(const ReactionLattice& lattice, const JumpPaths& p, std::uint64_t seed,
                      const std::uint8_t* inside, double max_time, double* times, int threads,
                      const std::function<bool()>& interrupted = {}) {
  if (!(max_time > 0.0)) throw std::invalid_argument("max_time must be positive");
  detail::check_paths(lattice, p);
  return parallel_for(
      p.count, threads, 1,
      [&](Index i, int, const std::atomic<bool>& stop) {
        GillespiePath g(lattice, seed, p.ids[i], p.start + i * lattice.dims());
        Index events = 0, suppressed = 0;
        PathStop why = PathStop::Running;
        while (g.next() <= max_time) {
          if (!g.jump()) ++suppressed;
          if (!inside[g.state()]) {
            why = PathStop::Exited;
            break;
          }
          if (++events % kEventCheck == 0 && stop.load()) {
            why = PathStop::Stopped;
            break;
          }
        }
        times[i] = why == PathStop::Running ? max_time : g.time();
        detail::finish(lattice, p, i, g, why, events, suppressed);
      },
      interrupted);
}

// What a long run counts per path: time with each last core visited
// (count x (k + 1), column 0: none yet), entries into core j from last core
// i (count x k x k) and time per label (count x (n_labels + 1), column 0:
// label -1), added to.
struct JumpTallies {
  int k;
  double* milestones;
  std::int64_t* transitions;
  const std::int32_t* labels = nullptr;  // per state, in [-1, n_labels)
  int n_labels = 0;
  double* label_time = nullptr;
};

// A long run of every path over [0, total), counted over [burn_in, total);
// core_of[s] in [-1, k) is the core containing state s; cores[i] (in/out)
// the last core path i visited. True if interrupted.
inline bool jump_tally(const ReactionLattice& lattice, const JumpPaths& p, std::uint64_t seed,
                       const std::int32_t* core_of, std::int32_t* cores, double burn_in, double total,
                       const JumpTallies& out, int threads, const std::function<bool()>& interrupted = {}) {
  if (!(total > 0.0) || !std::isfinite(total)) throw std::invalid_argument("the run's time must be positive and finite");
  if (!(burn_in >= 0.0) || !(burn_in < total)) throw std::invalid_argument("burn_in must lie in [0, total)");
  detail::check_paths(lattice, p);
  const int k = out.k, L = out.n_labels;
  for (Index s = 0; s < lattice.states(); ++s) {
    if (core_of[s] < -1 || core_of[s] >= k) throw std::invalid_argument("core indices must lie in [-1, k)");
    if (out.labels && (out.labels[s] < -1 || out.labels[s] >= L))
      throw std::invalid_argument("labels must lie in [-1, n_labels) at " + lattice.describe(s));
  }
  for (Index i = 0; i < p.count; ++i)
    if (cores[i] < -1 || cores[i] >= k) throw std::invalid_argument("core indices must lie in [-1, k)");
  return parallel_for(
      p.count, threads, 1,
      [&](Index i, int, const std::atomic<bool>& stop) {
        GillespiePath g(lattice, seed, p.ids[i], p.start + i * lattice.dims());
        double* milestones = out.milestones + i * (k + 1);
        std::int64_t* transitions = out.transitions + i * k * k;
        double* label_time = out.label_time ? out.label_time + i * (L + 1) : nullptr;
        int core = cores[i];
        Index events = 0, suppressed = 0;
        PathStop why = PathStop::Running;
        for (;;) {
          // The sojourn in the current state over [t, min(next, total)),
          // counted where it overlaps [burn_in, total).
          const double leave = std::min(g.next(), total);
          const double counted = std::max(0.0, leave - std::max(g.time(), burn_in));
          if (counted > 0.0) {
            milestones[core + 1] += counted;
            if (label_time) label_time[out.labels[g.state()] + 1] += counted;
          }
          if (g.next() >= total) break;
          if (!g.jump()) ++suppressed;
          const int c = core_of[g.state()];
          if (c >= 0 && c != core) {
            if (core >= 0 && g.time() >= burn_in) ++transitions[core * k + c];
            core = c;
          }
          if (++events % kEventCheck == 0 && stop.load()) {
            why = PathStop::Stopped;
            break;
          }
        }
        cores[i] = core;
        detail::finish(lattice, p, i, g, why, events, suppressed);
      },
      interrupted);
}

}  // namespace hjqp
