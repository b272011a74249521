// An eikonal problem and its solution: the march from the zero level set
// of a function or from a factored point source (eikonal/march.hpp).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "hjqp/eikonal/level_set.hpp"
#include "hjqp/eikonal/march.hpp"
#include "hjqp/grid.hpp"

namespace hjqp {

// On a grid whose first node is the origin: the slowness (one value, or one
// per node), the metric (none: the identity; one packed SPD matrix; or one
// per node), obstacles (nullptr or one flag per node), and the source:
// the zero level set of phi (one value per node), or, when phi is null, the
// point `source` with the slowness and metric there. The arrays must
// outlive the solve.
template <int D>
struct EikonalProblem {
  const Grid<D>& grid;
  const double* slowness;
  bool slowness_constant = false;
  const double* metric = nullptr;
  bool metric_constant = false;
  const std::uint8_t* obstacle = nullptr;
  const double* phi = nullptr;
  Vec<D> source{};
  double source_slowness = 1.0;
  Sym<D> source_metric{};
  EikonalOptions<D> options{};
};

struct EikonalSolution {
  EikonalStats stats;
  Index seeds = 0;  // level-set seeds (0 for a point source)
};

// Solve into values (grid.size()). `interrupted` is polled during the
// march and the sweeps; when it returns true the solve throws Interrupted.
template <int D, class Check>
EikonalSolution solve_eikonal(const EikonalProblem<D>& p, double* values, const Check& interrupted) {
  EikonalMarch<D> march(p.grid, p.slowness, p.slowness_constant, p.metric, p.metric_constant, p.obstacle,
                        values, p.options);
  EikonalSolution out;
  if (p.phi) {
    std::vector<Index> nodes;
    std::vector<double> seed_values;
    level_set_seeds<D>(p.grid, p.phi, p.slowness, p.slowness_constant, p.metric, p.metric_constant,
                       p.obstacle, p.options.periodic, nodes, seed_values);
    if (nodes.empty()) throw std::invalid_argument("phi has no zero level set outside the obstacles");
    march.set_sides(p.phi);
    for (std::size_t i = 0; i < nodes.size(); ++i) march.seed(nodes[i], seed_values[i]);
    out.seeds = Index(nodes.size());
  } else {
    march.seed_point(p.source, p.source_slowness, p.source_metric);
  }
  out.stats = march.run(interrupted);
  return out;
}

}  // namespace hjqp
