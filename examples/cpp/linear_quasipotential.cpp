// The hjqp kernel from C++, without Python: the quasi-potential of the
// linear rotational test b = (-2x - 10y, 20x - y), D = I on [-1, 1]^2,
// whose exact quasi-potential is U = 2x^2 + y^2.
//
// The march starts from the exact 1-jet on the nodes where U <= 0.01, a
// disc of a few cells around the attractor (the Python package computes
// such initial data itself, from the Lyapunov equation and nested refined
// grids, for any problem).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "hjqp/hjqp.hpp"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 257;
  const double h = 2.0 / (n - 1);
  const hjqp::Grid<2> grid({-1.0, -1.0}, {h, h}, {n, n});

  std::vector<double> drift(std::size_t(grid.size()) * 2);
  for (hjqp::Index i = 0; i < grid.size(); ++i) {
    const hjqp::Vec<2> p = grid.point(grid.unflat(i));
    drift[2 * i] = -2 * p[0] - 10 * p[1];
    drift[2 * i + 1] = 20 * p[0] - p[1];
  }
  const double identity[4] = {1, 0, 0, 1};
  const hjqp::SampledFields<2> fields(grid, drift.data(), identity, hjqp::DiffusionLayout::Constant);

  std::vector<double> u(std::size_t(grid.size()));
  std::vector<double> grad(std::size_t(grid.size()) * 2);
  std::vector<std::uint8_t> rules(std::size_t(grid.size()));  // hjqp::UpdateRule of each node
  hjqp::QuasiPotentialMarch<2> marcher(fields, u.data(), grad.data(), rules.data(), hjqp::MarchOptions{});
  for (hjqp::Index i = 0; i < grid.size(); ++i) {
    const hjqp::Vec<2> p = grid.point(grid.unflat(i));
    const double exact = 2 * p[0] * p[0] + p[1] * p[1];
    if (exact <= 0.01) marcher.seed(i, exact, {4 * p[0], 2 * p[1]});
  }
  const hjqp::MarchStats stats = marcher.run();

  double worst = 0.0;
  for (hjqp::Index i = 0; i < grid.size(); ++i) {
    const hjqp::Vec<2> p = grid.point(grid.unflat(i));
    const double exact = 2 * p[0] * p[0] + p[1] * p[1];
    if (exact <= 0.9) worst = std::fmax(worst, std::fabs(u[std::size_t(i)] - exact));
  }
  std::printf("n = %d: %lld nodes accepted, max error on {U <= 0.9}: %.3e\n", n,
              static_cast<long long>(stats.accepted), worst);
  return worst < 1e-2 ? 0 : 1;  // a sanity bound; see the printed error
}
