// pybind11 module hjqp._core: the binding converts arrays, releases the GIL
// around the kernel, polls for KeyboardInterrupt and maps C++ errors to
// Python ones. No numerics here: everything is in cpp/include/hjqp/.
#include <pybind11/native_enum.h>

#include "common.hpp"
#include "hjqp/domain.hpp"
#include "hjqp/flow.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/quasipotential.hpp"
#include "hjqp/sde.hpp"

namespace hjqp_bindings {
namespace {

// The kernel's enumerations as Python enum.IntEnum classes (defined once,
// here, from the C++ ones): arrays of codes compare with their members.
void bind_enums(py::module_& m) {
  py::native_enum<hjqp::UpdateRule>(m, "UpdateRule", "enum.IntEnum",
                                    "Which rule gave a node of a quasi-potential its value.")
      .value("UNREACHED", hjqp::UpdateRule::Unreached, "not reached (value +inf)")
      .value("SEED", hjqp::UpdateRule::Seed, "initial data near the attractor")
      .value("JET", hjqp::UpdateRule::Jet, "the high-order jet update")
      .value("PINNED_JET", hjqp::UpdateRule::PinnedJet, "jet update from an end of the accepted region")
      .value("NEIGHBOUR", hjqp::UpdateRule::Neighbour, "first-order update from the neighbours")
      .finalize();
  py::native_enum<hjqp::FlowStop>(m, "FlowStop", "enum.IntEnum", "Why a trajectory of x' = b(x) stopped.")
      .value("CAPTURED", hjqp::FlowStop::Captured, "reached a target (an attractor)")
      .value("STALLED", hjqp::FlowStop::Stalled, "b vanished: an equilibrium or a flat region")
      .value("LEFT_BOX", hjqp::FlowStop::LeftBox, "crossed the box edge")
      .value("MAX_STEPS", hjqp::FlowStop::MaxSteps, "still moving at the step limit")
      .value("CYCLE", hjqp::FlowStop::Cycle, "came back onto its own track: a closed orbit")
      .finalize();
  py::native_enum<hjqp::PathStop>(m, "PathStop", "enum.IntEnum", "Why a Monte Carlo path stopped.")
      .value("RUNNING", hjqp::PathStop::Running, "reached the last step asked for")
      .value("EXITED", hjqp::PathStop::Exited, "left the domain")
      .value("LEFT_GRID", hjqp::PathStop::LeftGrid, "stepped outside the grid's box, where the fields end")
      .value("STOPPED", hjqp::PathStop::Stopped, "stopped by an interrupt")
      .finalize();
  py::native_enum<hjqp::DomainKind>(m, "DomainKind", "enum.IntEnum", "The kinds of Monte Carlo domains.")
      .value("BALL", hjqp::DomainKind::Ball)
      .value("BOX", hjqp::DomainKind::Box)
      .value("LEVEL_SET", hjqp::DomainKind::LevelSet)
      .finalize();
}

}  // namespace
}  // namespace hjqp_bindings

PYBIND11_MODULE(_core, m) {
  using namespace hjqp_bindings;
  m.doc() = "Compiled kernel of hjqp (private: use the hjqp package).";
  bind_enums(m);
  m.attr("SPD_TOLERANCE") = hjqp::kSpdTolerance;
  m.attr("SYMMETRY_TOLERANCE") = hjqp::kSymmetryTolerance;
  bind_march(m);
  bind_updates(m);
  bind_flow(m);
  bind_eikonal(m);
  bind_stochastic(m);
  bind_jump(m);
  bind_gillespie(m);
  // Ctrl-C for API calls (hjqp._interrupt).
  m.def("enter_call", &cancellation::enter_call, py::arg("start") = py::none(),
        "Begin an API call on this thread (or join the call whose start is given); returns its start.");
  m.def("exit_call", &cancellation::exit_call, "End the API call begun on this thread.");
  m.def("cancelled", &cancellation::cancelled,
        "Whether Ctrl-C came since the API call running on this thread began (False outside a call).");
}
