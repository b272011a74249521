// The ordered march that every solver of the kernel runs: a Dijkstra-like
// label-setting method (Sethian's fast marching, Sethian and Vladimirsky's
// ordered upwind methods) over the nodes of a grid.
//
// Nodes are Far, Considered (in the heap with a tentative value) or
// Accepted; the initial data are accepted nodes (seeds). Each step accepts
// the Considered node of least tentative value. What differs between the
// quasi-potential and the eikonal solvers is only the update rule: how a
// node's value is settled when it is accepted (settle) and what its
// acceptance offers to its neighbours (propagate). The loop, the heap, the
// node states, the narrow band (max_value) and the interrupt handling are
// here, once.
//
// A solver derives from OrderedMarch<D, Solver> (the curiously recurring
// template pattern: the loop calls the rule without virtual dispatch) and
// provides
//     void settle(Index node);     // the node's final value, just before acceptance
//     void propagate(Index node);  // offer the accepted node's value to its neighbours
//     bool absorbs(Index node);    // accept it as Absorbed: it keeps its value, offers nothing
//     void unreach(Index node);    // a node left in the heap beyond max_value
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/heap.hpp"

namespace hjqp {

// Absorbed: accepted with a value but never used to update other nodes (so
// that a front does not pass through a region). Obstacle: never reached.
enum class NodeState : std::uint8_t { Far = 0, Considered = 1, Accepted = 2, Absorbed = 3, Obstacle = 4 };

// Thrown when the interrupt check asks a march to stop.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("march interrupted") {}
};

// Ask the cache for the line that holds p. GCC drops __builtin_prefetch
// where it sees no use for it (none of the march's were emitted at -O3),
// hence the instruction itself on x86.
inline void prefetch(const void* p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm volatile("prefetcht0 (%0)" : : "r"(p));
#elif defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

template <int D, class Solver>
class OrderedMarch {
 public:
  const Grid<D>& grid() const { return grid_; }
  NodeState state(Index node) const { return state_[std::size_t(node)]; }
  // Nodes accepted by the march (seeds not counted).
  Index accepted() const { return accepted_; }

 protected:
  // values (grid.size()) are the tentative values, the heap's keys; they
  // are set to +inf here and must outlive the march.
  OrderedMarch(const Grid<D>& grid, double* values, double max_value, Index check_interval)
      : grid_(grid),
        values_(values),
        max_value_(max_value),
        check_interval_(check_interval),
        state_(std::size_t(grid.size()), NodeState::Far),
        heap_(values, grid.size()) {
    if (std::isnan(max_value)) throw std::invalid_argument("max_value is NaN");
    if (check_interval < 1) throw std::invalid_argument("check_interval must be >= 1");
    for (Index i = 0; i < grid.size(); ++i) values_[i] = std::numeric_limits<double>::infinity();
  }

  // Accept a node whose value the solver has set (initial data).
  void accept_seed(Index node) {
    if (state_[std::size_t(node)] != NodeState::Accepted) seeds_.push_back(node);
    state_[std::size_t(node)] = NodeState::Accepted;
  }

  // The node's value was lowered: (re)queue it.
  void lowered(Index node) {
    state_[std::size_t(node)] = NodeState::Considered;
    heap_.push_or_decrease(node);
  }
  // The node's value changed either way: (re)queue it.
  void changed(Index node) {
    state_[std::size_t(node)] = NodeState::Considered;
    heap_.push_or_update(node);
  }

  // Run the march. `interrupted` is polled every check_interval
  // acceptances; when it returns true the march throws Interrupted.
  template <class Check>
  void march(const Check& interrupted) {
    if (seeds_.empty()) throw std::invalid_argument("the march needs at least one seed node");
    for (Index s : seeds_) solver().propagate(s);
    Index since_check = 0;
    while (!heap_.empty()) {
      const Index x = heap_.top();
      if (values_[x] > max_value_) break;
      heap_.pop();
      prefetch_neighbourhood(x);
      solver().settle(x);
      ++accepted_;
      if (solver().absorbs(x)) {
        state_[std::size_t(x)] = NodeState::Absorbed;
      } else {
        state_[std::size_t(x)] = NodeState::Accepted;
        solver().propagate(x);
      }
      if (++since_check >= check_interval_) {
        since_check = 0;
        if (interrupted()) throw Interrupted();
      }
    }
    // Beyond max_value: tentative values are not solutions.
    while (!heap_.empty()) {
      const Index x = heap_.pop();
      values_[x] = std::numeric_limits<double>::infinity();
      state_[std::size_t(x)] = NodeState::Far;
      solver().unreach(x);
    }
  }

  const std::vector<Index>& seeds() const { return seeds_; }

  // The checks of a seeded 1-jet (the marches of U and grad U): a node of
  // the grid, a finite non-negative value, a finite gradient.
  void check_seed(Index node, double value, const Vec<D>& gradient) const {
    if (node < 0 || node >= grid_.size())
      throw std::out_of_range("seed node " + std::to_string(node) + " is outside the grid");
    if (!std::isfinite(value) || value < 0.0)
      throw std::invalid_argument("seed value at " + describe_node(grid_, node) +
                                  " must be finite and non-negative");
    for (int k = 0; k < D; ++k)
      if (!std::isfinite(gradient[k]))
        throw std::invalid_argument("seed gradient at " + describe_node(grid_, node) +
                                    " must be finite");
  }

  // Offer the accepted node `from` (value U, gradient gy) to its
  // neighbours at `stencil` as the first-order prediction
  // U + gy . (x - y), at least U (U cannot decrease along a path: a lower
  // prediction comes from the node's downwind side); where it lowers their
  // key, `parent` records `from`.
  void offer_predictions(Index from, const Vec<D>& gy, const std::vector<MultiIndex<D>>& stencil,
                         std::vector<std::int32_t>& parent) {
    const MultiIndex<D> m = grid_.unflat(from);
    const double uy = values_[from];
    const Vec<D>& sp = grid_.spacing();
    for (const MultiIndex<D>& off : stencil) {
      MultiIndex<D> n;
      for (int k = 0; k < D; ++k) n[k] = m[k] + off[k];
      if (!grid_.contains(n)) continue;
      const Index x = grid_.flat(n);
      if (state_[std::size_t(x)] >= NodeState::Accepted) continue;
      double predicted = uy;
      for (int k = 0; k < D; ++k) predicted += gy[k] * sp[k] * double(off[k]);
      predicted = std::fmax(predicted, uy);
      if (predicted < values_[x]) {
        values_[x] = predicted;
        parent[std::size_t(x)] = std::int32_t(from);
        lowered(x);
      }
    }
  }

  // Ask for the cache lines of the values and states of the node's
  // neighbours, which propagate reads once settle is done: in 3D they lie
  // on three planes of the grid, far apart in memory, and a fresh front's
  // were not in cache (measured: the loads of these two were a third of
  // the loop's own time on 97^3 nodes). Prefetches change no result.
  void prefetch_neighbourhood(Index x) const {
    const Index last = grid_.size() - 1;
    auto fetch = [&](Index row) {  // the run of three nodes centred on row
      const Index first = row < 1 ? 0 : row - 1 > last ? last : row - 1;
      const Index end = row + 1 < 0 ? 0 : row + 1 > last ? last : row + 1;
      prefetch(values_ + first);
      prefetch(values_ + end);
      prefetch(state_.data() + first);
    };
    if constexpr (D == 2) {
      for (int a = -1; a <= 1; ++a) fetch(x + a * grid_.stride(0));
    } else {
      for (int a = -1; a <= 1; ++a)
        for (int b = -1; b <= 1; ++b) fetch(x + a * grid_.stride(0) + b * grid_.stride(1));
    }
  }

  const Grid<D>& grid_;
  double* values_;
  double max_value_;
  Index check_interval_;
  std::vector<NodeState> state_;

 private:
  Solver& solver() { return static_cast<Solver&>(*this); }

  IndexedHeap heap_;
  std::vector<Index> seeds_;
  Index accepted_ = 0;
};

}  // namespace hjqp
