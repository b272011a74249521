// hjqp._core: the quasi-potential march.
#include <vector>

#include "common.hpp"
#include "hjqp/ordered_march.hpp"
#include "hjqp/quasipotential.hpp"

namespace hjqp_bindings {
namespace {

struct MarchResult {
  py::array_t<double> values;     // grid shape
  py::array_t<double> gradients;  // grid shape + (D,)
  py::array_t<std::uint8_t> rules;
  py::array_t<std::uint8_t> truncated;  // grid shape: 1 where MarchStats::truncated_traces counted the node
  hjqp::MarchStats stats;
};

template <int D>
MarchResult march(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                  const DoubleArray& diffusion, const IndexArray& seed_nodes, const DoubleArray& seed_values,
                  const DoubleArray& seed_gradients, double update_radius, double max_turn, double max_value,
                  const std::optional<MaskArray>& absorbing, bool expansions) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  if (absorbing) check_field_shape<D>(*absorbing, grid, 0, "absorbing");
  // The diffusion: a (D, D) matrix, the same at every node; grid shape +
  // (D, D), a full matrix per node; or grid shape + (D (D + 1) / 2,), the
  // packed upper triangle of a symmetric one (rows of the triangle in
  // order: D00, D01, .., D11, ..).
  hjqp::DiffusionLayout layout = hjqp::DiffusionLayout::Full;
  if (diffusion.ndim() == 2) {
    layout = hjqp::DiffusionLayout::Constant;
    if (diffusion.shape(0) != D || diffusion.shape(1) != D)
      throw std::invalid_argument("a constant diffusion must have shape (" + std::to_string(D) + ", " +
                                  std::to_string(D) + "), got " + shape_str(diffusion));
  } else if (diffusion.ndim() == D + 1) {
    layout = hjqp::DiffusionLayout::Packed;
    check_field_shape<D>(diffusion, grid, 0, "diffusion", hjqp::sym_size<D>);
  } else {
    check_field_shape<D>(diffusion, grid, 2, "diffusion");
  }
  const py::ssize_t n_seeds = check_seeds<D>(seed_nodes, seed_values, seed_gradients);

  MarchResult out{grid_array<double>(grid), grid_array<double>(grid, {D}), grid_array<std::uint8_t>(grid),
                  grid_array<std::uint8_t>(grid), {}};
  hjqp::MarchOptions options;
  options.update_radius = update_radius;
  options.max_turn = max_turn;
  options.max_value = max_value;
  options.expansions = expansions;
  const double* b = drift.data();
  const double* d = diffusion.data();
  const std::int64_t* nodes = seed_nodes.data();
  const double* sv = seed_values.data();
  const double* sg = seed_gradients.data();
  double* u = out.values.mutable_data();
  double* g = out.gradients.mutable_data();
  std::uint8_t* r = out.rules.mutable_data();
  std::uint8_t* cut = out.truncated.mutable_data();
  const std::uint8_t* mask = absorbing ? absorbing->data() : nullptr;
  without_gil([&](const std::function<bool()>& check) {
    const hjqp::SampledFields<D> fields(grid, b, d, layout);
    hjqp::QuasiPotentialMarch<D> qp(fields, u, g, r, options);
    if (mask) qp.set_absorbing(mask);
    for (py::ssize_t i = 0; i < n_seeds; ++i) {
      hjqp::Vec<D> grad;
      for (int k = 0; k < D; ++k) grad[k] = sg[i * D + k];
      qp.seed(nodes[i], sv[i], grad);
    }
    try {
      out.stats = qp.run(check);
    } catch (const hjqp::Interrupted&) {
      // without_gil raises the KeyboardInterrupt.
    }
    for (hjqp::Index i = 0; i < grid.size(); ++i) cut[i] = qp.truncated(i) ? 1 : 0;
  });
  return out;
}

// hjqp::scan_fields on the sampled drift (n, D) and diffusion (n, D (D + 1)
// / 2) packed or (n, D, D): (clear, (largest |b|^2, b^T A b, |A b|^2),
// moving).
template <int D>
py::tuple scan_fields(const DoubleArray& drift, const DoubleArray& diffusion, double limit) {
  constexpr int S = hjqp::sym_size<D>;
  const bool packed = diffusion.ndim() == 2;
  if (drift.ndim() != 2 || drift.shape(1) != D)
    throw std::invalid_argument("drift must have shape (n, " + std::to_string(D) + "), got " + shape_str(drift));
  const py::ssize_t n = drift.shape(0);
  if (packed ? diffusion.shape(0) != n || diffusion.shape(1) != S
             : diffusion.ndim() != 3 || diffusion.shape(0) != n || diffusion.shape(1) != D || diffusion.shape(2) != D)
    throw std::invalid_argument("diffusion must have shape (n, " + std::to_string(S) + ") or (n, " +
                                std::to_string(D) + ", " + std::to_string(D) + ") for n = " + std::to_string(n) +
                                ", got " + shape_str(diffusion));
  const double* b = drift.data();
  const double* d = diffusion.data();
  hjqp::FieldScan scan;
  {
    py::gil_scoped_release release;
    scan = hjqp::scan_fields<D>(b, d, packed, n, limit);
  }
  return py::make_tuple(scan.clear, py::make_tuple(scan.largest[0], scan.largest[1], scan.largest[2]), scan.moving);
}

// hjqp::jump_cells on values (*shape, E): uint8 (*shape).
py::array_t<std::uint8_t> jump_cells(const DoubleArray& values, int ndim, double ratio, int reach, double floor) {
  if (ndim < 1 || values.ndim() != ndim + 1)
    throw std::invalid_argument("values must have ndim + 1 axes (the last one the entries), got " +
                                shape_str(values));
  if (reach < 2) throw std::invalid_argument("reach must be at least 2");
  std::vector<py::ssize_t> shape(static_cast<std::size_t>(ndim));
  std::vector<hjqp::Index> dims(static_cast<std::size_t>(ndim));
  for (int a = 0; a < ndim; ++a) shape[std::size_t(a)] = dims[std::size_t(a)] = values.shape(a);
  py::array_t<std::uint8_t> out(shape);
  const double* v = values.data();
  std::uint8_t* marked = out.mutable_data();
  const hjqp::Index entries = values.shape(ndim);
  {
    py::gil_scoped_release release;
    hjqp::jump_cells(v, dims, entries, ratio, reach, floor, marked);
  }
  return out;
}

}  // namespace

void bind_march(py::module_& m) {
  py::class_<hjqp::MarchStats>(m, "MarchStats", "Counts from a quasi-potential march.")
      .def_readonly("accepted", &hjqp::MarchStats::accepted)
      .def_readonly("jet", &hjqp::MarchStats::jet)
      .def_readonly("pinned_jet", &hjqp::MarchStats::pinned_jet)
      .def_readonly("neighbour", &hjqp::MarchStats::neighbour)
      .def_readonly("jet_updates", &hjqp::MarchStats::jet_updates)
      .def_readonly("retraced", &hjqp::MarchStats::retraced)
      .def_readonly("truncated_traces", &hjqp::MarchStats::truncated_traces);
  py::class_<MarchResult>(m, "MarchResult", "values, gradients, rules (UpdateRule codes), truncated (nodes whose characteristic trace was cut short) and stats of a march.")
      .def_readonly("values", &MarchResult::values)
      .def_readonly("gradients", &MarchResult::gradients)
      .def_readonly("rules", &MarchResult::rules)
      .def_readonly("truncated", &MarchResult::truncated)
      .def_readonly("stats", &MarchResult::stats);
  const char* doc =
      "March the quasi-potential on a grid from seeded 1-jets. The diffusion is\n"
      "a (d, d) matrix, (*shape, d, d) or packed (*shape, d (d + 1) / 2): the\n"
      "upper triangle row by row. Nodes where\n"
      "`absorbing` is nonzero receive values but do not propagate them.";
  m.def("march2d", &march<2>, py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("diffusion"),
        py::arg("seed_nodes"), py::arg("seed_values"), py::arg("seed_gradients"), py::arg("update_radius"),
        py::arg("max_turn"), py::arg("max_value"), py::arg("absorbing") = py::none(),
        py::arg("expansions") = true, doc);
  m.def("march3d", &march<3>, py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("diffusion"),
        py::arg("seed_nodes"), py::arg("seed_values"), py::arg("seed_gradients"), py::arg("update_radius"),
        py::arg("max_turn"), py::arg("max_value"), py::arg("absorbing") = py::none(),
        py::arg("expansions") = true, doc);
  const char* scan_doc =
      "(clear, (largest |b|^2, b^T D^-1 b, |D^-1 b|^2), moving): whether the sampled drift (n, d) and\n"
      "diffusion (n, d (d + 1) / 2) packed or (n, d, d) pass, with a margin, the checks made before a\n"
      "march (finite, D positive definite and invertible, squares below half `limit`).";
  m.def("scan_fields2", &scan_fields<2>, py::arg("drift"), py::arg("diffusion"), py::arg("limit"), scan_doc);
  m.def("scan_fields3", &scan_fields<3>, py::arg("drift"), py::arg("diffusion"), py::arg("limit"), scan_doc);
  m.def("jump_cells", &jump_cells, py::arg("values"), py::arg("ndim"), py::arg("ratio"), py::arg("reach"),
        py::arg("floor"),
        "uint8 (*shape): the two nodes of each cell whose difference marks a jump of the field `values`\n"
        "(*shape, E) (hjqp.problem.fields.jump_nodes before its growth to the 3^d box).");
  m.attr("UPDATE_RADIUS_RANGE") = py::make_tuple(hjqp::kUpdateRadiusRange[0], hjqp::kUpdateRadiusRange[1]);
  m.attr("MAX_TURN_RANGE") = py::make_tuple(hjqp::kMaxTurnRange[0], hjqp::kMaxTurnRange[1]);
}

}  // namespace hjqp_bindings
