// hjqp._core: exact simulation of jump processes on a lattice (gillespie.hpp).
#include <memory>

#include "common.hpp"
#include "hjqp/gillespie.hpp"

namespace hjqp_bindings {
namespace {

using Lattice = hjqp::ReactionLattice;

std::shared_ptr<Lattice> make_lattice(const IndexArray& lower, const IndexArray& size, const IndexArray& jumps,
                                      const DoubleArray& rates) {
  if (lower.ndim() != 1 || size.ndim() != 1 || size.shape(0) != lower.shape(0))
    throw std::invalid_argument("lower and size must have shape (d,), got " + shape_str(lower) + " and " +
                                shape_str(size));
  const int d = int(lower.shape(0));
  if (jumps.ndim() != 2 || jumps.shape(1) != d)
    throw std::invalid_argument("jumps must have shape (R, " + std::to_string(d) + "), got " + shape_str(jumps));
  const int R = int(jumps.shape(0));
  py::ssize_t states = 1;
  for (int k = 0; k < d; ++k) {
    if (size.data()[k] < 1) throw std::invalid_argument("size must be >= 1");
    states *= py::ssize_t(size.data()[k]);
  }
  if (rates.ndim() != 2 || rates.shape(0) != states || rates.shape(1) != R)
    throw std::invalid_argument("rates must have shape (" + std::to_string(states) + ", " + std::to_string(R) +
                                "), got " + shape_str(rates));
  return std::make_shared<Lattice>(d, lower.data(), size.data(), R, jumps.data(), rates.data());
}

// Where (ends, counts), why (stops: PathStop codes) and after how many
// jumps (events; suppressed: those that would have left the box) paths stopped.
struct JumpEnds {
  py::array_t<std::int64_t> ends;
  py::array_t<std::uint8_t> stops;
  py::array_t<std::int64_t> events;
  py::array_t<std::int64_t> suppressed;
};

struct StoredJumps : JumpEnds {
  py::array_t<std::int64_t> samples;  // (n, m, d)
};

struct ExitedJumps : JumpEnds {
  py::array_t<double> times;  // (n,)
};

struct TalliedJumps : JumpEnds {
  py::array_t<std::int32_t> cores;        // (n,)
  py::array_t<double> milestones;         // (n, k + 1)
  py::array_t<std::int64_t> transitions;  // (n, k, k)
  py::array_t<double> labels;             // (n, n_labels + 1)
};

// The paths' arrays, checked against the lattice; out gets its arrays.
hjqp::JumpPaths jump_paths(const Lattice& lattice, const IndexArray& start, const IndexArray& ids, JumpEnds& out) {
  const int d = lattice.dims();
  if (start.ndim() != 2 || start.shape(1) != d)
    throw std::invalid_argument("start must have shape (n, " + std::to_string(d) + "), got " + shape_str(start));
  const py::ssize_t n = start.shape(0);
  if (ids.ndim() != 1 || ids.shape(0) != n)
    throw std::invalid_argument("paths must have shape (" + std::to_string(n) + ",), got " + shape_str(ids));
  out.ends = py::array_t<std::int64_t>(std::vector<py::ssize_t>{n, d});
  out.stops = py::array_t<std::uint8_t>(n);
  out.events = py::array_t<std::int64_t>(n);
  out.suppressed = py::array_t<std::int64_t>(n);
  return {hjqp::Index(n), ids.data(), start.data(), out.ends.mutable_data(),
          reinterpret_cast<hjqp::PathStop*>(out.stops.mutable_data()), out.events.mutable_data(),
          out.suppressed.mutable_data()};
}

void check_states(const Lattice& lattice, const py::array& a, const char* name) {
  if (a.ndim() != 1 || a.shape(0) != lattice.states())
    throw std::invalid_argument(std::string(name) + " must have one entry per lattice state (" +
                                std::to_string(lattice.states()) + ",), got " + shape_str(a));
}

StoredJumps jump_store(const Lattice& lattice, const IndexArray& start, const IndexArray& ids, std::uint64_t seed,
                       double dt, std::int64_t m, int threads) {
  StoredJumps out;
  const hjqp::JumpPaths p = jump_paths(lattice, start, ids, out);
  if (m < 1) throw std::invalid_argument("at least one sample per path is needed");
  out.samples = py::array_t<std::int64_t>(std::vector<py::ssize_t>{py::ssize_t(p.count), py::ssize_t(m), lattice.dims()});
  std::int64_t* s = out.samples.mutable_data();
  without_gil([&](const std::function<bool()>& check) { hjqp::jump_store(lattice, p, seed, dt, m, s, threads, check); });
  return out;
}

ExitedJumps jump_exit(const Lattice& lattice, const IndexArray& start, const IndexArray& ids, std::uint64_t seed,
                      const MaskArray& inside, double max_time, int threads) {
  ExitedJumps out;
  const hjqp::JumpPaths p = jump_paths(lattice, start, ids, out);
  check_states(lattice, inside, "inside");
  out.times = py::array_t<double>(py::ssize_t(p.count));
  double* t = out.times.mutable_data();
  without_gil([&](const std::function<bool()>& check) {
    hjqp::jump_exit(lattice, p, seed, inside.data(), max_time, t, threads, check);
  });
  return out;
}

TalliedJumps jump_tally(const Lattice& lattice, const IndexArray& start, const IndexArray& ids, std::uint64_t seed,
                        const LabelArray& core_of, const LabelArray& cores, int k, double burn_in, double total,
                        const std::optional<LabelArray>& labels, int n_labels, int threads) {
  TalliedJumps out;
  const hjqp::JumpPaths p = jump_paths(lattice, start, ids, out);
  const py::ssize_t n = py::ssize_t(p.count);
  check_states(lattice, core_of, "core_of");
  if (labels) check_states(lattice, *labels, "labels");
  if (k < 0) throw std::invalid_argument("k must be >= 0");
  if (cores.ndim() != 1 || cores.shape(0) != n)
    throw std::invalid_argument("cores must have shape (" + std::to_string(n) + ",), got " + shape_str(cores));
  if (labels && n_labels < 0) throw std::invalid_argument("n_labels must be >= 0");
  const int L = labels ? n_labels : 0;
  out.cores = py::array_t<std::int32_t>(n);
  std::copy(cores.data(), cores.data() + n, out.cores.mutable_data());
  out.milestones = py::array_t<double>(std::vector<py::ssize_t>{n, k + 1});
  out.transitions = py::array_t<std::int64_t>(std::vector<py::ssize_t>{n, k, k});
  out.labels = py::array_t<double>(std::vector<py::ssize_t>{n, L + 1});
  std::fill(out.milestones.mutable_data(), out.milestones.mutable_data() + out.milestones.size(), 0.0);
  std::fill(out.transitions.mutable_data(), out.transitions.mutable_data() + out.transitions.size(), 0);
  std::fill(out.labels.mutable_data(), out.labels.mutable_data() + out.labels.size(), 0.0);
  const hjqp::JumpTallies tallies{k, out.milestones.mutable_data(), out.transitions.mutable_data(),
                                  labels ? labels->data() : nullptr, L,
                                  labels ? out.labels.mutable_data() : nullptr};
  std::int32_t* c = out.cores.mutable_data();
  without_gil([&](const std::function<bool()>& check) {
    hjqp::jump_tally(lattice, p, seed, core_of.data(), c, burn_in, total, tallies, threads, check);
  });
  return out;
}

}  // namespace

void bind_gillespie(py::module_& m) {
  py::class_<Lattice, std::shared_ptr<Lattice>>(m, "ReactionLattice",
                                                "Reaction rates tabulated on a box of integer copy numbers.")
      .def(py::init(&make_lattice), py::arg("lower"), py::arg("size"), py::arg("jumps"), py::arg("rates"))
      .def_property_readonly("states", &Lattice::states);
  py::class_<JumpEnds>(m, "JumpEnds", "Where (ends), why (stops: PathStop codes) and after how many jumps (events; suppressed at the box's edge) paths stopped.")
      .def_readonly("ends", &JumpEnds::ends)
      .def_readonly("stops", &JumpEnds::stops)
      .def_readonly("events", &JumpEnds::events)
      .def_readonly("suppressed", &JumpEnds::suppressed);
  py::class_<StoredJumps, JumpEnds>(m, "StoredJumps", "Counts at times 0, dt, 2 dt, ... (samples).")
      .def_readonly("samples", &StoredJumps::samples);
  py::class_<ExitedJumps, JumpEnds>(m, "ExitedJumps", "First exits: their times.")
      .def_readonly("times", &ExitedJumps::times);
  py::class_<TalliedJumps, JumpEnds>(m, "TalliedJumps", "A long run's time per last core and per label, and transitions.")
      .def_readonly("cores", &TalliedJumps::cores)
      .def_readonly("milestones", &TalliedJumps::milestones)
      .def_readonly("transitions", &TalliedJumps::transitions)
      .def_readonly("labels", &TalliedJumps::labels);
  m.def("jump_store", &jump_store, py::arg("lattice"), py::arg("start"), py::arg("paths"), py::arg("seed"),
        py::arg("dt"), py::arg("m"), py::arg("threads"), "Gillespie paths' counts at times 0, dt, ..., (m - 1) dt.");
  m.def("jump_exit", &jump_exit, py::arg("lattice"), py::arg("start"), py::arg("paths"), py::arg("seed"),
        py::arg("inside"), py::arg("max_time"), py::arg("threads"),
        "Gillespie paths until their first jump out of the states marked inside.");
  m.def("jump_tally", &jump_tally, py::arg("lattice"), py::arg("start"), py::arg("paths"), py::arg("seed"),
        py::arg("core_of"), py::arg("cores"), py::arg("k"), py::arg("burn_in"), py::arg("total"),
        py::arg("labels") = py::none(), py::arg("n_labels") = 0, py::arg("threads"),
        "Gillespie long runs: time per last core and per label, transitions between cores.");
}

}  // namespace hjqp_bindings
