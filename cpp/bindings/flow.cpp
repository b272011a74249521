// hjqp._core: the flow x' = b(x) over a sampled drift (flow.hpp).
#include "common.hpp"
#include "hjqp/flow.hpp"

namespace hjqp_bindings {
namespace {

struct FlowEnds {
  py::array_t<double> points;        // (n, D): where each trajectory ended
  py::array_t<std::uint8_t> reasons;  // (n,): why (FlowStop)
  py::array_t<std::int32_t> targets;  // (n,): the target reached, -1 if none
  py::array_t<std::int64_t> steps;    // (n,)
};

struct BasinLabels {
  py::array_t<std::int32_t> labels;   // grid shape: the target each node's trajectory reaches, -1 if none
  py::array_t<std::uint8_t> reasons;  // grid shape: why it stopped (FlowStop)
  std::int64_t steps = 0;             // RK4 steps taken in all
};

hjqp::FlowOptions flow_options(double step_cells, double max_dt, double stall_speed, double capture_radius,
                               std::int64_t max_steps) {
  hjqp::FlowOptions o;
  o.step_cells = step_cells;
  o.max_dt = max_dt;
  o.stall_speed = stall_speed;
  o.capture_radius = capture_radius;
  o.max_steps = max_steps;
  return o;
}

template <int D>
FlowEnds flow_ends(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                   const DoubleArray& starts, const DoubleArray& targets, double step_cells, double max_dt,
                   double stall_speed, double capture_radius, std::int64_t max_steps, int threads) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  const hjqp::Flow<D> flow(grid, drift.data(), flow_options(step_cells, max_dt, stall_speed, capture_radius, max_steps));
  const std::vector<hjqp::Vec<D>> x0 = points_from<D>(starts, "starts");
  const std::vector<hjqp::Vec<D>> tg = points_from<D>(targets, "targets");
  const py::ssize_t n = py::ssize_t(x0.size());
  FlowEnds out{py::array_t<double>(std::vector<py::ssize_t>{n, D}), py::array_t<std::uint8_t>(n),
               py::array_t<std::int32_t>(n), py::array_t<std::int64_t>(n)};
  double* e = out.points.mutable_data();
  std::uint8_t* r = out.reasons.mutable_data();
  std::int32_t* t = out.targets.mutable_data();
  std::int64_t* s = out.steps.mutable_data();
  without_gil([&](const std::function<bool()>& check) { hjqp::flow_ends<D>(flow, x0, tg, e, r, t, s, threads, check); });
  return out;
}

template <int D>
BasinLabels basin_labels(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                         const DoubleArray& targets, double step_cells, double max_dt, double stall_speed,
                         double capture_radius, std::int64_t max_steps, int threads) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  const hjqp::Flow<D> flow(grid, drift.data(), flow_options(step_cells, max_dt, stall_speed, capture_radius, max_steps));
  const std::vector<hjqp::Vec<D>> tg = points_from<D>(targets, "targets");
  BasinLabels out{grid_array<std::int32_t>(grid), grid_array<std::uint8_t>(grid)};
  std::int32_t* l = out.labels.mutable_data();
  std::uint8_t* r = out.reasons.mutable_data();
  std::int64_t* steps = &out.steps;
  without_gil([&](const std::function<bool()>& check) { hjqp::basin_labels<D>(flow, tg, l, r, threads, check, steps); });
  return out;
}

}  // namespace

void bind_flow(py::module_& m) {
  py::class_<FlowEnds>(m, "FlowEnds", "Where trajectories of x' = b(x) ended, why, the target reached, the steps.")
      .def_readonly("points", &FlowEnds::points)
      .def_readonly("reasons", &FlowEnds::reasons)
      .def_readonly("targets", &FlowEnds::targets)
      .def_readonly("steps", &FlowEnds::steps);
  py::class_<BasinLabels>(m, "BasinLabels", "The target each node's trajectory reaches, why it stopped, and the steps taken in all.")
      .def_readonly("labels", &BasinLabels::labels)
      .def_readonly("reasons", &BasinLabels::reasons)
      .def_readonly("steps", &BasinLabels::steps);
  const char* ends_doc = "Follow x' = b(x) from points (n, d).";
  const char* basins_doc = "Basin labels of all nodes: the target each one's trajectory reaches.";
  m.def("flow_ends2", &flow_ends<2>, py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("starts"),
        py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"), py::arg("stall_speed"),
        py::arg("capture_radius"), py::arg("max_steps"), py::arg("threads"), ends_doc);
  m.def("flow_ends3", &flow_ends<3>, py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("starts"),
        py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"), py::arg("stall_speed"),
        py::arg("capture_radius"), py::arg("max_steps"), py::arg("threads"), ends_doc);
  m.def("basin_labels2", &basin_labels<2>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"), py::arg("stall_speed"),
        py::arg("capture_radius"), py::arg("max_steps"), py::arg("threads"), basins_doc);
  m.def("basin_labels3", &basin_labels<3>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"), py::arg("stall_speed"),
        py::arg("capture_radius"), py::arg("max_steps"), py::arg("threads"), basins_doc);
}

}  // namespace hjqp_bindings
