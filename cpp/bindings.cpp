// pybind11 module hjqp._core: converts arrays, releases the GIL around the
// march, polls for KeyboardInterrupt and maps C++ errors to Python ones.
// No numerics here: everything is in cpp/include/hjqp/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hjqp/hjqp.hpp"

namespace py = pybind11;

namespace {

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using MaskArray = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) s += (k ? ", " : "") + std::to_string(a.shape(k));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <int D>
hjqp::Vec<D> vec_from(const DoubleArray& a, const char* name) {
  if (a.ndim() != 1 || a.shape(0) != D)
    throw std::invalid_argument(std::string(name) + " must have shape (" + std::to_string(D) +
                                ",), got " + shape_str(a));
  hjqp::Vec<D> v;
  for (int k = 0; k < D; ++k) v[k] = a.data()[k];
  return v;
}

template <int D>
hjqp::Grid<D> grid_from(const DoubleArray& lower, const DoubleArray& spacing,
                        const py::array& field, const char* name) {
  if (field.ndim() < D)
    throw std::invalid_argument(std::string(name) + " has too few dimensions: " + shape_str(field));
  hjqp::MultiIndex<D> shape;
  for (int k = 0; k < D; ++k) shape[k] = field.shape(k);
  return hjqp::Grid<D>(vec_from<D>(lower, "lower"), vec_from<D>(spacing, "spacing"), shape);
}

template <int D>
void check_field_shape(const py::array& a, const hjqp::Grid<D>& grid, int trailing_dims,
                       const char* name) {
  bool ok = a.ndim() == D + trailing_dims;
  for (int k = 0; ok && k < D; ++k) ok = a.shape(k) == grid.shape()[k];
  for (int k = 0; ok && k < trailing_dims; ++k) ok = a.shape(D + k) == D;
  if (!ok) {
    std::string want = "(";
    for (int k = 0; k < D; ++k) want += std::to_string(grid.shape()[k]) + ", ";
    for (int k = 0; k < trailing_dims; ++k) want += std::to_string(D) + ", ";
    want = want.substr(0, want.size() - 2) + ")";
    throw std::invalid_argument(std::string(name) + " must have shape " + want + ", got " +
                                shape_str(a));
  }
}

template <int D>
py::tuple march(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                const DoubleArray& diffusion, const IndexArray& seed_nodes,
                const DoubleArray& seed_values, const DoubleArray& seed_gradients,
                double update_radius, double max_turn, double max_value,
                const std::optional<MaskArray>& absorbing) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  if (absorbing) check_field_shape<D>(*absorbing, grid, 0, "absorbing");
  // A (d, d) diffusion is the same at every node.
  const bool constant = diffusion.ndim() == 2;
  if (!constant) check_field_shape<D>(diffusion, grid, 2, "diffusion");
  else if (diffusion.shape(0) != D || diffusion.shape(1) != D)
    throw std::invalid_argument("a constant diffusion must have shape (" + std::to_string(D) +
                                ", " + std::to_string(D) + "), got " + shape_str(diffusion));
  const py::ssize_t n_seeds = seed_nodes.ndim() == 1 ? seed_nodes.shape(0) : -1;
  if (n_seeds < 1) throw std::invalid_argument("seed_nodes must be a non-empty 1D array");
  if (seed_values.ndim() != 1 || seed_values.shape(0) != n_seeds)
    throw std::invalid_argument("seed_values must have shape (" + std::to_string(n_seeds) +
                                ",), got " + shape_str(seed_values));
  if (seed_gradients.ndim() != 2 || seed_gradients.shape(0) != n_seeds ||
      seed_gradients.shape(1) != D)
    throw std::invalid_argument("seed_gradients must have shape (" + std::to_string(n_seeds) +
                                ", " + std::to_string(D) + "), got " + shape_str(seed_gradients));

  std::vector<py::ssize_t> shape(static_cast<std::size_t>(D), 0);
  for (int k = 0; k < D; ++k) shape[std::size_t(k)] = grid.shape()[k];
  std::vector<py::ssize_t> gshape = shape;
  gshape.push_back(D);
  py::array_t<double> values(shape);
  py::array_t<double> gradients(gshape);
  py::array_t<std::uint8_t> rules(shape);

  hjqp::MarchOptions options;
  options.update_radius = update_radius;
  options.max_turn = max_turn;
  options.max_value = max_value;

  const double* b = drift.data();
  const double* d = diffusion.data();
  const std::int64_t* nodes = seed_nodes.data();
  const double* sv = seed_values.data();
  const double* sg = seed_gradients.data();
  double* u = values.mutable_data();
  double* g = gradients.mutable_data();
  std::uint8_t* r = rules.mutable_data();
  hjqp::MarchStats stats;
  bool interrupted = false;
  {
    py::gil_scoped_release release;
    const hjqp::SampledFields<D> fields(grid, b, d, constant);
    hjqp::Marcher<D> marcher(fields, u, g, options);
    if (absorbing) marcher.set_absorbing(absorbing->data());
    for (py::ssize_t i = 0; i < n_seeds; ++i) {
      hjqp::Vec<D> grad;
      for (int k = 0; k < D; ++k) grad[k] = sg[i * D + k];
      marcher.seed(nodes[i], sv[i], grad);
    }
    auto check = [&interrupted]() {
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) interrupted = true;
      return interrupted;
    };
    try {
      stats = marcher.run(check);
    } catch (const hjqp::Interrupted&) {
      // The Python error set by PyErr_CheckSignals is raised below.
    }
    if (!interrupted)
      for (hjqp::Index i = 0; i < grid.size(); ++i) r[i] = std::uint8_t(marcher.rule(i));
  }
  if (interrupted) throw py::error_already_set();

  py::dict info;
  info["accepted"] = stats.accepted;
  info["jet"] = stats.jet;
  info["pinned_jet"] = stats.pinned_jet;
  info["neighbour"] = stats.neighbour;
  info["jet_updates"] = stats.jet_updates;
  if (D == 3) info["retraced"] = stats.retraced;
  return py::make_tuple(values, gradients, rules, info);
}

// Single local updates, exposed so that tests can compare them with a
// pure-Python reference. Fields are given at the points they are needed.
template <int D>
hjqp::FieldSample<D> sample_from(const DoubleArray& drift, const DoubleArray& diffusion) {
  const hjqp::Vec<D> b = vec_from<D>(drift, "drift");
  if (diffusion.ndim() != 2 || diffusion.shape(0) != D || diffusion.shape(1) != D)
    throw std::invalid_argument("diffusion must have shape (" + std::to_string(D) + ", " +
                                std::to_string(D) + "), got " + shape_str(diffusion));
  hjqp::FieldSample<D> f;
  f.drift = b;
  for (int r = 0; r < D; ++r)
    for (int c = r; c < D; ++c)
      f.diffusion[hjqp::sym_index<D>(r, c)] = diffusion.at(r, c);
  if (!(hjqp::spd_margin<D>(f.diffusion) > 0.0))
    throw std::invalid_argument("diffusion is not symmetric positive definite");
  f.metric = hjqp::inverse<D>(f.diffusion);
  return f;
}

template <int D>
py::tuple result_tuple(const hjqp::UpdateResult<D>& r) {
  py::array_t<double> g(D);
  for (int k = 0; k < D; ++k) g.mutable_data()[k] = r.gradient[k];
  return py::make_tuple(r.value, g, r.s, r.below, r.above);
}

py::tuple one_point_update2(const DoubleArray& y, double uy, const DoubleArray& by,
                            const DoubleArray& dy, const DoubleArray& x, const DoubleArray& bx,
                            const DoubleArray& dx) {
  return result_tuple<2>(hjqp::one_point_update<2>(vec_from<2>(y, "y"), uy, sample_from<2>(by, dy),
                                                   vec_from<2>(x, "x"), sample_from<2>(bx, dx)));
}

py::tuple triangle_update2(const DoubleArray& a, double ua, const DoubleArray& ba,
                           const DoubleArray& da, const DoubleArray& b, double ub,
                           const DoubleArray& bb, const DoubleArray& db, const DoubleArray& x,
                           const DoubleArray& bx, const DoubleArray& dx) {
  return result_tuple<2>(hjqp::triangle_update<2>(
      vec_from<2>(a, "a"), ua, sample_from<2>(ba, da), vec_from<2>(b, "b"), ub,
      sample_from<2>(bb, db), vec_from<2>(x, "x"), sample_from<2>(bx, dx)));
}

py::tuple tetrahedron_update3(const DoubleArray& a, double ua, const DoubleArray& ba,
                              const DoubleArray& da, const DoubleArray& b, double ub,
                              const DoubleArray& bb, const DoubleArray& db, const DoubleArray& c,
                              double uc, const DoubleArray& bc, const DoubleArray& dc,
                              const DoubleArray& x, const DoubleArray& bx, const DoubleArray& dx) {
  const hjqp::UpdateResult<3> r = hjqp::tetrahedron_update<3>(
      vec_from<3>(a, "a"), ua, sample_from<3>(ba, da), vec_from<3>(b, "b"), ub,
      sample_from<3>(bb, db), vec_from<3>(c, "c"), uc, sample_from<3>(bc, dc), vec_from<3>(x, "x"),
      sample_from<3>(bx, dx));
  py::array_t<double> g(3);
  for (int k = 0; k < 3; ++k) g.mutable_data()[k] = r.gradient[k];
  return py::make_tuple(r.value, g, r.s, r.t);
}

// Triangle jet update of x from the triangle of points (3, 3) with values
// (3,), gradients (3, 3), drift (3, 3) and diffusion (3, 3, 3) at its
// vertices. The fields' derivatives at x along each axis k are ddrift[k]
// and dmetric[k] (of A = D^{-1}).
py::tuple triangle_jet_update3(const DoubleArray& points, const DoubleArray& values,
                               const DoubleArray& gradients, const DoubleArray& drift,
                               const DoubleArray& diffusion, const DoubleArray& x,
                               const DoubleArray& bx, const DoubleArray& dx,
                               const DoubleArray& ddrift, const DoubleArray& dmetric, double u0,
                               double v0) {
  auto need = [](const DoubleArray& a, std::vector<py::ssize_t> shape, const char* name) {
    bool ok = a.ndim() == py::ssize_t(shape.size());
    for (std::size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(py::ssize_t(k)) == shape[k];
    if (!ok) throw std::invalid_argument(std::string(name) + " has the wrong shape " + shape_str(a));
  };
  need(points, {3, 3}, "points");
  need(values, {3}, "values");
  need(gradients, {3, 3}, "gradients");
  need(drift, {3, 3}, "drift");
  need(diffusion, {3, 3, 3}, "diffusion");
  need(ddrift, {3, 3}, "ddrift");
  need(dmetric, {3, 3, 3}, "dmetric");
  hjqp::JetTriangle<3> tri;
  for (int i = 0; i < 3; ++i) {
    tri.value[i] = values.at(i);
    py::array_t<double> b({3}), d({3, 3});
    for (int k = 0; k < 3; ++k) {
      tri.point[i][k] = points.at(i, k);
      tri.gradient[i][k] = gradients.at(i, k);
      b.mutable_at(k) = drift.at(i, k);
      for (int l = 0; l < 3; ++l) d.mutable_at(k, l) = diffusion.at(i, k, l);
    }
    tri.fields[i] = sample_from<3>(b, d);
  }
  std::array<hjqp::FieldSample<3>, 3> dfx{};
  for (int k = 0; k < 3; ++k) {
    for (int c = 0; c < 3; ++c) dfx[std::size_t(k)].drift[c] = ddrift.at(k, c);
    for (int r = 0; r < 3; ++r)
      for (int c = r; c < 3; ++c) dfx[std::size_t(k)].metric[hjqp::sym_index<3>(r, c)] = dmetric.at(k, r, c);
  }
  // Fields inside: linear over the triangle's plane and x (barycentric in
  // the tetrahedron they span).
  const hjqp::FieldSample<3> fx = sample_from<3>(bx, dx);
  const hjqp::Vec<3> px = vec_from<3>(x, "x");
  double m[3][3];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) m[r][c] = tri.point[c][r] - px[r];
  auto affine = [&](const hjqp::Vec<3>& p) {
    // Solve m w = p - x for the weights of the vertices (Cramer's rule).
    const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                       m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                       m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double w[3];
    for (int c = 0; c < 3; ++c) {
      double mc[3][3];
      for (int r = 0; r < 3; ++r)
        for (int k = 0; k < 3; ++k) mc[r][k] = k == c ? p[r] - px[r] : m[r][k];
      w[c] = (mc[0][0] * (mc[1][1] * mc[2][2] - mc[1][2] * mc[2][1]) -
              mc[0][1] * (mc[1][0] * mc[2][2] - mc[1][2] * mc[2][0]) +
              mc[0][2] * (mc[1][0] * mc[2][1] - mc[1][1] * mc[2][0])) / det;
    }
    hjqp::FieldSample<3> f = fx;
    for (int k = 0; k < hjqp::FieldSample<3>::size; ++k)
      for (int c = 0; c < 3; ++c) f.data()[k] += w[c] * (tri.fields[c].data()[k] - fx.data()[k]);
    return f;
  };
  auto interpolate = [&](const hjqp::Vec<3>& p, std::array<hjqp::FieldSample<3>, 3>* gradient) {
    const hjqp::FieldSample<3> f = affine(p);
    if (gradient)
      for (int k = 0; k < 3; ++k) {
        hjqp::Vec<3> q = p;
        q[k] += 1.0;
        const hjqp::FieldSample<3> g = affine(q);  // exact: the fields are affine
        for (int c = 0; c < hjqp::FieldSample<3>::size; ++c)
          (*gradient)[std::size_t(k)].data()[c] = g.data()[c] - f.data()[c];
      }
    return f;
  };
  const hjqp::UpdateResult<3> r =
      hjqp::TriangleJetUpdate<3, decltype(interpolate)>(tri, px, fx, dfx, interpolate).solve(u0, v0);
  py::array_t<double> g(3);
  for (int k = 0; k < 3; ++k) g.mutable_data()[k] = r.gradient[k];
  return py::make_tuple(r.value, g, r.s, r.t);
}

// Jet update of grid node x from the edge between grid nodes a and b, with
// the fields sampled on the grid (interpolated multilinearly in between).
py::tuple jet_update2(const DoubleArray& lower, const DoubleArray& spacing,
                      const DoubleArray& drift, const DoubleArray& diffusion, std::int64_t a,
                      double ua, const DoubleArray& ga, std::int64_t b, double ub,
                      const DoubleArray& gb, std::int64_t x, double s0) {
  const hjqp::Grid<2> grid = grid_from<2>(lower, spacing, drift, "drift");
  check_field_shape<2>(drift, grid, 1, "drift");
  check_field_shape<2>(diffusion, grid, 2, "diffusion");
  for (std::int64_t i : {a, b, x})
    if (i < 0 || i >= grid.size())
      throw std::out_of_range("node " + std::to_string(i) + " is outside the grid");
  const hjqp::SampledFields<2> fields(grid, drift.data(), diffusion.data());
  auto interpolate = [&fields](const hjqp::Vec<2>& p, int count) { return fields.cubic(p, count); };
  const hjqp::JetNode<2> ja{grid.point(grid.unflat(a)), ua, vec_from<2>(ga, "ga")};
  const hjqp::JetNode<2> jb{grid.point(grid.unflat(b)), ub, vec_from<2>(gb, "gb")};
  hjqp::JetUpdate<2, decltype(interpolate)> update(ja, jb, grid.point(grid.unflat(x)),
                                                         fields.at(x), interpolate);
  return result_tuple<2>(update.solve(s0));
}

hjqp::FlowOptions flow_options(double step_cells, double max_dt, double stall_speed,
                               double capture_radius, std::int64_t max_steps) {
  hjqp::FlowOptions o;
  o.step_cells = step_cells;
  o.max_dt = max_dt;
  o.stall_speed = stall_speed;
  o.capture_radius = capture_radius;
  o.max_steps = max_steps;
  return o;
}

template <int D>
std::vector<hjqp::Vec<D>> points_from(const DoubleArray& a, const char* name) {
  if (a.ndim() != 2 || a.shape(1) != D)
    throw std::invalid_argument(std::string(name) + " must have shape (n, " + std::to_string(D) +
                                "), got " + shape_str(a));
  std::vector<hjqp::Vec<D>> out(std::size_t(a.shape(0)));
  for (std::size_t i = 0; i < out.size(); ++i)
    for (int k = 0; k < D; ++k) out[i][k] = a.data()[i * D + k];
  return out;
}

// Runs work(check) with the GIL released, where check() polls for signals
// (taking the GIL for the moment) and returns true once one has arrived;
// then raises the KeyboardInterrupt (or other error) that the signal set.
template <class F>
void without_gil_interruptible(int threads, F&& work) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  bool interrupted = false;
  {
    py::gil_scoped_release release;
    const std::function<bool()> check = [&interrupted]() {
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) interrupted = true;
      return interrupted;
    };
    work(check);
  }
  if (interrupted) throw py::error_already_set();
}

// Runs body over [0, n) on `threads` threads, polling for KeyboardInterrupt
// between blocks.
void parallel_interruptible(hjqp::Index n, int threads, const std::function<void(hjqp::Index)>& body) {
  without_gil_interruptible(threads, [&](const std::function<bool()>& check) {
    hjqp::parallel_for(n, threads, body, check);
  });
}

// The flow over a drift (grid shape, D) with the given options.
template <int D>
hjqp::Flow<D> flow_on(const hjqp::Grid<D>& grid, const DoubleArray& drift, double step_cells, double max_dt,
                      double stall_speed, double capture_radius, std::int64_t max_steps) {
  check_field_shape<D>(drift, grid, 1, "drift");
  return hjqp::Flow<D>(grid, drift.data(),
                       flow_options(step_cells, max_dt, stall_speed, capture_radius, max_steps));
}

// Follow x' = b(x) from each start point; returns the end points, why each
// stopped (hjqp::FlowStop), the target reached (-1 if none) and the steps.
template <int D>
py::tuple flow_ends(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                    const DoubleArray& starts, const DoubleArray& targets, double step_cells,
                    double max_dt, double stall_speed, double capture_radius,
                    std::int64_t max_steps, int threads) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  const hjqp::Flow<D> flow = flow_on<D>(grid, drift, step_cells, max_dt, stall_speed, capture_radius, max_steps);
  const std::vector<hjqp::Vec<D>> x0 = points_from<D>(starts, "starts");
  const std::vector<hjqp::Vec<D>> tg = points_from<D>(targets, "targets");
  for (std::size_t i = 0; i < x0.size(); ++i)
    if (!grid.inside(x0[i]))
      throw std::invalid_argument("start point " + std::to_string(i) + " lies outside the box");
  const py::ssize_t n = py::ssize_t(x0.size());
  py::array_t<double> ends(std::vector<py::ssize_t>{n, D});
  py::array_t<std::uint8_t> reasons(n);
  py::array_t<std::int32_t> reached(n);
  py::array_t<std::int64_t> steps(n);
  double* e = ends.mutable_data();
  std::uint8_t* r = reasons.mutable_data();
  std::int32_t* t = reached.mutable_data();
  std::int64_t* s = steps.mutable_data();
  parallel_interruptible(n, threads, [&](hjqp::Index i) {
    const hjqp::FlowEnd<D> end = flow.follow(x0[std::size_t(i)], tg);
    for (int k = 0; k < D; ++k) e[i * D + k] = end.point[k];
    r[i] = std::uint8_t(end.reason);
    t[i] = end.target;
    s[i] = end.steps;
  });
  return py::make_tuple(ends, reasons, reached, steps);
}

// Basin labels: the target each node's trajectory reaches (-1 if none), and
// why each trajectory stopped.
template <int D>
py::tuple basin_labels(const DoubleArray& lower, const DoubleArray& spacing,
                       const DoubleArray& drift, const DoubleArray& targets, double step_cells,
                       double max_dt, double stall_speed, double capture_radius,
                       std::int64_t max_steps, int threads) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  const hjqp::Flow<D> flow = flow_on<D>(grid, drift, step_cells, max_dt, stall_speed, capture_radius, max_steps);
  const std::vector<hjqp::Vec<D>> tg = points_from<D>(targets, "targets");
  std::vector<py::ssize_t> shape(static_cast<std::size_t>(D), 0);
  for (int k = 0; k < D; ++k) shape[std::size_t(k)] = grid.shape()[k];
  py::array_t<std::int32_t> labels(shape);
  py::array_t<std::uint8_t> reasons(shape);
  std::int32_t* l = labels.mutable_data();
  std::uint8_t* r = reasons.mutable_data();
  parallel_interruptible(grid.size(), threads, [&](hjqp::Index i) {
    const hjqp::FlowEnd<D> end = flow.follow(grid.point(grid.unflat(i)), tg);
    l[i] = end.target;
    r[i] = std::uint8_t(end.reason);
  });
  return py::make_tuple(labels, reasons);
}

// ---- Euler-Maruyama over sampled fields ------------------------------------

// Runs body(i, worker, stop) over [0, n) on worker threads; raises
// KeyboardInterrupt when a signal arrives.
void run_interruptible(hjqp::Index n, int threads,
                       const std::function<void(hjqp::Index, int, const std::atomic<bool>&)>& body) {
  without_gil_interruptible(threads, [&](const std::function<bool()>& check) {
    hjqp::run_items(n, threads, body, check);
  });
}

template <int D>
std::shared_ptr<hjqp::SampledSDE<D>> make_sampled(const DoubleArray& lower, const DoubleArray& spacing,
                                                  const DoubleArray& drift, const DoubleArray& sigma) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  check_field_shape<D>(sigma, grid, 2, "sigma");
  return std::make_shared<hjqp::SampledSDE<D>>(grid, drift.data(), sigma.data());
}

// Start points (n, D) inside the box, and the path ids (n,).
template <int D>
std::vector<hjqp::Vec<D>> starts_from(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0,
                                      const IndexArray& paths) {
  std::vector<hjqp::Vec<D>> x = points_from<D>(x0, "x0");
  if (paths.ndim() != 1 || paths.shape(0) != py::ssize_t(x.size()))
    throw std::invalid_argument("paths must have shape (" + std::to_string(x.size()) + ",), got " +
                                shape_str(paths));
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!sde.grid().inside(x[i]))
      throw std::invalid_argument("start point " + std::to_string(i) + " lies outside the grid's box");
    if (paths.data()[i] < 0) throw std::invalid_argument("path ids must be non-negative");
  }
  return x;
}

// Paths run by the kernel in batches of up to kLanes (item i covers paths
// [i * kLanes, ...)): their states, ids and where and why each stopped.
template <int D>
struct PathRun {
  using EM = hjqp::EulerMaruyama<D>;
  static constexpr int kLanes = EM::kLanes;
  std::vector<hjqp::Vec<D>> x;
  const std::int64_t* id;
  std::vector<hjqp::Index> step;
  std::vector<hjqp::PathStop> why;

  PathRun(std::vector<hjqp::Vec<D>> start, const IndexArray& paths)
      : x(std::move(start)), id(paths.data()), step(x.size(), 0), why(x.size(), hjqp::PathStop::Running) {}

  hjqp::Index n() const { return hjqp::Index(x.size()); }
  hjqp::Index items() const { return (n() + kLanes - 1) / kLanes; }
  hjqp::Index first(hjqp::Index item) const { return item * kLanes; }
  typename EM::Batch batch(hjqp::Index item) {
    const std::size_t i = std::size_t(first(item));
    return {id + i, &x[i], int(std::min<hjqp::Index>(kLanes, n() - hjqp::Index(i))), &step[i], &why[i]};
  }
  // Worker threads for `threads` asked: no more than there are batches.
  int workers(int threads) const { return int(std::max<hjqp::Index>(1, std::min<hjqp::Index>(threads, items()))); }

  // f(item, batch, worker, stop) for every batch, interruptibly.
  template <class F>
  void run(int threads, F&& f) {
    run_interruptible(items(), threads, [&](hjqp::Index item, int worker, const std::atomic<bool>& stop) {
      f(item, batch(item), worker, stop);
    });
  }

  // (ends (n, D), stops (n,), steps (n,))
  py::tuple results() const {
    const py::ssize_t count = py::ssize_t(n());
    py::array_t<double> ends(std::vector<py::ssize_t>{count, D});
    py::array_t<std::uint8_t> stops(count);
    py::array_t<std::int64_t> steps(count);
    double* e = ends.mutable_data();
    std::uint8_t* r = stops.mutable_data();
    std::int64_t* st = steps.mutable_data();
    for (py::ssize_t i = 0; i < count; ++i) {
      r[i] = std::uint8_t(why[std::size_t(i)]);
      st[i] = step[std::size_t(i)];
      for (int k = 0; k < D; ++k) e[i * D + k] = x[std::size_t(i)][k];
    }
    return py::make_tuple(ends, stops, steps);
  }
};

void check_steps(std::int64_t n0, std::int64_t n1) {
  if (n0 < 0 || n1 < n0)
    throw std::invalid_argument("steps must satisfy 0 <= n0 <= n1, got " + std::to_string(n0) +
                                ", " + std::to_string(n1));
}

// Paths stored every `thin` steps over [n0, n1). Returns (samples (n, m, D),
// ends (n, D), stops (n,), steps (n,)).
template <int D>
py::tuple em_store(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& paths,
                   double eps, double dt, std::uint64_t seed, std::int64_t n0, std::int64_t n1,
                   std::int64_t thin, int threads) {
  PathRun<D> run(starts_from<D>(sde, x0, paths), paths);
  check_steps(n0, n1);
  if (thin < 1) throw std::invalid_argument("thin must be >= 1");
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  const py::ssize_t n = py::ssize_t(run.n());
  const py::ssize_t m = py::ssize_t((n1 - n0 + thin - 1) / thin);
  py::array_t<double> samples(std::vector<py::ssize_t>{n, m, D});
  double* s = samples.mutable_data();
  std::fill(s, s + n * m * D, std::numeric_limits<double>::quiet_NaN());
  run.run(threads, [&](hjqp::Index item, const auto& batch, int, const std::atomic<bool>& stop) {
    double* out[PathRun<D>::kLanes];
    for (int l = 0; l < batch.lanes; ++l) out[l] = s + (run.first(item) + l) * m * D;
    em.store(batch, n0, n1, thin, out, stop);
  });
  const py::tuple r = run.results();
  return py::make_tuple(samples, r[0], r[1], r[2]);
}

template <int D>
hjqp::Domain<D> domain_from(const hjqp::SampledSDE<D>& sde, int kind, const DoubleArray& center,
                            double radius, const DoubleArray& lower, const DoubleArray& upper,
                            const std::optional<DoubleArray>& level) {
  hjqp::Domain<D> dom;
  if (kind == 0) {
    dom.kind = hjqp::Domain<D>::Kind::Ball;
    dom.center = vec_from<D>(center, "center");
    if (!(radius > 0.0) || !std::isfinite(radius)) throw std::invalid_argument("radius must be positive");
    dom.radius = radius;
  } else if (kind == 1) {
    dom.kind = hjqp::Domain<D>::Kind::Box;
    dom.lower = vec_from<D>(lower, "lower");
    dom.upper = vec_from<D>(upper, "upper");
    for (int k = 0; k < D; ++k)
      if (!(dom.lower[k] < dom.upper[k])) throw std::invalid_argument("box: lower must be < upper");
  } else if (kind == 2) {
    if (!level) throw std::invalid_argument("a level-set domain needs its sampled function");
    check_field_shape<D>(*level, sde.grid(), 0, "level");
    for (hjqp::Index i = 0; i < sde.grid().size(); ++i)
      if (!std::isfinite(level->data()[i]))
        throw std::invalid_argument("the level-set function is not finite at " +
                                    hjqp::describe_node(sde.grid(), i));
    dom.kind = hjqp::Domain<D>::Kind::LevelSet;
    dom.g = level->data();
    dom.grid = &sde.grid();
  } else {
    throw std::invalid_argument("unknown domain kind " + std::to_string(kind));
  }
  return dom;
}

// First exits over [n0, n1). Returns (ends (n, D), stops (n,), steps (n,),
// boundary points (n, D): the end points projected onto the boundary).
template <int D>
py::tuple em_exit(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& paths,
                  double eps, double dt, std::uint64_t seed, std::int64_t n0, std::int64_t n1,
                  int kind, const DoubleArray& center, double radius, const DoubleArray& lower,
                  const DoubleArray& upper, const std::optional<DoubleArray>& level, double shift,
                  int threads) {
  PathRun<D> run(starts_from<D>(sde, x0, paths), paths);
  check_steps(n0, n1);
  if (!(shift >= 0.0) || !std::isfinite(shift)) throw std::invalid_argument("shift must be >= 0");
  const hjqp::Domain<D> dom = domain_from<D>(sde, kind, center, radius, lower, upper, level);
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  run.run(threads, [&](hjqp::Index, const auto& batch, int, const std::atomic<bool>& stop) {
    em.exit(batch, n0, n1, dom, shift, stop);
  });
  py::array_t<double> boundary(std::vector<py::ssize_t>{py::ssize_t(run.n()), D});
  double* bp = boundary.mutable_data();
  for (hjqp::Index i = 0; i < run.n(); ++i) {
    const hjqp::Vec<D> p = dom.project(run.x[std::size_t(i)]);
    for (int k = 0; k < D; ++k) bp[i * D + k] = p[k];
  }
  const py::tuple r = run.results();
  return py::make_tuple(r[0], r[1], r[2], boundary);
}

// A long run over [n0, n1). Returns (ends (n, D), cores (n,), stops (n,),
// steps (n,), and per path: milestone steps (n, k + 1), transitions
// (n, k, k), label steps (n, n_labels + 1); and the histogram of nearest
// nodes (grid shape, or empty)).
template <int D>
py::tuple em_tally(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& paths,
                   const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& core0,
                   double eps, double dt, std::uint64_t seed, std::int64_t n0, std::int64_t n1,
                   const DoubleArray& centers, const DoubleArray& radii,
                   const std::optional<py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>>& labels,
                   int n_labels, bool histogram, int threads) {
  PathRun<D> run(starts_from<D>(sde, x0, paths), paths);
  check_steps(n0, n1);
  if (threads < 1) throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  const py::ssize_t n = py::ssize_t(run.n());
  hjqp::Cores<D> cores;
  cores.centers = points_from<D>(centers, "centers");
  const int k = int(cores.centers.size());
  if (radii.ndim() != 1 || radii.shape(0) != k)
    throw std::invalid_argument("radii must have shape (" + std::to_string(k) + ",)");
  for (int c = 0; c < k; ++c) {
    if (!(radii.data()[c] > 0.0)) throw std::invalid_argument("core radii must be positive");
    cores.radii.push_back(radii.data()[c]);
  }
  if (core0.ndim() != 1 || core0.shape(0) != n)
    throw std::invalid_argument("cores must have shape (" + std::to_string(n) + ",)");
  std::vector<int> core(core0.data(), core0.data() + n);
  for (int c : core)
    if (c < -1 || c >= k) throw std::invalid_argument("core indices must lie in [-1, k)");
  const std::int32_t* lab = nullptr;
  if (labels) {
    check_field_shape<D>(*labels, sde.grid(), 0, "labels");
    if (n_labels < 0) throw std::invalid_argument("n_labels must be >= 0");
    lab = labels->data();
    for (hjqp::Index i = 0; i < sde.grid().size(); ++i)
      if (lab[i] < -1 || lab[i] >= n_labels)
        throw std::invalid_argument("labels must lie in [-1, n_labels) at " +
                                    hjqp::describe_node(sde.grid(), i));
  }
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  const int L = lab ? n_labels : 0;
  const int workers = run.workers(threads);
  std::vector<std::vector<std::int64_t>> histograms(std::size_t(histogram ? workers : 0),
                                                    std::vector<std::int64_t>(std::size_t(sde.grid().size()), 0));
  py::array_t<std::int32_t> cores_out(n);
  py::array_t<std::int64_t> milestones(std::vector<py::ssize_t>{n, k + 1});
  py::array_t<std::int64_t> transitions(std::vector<py::ssize_t>{n, k, k});
  py::array_t<std::int64_t> visits(std::vector<py::ssize_t>{n, L + 1});
  std::int64_t* ms = milestones.mutable_data();
  std::int64_t* tr = transitions.mutable_data();
  std::int64_t* vi = visits.mutable_data();
  std::fill(ms, ms + n * (k + 1), 0);
  std::fill(tr, tr + n * k * k, 0);
  std::fill(vi, vi + n * (L + 1), 0);
  std::vector<hjqp::Counts> counts(static_cast<std::size_t>(n));
  for (py::ssize_t i = 0; i < n; ++i)
    counts[std::size_t(i)] = {ms + i * (k + 1), tr + i * k * k, lab ? vi + i * (L + 1) : nullptr};
  run.run(workers, [&](hjqp::Index item, const auto& batch, int worker, const std::atomic<bool>& stop) {
    const std::size_t i = std::size_t(run.first(item));
    em.tally(batch, &core[i], n0, n1, cores, lab, L, &counts[i],
             histogram ? histograms[std::size_t(worker)].data() : nullptr, stop);
  });
  std::copy(core.begin(), core.end(), cores_out.mutable_data());
  std::vector<py::ssize_t> hshape;
  if (histogram)
    for (int a = 0; a < D; ++a) hshape.push_back(sde.grid().shape()[a]);
  else
    hshape.push_back(0);
  py::array_t<std::int64_t> hist(hshape);
  std::int64_t* h = hist.mutable_data();
  if (histogram) {
    std::fill(h, h + sde.grid().size(), 0);
    for (const auto& part : histograms)
      for (hjqp::Index j = 0; j < sde.grid().size(); ++j) h[j] += part[std::size_t(j)];
  }
  const py::tuple r = run.results();
  return py::make_tuple(r[0], cores_out, r[1], r[2], milestones, transitions, visits, hist);
}

py::array_t<double> em_normals(std::uint64_t seed, std::int64_t path, std::int64_t block, std::int64_t n) {
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  py::array_t<double> out(n);
  hjqp::EulerMaruyama<2>::normals(seed, path, block, out.mutable_data(), n);
  return out;
}

// The eikonal march (eikonal.hpp) on a grid with its first node at the
// origin: from the zero level set of phi, or from a factored point source.
template <int D>
py::tuple eikonal(const DoubleArray& spacing, const std::vector<hjqp::Index>& shape,
                  const DoubleArray& slowness, const std::optional<DoubleArray>& metric,
                  const std::optional<MaskArray>& obstacle, const std::optional<DoubleArray>& phi,
                  const std::optional<DoubleArray>& source, double source_slowness,
                  const std::optional<DoubleArray>& source_metric, int order, double max_value,
                  const std::vector<bool>& periodic, int max_sweeps) {
  constexpr int S = hjqp::sym_size<D>;
  if (shape.size() != std::size_t(D))
    throw std::invalid_argument("shape must have " + std::to_string(D) + " entries");
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
    throw std::invalid_argument("metric must have " + std::to_string(S) + " or " +
                                std::to_string(n * S) + " packed entries, got " +
                                std::to_string(metric->size()));
  if (obstacle && obstacle->size() != n)
    throw std::invalid_argument("obstacle must have " + std::to_string(n) + " entries");
  if (bool(phi) == bool(source)) throw std::invalid_argument("give exactly one of phi and source");
  if (phi && phi->size() != n)
    throw std::invalid_argument("phi must have " + std::to_string(n) + " entries");
  hjqp::EikonalOptions<D> options;
  options.order = order;
  options.max_value = max_value;
  options.max_sweeps = max_sweeps;
  for (int k = 0; k < D; ++k) options.periodic[std::size_t(k)] = periodic[std::size_t(k)];
  hjqp::Vec<D> x0{};
  hjqp::Sym<D> m0{};
  if (source) {
    x0 = vec_from<D>(*source, "source");
    if (!source_metric || source_metric->size() != S)
      throw std::invalid_argument("source_metric must have " + std::to_string(S) + " packed entries");
    for (int c = 0; c < S; ++c) m0[c] = source_metric->data()[c];
  }

  std::vector<py::ssize_t> out_shape(shape.begin(), shape.end());
  py::array_t<double> values(out_shape);
  double* u = values.mutable_data();
  const double* s = slowness.data();
  const double* mp = metric ? metric->data() : nullptr;
  const std::uint8_t* ob = obstacle ? obstacle->data() : nullptr;
  const double* ph = phi ? phi->data() : nullptr;
  const bool s_const = slowness.size() == 1;
  const bool m_const = metric && metric->size() == S;
  hjqp::EikonalStats stats;
  hjqp::Index seeds = 0;
  without_gil_interruptible(1, [&](const std::function<bool()>& check) {
    hjqp::EikonalMarcher<D> marcher(grid, s, s_const, mp, m_const, ob, u, options);
    if (ph) {
      std::vector<hjqp::Index> nodes;
      std::vector<double> vals;
      hjqp::level_set_seeds<D>(grid, ph, s, s_const, mp, m_const, ob, options.periodic, nodes, vals);
      if (nodes.empty()) throw std::invalid_argument("phi has no zero level set outside the obstacles");
      marcher.set_sides(ph);
      for (std::size_t i = 0; i < nodes.size(); ++i) marcher.seed(nodes[i], vals[i]);
      seeds = hjqp::Index(nodes.size());
    } else {
      marcher.seed_point(x0, source_slowness, m0);
    }
    try {
      stats = marcher.run(check);
    } catch (const typename hjqp::EikonalMarcher<D>::EikonalInterrupted&) {
      // The Python error set by the signal is raised by the caller.
    }
  });
  py::dict info;
  info["accepted"] = stats.accepted;
  info["seeds"] = seeds;
  info["sweeps"] = stats.sweeps;
  info["swept_nodes"] = stats.swept_nodes;
  info["converged"] = stats.converged;
  return py::make_tuple(values, info);
}

template <int D>
void bind_em(py::module_& m) {
  const std::string suffix = std::to_string(D);
  using S = hjqp::SampledSDE<D>;
  py::class_<S, std::shared_ptr<S>>(m, ("SampledSDE" + suffix).c_str(),
                                    "Drift and Cholesky factor of D sampled on a grid.")
      .def(py::init(&make_sampled<D>), py::arg("lower"), py::arg("spacing"), py::arg("drift"),
           py::arg("sigma"));
  m.def(("em_store" + suffix).c_str(), &em_store<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"),
        py::arg("eps"), py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"), py::arg("thin"),
        py::arg("threads"), "Euler-Maruyama paths, stored every `thin` steps.");
  m.def(("em_exit" + suffix).c_str(), &em_exit<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"),
        py::arg("eps"), py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"), py::arg("kind"),
        py::arg("center"), py::arg("radius"), py::arg("lower"), py::arg("upper"),
        py::arg("level") = py::none(), py::arg("shift"), py::arg("threads"),
        "Euler-Maruyama until the first exit from a domain.");
  m.def(("em_tally" + suffix).c_str(), &em_tally<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"),
        py::arg("cores"), py::arg("eps"), py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"),
        py::arg("centers"), py::arg("radii"), py::arg("labels") = py::none(), py::arg("n_labels") = 0,
        py::arg("histogram") = false, py::arg("threads"),
        "Euler-Maruyama long runs: core-set transitions, basin occupancy, histogram.");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "Compiled kernel of hjqp (private: use the hjqp package).";
  m.def("march2d", &march<2>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("diffusion"), py::arg("seed_nodes"), py::arg("seed_values"),
        py::arg("seed_gradients"), py::arg("update_radius"), py::arg("max_turn"),
        py::arg("max_value"), py::arg("absorbing") = py::none(),
        "March the quasi-potential on a 2D grid from seeded 1-jets. Nodes where\n"
        "`absorbing` is nonzero receive values but do not propagate them.\n\n"
        "Returns (values, gradients, rules, info).");

  m.def("march3d", &march<3>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("diffusion"), py::arg("seed_nodes"), py::arg("seed_values"),
        py::arg("seed_gradients"), py::arg("update_radius"), py::arg("max_turn"),
        py::arg("max_value"), py::arg("absorbing") = py::none(),
        "March the quasi-potential on a 3D grid from seeded 1-jets (see march2d).\n\n"
        "Returns (values, gradients, rules, info).");

  const char* ends_doc = "Follow x' = b(x) from points (n, d). Returns (ends, reasons, targets, steps).";
  const char* basins_doc = "Basin labels of all nodes. Returns (labels, reasons).";
  m.def("flow_ends2", &flow_ends<2>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("starts"), py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"),
        py::arg("stall_speed"), py::arg("capture_radius"), py::arg("max_steps"),
        py::arg("threads"), ends_doc);
  m.def("flow_ends3", &flow_ends<3>, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("starts"), py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"),
        py::arg("stall_speed"), py::arg("capture_radius"), py::arg("max_steps"),
        py::arg("threads"), ends_doc);
  m.def("basin_labels2", &basin_labels<2>, py::arg("lower"), py::arg("spacing"),
        py::arg("drift"), py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"),
        py::arg("stall_speed"), py::arg("capture_radius"), py::arg("max_steps"),
        py::arg("threads"), basins_doc);
  m.def("basin_labels3", &basin_labels<3>, py::arg("lower"), py::arg("spacing"),
        py::arg("drift"), py::arg("targets"), py::arg("step_cells"), py::arg("max_dt"),
        py::arg("stall_speed"), py::arg("capture_radius"), py::arg("max_steps"),
        py::arg("threads"), basins_doc);
  m.attr("FLOW_CAPTURED") = int(hjqp::FlowStop::Captured);
  m.attr("FLOW_STALLED") = int(hjqp::FlowStop::Stalled);
  m.attr("FLOW_LEFT_BOX") = int(hjqp::FlowStop::LeftBox);
  m.attr("FLOW_MAX_STEPS") = int(hjqp::FlowStop::MaxSteps);

  const char* eikonal_doc =
      "Fast marching for |grad u|_{M^-1} = s on a grid whose first node is the origin,\n"
      "from the zero level set of phi or from a factored point source.\n\n"
      "Returns (values, info).";
  m.def("eikonal2", &eikonal<2>, py::arg("spacing"), py::arg("shape"), py::arg("slowness"),
        py::arg("metric") = py::none(), py::arg("obstacle") = py::none(), py::arg("phi") = py::none(),
        py::arg("source") = py::none(), py::arg("source_slowness") = 1.0,
        py::arg("source_metric") = py::none(), py::arg("order") = 2,
        py::arg("max_value") = std::numeric_limits<double>::infinity(),
        py::arg("periodic") = std::vector<bool>{false, false}, py::arg("max_sweeps") = 200, eikonal_doc);
  m.def("eikonal3", &eikonal<3>, py::arg("spacing"), py::arg("shape"), py::arg("slowness"),
        py::arg("metric") = py::none(), py::arg("obstacle") = py::none(), py::arg("phi") = py::none(),
        py::arg("source") = py::none(), py::arg("source_slowness") = 1.0,
        py::arg("source_metric") = py::none(), py::arg("order") = 2,
        py::arg("max_value") = std::numeric_limits<double>::infinity(),
        py::arg("periodic") = std::vector<bool>{false, false, false}, py::arg("max_sweeps") = 200,
        eikonal_doc);

  bind_em<2>(m);
  bind_em<3>(m);
  m.def("em_normals", &em_normals, py::arg("seed"), py::arg("path"), py::arg("block"), py::arg("n"),
        "Normal variates of one random stream (for tests of the generator).");
  m.attr("EM_STEP_BLOCK") = hjqp::kStepBlock;
  m.attr("PATH_RUNNING") = int(hjqp::PathStop::Running);
  m.attr("PATH_EXITED") = int(hjqp::PathStop::Exited);
  m.attr("PATH_LEFT_GRID") = int(hjqp::PathStop::LeftGrid);

  m.def("one_point_update2", &one_point_update2);
  m.def("triangle_update2", &triangle_update2);
  m.def("jet_update2", &jet_update2);
  m.def("tetrahedron_update3", &tetrahedron_update3);
  m.def("triangle_jet_update3", &triangle_jet_update3);

  m.attr("RULE_UNREACHED") = int(hjqp::UpdateRule::Unreached);
  m.attr("RULE_SEED") = int(hjqp::UpdateRule::Seed);
  m.attr("RULE_JET") = int(hjqp::UpdateRule::Jet);
  m.attr("RULE_PINNED_JET") = int(hjqp::UpdateRule::PinnedJet);
  m.attr("RULE_NEIGHBOUR") = int(hjqp::UpdateRule::Neighbour);
}
