"""Run every example of examples/ at the size given below and keep its
figures in docs/gallery/<example>/, for the documentation's gallery.

    python docs/make_gallery.py [NAME ...]

Sizes are those of the examples' own defaults where they take a minute or
less on two cores, smaller otherwise (the arguments are listed below and
shown on each gallery page).
"""

import glob
import importlib.util
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Arguments per example; examples that write no figure are not run.
ARGS = {
    "eikonal.py": [],
    "example_3_1.py": ["--paths", "400"],
    "example_3d.py": [],
    "example_4_1.py": ["--grid", "201", "--paths", "32"],
    "maier_stein.py": ["--grid", "161", "--paths", "16", "--steps", "600000"],
    "sgd_iris.py": ["--model", "two_widths", "--steps", "40000", "--paths", "32", "--no-own"],
    "toggle_switch.py": ["--grid", "193", "--paths", "16", "--time", "5000"],
}


def run(name: str, args: list) -> None:
    path = os.path.join(ROOT, "examples", name)
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = os.path.join(HERE, "gallery", name[:-3])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        module.main(args + ["--out", out])
        figures = sorted(glob.glob(os.path.join(out, "**", "*.png"), recursive=True))
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        for f in figures:
            shutil.copy(f, os.path.join(target, os.path.basename(f)))
    print(f"{name}: {len(figures)} figures in {time.perf_counter() - start:.0f} s", flush=True)


def main(names) -> None:
    import matplotlib

    matplotlib.use("Agg")
    for name, args in ARGS.items():
        if not names or name[:-3] in names or name in names:
            run(name, args)


if __name__ == "__main__":
    main(sys.argv[1:])
