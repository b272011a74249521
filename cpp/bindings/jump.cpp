// hjqp._core: the march of Hamiltonians of the exponential family and their
// geometric action at points.
#include "common.hpp"
#include "hjqp/jump.hpp"
#include "hjqp/jump_march.hpp"

namespace hjqp_bindings {
namespace {

struct JumpMarchResult {
  py::array_t<double> values;     // grid shape
  py::array_t<double> gradients;  // grid shape + (D,)
  py::array_t<std::uint8_t> rules;
  hjqp::JumpMarchStats stats;
};

// weights (*shape, R); jumps (R, D) or (*shape, R, D).
template <int D>
int check_jumps(const DoubleArray& weights, const DoubleArray& jumps, const hjqp::Grid<D>& grid, bool& constant) {
  if (weights.ndim() != D + 1)
    throw std::invalid_argument("weights must have shape grid.shape + (R,), got " + shape_str(weights));
  for (int k = 0; k < D; ++k)
    if (weights.shape(k) != grid.shape()[k])
      throw std::invalid_argument("weights must have shape grid.shape + (R,), got " + shape_str(weights));
  const py::ssize_t count = weights.shape(D);
  if (count < 1 || count > (1 << 20)) throw std::invalid_argument("the number of jumps must lie in [1, 2^20]");
  constant = jumps.ndim() == 2;
  bool ok = constant ? jumps.shape(0) == count && jumps.shape(1) == D : jumps.ndim() == D + 2;
  for (int k = 0; ok && !constant && k < D; ++k) ok = jumps.shape(k) == grid.shape()[k];
  if (ok && !constant) ok = jumps.shape(D) == count && jumps.shape(D + 1) == D;
  if (!ok)
    throw std::invalid_argument("jumps must have shape (" + std::to_string(count) + ", " + std::to_string(D) +
                                ") or grid.shape + (" + std::to_string(count) + ", " + std::to_string(D) +
                                "), got " + shape_str(jumps));
  return int(count);
}

template <int D>
JumpMarchResult jump_march(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& weights,
                           const DoubleArray& jumps, const IndexArray& seed_nodes, const DoubleArray& seed_values,
                           const DoubleArray& seed_gradients, int update_radius, double max_value,
                           const std::optional<MaskArray>& absorbing) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, weights, "weights");
  bool constant = false;
  const int count = check_jumps<D>(weights, jumps, grid, constant);
  if (absorbing) check_field_shape<D>(*absorbing, grid, 0, "absorbing");
  const py::ssize_t n_seeds = check_seeds<D>(seed_nodes, seed_values, seed_gradients);
  JumpMarchResult out{grid_array<double>(grid), grid_array<double>(grid, {D}), grid_array<std::uint8_t>(grid), {}};
  hjqp::JumpMarchOptions options;
  options.update_radius = update_radius;
  options.max_value = max_value;
  const double* w = weights.data();
  const double* nu = jumps.data();
  const std::int64_t* nodes = seed_nodes.data();
  const double* sv = seed_values.data();
  const double* sg = seed_gradients.data();
  double* u = out.values.mutable_data();
  double* g = out.gradients.mutable_data();
  std::uint8_t* r = out.rules.mutable_data();
  const std::uint8_t* mask = absorbing ? absorbing->data() : nullptr;
  without_gil([&](const std::function<bool()>& check) {
    const hjqp::JumpFields<D> fields(grid, count, w, nu, constant);
    hjqp::JumpMarch<D> march(fields, u, g, r, options);
    if (mask) march.set_absorbing(mask);
    for (py::ssize_t i = 0; i < n_seeds; ++i) {
      hjqp::Vec<D> grad;
      for (int k = 0; k < D; ++k) grad[k] = sg[i * D + k];
      march.seed(nodes[i], sv[i], grad);
    }
    try {
      out.stats = march.run(check);
    } catch (const hjqp::Interrupted&) {
      // without_gil raises the KeyboardInterrupt.
    }
  });
  return out;
}

// h(x_i, v_i) and the momenta p*(x_i, v_i) for n points, each with its own
// weights (n, R) and jumps (n, R, D) or shared jumps (R, D).
template <int D>
py::tuple jump_support(const DoubleArray& weights, const DoubleArray& jumps, const DoubleArray& velocities) {
  if (weights.ndim() != 2) throw std::invalid_argument("weights must have shape (n, R), got " + shape_str(weights));
  const py::ssize_t n = weights.shape(0), count = weights.shape(1);
  if (count < 1) throw std::invalid_argument("there must be at least one jump");
  const bool constant = jumps.ndim() == 2;
  const bool ok = constant ? jumps.shape(0) == count && jumps.shape(1) == D
                           : jumps.ndim() == 3 && jumps.shape(0) == n && jumps.shape(1) == count && jumps.shape(2) == D;
  if (!ok) throw std::invalid_argument("jumps must have shape (R, D) or (n, R, D), got " + shape_str(jumps));
  if (velocities.ndim() != 2 || velocities.shape(0) != n || velocities.shape(1) != D)
    throw std::invalid_argument("velocities must have shape (" + std::to_string(n) + ", " + std::to_string(D) +
                                "), got " + shape_str(velocities));
  for (py::ssize_t i = 0; i < n * count; ++i)
    if (!(weights.data()[i] >= 0.0) || !std::isfinite(weights.data()[i]))
      throw std::invalid_argument("weights must be finite and non-negative");
  for (py::ssize_t i = 0; i < jumps.size(); ++i)
    if (!std::isfinite(jumps.data()[i])) throw std::invalid_argument("jumps must be finite");
  py::array_t<double> values(n);
  py::array_t<double> momenta(std::vector<py::ssize_t>{n, D});
  double* hv = values.mutable_data();
  double* pm = momenta.mutable_data();
  const double* w = weights.data();
  const double* nu = jumps.data();
  const double* v = velocities.data();
  const std::vector<std::array<int, 2>> terms = hjqp::jump_terms(int(count), D, nu, constant);
  {
    py::gil_scoped_release release;
    for (py::ssize_t i = 0; i < n; ++i) {
      const hjqp::JumpSet<D> set{int(count), w + i * count, constant ? nu : nu + i * count * D, int(terms.size()),
                                 terms.data()};
      hjqp::Vec<D> vi;
      for (int k = 0; k < D; ++k) vi[k] = v[i * D + k];
      const hjqp::Support<D> s = hjqp::support_of<D>(set, vi);
      hv[i] = s.value;
      for (int k = 0; k < D; ++k) pm[i * D + k] = s.momentum[k];
    }
  }
  return py::make_tuple(values, momenta);
}

}  // namespace

void bind_jump(py::module_& m) {
  py::class_<hjqp::JumpMarchStats>(m, "JumpMarchStats", "Counts from a jump-Hamiltonian march.")
      .def_readonly("accepted", &hjqp::JumpMarchStats::accepted)
      .def_readonly("updates", &hjqp::JumpMarchStats::updates)
      .def_readonly("supports", &hjqp::JumpMarchStats::supports)
      .def_readonly("unreachable", &hjqp::JumpMarchStats::unreachable)
      .def_readonly("dual", &hjqp::JumpMarchStats::dual)
      .def_readonly("linear_edges", &hjqp::JumpMarchStats::linear_edges);
  py::class_<JumpMarchResult>(m, "JumpMarchResult", "values, gradients, rules and stats of a jump march.")
      .def_readonly("values", &JumpMarchResult::values)
      .def_readonly("gradients", &JumpMarchResult::gradients)
      .def_readonly("rules", &JumpMarchResult::rules)
      .def_readonly("stats", &JumpMarchResult::stats);
  const char* doc =
      "March the quasi-potential of H = sum_r w_r (exp(<p, nu_r>) - 1) from seeded\n"
      "1-jets. weights: grid.shape + (R,); jumps: (R, d) or grid.shape + (R, d).";
  m.def("jump_march2d", &jump_march<2>, py::arg("lower"), py::arg("spacing"), py::arg("weights"), py::arg("jumps"),
        py::arg("seed_nodes"), py::arg("seed_values"), py::arg("seed_gradients"), py::arg("update_radius"),
        py::arg("max_value"), py::arg("absorbing") = py::none(), doc);
  m.def("jump_march3d", &jump_march<3>, py::arg("lower"), py::arg("spacing"), py::arg("weights"), py::arg("jumps"),
        py::arg("seed_nodes"), py::arg("seed_values"), py::arg("seed_gradients"), py::arg("update_radius"),
        py::arg("max_value"), py::arg("absorbing") = py::none(), doc);
  const char* sdoc =
      "The geometric action h(x, v) = sup {<p, v> : H(x, p) <= 0} and its maximiser p\n"
      "at n points: weights (n, R), jumps (R, d) or (n, R, d), velocities (n, d).\n"
      "Returns (h (n,), p (n, d)); h = inf outside the cone of the jumps.";
  m.def("jump_support2d", &jump_support<2>, py::arg("weights"), py::arg("jumps"), py::arg("velocities"), sdoc);
  m.def("jump_support3d", &jump_support<3>, py::arg("weights"), py::arg("jumps"), py::arg("velocities"), sdoc);
  m.attr("JUMP_RADIUS_RANGE") = py::make_tuple(hjqp::kJumpRadiusRange[0], hjqp::kJumpRadiusRange[1]);
}

}  // namespace hjqp_bindings
