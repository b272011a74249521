// What every binding file of hjqp._core shares: array types, shape checks
// that name the argument, conversion of small vectors and point lists, and
// running kernel code with the GIL released while polling for Ctrl-C.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "hjqp/grid.hpp"
#include "hjqp/linalg.hpp"

namespace hjqp_bindings {

namespace py = pybind11;

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
using MaskArray = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;
using LabelArray = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t k = 0; k < a.ndim(); ++k) s += (k ? ", " : "") + std::to_string(a.shape(k));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <int D>
hjqp::Vec<D> vec_from(const DoubleArray& a, const char* name) {
  if (a.ndim() != 1 || a.shape(0) != D)
    throw std::invalid_argument(std::string(name) + " must have shape (" + std::to_string(D) + ",), got " +
                                shape_str(a));
  hjqp::Vec<D> v;
  for (int k = 0; k < D; ++k) v[k] = a.data()[k];
  return v;
}

// Rows of an (n, D) array.
template <int D>
std::vector<hjqp::Vec<D>> points_from(const DoubleArray& a, const char* name) {
  if (a.ndim() != 2 || a.shape(1) != D)
    throw std::invalid_argument(std::string(name) + " must have shape (n, " + std::to_string(D) + "), got " +
                                shape_str(a));
  std::vector<hjqp::Vec<D>> out(std::size_t(a.shape(0)));
  for (std::size_t i = 0; i < out.size(); ++i)
    for (int k = 0; k < D; ++k) out[i][k] = a.data()[i * D + k];
  return out;
}

// The grid whose nodes the leading axes of `field` index.
template <int D>
hjqp::Grid<D> grid_from(const DoubleArray& lower, const DoubleArray& spacing, const py::array& field,
                        const char* name) {
  if (field.ndim() < D)
    throw std::invalid_argument(std::string(name) + " has too few dimensions: " + shape_str(field));
  hjqp::MultiIndex<D> shape;
  for (int k = 0; k < D; ++k) shape[k] = field.shape(k);
  return hjqp::Grid<D>(vec_from<D>(lower, "lower"), vec_from<D>(spacing, "spacing"), shape);
}

// `a` must have shape grid.shape + (D,) * trailing_dims.
template <int D>
void check_field_shape(const py::array& a, const hjqp::Grid<D>& grid, int trailing_dims, const char* name) {
  bool ok = a.ndim() == D + trailing_dims;
  for (int k = 0; ok && k < D; ++k) ok = a.shape(k) == grid.shape()[k];
  for (int k = 0; ok && k < trailing_dims; ++k) ok = a.shape(D + k) == D;
  if (!ok) {
    std::string want = "(";
    for (int k = 0; k < D; ++k) want += std::to_string(grid.shape()[k]) + ", ";
    for (int k = 0; k < trailing_dims; ++k) want += std::to_string(D) + ", ";
    want = want.substr(0, want.size() - 2) + ")";
    throw std::invalid_argument(std::string(name) + " must have shape " + want + ", got " + shape_str(a));
  }
}

// An output array of the grid's shape (with trailing axes).
template <class T, int D>
py::array_t<T> grid_array(const hjqp::Grid<D>& grid, std::vector<py::ssize_t> trailing = {}) {
  std::vector<py::ssize_t> shape;
  for (int k = 0; k < D; ++k) shape.push_back(grid.shape()[k]);
  shape.insert(shape.end(), trailing.begin(), trailing.end());
  return py::array_t<T>(shape);
}

// Runs work(check) with the GIL released. check() takes the GIL for a
// moment, polls for signals and returns true once one has arrived; the
// Python error it set (KeyboardInterrupt) is then raised here. The kernel
// either returns early (reporting it) or throws hjqp::Interrupted, which
// ends the work quietly.
template <class F>
void without_gil(F&& work) {
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

void bind_march(py::module_& m);
void bind_updates(py::module_& m);
void bind_flow(py::module_& m);
void bind_eikonal(py::module_& m);
void bind_stochastic(py::module_& m);
void bind_jump(py::module_& m);

}  // namespace hjqp_bindings
