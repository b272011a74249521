"""Memory checks before large allocations: a clear MemoryError instead of
the operating system's out-of-memory kill."""

from __future__ import annotations

import math
import os
from typing import Optional

# Peak resident memory of a solve per node, Python arrays included
# (measured: 119 bytes per node on a 4097^2 solve; 178 on a 201^3 one with
# a position-dependent D, which reaches the kernel packed, 6 entries a
# node; rounded up). Fields given as arrays are the caller's already: the
# kernel reads them in place.
SOLVE_BYTES_PER_NODE_2D = 128
SOLVE_BYTES_PER_NODE_3D = 192


# Peak memory of an eikonal march per node beyond its inputs (measured: 21
# bytes with a point source, 10 from a level set, on 4097^2; rounded up
# generously for the temporary arrays of argument normalisation).
EIKONAL_BYTES_PER_NODE = 64


def eikonal_bytes(shape, metric_field: bool) -> float:
    """Peak memory of an eikonal march on a grid of `shape` (a metric field
    adds its packed copy)."""
    d = len(shape)
    return float(math.prod(shape)) * (EIKONAL_BYTES_PER_NODE + (8 * d * (d + 1) // 2 if metric_field else 0))


# A jump march also holds the weights of its R jumps at every node (and the
# jumps themselves where they vary with position), with the temporaries of
# their sampling: beyond the solve's allowance above, measured by
# benchmarks/bench_memory.py at 24 bytes per jump and node (257^2 and
# 33^3 nodes), 60 (2D) and 80 (3D) with jumps that vary; rounded up.
JUMP_BYTES_PER_NODE = 32
VARYING_JUMP_BYTES_PER_NODE_AND_AXIS = 24


def solve_bytes(grid, jumps: int = 0, varying_jumps: bool = False) -> float:
    """Peak memory of a local quasi-potential solve on `grid` (of a jump
    Hamiltonian with `jumps` jumps, which may vary with position)."""
    per_node = SOLVE_BYTES_PER_NODE_2D if grid.ndim == 2 else SOLVE_BYTES_PER_NODE_3D
    per_node += jumps * (JUMP_BYTES_PER_NODE + (VARYING_JUMP_BYTES_PER_NODE_AND_AXIS * grid.ndim if varying_jumps
                                                else 0))
    return float(per_node) * grid.size


def available_bytes() -> Optional[int]:
    """Memory the system can still give this process (MemAvailable, or
    free pages where /proc is missing); None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def require(nbytes: float, what: str) -> None:
    """Raise MemoryError if `what` needs more than the memory available."""
    have = available_bytes()
    if have is not None and nbytes > have:
        raise MemoryError(
            f"{what} needs about {nbytes / 2**30:.3g} GiB but only {have / 2**30:.3g} GiB are available; "
            "use a coarser grid (or fewer paths / more thinning)"
        )


# Peak memory per node of sampling an SDE for the kernel's Monte Carlo
# engine (the drift, D, its Cholesky factor, the checks' temporaries and the
# kernel's copy; measured by benchmarks/bench_memory.py with a
# position-dependent D: 152 bytes on 1001^2, 242 on 101^3; rounded up).
NATIVE_FIELDS_BYTES_PER_NODE_2D = 192
NATIVE_FIELDS_BYTES_PER_NODE_3D = 320

# Peak memory per node of labelling basins (the sampled drift, differences
# for its scale, the labels; measured by benchmarks/bench_memory.py: 73
# bytes on 1001^2, 121 on 101^3; rounded up).
BASINS_BYTES_PER_NODE_2D = 96
BASINS_BYTES_PER_NODE_3D = 160


def native_fields_bytes(grid) -> float:
    """Peak memory of sampling an SDE on `grid` for the kernel's Monte Carlo
    engine."""
    per_node = NATIVE_FIELDS_BYTES_PER_NODE_2D if grid.ndim == 2 else NATIVE_FIELDS_BYTES_PER_NODE_3D
    return float(per_node) * grid.size


def basins_bytes(grid) -> float:
    """Peak memory of labelling the basins (or finding the equilibria) on `grid`."""
    per_node = BASINS_BYTES_PER_NODE_2D if grid.ndim == 2 else BASINS_BYTES_PER_NODE_3D
    return float(per_node) * grid.size


def landscape_bytes(grid, k: int, threads: int, jumps: int = 0, varying_jumps: bool = False) -> float:
    """Peak memory of a landscape of k attractors on `grid`: k solutions
    kept, up to ``threads`` computed at once (the flow's arrays are freed
    by then; a jump Hamiltonian's fields are sampled by each solve)."""
    return max(solve_bytes(grid) * k + solve_bytes(grid, jumps, varying_jumps) * min(k, threads),
               basins_bytes(grid))
