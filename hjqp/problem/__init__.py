"""The problem: an SDE (drift and diffusion as callables or arrays), its
fields bound to a grid, and the equilibria of its drift."""

from .equilibrium import jacobians, newton, refine_equilibrium
from .fields import (
    Fields,
    check_action_scale,
    check_invertible,
    check_spd,
    describe_node,
    describe_point,
    rewrap,
)
from .sde import SDE

__all__ = ["SDE", "Fields", "check_action_scale", "check_invertible", "check_spd", "describe_node",
           "describe_point", "jacobians", "newton", "refine_equilibrium", "rewrap"]
