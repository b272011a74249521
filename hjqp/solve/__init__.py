"""The kernel's marches from Python: the local quasi-potential of an
attractor (initial data, the march, interpolation of the result), minimum
action paths from it, and the eikonal solver."""

from . import eikonal
from .cycle import CycleExpansion, cycle_expansion
from .action import MinimumAction, minimum_action
from .expansion import LocalExpansion, local_expansion
from .paths import follow_flow, geometric_action, minimum_action_path
from .quasipotential import (MAX_CELL_ASPECT, QuasiPotential, UpdateRule, local_quasipotential, solve_local,
                             warn_negative_values, warn_truncated_traces)

__all__ = ["QuasiPotential", "UpdateRule", "LocalExpansion", "local_quasipotential", "local_expansion",
           "minimum_action_path", "geometric_action", "follow_flow", "eikonal", "MAX_CELL_ASPECT", "solve_local",
           "warn_truncated_traces", "warn_negative_values", "CycleExpansion", "cycle_expansion", "MinimumAction", "minimum_action"]
