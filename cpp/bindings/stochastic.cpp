// hjqp._core: Euler-Maruyama over sampled fields (sde.hpp, domain.hpp).
#include <memory>

#include "common.hpp"
#include "hjqp/domain.hpp"
#include "hjqp/sde.hpp"

namespace hjqp_bindings {
namespace {

// Where and why each path stopped: ends (n, D), stops (n,) (PathStop
// codes), steps (n,).
struct PathEnds {
  py::array_t<double> ends;
  py::array_t<std::uint8_t> stops;
  py::array_t<std::int64_t> steps;
};

template <int D>
PathEnds path_ends(const hjqp::PathSet<D>& paths) {
  const py::ssize_t n = py::ssize_t(paths.size());
  PathEnds out{py::array_t<double>(std::vector<py::ssize_t>{n, D}), py::array_t<std::uint8_t>(n),
               py::array_t<std::int64_t>(n)};
  double* e = out.ends.mutable_data();
  std::uint8_t* r = out.stops.mutable_data();
  std::int64_t* st = out.steps.mutable_data();
  for (py::ssize_t i = 0; i < n; ++i) {
    r[i] = std::uint8_t(paths.stops()[std::size_t(i)]);
    st[i] = paths.steps()[std::size_t(i)];
    for (int k = 0; k < D; ++k) e[i * D + k] = paths.states()[std::size_t(i)][k];
  }
  return out;
}

struct StoredPaths : PathEnds {
  py::array_t<double> samples;  // (n, m, D)
};

struct ExitedPaths : PathEnds {
  py::array_t<double> boundary;  // (n, D): the end points projected onto the boundary
};

struct TalliedPaths : PathEnds {
  py::array_t<std::int32_t> cores;        // (n,): the last core visited, -1 if none
  py::array_t<std::int64_t> milestones;   // (n, k + 1)
  py::array_t<std::int64_t> transitions;  // (n, k, k)
  py::array_t<std::int64_t> labels;       // (n, n_labels + 1)
  py::array_t<std::int64_t> histogram;    // grid shape, or (0,)
};

template <int D>
std::shared_ptr<hjqp::SampledSDE<D>> make_sampled(const DoubleArray& lower, const DoubleArray& spacing,
                                                  const DoubleArray& drift, const DoubleArray& sigma) {
  const hjqp::Grid<D> grid = grid_from<D>(lower, spacing, drift, "drift");
  check_field_shape<D>(drift, grid, 1, "drift");
  check_field_shape<D>(sigma, grid, 2, "sigma");
  return std::make_shared<hjqp::SampledSDE<D>>(grid, drift.data(), sigma.data());
}

template <int D>
hjqp::PathSet<D> path_set(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& paths) {
  std::vector<hjqp::Vec<D>> x = points_from<D>(x0, "x0");
  if (paths.ndim() != 1 || paths.shape(0) != py::ssize_t(x.size()))
    throw std::invalid_argument("paths must have shape (" + std::to_string(x.size()) + ",), got " + shape_str(paths));
  return hjqp::PathSet<D>(sde, std::move(x), paths.data());
}

template <int D>
StoredPaths em_store(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& ids, double eps,
                     double dt, std::uint64_t seed, std::int64_t n0, std::int64_t n1, std::int64_t thin,
                     int threads) {
  hjqp::PathSet<D> paths = path_set<D>(sde, x0, ids);
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  const py::ssize_t n = py::ssize_t(paths.size());
  const py::ssize_t m = thin >= 1 && n1 >= n0 ? py::ssize_t((n1 - n0 + thin - 1) / thin) : 0;
  py::array_t<double> samples(std::vector<py::ssize_t>{n, m, D});
  double* s = samples.mutable_data();
  std::fill(s, s + n * m * D, std::numeric_limits<double>::quiet_NaN());
  without_gil([&](const std::function<bool()>& check) { hjqp::store_paths<D>(em, paths, n0, n1, thin, s, threads, check); });
  StoredPaths out{path_ends<D>(paths), samples};
  return out;
}

template <int D>
ExitedPaths em_exit(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& ids, double eps,
                    double dt, std::uint64_t seed, std::int64_t n0, std::int64_t n1, hjqp::DomainKind kind,
                    const DoubleArray& center, double radius, const DoubleArray& lower, const DoubleArray& upper,
                    const std::optional<DoubleArray>& level, double shift, int threads) {
  hjqp::PathSet<D> paths = path_set<D>(sde, x0, ids);
  if (level) check_field_shape<D>(*level, sde.grid(), 0, "level");
  const hjqp::Domain<D> domain =
      hjqp::make_domain<D>(kind, vec_from<D>(center, "center"), radius, vec_from<D>(lower, "lower"),
                           vec_from<D>(upper, "upper"), level ? level->data() : nullptr, sde.grid());
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  py::array_t<double> boundary(std::vector<py::ssize_t>{py::ssize_t(paths.size()), D});
  double* bp = boundary.mutable_data();
  without_gil([&](const std::function<bool()>& check) {
    hjqp::exit_paths<D>(em, paths, n0, n1, domain, shift, bp, threads, check);
  });
  ExitedPaths out{path_ends<D>(paths), boundary};
  return out;
}

template <int D>
TalliedPaths em_tally(const hjqp::SampledSDE<D>& sde, const DoubleArray& x0, const IndexArray& ids,
                      const LabelArray& cores_in, double eps, double dt, std::uint64_t seed, std::int64_t n0,
                      std::int64_t n1, const DoubleArray& centers, const DoubleArray& radii,
                      const std::optional<LabelArray>& labels, int n_labels, bool histogram, int threads) {
  hjqp::PathSet<D> paths = path_set<D>(sde, x0, ids);
  const py::ssize_t n = py::ssize_t(paths.size());
  hjqp::Cores<D> cores;
  cores.centers = points_from<D>(centers, "centers");
  const int k = int(cores.centers.size());
  if (radii.ndim() != 1 || radii.shape(0) != k) throw std::invalid_argument("radii must have shape (" + std::to_string(k) + ",)");
  cores.radii.assign(radii.data(), radii.data() + k);
  if (cores_in.ndim() != 1 || cores_in.shape(0) != n)
    throw std::invalid_argument("cores must have shape (" + std::to_string(n) + ",)");
  if (labels) check_field_shape<D>(*labels, sde.grid(), 0, "labels");
  const int L = labels ? n_labels : 0;
  const hjqp::EulerMaruyama<D> em(sde, eps, dt, seed);
  TalliedPaths out;
  out.cores = py::array_t<std::int32_t>(n);
  out.milestones = py::array_t<std::int64_t>(std::vector<py::ssize_t>{n, k + 1});
  out.transitions = py::array_t<std::int64_t>(std::vector<py::ssize_t>{n, k, k});
  out.labels = py::array_t<std::int64_t>(std::vector<py::ssize_t>{n, std::max(L, 0) + 1});
  out.histogram = histogram ? grid_array<std::int64_t>(sde.grid()) : py::array_t<std::int64_t>(0);
  for (py::array_t<std::int64_t>* a : {&out.milestones, &out.transitions, &out.labels, &out.histogram})
    std::fill(a->mutable_data(), a->mutable_data() + a->size(), 0);
  std::vector<int> core(cores_in.data(), cores_in.data() + n);
  const hjqp::Tallies tallies{out.milestones.mutable_data(), out.transitions.mutable_data(),
                              labels ? out.labels.mutable_data() : nullptr,
                              histogram ? out.histogram.mutable_data() : nullptr};
  const std::int32_t* lab = labels ? labels->data() : nullptr;
  without_gil([&](const std::function<bool()>& check) {
    hjqp::tally_paths<D>(em, paths, core.data(), n0, n1, cores, lab, n_labels, tallies, threads, check);
  });
  std::copy(core.begin(), core.end(), out.cores.mutable_data());
  static_cast<PathEnds&>(out) = path_ends<D>(paths);
  return out;
}

py::array_t<double> em_normals(std::uint64_t seed, std::int64_t path, std::int64_t block, std::int64_t n) {
  if (n < 0) throw std::invalid_argument("n must be >= 0");
  py::array_t<double> out(n);
  hjqp::EulerMaruyama<2>::normals(seed, path, block, out.mutable_data(), n);
  return out;
}

template <int D>
void bind_em(py::module_& m) {
  const std::string suffix = std::to_string(D);
  using S = hjqp::SampledSDE<D>;
  py::class_<S, std::shared_ptr<S>>(m, ("SampledSDE" + suffix).c_str(), "Drift and Cholesky factor of D sampled on a grid.")
      .def(py::init(&make_sampled<D>), py::arg("lower"), py::arg("spacing"), py::arg("drift"), py::arg("sigma"));
  m.def(("em_store" + suffix).c_str(), &em_store<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"), py::arg("eps"),
        py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"), py::arg("thin"), py::arg("threads"),
        "Euler-Maruyama paths, stored every `thin` steps.");
  m.def(("em_exit" + suffix).c_str(), &em_exit<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"), py::arg("eps"),
        py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"), py::arg("kind"), py::arg("center"),
        py::arg("radius"), py::arg("lower"), py::arg("upper"), py::arg("level") = py::none(), py::arg("shift"),
        py::arg("threads"), "Euler-Maruyama until the first exit from a domain.");
  m.def(("em_tally" + suffix).c_str(), &em_tally<D>, py::arg("sde"), py::arg("x0"), py::arg("paths"),
        py::arg("cores"), py::arg("eps"), py::arg("dt"), py::arg("seed"), py::arg("n0"), py::arg("n1"),
        py::arg("centers"), py::arg("radii"), py::arg("labels") = py::none(), py::arg("n_labels") = 0,
        py::arg("histogram") = false, py::arg("threads"),
        "Euler-Maruyama long runs: core-set transitions, basin occupancy, histogram.");
}

}  // namespace

void bind_stochastic(py::module_& m) {
  py::class_<PathEnds>(m, "PathEnds", "Where (ends), why (stops: PathStop codes) and when (steps) paths stopped.")
      .def_readonly("ends", &PathEnds::ends)
      .def_readonly("stops", &PathEnds::stops)
      .def_readonly("steps", &PathEnds::steps);
  py::class_<StoredPaths, PathEnds>(m, "StoredPaths", "Paths' states every `thin` steps (samples), and their ends.")
      .def_readonly("samples", &StoredPaths::samples);
  py::class_<ExitedPaths, PathEnds>(m, "ExitedPaths", "First exits: the ends and their projections on the boundary.")
      .def_readonly("boundary", &ExitedPaths::boundary);
  py::class_<TalliedPaths, PathEnds>(m, "TalliedPaths", "A long run's tallies per path, and its ends.")
      .def_readonly("cores", &TalliedPaths::cores)
      .def_readonly("milestones", &TalliedPaths::milestones)
      .def_readonly("transitions", &TalliedPaths::transitions)
      .def_readonly("labels", &TalliedPaths::labels)
      .def_readonly("histogram", &TalliedPaths::histogram);
  bind_em<2>(m);
  bind_em<3>(m);
  m.def("em_normals", &em_normals, py::arg("seed"), py::arg("path"), py::arg("block"), py::arg("n"),
        "Normal variates of one random stream (for tests of the generator).");
  m.attr("EM_STEP_BLOCK") = hjqp::kStepBlock;
}

}  // namespace hjqp_bindings
