"""Problems with known quasi-potentials, for tests, benchmarks and examples.

Each function returns a :class:`Problem`: the SDE, its attractor, a box, and
the exact quasi-potential where one is known (``hjqp models`` lists them).
"""

from .cycles import (cycle_2d, cycle_3d, cycle_and_point, cycle_and_point_3d, manufactured_cycle,
                     rest_and_oscillation, rosenzweig_macarthur)
from .anydim import double_well_potential, jump_double_well, manufactured_nd
from .eikonal import eikonal_manufactured, unconstrained_region
from .exact import (
                    anisotropic_rotating,
                    anisotropic_rotating_3d,
                    example_3_1,
                    gradient_system,
                    linear,
                    linear_3d,
                    linear_rotational,
                    manufactured,
)
from .jumps import (
                    jump_cyclic,
                    jump_detailed_balance,
                    jump_gaussian_limit,
                    separable_sgd,
)
from .landscapes import double_well_3d, example_4_1, maier_stein, multiwell
from .networks import (
                    complex_balanced,
                    network_detailed_balance,
                    schlogl_2d,
                    toggle_switch,
)
from .problem import Problem
from .sgd import iris_four_features, iris_mixture, iris_two_widths

__all__ = [
    "Problem",
    "manufactured",
    "linear_rotational",
    "example_3_1",
    "gradient_system",
    "anisotropic_rotating",
    "anisotropic_rotating_3d",
    "example_4_1",
    "maier_stein",
    "multiwell",
    "double_well_3d",
    "linear",
    "linear_3d",
    "iris_mixture",
    "iris_two_widths",
    "iris_four_features",
    "jump_detailed_balance",
    "jump_cyclic",
    "jump_gaussian_limit",
    "separable_sgd",
    "toggle_switch",
    "schlogl_2d",
    "network_detailed_balance",
    "complex_balanced",
    "manufactured_nd",
    "jump_double_well",
    "double_well_potential",
    "eikonal_manufactured",
    "unconstrained_region",
    "REGISTRY",
    "manufactured_cycle",
    "cycle_2d",
    "cycle_3d",
    "cycle_and_point",
    "cycle_and_point_3d",
    "rest_and_oscillation",
    "rosenzweig_macarthur",
]

# The models by name, for the command line: name -> function of keyword
# parameters returning a Problem.
REGISTRY = {
    "example_3_1": example_3_1,
    "example_4_1": example_4_1,
    "maier_stein": maier_stein,
    "linear_rotational": linear_rotational,
    "multiwell": multiwell,
    "gradient_system": gradient_system,
    "anisotropic_rotating": anisotropic_rotating,
    "linear_3d": linear_3d,
    "anisotropic_rotating_3d": anisotropic_rotating_3d,
    "double_well_3d": double_well_3d,
    "iris_mixture": iris_mixture,
    "iris_two_widths": iris_two_widths,
    "iris_four_features": iris_four_features,
    "jump_detailed_balance": jump_detailed_balance,
    "jump_cyclic": jump_cyclic,
    "jump_gaussian_limit": jump_gaussian_limit,
    "separable_sgd": separable_sgd,
    "toggle_switch": toggle_switch,
    "schlogl_2d": schlogl_2d,
    "network_detailed_balance": network_detailed_balance,
    "complex_balanced": complex_balanced,
    "cycle_2d": cycle_2d,
    "cycle_3d": cycle_3d,
    "cycle_and_point": cycle_and_point,
    "cycle_and_point_3d": cycle_and_point_3d,
    "rest_and_oscillation": rest_and_oscillation,
    "rosenzweig_macarthur": rosenzweig_macarthur,
    "manufactured_nd": manufactured_nd,
    "jump_double_well": jump_double_well,
}
