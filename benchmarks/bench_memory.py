"""Peak memory per node of the steps that check memory before they start:
labelling basins (the flow) and sampling an SDE for the kernel's Monte
Carlo engine, each in a fresh process (the growth of the peak resident
set over what the process held before the step, divided by the nodes).
The constants in hjqp/_memory.py are these numbers rounded up.

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --sizes2d 2001 --sizes3d 161
"""

import argparse
import json
import subprocess
import sys

CHILD = r"""
import gc, resource, sys
import numpy as np
import hjqp
from hjqp.stochastic.euler_maruyama import native_fields

step, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
grid = hjqp.Grid((-1.0,) * d, (1.0,) * d, (n,) * d)
# A position-dependent D: the largest sampling (D at every node, its factor).
sde = hjqp.SDE(lambda p: -p, lambda p: (1.0 + 0.1 * p[..., 0] ** 2)[..., None, None] * np.eye(d))
gc.collect()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if step == "basins":
    hjqp.basins(sde, grid, [[0.0] * d], threads=1)
else:
    native_fields(sde, grid)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024 / grid.size)
"""


def row(step: str, n: int, d: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, step, str(n), str(d)], capture_output=True, text=True,
                         check=True)
    return {"step": step, "nodes": f"{n}^{d}", "bytes_per_node": round(float(out.stdout), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes2d", type=int, nargs="*", default=[1001])
    ap.add_argument("--sizes3d", type=int, nargs="*", default=[101])
    args = ap.parse_args()
    rows = [row(step, n, d) for step in ("basins", "native_fields")
            for d, sizes in ((2, args.sizes2d), (3, args.sizes3d)) for n in sizes]
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
