"""The examples run end to end at a small size and report what they claim."""

import importlib.util
import os


HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    path = os.path.join(HERE, "..", "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_3_1(tmp_path):
    load("example_3_1").main(["--grid", "81", "--paths", "100", "--out", str(tmp_path)])
    report = (tmp_path / "example_3_1.md").read_text()
    assert "| 1.9999 | 1.00005 |" in report and "Barrier fitted" in report
    for name in ("example_3_1.png", "example_3_1_monte_carlo.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_example_4_1(tmp_path):
    load("example_4_1").main(["--grid", "101", "--paths", "8", "--out", str(tmp_path)])
    report = (tmp_path / "example_4_1.md").read_text()
    assert "selected minimum | O_2 | O_2" in report
    assert "Monte Carlo at eps = 0.2" in report
    assert (tmp_path / "example_4_1_trajectories.png").stat().st_size > 0
