"""The problem: a Hamiltonian (an SDE, with drift and diffusion as callables
or arrays, or a jump Hamiltonian), its fields bound to a grid, and the
equilibria of its drift."""

from .cycle import LimitCycle, refine_cycle
from .equilibrium import jacobians, newton, refine_equilibrium
from .fields import (
    Fields,
    JumpFields,
    call_field,
    check_action_scale,
    check_invertible,
    check_spd,
    describe_node,
    describe_point,
    jump_support,
    rewrap,
)
from .hamiltonian import Hamiltonian
from .jump import JumpHamiltonian
from .network import MassAction, ReactionNetwork
from .sde import SDE

__all__ = ["SDE", "Hamiltonian", "JumpHamiltonian", "ReactionNetwork", "MassAction", "Fields", "JumpFields", "call_field", "check_action_scale",
           "check_invertible", "check_spd", "describe_node", "describe_point", "jacobians", "jump_support", "newton",
           "refine_equilibrium", "rewrap", "LimitCycle", "refine_cycle"]
