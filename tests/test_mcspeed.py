"""Where the landscape and the Monte Carlo engine spend their time: work
that must be done once is done once, and the landscape reports its stages'
times."""

import numpy as np
import pytest

import hjqp
from hjqp import models
from hjqp.problem.fields import Fields
from hjqp.solve.quasipotential import solve_local


@pytest.fixture(scope="module")
def multiwell():
    problem = models.multiwell(tilt=0.2)
    return problem, problem.grid(61)


def test_landscape_samples_the_main_grid_once_for_all_its_solves(multiwell, monkeypatch):
    # The k solves share the landscape's fields: with cell means (or slow
    # callables) sampling can cost more than a march, and in Python it
    # holds the GIL, so solves sampling for themselves took turns at it.
    problem, grid = multiwell
    sampled = []
    original = Fields._sample_one

    def counting(self, name):
        if self.grid == grid and not self.between_nodes:
            sampled.append(name)
        return original(self, name)

    monkeypatch.setattr(Fields, "_sample_one", counting)
    land = hjqp.landscape(problem.sde, grid, threads=2)
    assert land.k == 3
    assert sampled.count("diffusion") == 1


def test_solve_on_shared_fields_is_the_solve_on_its_own(multiwell):
    problem, grid = multiwell
    fields = problem.sde.fields(grid, None)
    fields.kernel_arrays()
    for attractor in problem.attractors:
        shared, _ = solve_local(problem.sde, grid, attractor, fields=fields)
        alone, _ = solve_local(problem.sde, grid, attractor)
        np.testing.assert_array_equal(shared.values, alone.values)
        np.testing.assert_array_equal(shared.grad, alone.grad)


def test_solve_local_rejects_fields_of_another_grid(multiwell):
    problem, grid = multiwell
    other = problem.grid(41)
    with pytest.raises(ValueError, match="fields must be sde.fields"):
        solve_local(problem.sde, grid, problem.attractors[0], fields=problem.sde.fields(other))


def test_landscape_reports_the_time_of_each_stage(multiwell):
    problem, grid = multiwell
    land = hjqp.landscape(problem.sde, grid, threads=2)
    seconds = land.info["seconds"]
    stages = ("fields", "equilibria", "basins", "saddle_links", "solves", "costs", "phi")
    assert all(seconds[s] >= 0 for s in stages)
    assert len(seconds["solve_each"]) == land.k
    assert seconds["total"] >= sum(seconds[s] for s in stages) - 1e-9
