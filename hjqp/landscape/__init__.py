"""Several attractors: their equilibria and basins, the transition costs
between them, the global quasi-potential and the metastable Markov chain."""

from .barriers import Barriers, barriers, refine_minimum
from .basins import basins
from .equilibria import Equilibria, FlowStop, equilibria, limit_cycle
from .landscape import Landscape, landscape
from .markov import arborescence_costs, log_stationary
from .prefactors import (ExitTime, PrefactorWarning, Prefactors, SaddleCrossing, log_mean_passage_time,
                         mean_exit_time)

__all__ = ["Landscape", "Equilibria", "FlowStop", "landscape", "equilibria", "basins", "arborescence_costs",
           "log_stationary", "limit_cycle", "Barriers", "barriers", "refine_minimum", "Prefactors", "SaddleCrossing",
           "PrefactorWarning", "ExitTime", "mean_exit_time", "log_mean_passage_time"]
