"""Parameter sweeps (hjqp.sweep): exact barriers along a fold, the same rows
on any executor, the table, the diagram and the command."""

import csv
import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import hjqp
from hjqp import cli
from hjqp.models import Problem
from hjqp.report.plot import _branches


def tilted_double_well(c: float = 0.0) -> Problem:
    """b = -grad f, f = x^4/4 - x^2/2 - c x + y^2/2, D = I: U = 2 f about
    each well; the left well and the saddle meet in a fold at
    c = 2 / (3 sqrt 3) = 0.3849."""
    def drift(p):
        p = np.asarray(p, dtype=float)
        return np.stack([p[..., 0] - p[..., 0] ** 3 + c, -p[..., 1]], axis=-1)

    roots = np.sort(np.roots([1.0, 0.0, -1.0, -c]).real[np.abs(np.roots([1.0, 0.0, -1.0, -c]).imag) < 1e-9])
    return Problem(f"tilted_double_well(c={c})", hjqp.SDE(drift, 1.0), (float(roots[-1]), 0.0),
                   (-2.0, -1.5), (2.0, 1.5), attractors=tuple((float(r), 0.0) for r in roots[::2]))


def fold_costs(c: float):
    """Exact exit costs (left, right) of the wells that exist at c."""
    f = lambda x: x ** 4 / 4 - x ** 2 / 2 - c * x
    r = np.roots([1.0, 0.0, -1.0, -c])
    r = np.sort(r.real[np.abs(r.imag) < 1e-9])
    return [2 * (f(r[1]) - f(r[0])), 2 * (f(r[1]) - f(r[2]))] if len(r) == 3 else [np.inf]


def test_sweep_follows_the_barriers_to_the_fold():
    cs = [0.0, 0.15, 0.3, 0.45]
    s = hjqp.sweep(tilted_double_well, {"c": cs}, 121, threads=1)
    assert not s.failed
    assert s.column("k").tolist() == [2, 2, 2, 1]
    for row, c in zip(s.rows[:3], cs):
        exact = fold_costs(c)
        assert row["exit_costs"] == pytest.approx(exact, abs=2e-3), (c, row["exit_costs"], exact)
        # The deeper (right) well is selected once the tilt breaks the tie.
        if c > 0:
            assert row["selected"] == 1 and row["tied"] == [1]
    assert s.rows[0]["tied"] == [0, 1]
    # Followed by position: the left well's branch ends at the fold, the
    # right well's runs through.
    name, x, rows = s.line()
    branches = sorted(_branches(rows), key=len)
    assert [[r for r, _ in b] for b in branches] == [[0, 1, 2], [0, 1, 2, 3]]


def test_rows_do_not_depend_on_the_executor():
    params = {"beta": [1.0, 6.0]}
    serial = hjqp.sweep("maier_stein", params, 61, threads=1)
    with ProcessPoolExecutor(2) as ex:
        pooled = hjqp.sweep("maier_stein", params, 61, threads=1, executor=ex)
    for a, b in zip(serial.rows, pooled.rows):
        assert a["params"] == b["params"]
        assert a["costs"] == b["costs"] and a["attractors"] == b["attractors"]
    # For beta < 4 the path stays on the axis and the barrier is 1/2; past
    # it the path leaves the axis and the barrier drops.
    assert serial.rows[0]["exit_costs"] == pytest.approx([0.5, 0.5], abs=2e-3)
    assert max(serial.rows[1]["exit_costs"]) < 0.47


def test_sweep_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    params = {"beta": [1.0, 6.0], "alpha": None}
    params.pop("alpha")
    serial = hjqp.sweep("maier_stein", params, 41, threads=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = hjqp.sweep("maier_stein", params, 41, threads=1, executor=client)
    assert [r["costs"] for r in remote.rows] == [r["costs"] for r in serial.rows]


def test_two_parameters_local_solves_and_a_failed_point(tmp_path):
    # multiwell refuses a tilt that leaves fewer than three wells: that
    # point's row carries the error, the others are computed.
    s = hjqp.sweep("multiwell", {"tilt": [0.0, 5.0], "rotation": [0.0, 0.5]}, 41, what="local",
                   fixed={"condition": 2.0})
    assert s.shape == (2, 2)
    assert [r["error"] is None for r in s.rows] == [True, True, False, False]
    assert "too large" in s.failed[0]["error"]
    errors = s.column("max_error")
    assert np.all(errors[0] < 0.05) and np.all(np.isnan(errors[1]))
    assert s.rows[1]["params"] == {"condition": 2.0, "tilt": 0.0, "rotation": 0.5}
    with pytest.raises(ValueError, match="varies"):
        s.line()
    assert s.line("tilt", where={"rotation": 0.5})[2][0] is s.rows[1]

    s.save(str(tmp_path / "s.csv"))
    s.save(str(tmp_path / "s.json"))
    with open(tmp_path / "s.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [float(r["tilt"]) for r in table] == [0.0, 0.0, 5.0, 5.0]
    assert float(table[0]["max_error"]) == pytest.approx(s.rows[0]["max_error"])
    assert table[3]["error"].startswith("ValueError")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["names"] == ["tilt", "rotation"] and len(data["rows"]) == 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="no_such_model", parameters={"a": [1]}), "unknown model"),
    (dict(model="maier_stein", parameters={}), "non-empty mapping"),
    (dict(model="maier_stein", parameters={"beta": []}), "non-empty 1D"),
    (dict(model="maier_stein", parameters={"beta": [1]}, fixed={"beta": 2}), "both swept and fixed"),
    (dict(model="maier_stein", parameters={"beta": [1]}, what="exits"), "what="),
    (dict(model="maier_stein", parameters={"beta": [1]}, grid=2), "grid="),
])
def test_bad_input(kwargs, message):
    kwargs.setdefault("grid", 41)
    with pytest.raises(ValueError, match=message):
        hjqp.sweep(**kwargs)


def test_the_diagram_marks_the_fold(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    s = hjqp.sweep(tilted_double_well, {"c": [0.0, 0.3, 0.45]}, 81, threads=1)
    ax = s.plot()
    labels = ax.get_legend_handles_labels()[1]
    assert "disappears" in labels and "selected (phi = 0)" in labels and "appears" not in labels
    assert ax.get_xlabel() == "c" and ax.get_ylim()[0] == 0
    ax.figure.savefig(tmp_path / "d.png")


def test_command(tmp_path, capsys):
    out = tmp_path / "sw"
    assert cli.main(["sweep", "maier_stein", "--param", "beta=1,6", "--grid", "41", "--quiet",
                     "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.json", "sweep.png"}
    text = capsys.readouterr().out
    assert "beta = 1: 2 attractors" in text and "beta = 6: 2 attractors" in text
    assert cli.main(["sweep", "maier_stein", "--param", "beta=1", "--quiet", "--out", str(out)]) == 2
    assert "needs a swept parameter" in capsys.readouterr().err
