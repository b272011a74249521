// What every binding file of hjqp._core shares: array types, shape checks
// that name the argument, conversion of small vectors and point lists, and
// running kernel code with the GIL released while polling for Ctrl-C.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#if defined(__unix__) || defined(__APPLE__)
#include <signal.h>
#endif

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
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

// `a` must have shape grid.shape + (D,) * trailing_dims, followed by
// (last,) when last > 0.
template <int D>
void check_field_shape(const py::array& a, const hjqp::Grid<D>& grid, int trailing_dims, const char* name,
                       py::ssize_t last = 0) {
  const int extra = last > 0 ? 1 : 0;
  bool ok = a.ndim() == D + trailing_dims + extra;
  for (int k = 0; ok && k < D; ++k) ok = a.shape(k) == grid.shape()[k];
  for (int k = 0; ok && k < trailing_dims; ++k) ok = a.shape(D + k) == D;
  if (ok && extra) ok = a.shape(D + trailing_dims) == last;
  if (!ok) {
    std::string want = "(";
    for (int k = 0; k < D; ++k) want += std::to_string(grid.shape()[k]) + ", ";
    for (int k = 0; k < trailing_dims; ++k) want += std::to_string(D) + ", ";
    if (extra) want += std::to_string(last) + ", ";
    want = want.substr(0, want.size() - 2) + ")";
    throw std::invalid_argument(std::string(name) + " must have shape " + want + ", got " + shape_str(a));
  }
}

// The seeded 1-jets of a march: nodes (n,), values (n,), gradients (n, D),
// n >= 1. Returns n.
template <int D>
py::ssize_t check_seeds(const IndexArray& seed_nodes, const DoubleArray& seed_values,
                        const DoubleArray& seed_gradients) {
  const py::ssize_t n_seeds = seed_nodes.ndim() == 1 ? seed_nodes.shape(0) : -1;
  if (n_seeds < 1) throw std::invalid_argument("seed_nodes must be a non-empty 1D array");
  if (seed_values.ndim() != 1 || seed_values.shape(0) != n_seeds)
    throw std::invalid_argument("seed_values must have shape (" + std::to_string(n_seeds) + ",), got " +
                                shape_str(seed_values));
  if (seed_gradients.ndim() != 2 || seed_gradients.shape(0) != n_seeds || seed_gradients.shape(1) != D)
    throw std::invalid_argument("seed_gradients must have shape (" + std::to_string(n_seeds) + ", " +
                                std::to_string(D) + "), got " + shape_str(seed_gradients));
  return n_seeds;
}

// An output array of the grid's shape (with trailing axes).
template <class T, int D>
py::array_t<T> grid_array(const hjqp::Grid<D>& grid, std::vector<py::ssize_t> trailing = {}) {
  std::vector<py::ssize_t> shape;
  for (int k = 0; k < D; ++k) shape.push_back(grid.shape()[k]);
  shape.insert(shape.end(), trailing.begin(), trailing.end());
  return py::array_t<T>(shape);
}

// Ctrl-C for kernel work on every thread. Python runs signal handlers in
// the main thread only, and PyErr_CheckSignals does nothing elsewhere: a
// march started from a worker thread (a ThreadPoolExecutor, landscape's
// parallel solves) never saw Ctrl-C and ran to completion while the main
// thread waited for it. So every SIGINT that Python turns into
// KeyboardInterrupt also advances a process-wide count, and kernel work
// stops when the count has moved since it started: all work running at
// the time of the Ctrl-C stops, work started afterwards runs.
//
// The count is advanced (a) by a SIGINT handler chained in front of
// Python's own while kernel work runs (POSIX), so that it moves even when
// the main thread is not in the kernel but waiting for the workers, and
// (b) by the main thread's check when its KeyboardInterrupt is raised.
// The handler is chained only while Python's handler is
// signal.default_int_handler: a handler of the user's own decides itself
// what Ctrl-C means.
//
// A call of the Python API (hjqp._interrupt.call) widens this to all the
// kernel work it starts: work begun by the call after a Ctrl-C stops too
// (on a worker thread the call ran on, the Ctrl-C did not stop the call's
// Python steps, and each kernel step started afterwards ran to the end).
// The call keeps the handler chained for as long as it runs, and its
// start, which the kernel work started on its thread (or on a thread that
// carries the call's start) is measured against.
namespace cancellation {

inline std::atomic<std::uint64_t>& count() {
  static std::atomic<std::uint64_t> c{0};
  return c;
}
inline void request() { count().fetch_add(1); }

#if defined(__unix__) || defined(__APPLE__)
struct SigintChain {
  std::mutex mutex;
  int users = 0;                   // kernel calls that installed or share the handler
  struct sigaction previous = {};  // Python's handler, called first
};
inline SigintChain& chain() {
  static SigintChain c;
  return c;
}
extern "C" inline void on_sigint(int signal_number) {
  // Python's handler first: by the time the count moves, the main thread's
  // KeyboardInterrupt is pending, and it raises that rather than its own.
  const struct sigaction& previous = chain().previous;
  if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
    previous.sa_handler(signal_number);
  request();
}
#endif

// Chain our SIGINT handler in front of Python's (if Python's is
// signal.default_int_handler), or share the chain already there; true if
// joined, and then leave_chain() must follow. With the GIL held.
inline bool join_chain() {
#if defined(__unix__) || defined(__APPLE__)
  py::module_ signal = py::module_::import("signal");
  if (!signal.attr("getsignal")(SIGINT).is(signal.attr("default_int_handler"))) return false;
  SigintChain& c = chain();
  const std::lock_guard<std::mutex> lock(c.mutex);
  if (c.users == 0) {
    struct sigaction current = {};
    if (sigaction(SIGINT, nullptr, &current) != 0 || (current.sa_flags & SA_SIGINFO) ||
        current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN || current.sa_handler == &on_sigint)
      return false;
    c.previous = current;
    struct sigaction ours = current;
    ours.sa_handler = &on_sigint;
    if (sigaction(SIGINT, &ours, nullptr) != 0) return false;
  }
  ++c.users;
  return true;
#else
  return false;
#endif
}

inline void leave_chain() {
#if defined(__unix__) || defined(__APPLE__)
  SigintChain& c = chain();
  const std::lock_guard<std::mutex> lock(c.mutex);
  if (--c.users > 0) return;
  // Put Python's handler back, unless Python has replaced ours meanwhile
  // (signal.signal), which then stays.
  struct sigaction current = {};
  if (sigaction(SIGINT, nullptr, &current) == 0 && !(current.sa_flags & SA_SIGINFO) &&
      current.sa_handler == &on_sigint)
    sigaction(SIGINT, &c.previous, nullptr);
#endif
}

// The API call running on this thread (see above): how deeply calls nest,
// the count when the outermost began, and whether it joined the chain.
struct Call {
  int depth = 0;
  std::uint64_t start = 0;
  bool joined = false;
};
inline Call& this_thread_call() {
  thread_local Call call;
  return call;
}

// Begin a call on this thread (nested calls share the outermost one's
// start): its start is `start` when given (a call begun on another thread
// whose work this thread runs), else the count now. Returns the start.
// With the GIL held.
inline std::uint64_t enter_call(const std::optional<std::uint64_t>& start) {
  Call& call = this_thread_call();
  if (call.depth++ == 0) {
    call.start = start ? *start : count().load();
    call.joined = join_chain();
  }
  return call.start;
}

inline void exit_call() {
  Call& call = this_thread_call();
  if (call.depth == 0) throw std::logic_error("no hjqp call to end on this thread");
  if (--call.depth == 0 && call.joined) {
    call.joined = false;
    leave_chain();
  }
}

// Whether Ctrl-C came since the call running on this thread began (false
// outside a call): for the call's own steps between kernel calls.
inline bool cancelled() {
  const Call& call = this_thread_call();
  return call.depth > 0 && count().load() != call.start;
}

// While alive, SIGINT cancels kernel work (see above). Made with the GIL
// held. Inside a call the work is measured against the call's start.
class Scope {
 public:
  Scope()
      : start_(this_thread_call().depth > 0 ? this_thread_call().start : count().load()),
        joined_(join_chain()) {}
  ~Scope() {
    if (joined_) leave_chain();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

  // Whether a cancellation was requested since the scope (or its call) began.
  bool cancelled() const { return count().load() != start_; }

 private:
  std::uint64_t start_;
  bool joined_ = false;
};

}  // namespace cancellation

// Runs work(check) with the GIL released. check() returns true once Ctrl-C
// has cancelled the work (see cancellation above); in the main thread it
// also takes the GIL for a moment to poll for signals, so that a handler
// that raises stops the work too. The kernel either returns early
// (reporting it) or throws hjqp::Interrupted, which ends the work quietly;
// the Python error (KeyboardInterrupt, or the handler's) is raised here.
template <class F>
void without_gil(F&& work) {
  std::atomic<bool> interrupted{false};
  const cancellation::Scope scope;
  {
    py::gil_scoped_release release;
    const std::function<bool()> check = [&interrupted, &scope]() {
      if (scope.cancelled()) interrupted.store(true);
      if (interrupted.load()) return true;
      py::gil_scoped_acquire acquire;
      if (PyErr_CheckSignals() != 0) {
        interrupted.store(true);
        if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) cancellation::request();
      }
      return interrupted.load();
    };
    work(check);
  }
  if (interrupted.load()) {
    // The handler's error when it ran in this thread; else the Ctrl-C came
    // in through the count (another thread, or the main thread before its
    // handler ran, which then runs now).
    if (!PyErr_Occurred() && PyErr_CheckSignals() == 0) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
}

void bind_march(py::module_& m);
void bind_updates(py::module_& m);
void bind_flow(py::module_& m);
void bind_eikonal(py::module_& m);
void bind_stochastic(py::module_& m);
void bind_jump(py::module_& m);
void bind_gillespie(py::module_& m);

}  // namespace hjqp_bindings
