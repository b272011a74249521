"""hjqp: Freidlin-Wentzell quasi-potentials of SDEs on grids.

The quasi-potential U of an attractor O of dx = b dt + sqrt(eps) Sigma dW
(D = Sigma Sigma^T) solves 1/2 grad U^T D grad U + b . grad U = 0, U(O) = 0.
hjqp computes it with a compiled ordered jet-marching kernel.

The package follows the pipeline: a problem (:mod:`hjqp.problem`: the SDE
and its fields on a :class:`Grid`) is marched by the kernel
(:mod:`hjqp.solve`), local solutions are combined into a landscape
(:mod:`hjqp.landscape`), checked by stochastic simulation
(:mod:`hjqp.stochastic`, :mod:`hjqp.sgd`) and :mod:`hjqp.verify`, and
reported (:mod:`hjqp.report`, the ``hjqp`` command).
"""

from . import eikonal, io, models, plot, verify
from ._version import __version__
from .grid import Grid
from .landscape import (Barriers, Equilibria, ExitTime, Landscape, PrefactorWarning, Prefactors, SaddleCrossing,
                        barriers, basins, equilibria, landscape, limit_cycle, mean_exit_time)
from .report.sweep import Sweep, sweep
from .problem import SDE, JumpHamiltonian, LimitCycle, MassAction, ReactionNetwork
from .solve import (CycleExpansion, LocalExpansion, MinimumAction, QuasiPotential, UpdateRule, geometric_action,
                    local_quasipotential, minimum_action, minimum_action_path)
from .stochastic import (Ball, Box, Estimate, Exits, LevelSet, LongRun, Paths, Tube, exit_times, long_run,
                         master_equation, simulate)
from .stochastic import Committor, FirstPassage, FokkerPlanck, committor, fokker_planck, mean_first_passage
from .stochastic import Splitting, TransitionRate, ams, ams_rate

__all__ = [
    "__version__",
    "Grid",
    "SDE",
    "JumpHamiltonian",
    "ReactionNetwork",
    "MassAction",
    "QuasiPotential",
    "UpdateRule",
    "LocalExpansion",
    "LimitCycle",
    "CycleExpansion",
    "limit_cycle",
    "local_quasipotential",
    "Landscape",
    "Equilibria",
    "landscape",
    "equilibria",
    "basins",
    "Prefactors",
    "SaddleCrossing",
    "PrefactorWarning",
    "ExitTime",
    "mean_exit_time",
    "minimum_action_path",
    "geometric_action",
    "minimum_action",
    "MinimumAction",
    "barriers",
    "Barriers",
    "Sweep",
    "sweep",
    "Ball",
    "Box",
    "LevelSet",
    "Tube",
    "Estimate",
    "Paths",
    "Exits",
    "LongRun",
    "simulate",
    "exit_times",
    "long_run",
    "master_equation",
    "FokkerPlanck",
    "FirstPassage",
    "Committor",
    "fokker_planck",
    "mean_first_passage",
    "committor",
    "Splitting",
    "TransitionRate",
    "ams",
    "ams_rate",
    "models",
    "eikonal",
    "io",
    "plot",
    "verify",
]
