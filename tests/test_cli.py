"""The hjqp command end to end on small grids."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import child
import hjqp
from hjqp import cli, io

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def user_models_importable(monkeypatch):
    monkeypatch.syspath_prepend(HERE)


def test_solve_writes_values_figure_and_summary(tmp_path, capsys):
    out = tmp_path / "solve"
    code = cli.main(["solve", "example_3_1", "--param", "mu=0.5", "--grid", "65", "--out", str(out), "--quiet"])
    assert code == 0
    qp = io.load(out / "quasipotential.npz")
    assert qp.values.shape == (65, 65) and qp.metadata["model"] == "example_3_1(mu=0.5)"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["max_error_vs_exact"] < 1e-3
    assert (out / "quasipotential.png").stat().st_size > 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["grid"] == [65, 65]


def test_solve_a_user_model(tmp_path):
    out = tmp_path / "user"
    code = cli.main(["solve", "usermodel:rotating", "--param", "strength=3", "--box", "-1", "-1", "1", "1",
                     "--attractor", "0", "0", "--grid", "65", "--out", str(out), "--quiet"])
    assert code == 0
    qp = io.load(out / "quasipotential.npz")
    x = qp.grid.points()
    inside = np.sum(x**2, axis=-1) < 0.8
    assert np.max(np.abs(qp.values - np.sum(x**2, axis=-1))[inside]) < 1e-3


def test_solve_and_landscape_in_3d(tmp_path, capsys):
    out = tmp_path / "solve3"
    assert cli.main(["solve", "linear_3d", "--grid", "25", "--out", str(out), "--quiet"]) == 0
    qp = io.load(out / "quasipotential.npz")
    assert qp.values.shape == (25, 25, 25)
    exact = hjqp.models.linear_3d().exact(qp.grid.points())
    assert np.abs(qp.values - exact)[exact <= 0.9].max() < 2e-3
    assert (out / "quasipotential.png").stat().st_size > 0
    out = tmp_path / "land3"
    assert cli.main(["landscape", "double_well_3d", "--grid", "33", "--out", str(out), "--quiet"]) == 0
    land = io.load(out / "landscape.npz")
    assert land.k == 2 and land.values.shape == (33, 33, 33)
    assert (out / "landscape.png").stat().st_size > 0


def test_sgd_selection(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "sgd"
    assert cli.main(["sgd", "--eta", "1.0", "--steps", "300", "--paths", "4", "--grid", "41", "--out", str(out),
                     "--no-own", "--quiet"]) == 0
    assert "minibatch SGD" in capsys.readouterr().out
    assert (out / "selection.png").stat().st_size > 0
    code = cli.main(["sgd", "linear_3d", "--out", str(tmp_path / "x"), "--quiet"])
    assert code == 2 and "not an SGD model" in capsys.readouterr().err


def test_landscape(tmp_path, capsys):
    out = tmp_path / "land"
    assert cli.main(["landscape", "maier_stein", "--param", "beta=2", "--grid", "101", "--out", str(out),
                     "--quiet"]) == 0
    land = io.load(out / "landscape.npz")
    assert land.k == 2 and len(land.saddles) == 1
    summary = json.loads((out / "summary.json").read_text())
    np.testing.assert_allclose(np.array(summary["costs"])[[0, 1], [1, 0]], 0.5, rtol=1e-3)
    assert "2 attractors, 1 saddles" in capsys.readouterr().out
    assert (out / "landscape.png").stat().st_size > 0


def test_verify_single_attractor(tmp_path, capsys):
    out = tmp_path / "verify"
    code = cli.main(["verify", "example_3_1", "--param", "mu=1.9999", "--eps", "0.12", "0.15", "0.2", "0.25",
                     "--radius", "1", "--paths", "300", "--grid", "81", "--mc-grid", "181", "--out", str(out),
                     "--quiet"])
    assert code == 0
    rows = json.loads((out / "verify.json").read_text())["rows"]
    barrier = rows[0]
    assert barrier["quantity"] == "exit barrier V0"
    # the unit circle: V0 = 2 / 1.9999
    assert barrier["predicted"] == pytest.approx(2 / 1.9999, rel=1e-3)
    assert abs(barrier["measured"] - barrier["predicted"]) < 0.1 * barrier["predicted"]
    assert "exit barrier V0" in (out / "verify.md").read_text()


def test_verify_landscape(tmp_path):
    out = tmp_path / "verify2"
    code = cli.main(["verify", "maier_stein", "--eps", "0.2", "0.25", "--paths", "16", "--steps", "100000",
                     "--grid", "101", "--mc-grid", "141", "--out", str(out), "--quiet"])
    assert code == 0
    rows = json.loads((out / "verify.json").read_text())["rows"]
    names = [r["quantity"] for r in rows]
    assert "V_12 from rates" in names and "occupancy of O1" in names
    v12 = rows[names.index("V_12 from rates")]
    assert v12["low"] <= 0.5 <= v12["high"] or abs(v12["measured"] - 0.5) < 0.1


def test_verify_a_reaction_network_by_volume(tmp_path):
    out = tmp_path / "verify3"
    code = cli.main(["verify", "toggle_switch", "--volume", "15", "20", "25", "150", "--paths", "16", "--steps", "3000",
                     "--grid", "65", "--out", str(out), "--quiet"])
    assert code == 0
    result = json.loads((out / "verify.json").read_text())
    names = [r["quantity"] for r in result["rows"]]
    assert result["volumes"] == [15, 20, 25, 150]
    assert {"V_12 from rates", "V_21 from rates", "V_12 from the master equation", "k_12 at Omega = 15"} <= set(names)
    assert "No Gillespie runs at volume 150" in (out / "verify.md").read_text()


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "| selected minimum (phi = 0) | O_2 | O_2 |" in report
    for name in ("phi_vs_loss.png", "landscape.png", "trajectories.png", "summary.json", "landscape.npz"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["selected"] == 1


@pytest.mark.parametrize("argv, message", [
    (["solve", "no_such_model"], "unknown model 'no_such_model'"),
    (["solve", "example_3_1", "--param", "nu=1"], "does not take these parameters"),
    (["solve", "example_3_1", "--param", "mu"], "--param takes key=value"),
    (["solve", "example_3_1", "--param", "mu=3"], "mu must lie in (0, 2)"),
    (["solve", "usermodel:rotating"], "give its --box and --attractor"),
    (["solve", "nosuchmodule:f"], "cannot load model"),
    (["solve", "double_well_3d", "--param", "tilt=0.5"], "tilt must lie in [0, 0.38)"),
    (["verify", "toggle_switch", "--eps", "0.1", "0.05"], "is a reaction network: give --volume"),
    (["verify", "maier_stein", "--volume", "10", "20"], "give --eps (--volume is for reaction networks)"),
])
def test_errors_are_one_line(argv, message, capsys, tmp_path):
    code = cli.main(argv + ["--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("hjqp: error:") and message in err and "\n" not in err


def test_bench_prints_tables(capsys):
    assert cli.main(["bench", "--quick", "--sizes", "65", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| linear_rotational(r=10) | 65 |" in out and "scikit-fmm" in out
    assert "multiwell" in out and "native, 1 thread" in out


def test_models_lists_the_registry(capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    for name in hjqp.models.REGISTRY:
        assert name in out


def test_console_script():
    exe = shutil.which("hjqp")
    if exe is None:
        pytest.skip("the hjqp console script is not installed (source tree run)")
    done = subprocess.run([exe, "models"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "example_4_1" in done.stdout
    bad = subprocess.run([exe, "solve", "nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0


def test_module_entry_point(tmp_path):
    # (run outside the source tree, so that the hjqp under test is imported)
    done = subprocess.run([sys.executable, "-m", "hjqp.cli", "models"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=child.environment())
    assert done.returncode == 0 and "maier_stein" in done.stdout


@pytest.mark.parametrize("model, message", [
    ("usermodel:broken", "model 'usermodel:broken' raised ZeroDivisionError: strength over zero"),
    ("usermodel:broken_drift", "while running model 'usermodel:broken_drift': KeyError: "),
])
def test_a_model_that_raises_gives_one_line_without_a_traceback(model, message, capsys, tmp_path):
    # It printed a full traceback.
    code = cli.main(["solve", model, "--box", "-1", "-1", "1", "1", "--attractor", "0", "0", "--grid", "17",
                     "--out", str(tmp_path / "x"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code in (1, 2)
    assert err.startswith("hjqp: error") and message in err and "\n" not in err and "Traceback" not in err
    with pytest.raises((cli.CommandError, KeyError)):
        cli.main(["--traceback", "solve", model, "--box", "-1", "-1", "1", "1", "--attractor", "0", "0",
                  "--grid", "17", "--out", str(tmp_path / "x"), "--quiet"])


def test_a_user_module_in_the_current_directory_is_found_without_pythonpath(tmp_path, monkeypatch):
    # The console script's sys.path lacks the current directory (python -m
    # adds it); a user's module:function there was not found.
    (tmp_path / "mymodel_here.py").write_text(
        "import hjqp\n\ndef linear():\n    return hjqp.SDE(lambda p: -p)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    code = cli.main(["solve", "mymodel_here:linear", "--box", "-1", "-1", "1", "1", "--attractor", "0", "0",
                     "--grid", "17", "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    assert io.load(tmp_path / "out" / "quasipotential.npz").values.shape == (17, 17)
