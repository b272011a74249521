// The deterministic flow x' = b(x) over a drift sampled on a grid
// (multilinear interpolation): where trajectories end, and which attractor
// each node's trajectory reaches (its basin label).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/parallel.hpp"

namespace hjqp {

// Why a trajectory stopped.
enum class FlowStop : std::uint8_t {
  Captured = 0,  // came within the capture radius of a target
  Stalled = 1,   // |b| fell below the stall speed: an equilibrium or a flat region
  LeftBox = 2,   // crossed the box edge
  MaxSteps = 3,  // still moving after the step limit (a very slow approach)
  Cycle = 4,     // came back onto its own track: a closed orbit (a limit cycle)
};

// Trajectories a worker thread claims at a time.
constexpr Index kFlowBlock = 1024;

struct FlowOptions {
  // Arc length of one step, in units of the smallest grid spacing.
  double step_cells = 0.5;
  // Largest time step. RK4 is stable near an equilibrium when dt is below
  // about 2.7 / |Db|; each step is also kept below kLocalStability / |Db|
  // with |Db| bounded over the cells about its start (local_jacobian, from
  // a bound per cell: 8 bytes per node), so this is only a global cap.
  double max_dt = 1.0;
  // |b| below this counts as stalled.
  double stall_speed = 0.0;
  // Distance to a target that counts as arrival.
  double capture_radius = 0.0;
  Index max_steps = 100000;
};

template <int D>
struct FlowEnd {
  Vec<D> point{};
  FlowStop reason = FlowStop::MaxSteps;
  int target = -1;  // index of the target reached, -1 if none
  Index steps = 0;
};

template <int D>
class Flow {
 public:
  // drift: grid.size() * D values, node-major; must outlive the flow.
  Flow(const Grid<D>& grid, const double* drift, const FlowOptions& options)
      : grid_(grid), drift_(drift), options_(options) {
    if (!(options.step_cells > 0.0 && options.step_cells <= 100.0))
      throw std::invalid_argument("step_cells must lie in (0, 100], got " +
                                  std::to_string(options.step_cells));
    if (!(options.max_dt > 0.0) || !std::isfinite(options.max_dt))
      throw std::invalid_argument("max_dt must be positive and finite");
    if (!(options.stall_speed >= 0.0) || !std::isfinite(options.stall_speed))
      throw std::invalid_argument("stall_speed must be non-negative and finite");
    if (!(options.capture_radius >= 0.0) || !std::isfinite(options.capture_radius))
      throw std::invalid_argument("capture_radius must be non-negative and finite");
    if (options.max_steps < 1) throw std::invalid_argument("max_steps must be >= 1");
    for (Index i = 0; i < grid.size() * D; ++i)
      if (!std::isfinite(drift[i]))
        throw std::invalid_argument("drift is not finite at " + describe_node(grid, i / D));
    cell_jacobian_.assign(std::size_t(grid.size()), 0.0);
    for (Index i = 0; i < grid.size(); ++i) {
      const MultiIndex<D> m = grid.unflat(i);
      bool lowest_corner = true;
      for (int k = 0; k < D; ++k) lowest_corner = lowest_corner && m[k] + 1 < grid.shape()[k];
      if (lowest_corner) cell_jacobian_[std::size_t(i)] = cell_bound(i);
    }
  }

  const Grid<D>& grid() const { return grid_; }

  Vec<D> drift(const Vec<D>& x) const {
    Vec<D> b{};
    for_each_corner<D>(grid_, x, [&](Index i, double w) {
      for (int k = 0; k < D; ++k) b[k] += w * drift_[i * D + k];
    });
    return b;
  }

  // Follow the flow from x until one of the stopping rules applies. Steps
  // are classical RK4 with dt = min(step length / |b|, max_dt): a bounded
  // arc length far from equilibria, a stable time step near them.
  //
  // A trajectory on a closed orbit meets none of the other rules, and each
  // one ran all max_steps: labelling the basins of a limit-cycle drift on
  // 129^2 nodes took 78 s. Brent's cycle detection ends it: the point
  // reached after 2^k steps (k = 4, 5, ...) is kept, and a step whose
  // segment passes within kCycleCells of it, after at least kCycleArcCells
  // of arc since, ends the trajectory as Cycle. Orbits converge onto a
  // stable cycle geometrically, so this happens a few periods after they
  // reach it; a focus would have to contract by less than kCycleCells per
  // turn to be taken for one.
  static constexpr double kCycleCells = 1e-2;
  static constexpr double kCycleArcCells = 4.0;
  static constexpr Index kFirstMark = 16;

  // cycle_cells (optional, one flag per node: the cell whose lowest corner
  // it is): cells that a stable closed orbit crosses (cycle_cells() below).
  // A trajectory that enters one ends there as Cycle: it has come within a
  // cell of the orbit, which it then approaches (geometrically, but at the
  // orbit's own rate: slowly attracting orbits took tens of thousands of
  // steps from every node before they met the rule above).
  FlowEnd<D> follow(Vec<D> x, const std::vector<Vec<D>>& targets,
                    const std::vector<std::uint8_t>* cycle_cells = nullptr) const {
    FlowEnd<D> end;
    const double r2 = options_.capture_radius * options_.capture_radius;
    const double length = options_.step_cells * grid_.min_spacing();
    const double cycle_distance = kCycleCells * grid_.min_spacing();
    const double cycle_arc = kCycleArcCells * grid_.min_spacing();
    Vec<D> mark = x;
    double arc = 0.0;  // since the mark
    Index next_mark = kFirstMark;
    for (Index step = 0; step <= options_.max_steps; ++step) {
      for (std::size_t t = 0; t < targets.size(); ++t) {
        const Vec<D> y = sub<D>(x, targets[t]);
        if (dot<D>(y, y) <= r2) {
          end.reason = FlowStop::Captured;
          end.target = int(t);
          end.point = x;
          end.steps = step;
          return end;
        }
      }
      if (cycle_cells && (*cycle_cells)[std::size_t(cell_of(x))]) {
        end.reason = FlowStop::Cycle;
        end.point = x;
        end.steps = step;
        return end;
      }
      if (step == options_.max_steps) break;
      Vec<D> next;
      if (!advance(x, length, next)) {
        end.reason = FlowStop::Stalled;
        end.point = x;
        end.steps = step;
        return end;
      }
      if (!grid_.inside(next)) {
        end.reason = FlowStop::LeftBox;
        end.point = x;
        end.steps = step + 1;
        return end;
      }
      const Vec<D> move = sub<D>(next, x);
      arc += norm<D>(move);
      if (arc >= cycle_arc && distance_to_segment(mark, x, move) <= cycle_distance) {
        end.reason = FlowStop::Cycle;
        end.point = next;
        end.steps = step + 1;
        return end;
      }
      x = next;
      if (step + 1 == next_mark) {
        mark = x;
        arc = 0.0;
        next_mark *= 2;
      }
    }
    end.reason = FlowStop::MaxSteps;
    end.point = x;
    end.steps = options_.max_steps;
    return end;
  }

  // Flag (in cells, one per node as in follow) the cells that the closed
  // orbit through x crosses: the trajectory from x, at most max_steps
  // steps, until it passes within the cycle distance of x again after the
  // cycle arc (x is the end of a trajectory that ended as Cycle: within
  // that distance of the orbit). Returns false if it does not close.
  bool mark_cycle(const Vec<D>& x, Index max_steps, std::vector<std::uint8_t>& cells) const {
    const double length = options_.step_cells * grid_.min_spacing();
    const double cycle_distance = kCycleCells * grid_.min_spacing();
    const double cycle_arc = kCycleArcCells * grid_.min_spacing();
    std::vector<Index> crossed{cell_of(x)};
    Vec<D> y = x;
    double arc = 0.0;
    for (Index step = 0; step < max_steps; ++step) {
      Vec<D> next;
      if (!advance(y, length, next) || !grid_.inside(next)) return false;
      const Vec<D> move = sub<D>(next, y);
      arc += norm<D>(move);
      if (arc >= cycle_arc && distance_to_segment(x, y, move) <= cycle_distance) {
        for (Index c : crossed) cells[std::size_t(c)] = 1;
        return true;
      }
      y = next;
      crossed.push_back(cell_of(y));
    }
    return false;
  }

 private:
  // dt * |Db| at most this, |Db| bounded over the cells about x: a fifth
  // of RK4's stability limit on the negative real axis (2.79).
  static constexpr double kLocalStability = 0.5;

  // One RK4 step from x into next, dt = min(length / |b|, max_dt,
  // kLocalStability / |Db| about x's cell); false (next unset) where |b| is at
  // most the stall speed. A bound on |Db| that holds everywhere (the
  // caller's max_dt) made every trajectory crawl near its attractor at the
  // pace the steepest cell of the box allows: where the drift is cubic,
  // thousands of steps from each node.
  bool advance(const Vec<D>& x, double length, Vec<D>& next) const {
    const Vec<D> k1 = drift(x);
    const double speed = norm<D>(k1);
    if (!(speed > options_.stall_speed)) return false;
    double dt = std::fmin(length / speed, options_.max_dt);
    const double jacobian = local_jacobian(x);
    if (jacobian > 0.0) dt = std::fmin(dt, kLocalStability / jacobian);
    const Vec<D> k2 = drift(axpy<D>(x, 0.5 * dt, k1));
    const Vec<D> k3 = drift(axpy<D>(x, 0.5 * dt, k2));
    const Vec<D> k4 = drift(axpy<D>(x, dt, k3));
    for (int k = 0; k < D; ++k) next[k] = x[k] + dt / 6.0 * (k1[k] + 2.0 * (k2[k] + k3[k]) + k4[k]);
    return true;
  }

  // A bound on the Frobenius norm of the Jacobian of the multilinear
  // interpolant over the cell whose lowest corner is node i: its
  // derivative along axis k is, anywhere in the cell, a convex combination
  // of the differences along the cell's edges in that direction, so
  // |d_k b| <= max over those edges of |delta b| / h_k.
  double cell_bound(Index i0) const {
    double total = 0.0;
    for (int k = 0; k < D; ++k) {
      const Index stride = grid_.stride(k);
      double largest = 0.0;
      for (int corner = 0; corner < (1 << D); ++corner) {
        if (corner & (1 << k)) continue;  // edges start at corners with bit k clear
        Index i = i0;
        for (int a = 0; a < D; ++a) i += ((corner >> a) & 1) * grid_.stride(a);
        double edge = 0.0;
        for (int c = 0; c < D; ++c) {
          const double diff = drift_[(i + stride) * D + c] - drift_[i * D + c];
          edge += diff * diff;
        }
        largest = std::fmax(largest, edge);
      }
      total += largest / (grid_.spacing()[k] * grid_.spacing()[k]);
    }
    return std::sqrt(total);
  }

  // The largest cell bound over the cell holding x and its neighbours:
  // a step of at most half a cell keeps RK4's stages among them.
  double local_jacobian(const Vec<D>& x) const {
    MultiIndex<D> cell;
    Vec<D> frac;
    grid_.locate(x, cell, frac);
    MultiIndex<D> low, high;
    for (int k = 0; k < D; ++k) {
      low[k] = cell[k] > 0 ? cell[k] - 1 : 0;
      high[k] = cell[k] + 1 < grid_.shape()[k] - 1 ? cell[k] + 1 : grid_.shape()[k] - 2;
    }
    double largest = 0.0;
    MultiIndex<D> c = low;
    while (true) {
      largest = std::fmax(largest, cell_jacobian_[std::size_t(grid_.flat(c))]);
      int k = 0;
      while (k < D && c[k] == high[k]) c[k] = low[k], ++k;
      if (k == D) break;
      ++c[k];
    }
    return largest;
  }

  // The node at the lowest corner of the cell holding x.
  Index cell_of(const Vec<D>& x) const {
    MultiIndex<D> cell;
    Vec<D> frac;
    grid_.locate(x, cell, frac);
    return grid_.flat(cell);
  }

  // Distance from p to the segment from a along v.
  static double distance_to_segment(const Vec<D>& p, const Vec<D>& a, const Vec<D>& v) {
    const double vv = dot<D>(v, v);
    const Vec<D> ap = sub<D>(p, a);
    const double t = vv > 0.0 ? std::fmin(std::fmax(dot<D>(ap, v) / vv, 0.0), 1.0) : 0.0;
    return norm<D>(axpy<D>(ap, -t, v));
  }

  Grid<D> grid_;
  const double* drift_;
  FlowOptions options_;
  std::vector<double> cell_jacobian_;  // cell_bound per cell, by its lowest corner
};

// Follow the flow from each start point (inside the box) on `threads`
// threads: where it ended (starts.size() * D values), why (FlowStop), the
// target reached (-1 if none) and the steps taken. True if interrupted.
template <int D>
bool flow_ends(const Flow<D>& flow, const std::vector<Vec<D>>& starts, const std::vector<Vec<D>>& targets,
               double* ends, std::uint8_t* reasons, std::int32_t* reached, std::int64_t* steps, int threads,
               const std::function<bool()>& interrupted = {}) {
  for (std::size_t i = 0; i < starts.size(); ++i)
    if (!flow.grid().inside(starts[i]))
      throw std::invalid_argument("start point " + std::to_string(i) + " lies outside the box");
  return parallel_for(
      Index(starts.size()), threads, kFlowBlock,
      [&](Index i, int, const std::atomic<bool>&) {
        const FlowEnd<D> end = flow.follow(starts[std::size_t(i)], targets);
        for (int k = 0; k < D; ++k) ends[i * D + k] = end.point[k];
        reasons[i] = std::uint8_t(end.reason);
        reached[i] = end.target;
        steps[i] = end.steps;
      },
      interrupted);
}

// Nodes every kCycleProbeStride along each axis probe for stable closed
// orbits before the basins are labelled.
constexpr Index kCycleProbeStride = 8;

// The cells (one flag per node, as in Flow::follow) that the stable closed
// orbits found from the probe nodes cross: each probe's trajectory is
// followed, and the orbit of each that ends as Cycle (not already marked)
// is traced once more and its cells flagged, in the probes' order (the
// same flags whatever the thread count). Sets `stopped` if interrupted.
template <int D>
std::vector<std::uint8_t> cycle_cells(const Flow<D>& flow, const std::vector<Vec<D>>& targets, int threads,
                                      const std::function<bool()>& interrupted, bool& stopped,
                                      std::int64_t& steps) {
  const Grid<D>& grid = flow.grid();
  MultiIndex<D> probe_shape;
  Index probes = 1;
  for (int k = 0; k < D; ++k) {
    probe_shape[k] = (grid.shape()[k] + kCycleProbeStride - 1) / kCycleProbeStride;
    probes *= probe_shape[k];
  }
  std::vector<FlowEnd<D>> ends(static_cast<std::size_t>(probes));
  auto probe_node = [&](Index p) {
    MultiIndex<D> m;
    for (int k = D - 1; k >= 0; --k) {
      m[k] = (p % probe_shape[k]) * kCycleProbeStride;
      p /= probe_shape[k];
    }
    return m;
  };
  stopped = parallel_for(
      probes, threads, 16,
      [&](Index p, int, const std::atomic<bool>&) {
        ends[std::size_t(p)] = flow.follow(grid.point(probe_node(p)), targets);
      },
      interrupted);
  std::vector<std::uint8_t> cells(std::size_t(grid.size()), 0);
  for (const FlowEnd<D>& end : ends) steps += end.steps;
  if (stopped) return cells;
  for (const FlowEnd<D>& end : ends) {
    if (end.reason != FlowStop::Cycle) continue;
    MultiIndex<D> cell;
    Vec<D> frac;
    grid.locate(end.point, cell, frac);
    if (cells[std::size_t(grid.flat(cell))]) continue;
    flow.mark_cycle(end.point, end.steps + Flow<D>::kFirstMark, cells);
  }
  return cells;
}

// Basin labels: the target the flow from each node reaches (-1 if none),
// and why it stopped, one per node; `steps` (optional) gets the RK4 steps
// taken in all (the work done, the probes' included). True if
// interrupted. Probes find the stable closed orbits first (cycle_cells),
// so that trajectories end as Cycle within a cell of them rather than
// after converging onto them.
template <int D>
bool basin_labels(const Flow<D>& flow, const std::vector<Vec<D>>& targets, std::int32_t* labels,
                  std::uint8_t* reasons, int threads, const std::function<bool()>& interrupted = {},
                  std::int64_t* steps = nullptr) {
  const Grid<D>& grid = flow.grid();
  bool stopped = false;
  std::int64_t probe_steps = 0;
  const std::vector<std::uint8_t> cycles = cycle_cells<D>(flow, targets, threads, interrupted, stopped, probe_steps);
  if (stopped) return true;
  const bool any = std::find(cycles.begin(), cycles.end(), std::uint8_t(1)) != cycles.end();
  std::atomic<std::int64_t> taken{probe_steps};
  stopped = parallel_for(
      grid.size(), threads, kFlowBlock,
      [&](Index i, int, const std::atomic<bool>&) {
        const FlowEnd<D> end = flow.follow(grid.point(grid.unflat(i)), targets, any ? &cycles : nullptr);
        labels[i] = end.target;
        reasons[i] = std::uint8_t(end.reason);
        taken.fetch_add(end.steps, std::memory_order_relaxed);
      },
      interrupted);
  if (steps) *steps = taken.load();
  return stopped;
}

}  // namespace hjqp
