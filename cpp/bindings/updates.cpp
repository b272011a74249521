// hjqp._core: single local updates, so that the tests can compare them with
// the pure-Python reference rules. Fields are given at the points where
// they are needed.
#include "common.hpp"
#include "hjqp/fields.hpp"
#include "hjqp/updates.hpp"

namespace hjqp_bindings {
namespace {

template <int D>
hjqp::FieldSample<D> sample_from(const DoubleArray& drift, const DoubleArray& diffusion, const char* name) {
  const hjqp::Vec<D> b = vec_from<D>(drift, name);
  if (diffusion.ndim() != 2 || diffusion.shape(0) != D || diffusion.shape(1) != D)
    throw std::invalid_argument(std::string("the diffusion at ") + name + " must have shape (" +
                                std::to_string(D) + ", " + std::to_string(D) + "), got " + shape_str(diffusion));
  return hjqp::field_sample<D>(b.data(), diffusion.data(), [name] { return std::string(name); });
}

template <int D>
py::array_t<double> array_from(const hjqp::Vec<D>& v) {
  py::array_t<double> a(D);
  for (int k = 0; k < D; ++k) a.mutable_data()[k] = v[k];
  return a;
}

hjqp::UpdateResult<2> one_point_update2(const DoubleArray& y, double uy, const DoubleArray& by, const DoubleArray& dy,
                                        const DoubleArray& x, const DoubleArray& bx, const DoubleArray& dx) {
  return hjqp::one_point_update<2>(vec_from<2>(y, "y"), uy, sample_from<2>(by, dy, "y"), vec_from<2>(x, "x"),
                                   sample_from<2>(bx, dx, "x"));
}

hjqp::UpdateResult<2> triangle_update2(const DoubleArray& a, double ua, const DoubleArray& ba, const DoubleArray& da,
                                       const DoubleArray& b, double ub, const DoubleArray& bb, const DoubleArray& db,
                                       const DoubleArray& x, const DoubleArray& bx, const DoubleArray& dx) {
  return hjqp::triangle_update<2>(vec_from<2>(a, "a"), ua, sample_from<2>(ba, da, "a"), vec_from<2>(b, "b"), ub,
                                  sample_from<2>(bb, db, "b"), vec_from<2>(x, "x"), sample_from<2>(bx, dx, "x"));
}

hjqp::UpdateResult<3> tetrahedron_update3(const DoubleArray& a, double ua, const DoubleArray& ba,
                                          const DoubleArray& da, const DoubleArray& b, double ub,
                                          const DoubleArray& bb, const DoubleArray& db, const DoubleArray& c,
                                          double uc, const DoubleArray& bc, const DoubleArray& dc,
                                          const DoubleArray& x, const DoubleArray& bx, const DoubleArray& dx) {
  return hjqp::tetrahedron_update<3>(vec_from<3>(a, "a"), ua, sample_from<3>(ba, da, "a"), vec_from<3>(b, "b"), ub,
                                     sample_from<3>(bb, db, "b"), vec_from<3>(c, "c"), uc,
                                     sample_from<3>(bc, dc, "c"), vec_from<3>(x, "x"), sample_from<3>(bx, dx, "x"));
}

void need_shape(const DoubleArray& a, const std::vector<py::ssize_t>& shape, const char* name) {
  bool ok = a.ndim() == py::ssize_t(shape.size());
  for (std::size_t k = 0; ok && k < shape.size(); ++k) ok = a.shape(py::ssize_t(k)) == shape[k];
  if (!ok) throw std::invalid_argument(std::string(name) + " has the wrong shape " + shape_str(a));
}

// Triangle jet update of x from the triangle of points (3, 3) with values
// (3,), gradients (3, 3), drift (3, 3) and diffusion (3, 3, 3) at its
// vertices; the fields' derivatives at x along each axis k are ddrift[k]
// and dmetric[k] (of A = D^{-1}); inside, the fields are affine over the
// tetrahedron spanned by x and the triangle (hjqp::TetrahedronFields).
hjqp::UpdateResult<3> triangle_jet_update3(const DoubleArray& points, const DoubleArray& values,
                                           const DoubleArray& gradients, const DoubleArray& drift,
                                           const DoubleArray& diffusion, const DoubleArray& x, const DoubleArray& bx,
                                           const DoubleArray& dx, const DoubleArray& ddrift,
                                           const DoubleArray& dmetric, double u0, double v0) {
  need_shape(points, {3, 3}, "points");
  need_shape(values, {3}, "values");
  need_shape(gradients, {3, 3}, "gradients");
  need_shape(drift, {3, 3}, "drift");
  need_shape(diffusion, {3, 3, 3}, "diffusion");
  need_shape(ddrift, {3, 3}, "ddrift");
  need_shape(dmetric, {3, 3, 3}, "dmetric");
  hjqp::JetTriangle<3> tri;
  for (int i = 0; i < 3; ++i) {
    tri.value[i] = values.at(i);
    for (int k = 0; k < 3; ++k) {
      tri.point[i][k] = points.at(i, k);
      tri.gradient[i][k] = gradients.at(i, k);
    }
    tri.fields[i] = hjqp::field_sample<3>(drift.data() + 3 * i, diffusion.data() + 9 * i,
                                          [i] { return "vertex " + std::to_string(i); });
  }
  std::array<hjqp::FieldSample<3>, 3> dfx{};
  for (int k = 0; k < 3; ++k) {
    for (int c = 0; c < 3; ++c) dfx[std::size_t(k)].drift[c] = ddrift.at(k, c);
    for (int r = 0; r < 3; ++r)
      for (int c = r; c < 3; ++c) dfx[std::size_t(k)].metric[hjqp::sym_index<3>(r, c)] = dmetric.at(k, r, c);
  }
  const hjqp::FieldSample<3> fx = sample_from<3>(bx, dx, "x");
  const hjqp::Vec<3> px = vec_from<3>(x, "x");
  const hjqp::TetrahedronFields interpolate(px, fx, tri);
  return hjqp::TriangleJetUpdate<3, hjqp::TetrahedronFields>(tri, px, fx, dfx, interpolate).solve(u0, v0);
}

// Jet update of grid node x from the edge between grid nodes a and b, with
// the fields sampled on the grid (cubic convolution in between).
hjqp::UpdateResult<2> jet_update2(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                                  const DoubleArray& diffusion, std::int64_t a, double ua, const DoubleArray& ga,
                                  std::int64_t b, double ub, const DoubleArray& gb, std::int64_t x, double s0) {
  const hjqp::Grid<2> grid = grid_from<2>(lower, spacing, drift, "drift");
  check_field_shape<2>(drift, grid, 1, "drift");
  check_field_shape<2>(diffusion, grid, 2, "diffusion");
  for (std::int64_t i : {a, b, x})
    if (i < 0 || i >= grid.size()) throw std::out_of_range("node " + std::to_string(i) + " is outside the grid");
  const hjqp::MultiIndex<2> ma = grid.unflat(a), mb = grid.unflat(b);
  if (std::abs(ma[0] - mb[0]) + std::abs(ma[1] - mb[1]) != 1)
    throw std::invalid_argument("nodes a = " + std::to_string(a) + " and b = " + std::to_string(b) +
                                " are not the two ends of a grid edge");
  const hjqp::SampledFields<2> fields(grid, drift.data(), diffusion.data());
  const hjqp::CubicFields<2> interpolate{fields, true};
  const hjqp::JetNode<2> ja{grid.point(grid.unflat(a)), ua, vec_from<2>(ga, "ga")};
  const hjqp::JetNode<2> jb{grid.point(grid.unflat(b)), ub, vec_from<2>(gb, "gb")};
  hjqp::JetUpdate<2, decltype(interpolate)> update(ja, jb, grid.point(grid.unflat(x)), fields.at(x),
                                                   fields.node_derivatives(grid.unflat(x)), interpolate);
  return update.solve(s0);
}

// The cubic interpolation of the drift and metric (A = D^{-1}) at points
// (n, 2), as the 2D jet update uses it: values (n, 5), first derivatives
// (n, 2, 5) and second derivatives (n, 3, 5: xx, xy, yy); `plain`: the
// values of the interpolation without derivatives.
py::tuple cubic_fields2(const DoubleArray& lower, const DoubleArray& spacing, const DoubleArray& drift,
                        const DoubleArray& diffusion, const DoubleArray& points) {
  const hjqp::Grid<2> grid = grid_from<2>(lower, spacing, drift, "drift");
  check_field_shape<2>(drift, grid, 1, "drift");
  check_field_shape<2>(diffusion, grid, 2, "diffusion");
  const std::vector<hjqp::Vec<2>> at = points_from<2>(points, "points");
  const hjqp::SampledFields<2> fields(grid, drift.data(), diffusion.data());
  constexpr int n = hjqp::FieldSample<2>::action_size;
  const py::ssize_t count = py::ssize_t(at.size());
  py::array_t<double> values({count, py::ssize_t(n)}), plain({count, py::ssize_t(n)});
  py::array_t<double> first({count, py::ssize_t(2), py::ssize_t(n)}), second({count, py::ssize_t(3), py::ssize_t(n)});
  for (py::ssize_t i = 0; i < count; ++i) {
    std::array<hjqp::FieldSample<2>, 2> g;
    std::array<hjqp::FieldSample<2>, 3> h;
    const hjqp::FieldSample<2> f = fields.cubic(at[std::size_t(i)], n, g, &h);
    const hjqp::FieldSample<2> p = fields.cubic(at[std::size_t(i)], n);
    for (int c = 0; c < n; ++c) {
      values.mutable_at(i, c) = f.data()[c];
      plain.mutable_at(i, c) = p.data()[c];
      for (int k = 0; k < 2; ++k) first.mutable_at(i, k, c) = g[std::size_t(k)].data()[c];
      for (int k = 0; k < 3; ++k) second.mutable_at(i, k, c) = h[std::size_t(k)].data()[c];
    }
  }
  return py::make_tuple(values, first, second, plain);
}

template <int D>
void bind_result(py::module_& m, const char* name) {
  using R = hjqp::UpdateResult<D>;
  py::class_<R>(m, name, "The value and gradient a local update gives, and where its minimum lies.")
      .def_readonly("value", &R::value)
      .def_property_readonly("gradient", [](const R& r) { return array_from<D>(r.gradient); })
      .def_readonly("s", &R::s)
      .def_readonly("t", &R::t)
      .def_readonly("below", &R::below)
      .def_readonly("above", &R::above)
      .def_readonly("t_below", &R::t_below)
      .def_readonly("t_above", &R::t_above)
      .def_readonly("turn", &R::turn);
}

}  // namespace

void bind_updates(py::module_& m) {
  bind_result<2>(m, "UpdateResult2");
  bind_result<3>(m, "UpdateResult3");
  m.def("one_point_update2", &one_point_update2, py::arg("y"), py::arg("uy"), py::arg("by"), py::arg("dy"),
        py::arg("x"), py::arg("bx"), py::arg("dx"));
  m.def("triangle_update2", &triangle_update2, py::arg("a"), py::arg("ua"), py::arg("ba"), py::arg("da"),
        py::arg("b"), py::arg("ub"), py::arg("bb"), py::arg("db"), py::arg("x"), py::arg("bx"), py::arg("dx"));
  m.def("cubic_fields2", &cubic_fields2, py::arg("lower"), py::arg("spacing"), py::arg("drift"),
        py::arg("diffusion"), py::arg("points"));
  m.def("jet_update2", &jet_update2, py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("diffusion"),
        py::arg("a"), py::arg("ua"), py::arg("ga"), py::arg("b"), py::arg("ub"), py::arg("gb"), py::arg("x"),
        py::arg("s0"));
  m.def("tetrahedron_update3", &tetrahedron_update3, py::arg("a"), py::arg("ua"), py::arg("ba"), py::arg("da"),
        py::arg("b"), py::arg("ub"), py::arg("bb"), py::arg("db"), py::arg("c"), py::arg("uc"), py::arg("bc"),
        py::arg("dc"), py::arg("x"), py::arg("bx"), py::arg("dx"));
  m.def("triangle_jet_update3", &triangle_jet_update3, py::arg("points"), py::arg("values"), py::arg("gradients"),
        py::arg("drift"), py::arg("diffusion"), py::arg("x"), py::arg("bx"), py::arg("dx"), py::arg("ddrift"),
        py::arg("dmetric"), py::arg("u0"), py::arg("v0"));
}

}  // namespace hjqp_bindings
