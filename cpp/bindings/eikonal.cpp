// hjqp._core: the eikonal solver (eikonal/solve.hpp).
#include "common.hpp"
#include "hjqp/eikonal/solve.hpp"

namespace hjqp_bindings {
namespace {

struct EikonalResult {
  py::array_t<double> values;
  hjqp::EikonalStats stats;
  hjqp::Index seeds = 0;
};

template <int D>
EikonalResult eikonal(const DoubleArray& spacing, const std::vector<hjqp::Index>& shape, const DoubleArray& slowness,
                      const std::optional<DoubleArray>& metric, const std::optional<MaskArray>& obstacle,
                      const std::optional<DoubleArray>& phi, const std::optional<DoubleArray>& source,
                      double source_slowness, const std::optional<DoubleArray>& source_metric, int order,
                      double max_value, const std::vector<bool>& periodic, int max_sweeps) {
  constexpr int S = hjqp::sym_size<D>;
  if (shape.size() != std::size_t(D)) throw std::invalid_argument("shape must have " + std::to_string(D) + " entries");
  if (periodic.size() != std::size_t(D))
    throw std::invalid_argument("periodic must have " + std::to_string(D) + " entries");
  hjqp::MultiIndex<D> mshape;
  for (int k = 0; k < D; ++k) mshape[k] = shape[std::size_t(k)];
  const hjqp::Grid<D> grid(hjqp::Vec<D>{}, vec_from<D>(spacing, "spacing"), mshape);
  const hjqp::Index n = grid.size();
  if (slowness.size() != 1 && slowness.size() != n)
    throw std::invalid_argument("slowness must have 1 or " + std::to_string(n) + " entries, got " +
                                std::to_string(slowness.size()));
  if (metric && metric->size() != S && metric->size() != n * S)
    throw std::invalid_argument("metric must have " + std::to_string(S) + " or " + std::to_string(n * S) +
                                " packed entries, got " + std::to_string(metric->size()));
  if (obstacle && obstacle->size() != n) throw std::invalid_argument("obstacle must have " + std::to_string(n) + " entries");
  if (bool(phi) == bool(source)) throw std::invalid_argument("give exactly one of phi and source");
  if (phi && phi->size() != n) throw std::invalid_argument("phi must have " + std::to_string(n) + " entries");

  hjqp::EikonalProblem<D> problem{grid, slowness.data(), slowness.size() == 1};
  problem.metric = metric ? metric->data() : nullptr;
  problem.metric_constant = metric && metric->size() == S;
  problem.obstacle = obstacle ? obstacle->data() : nullptr;
  problem.phi = phi ? phi->data() : nullptr;
  problem.options.order = order;
  problem.options.max_value = max_value;
  problem.options.max_sweeps = max_sweeps;
  for (int k = 0; k < D; ++k) problem.options.periodic[std::size_t(k)] = periodic[std::size_t(k)];
  if (source) {
    problem.source = vec_from<D>(*source, "source");
    problem.source_slowness = source_slowness;
    if (!source_metric || source_metric->size() != S)
      throw std::invalid_argument("source_metric must have " + std::to_string(S) + " packed entries");
    for (int c = 0; c < S; ++c) problem.source_metric[c] = source_metric->data()[c];
  }
  EikonalResult out{py::array_t<double>(std::vector<py::ssize_t>(shape.begin(), shape.end())), {}, 0};
  double* u = out.values.mutable_data();
  without_gil([&](const std::function<bool()>& check) {
    try {
      const hjqp::EikonalSolution solution = hjqp::solve_eikonal<D>(problem, u, check);
      out.stats = solution.stats;
      out.seeds = solution.seeds;
    } catch (const hjqp::Interrupted&) {
      // without_gil raises the KeyboardInterrupt.
    }
  });
  return out;
}

}  // namespace

void bind_eikonal(py::module_& m) {
  py::class_<hjqp::EikonalStats>(m, "EikonalStats", "Counts from an eikonal march and its sweeps.")
      .def_readonly("accepted", &hjqp::EikonalStats::accepted)
      .def_readonly("sweeps", &hjqp::EikonalStats::sweeps)
      .def_readonly("swept_nodes", &hjqp::EikonalStats::swept_nodes)
      .def_readonly("converged", &hjqp::EikonalStats::converged);
  py::class_<EikonalResult>(m, "EikonalResult", "values, stats and the number of level-set seeds of an eikonal solve.")
      .def_readonly("values", &EikonalResult::values)
      .def_readonly("stats", &EikonalResult::stats)
      .def_readonly("seeds", &EikonalResult::seeds);
  const char* doc =
      "Fast marching for |grad u|_{M^-1} = s on a grid whose first node is the origin,\n"
      "from the zero level set of phi or from a factored point source.";
  m.def("eikonal2", &eikonal<2>, py::arg("spacing"), py::arg("shape"), py::arg("slowness"),
        py::arg("metric") = py::none(), py::arg("obstacle") = py::none(), py::arg("phi") = py::none(),
        py::arg("source") = py::none(), py::arg("source_slowness") = 1.0, py::arg("source_metric") = py::none(),
        py::arg("order") = 2, py::arg("max_value") = std::numeric_limits<double>::infinity(),
        py::arg("periodic") = std::vector<bool>{false, false}, py::arg("max_sweeps") = 200, doc);
  m.def("eikonal3", &eikonal<3>, py::arg("spacing"), py::arg("shape"), py::arg("slowness"),
        py::arg("metric") = py::none(), py::arg("obstacle") = py::none(), py::arg("phi") = py::none(),
        py::arg("source") = py::none(), py::arg("source_slowness") = 1.0, py::arg("source_metric") = py::none(),
        py::arg("order") = 2, py::arg("max_value") = std::numeric_limits<double>::infinity(),
        py::arg("periodic") = std::vector<bool>{false, false, false}, py::arg("max_sweeps") = 200, doc);
}

}  // namespace hjqp_bindings
