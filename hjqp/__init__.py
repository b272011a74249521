"""hjqp: Freidlin-Wentzell quasi-potentials of SDEs on grids.

The quasi-potential U of an attractor O of dx = b dt + sqrt(eps) Sigma dW
(D = Sigma Sigma^T) solves 1/2 grad U^T D grad U + b . grad U = 0, U(O) = 0.
hjqp computes it with a compiled ordered jet-marching kernel.
"""

from . import eikonal, models
from ._version import __version__
from .attractor import LocalExpansion
from .grid import Grid
from .landscape import Equilibria, Landscape, basins, equilibria, landscape
from .montecarlo import (Ball, Box, Estimate, Exits, LevelSet, LongRun, Paths, exit_times, long_run,
                         simulate)
from .paths import geometric_action, minimum_action_path
from .quasipotential import QuasiPotential, UpdateRule, local_quasipotential
from .sde import SDE

__all__ = [
    "__version__",
    "Grid",
    "SDE",
    "QuasiPotential",
    "UpdateRule",
    "LocalExpansion",
    "local_quasipotential",
    "Landscape",
    "Equilibria",
    "landscape",
    "equilibria",
    "basins",
    "minimum_action_path",
    "geometric_action",
    "Ball",
    "Box",
    "LevelSet",
    "Estimate",
    "Paths",
    "Exits",
    "LongRun",
    "simulate",
    "exit_times",
    "long_run",
    "models",
    "eikonal",
]
