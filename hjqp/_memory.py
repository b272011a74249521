"""Memory checks before large allocations: a clear MemoryError instead of
the operating system's out-of-memory kill."""

from __future__ import annotations

import os
from typing import Optional

# Peak resident memory of a 2D solve per node, Python arrays included
# (measured: 119 bytes per node on a 4097^2 solve; rounded up).
SOLVE_BYTES_PER_NODE_2D = 128


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
