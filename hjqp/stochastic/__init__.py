"""Stochastic simulation: the engine protocol and its drivers (paths, first
exits, long runs), Euler-Maruyama for SDEs (numpy and the kernel), domains,
results and estimators; and the deterministic finite-eps judges (the
stationary Fokker-Planck density, mean first passage times, committors)."""

from .domains import Ball, Box, Domain, LevelSet, Tube
from .engine import Engine, SteppingEngine, run_exits, run_long, run_paths
from .estimators import Estimate, arrhenius_fit
from .gillespie import Gillespie
from .master import MasterEquation, master_equation
from .splitting import Splitting, TransitionRate, ams, ams_rate
from .kolmogorov import (Committor, FirstPassage, FokkerPlanck, committor, fokker_planck,
                            mean_first_passage)
from .euler_maruyama import exit_times, long_run, simulate
from .results import Exits, LongRun, Paths

__all__ = ["Domain", "Ball", "Box", "LevelSet", "Tube", "Estimate", "Paths", "Exits", "LongRun", "simulate",
           "exit_times", "long_run", "Engine", "SteppingEngine", "run_paths", "run_exits", "run_long", "arrhenius_fit",
           "Gillespie", "MasterEquation", "master_equation",
           "FokkerPlanck", "FirstPassage", "Committor", "fokker_planck", "mean_first_passage", "committor",
           "Splitting", "TransitionRate", "ams", "ams_rate"]
