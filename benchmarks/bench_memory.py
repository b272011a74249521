"""Peak memory per node of the steps that check memory before they start:
labelling basins (the flow), sampling an SDE for the kernel's Monte Carlo
engine, and a jump Hamiltonian's march (per node and jump, beyond the
quadratic solve's allowance), each in a fresh process (the growth of the
peak resident set over what the process held before the step, divided by
the nodes). The constants in hjqp/_memory.py are these numbers rounded up.

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --sizes2d 2001 --sizes3d 161 --jumps2d 257 --jumps3d 33
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
elif step.startswith("jumps"):
    # 2 r jumps of length 0.1 (pairs +-v), rates favouring the origin; the
    # jump vectors constant or given by a callable (sampled at every node)
    _, r, varying = step.split(":")
    v = np.random.default_rng(0).normal(size=(int(r) // 2, d))
    v = 0.1 * np.vstack([v, -v]) / np.linalg.norm(np.vstack([v, -v]), axis=1)[:, None]
    jumps = (lambda p: np.broadcast_to(v, p.shape[:-1] + v.shape) * 1.0) if varying == "varying" else v
    H = hjqp.JumpHamiltonian(lambda p: np.exp(-5.0 * (p @ v.T)), jumps)
    hjqp.local_quasipotential(H, grid, [0.0] * d)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(((after - before) * 1024 - hjqp._memory.solve_bytes(grid)) / grid.size / len(v))
    sys.exit()
else:
    native_fields(sde, grid)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024 / grid.size)
"""


def row(step: str, n: int, d: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, step, str(n), str(d)], capture_output=True, text=True,
                         check=True)
    unit = "bytes_per_node_and_jump_beyond_the_solve" if step.startswith("jumps") else "bytes_per_node"
    return {"step": step, "nodes": f"{n}^{d}", unit: round(float(out.stdout), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes2d", type=int, nargs="*", default=[1001])
    ap.add_argument("--sizes3d", type=int, nargs="*", default=[101])
    ap.add_argument("--jumps2d", type=int, nargs="*", default=[257])
    ap.add_argument("--jumps3d", type=int, nargs="*", default=[33])
    args = ap.parse_args()
    rows = [row(step, n, d) for step in ("basins", "native_fields")
            for d, sizes in ((2, args.sizes2d), (3, args.sizes3d)) for n in sizes]
    rows += [row(f"jumps:{r}:{kind}", n, d) for d, sizes in ((2, args.jumps2d), (3, args.jumps3d)) for n in sizes
             for r, kind in ((8, "constant"), (32, "constant"), (32, "varying"))]
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
