"""Figures from hjqp results (matplotlib).

Each function draws results computed elsewhere onto an Axes (made if not
given) and returns it; none computes anything beyond what drawing needs.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = [
    "quasipotential",
    "basins",
    "implicit_regularisation",
    "slices",
    "level_surface",
    "trajectories",
    "exit_positions",
    "barrier_fit",
    "convergence",
    "sweep_diagram",
]


def _axes(ax, projection=None):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5, 4.2), constrained_layout=True)
    return fig.add_subplot(projection=projection)


def _field(result, grid):
    """(values, grid) from a QuasiPotential, a Landscape or an array."""
    if hasattr(result, "values") and hasattr(result, "grid"):
        return np.asarray(result.values, dtype=float), result.grid
    if grid is None:
        raise ValueError("an array of values needs its grid= to be drawn")
    return np.asarray(result, dtype=float), grid


def quasipotential(result, grid=None, ax=None, *, levels: int = 12, vmax: Optional[float] = None,
                   attractors=None, saddles=None, paths: Sequence[np.ndarray] = (), cmap: str = "viridis",
                   title: Optional[str] = None, colorbar: bool = True):
    """Heatmap and contours of a 2D quasi-potential (a QuasiPotential, a
    Landscape's global phi, or values with their grid), with attractors (+),
    saddles (x) and paths (e.g. minimum action paths) on top.

    ``vmax`` caps the colour scale (default: the largest finite value)."""
    values, grid = _field(result, grid)
    if values.ndim != 2:
        raise ValueError(f"quasipotential draws 2D fields; got shape {values.shape} (see slices)")
    ax = _axes(ax)
    finite = np.isfinite(values)
    top = float(np.max(values[finite])) if vmax is None else float(vmax)
    shown = np.where(finite, np.minimum(values, top), np.nan)
    x, y = grid.axes
    image = ax.pcolormesh(x, y, shown.T, cmap=cmap, shading="auto", vmin=0.0, vmax=top)
    if levels:
        ax.contour(x, y, shown.T, levels=np.linspace(0, top, levels + 1)[1:-1], colors="w",
                   linewidths=0.5, alpha=0.8)
    if attractors is None and hasattr(result, "attractors"):
        attractors = result.attractors
    elif attractors is None and hasattr(result, "attractor"):
        attractors = np.atleast_2d(result.attractor)
    if saddles is None and hasattr(result, "saddles"):
        saddles = result.saddles
    if attractors is not None and len(attractors):
        ax.plot(*np.asarray(attractors).T, "w+", ms=11, mew=2, label="attractors", ls="none")
    _draw_cycles(ax, result, "w")
    if saddles is not None and len(saddles):
        ax.plot(*np.asarray(saddles).T, "rx", ms=8, mew=2, label="saddles", ls="none")
    for k, path in enumerate(paths):
        ax.plot(*np.asarray(path).T, "r-", lw=1.2, label="minimum action paths" if k == 0 else None)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.85)
    ax.set(xlabel="x1", ylabel="x2", aspect="equal")
    if title:
        ax.set_title(title)
    return ax


def _cycles_of(result):
    """The limit cycles among a result's attractors (a Landscape's
    ``cycles``, a QuasiPotential's ``cycle``)."""
    cycles = list(getattr(result, "cycles", ()) or ())
    one = getattr(result, "cycle", None)
    if one is not None and not callable(one):
        cycles.append(one)
    return [c for c in cycles if c is not None]


def _draw_cycles(ax, result, color: str) -> None:
    """Limit cycles as closed curves (their first two coordinates)."""
    for k, c in enumerate(_cycles_of(result)):
        ax.plot(*c.closed_curve()[:, :2].T, "-", color=color, lw=1.6, alpha=0.9,
                label="limit cycles" if k == 0 else None)


def basins(land, ax=None, *, cmap: str = "tab10"):
    """The basins of a 2D Landscape (one colour each, grey for none)."""
    ax = _axes(ax)
    labels = np.asarray(land.basins, dtype=float)
    labels[labels < 0] = np.nan
    x, y = land.grid.axes
    ax.pcolormesh(x, y, labels.T, cmap=cmap, shading="auto", vmin=0, vmax=max(9, land.k - 1))
    ax.set_facecolor("0.85")
    ax.plot(*land.attractors.T, "k+", ms=11, mew=2, ls="none", label="attractors")
    _draw_cycles(ax, land, "k")
    if len(land.saddles):
        ax.plot(*land.saddles.T, "kx", ms=8, mew=2, ls="none", label="saddles")
    for i, a in enumerate(land.attractors):
        ax.annotate(f"O{i + 1}", a, textcoords="offset points", xytext=(6, 6))
    ax.set(xlabel="x1", ylabel="x2", aspect="equal", title="basins")
    return ax


def implicit_regularisation(land, loss: np.ndarray, axes=None, *, cmap: str = "viridis",
                            vmax: Optional[float] = None):
    """The loss f beside the global quasi-potential phi on the same grid:
    where f cannot tell its minima apart, phi does. phi's colour scale is
    capped (default) at 1.5 x the largest phi(O_i) + exit cost, the range
    that matters for the selection. Returns the two Axes."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape != land.values.shape:
        raise ValueError(f"loss has shape {loss.shape}, the landscape's grid {land.values.shape}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    x, y = land.grid.axes
    image = axes[0].pcolormesh(x, y, loss.T, cmap=cmap, shading="auto")
    axes[0].figure.colorbar(image, ax=axes[0], shrink=0.85)
    axes[0].plot(*land.attractors.T, "w+", ms=11, mew=2, ls="none")
    axes[0].set(title="loss f", xlabel="x1", ylabel="x2", aspect="equal")
    if vmax is None:
        tops = np.asarray(land.global_values) + np.where(np.isfinite(land.exit_costs), land.exit_costs, 0)
        vmax = 1.5 * float(np.max(tops)) if np.max(tops) > 0 else None
    quasipotential(land, ax=axes[1], cmap=cmap, title="global quasi-potential phi", vmax=vmax)
    s = land.attractors[land.selected]
    axes[1].plot(*s, "o", mfc="none", mec="r", ms=16, mew=2, label="selected")
    axes[1].legend(loc="lower left", fontsize=8)
    return axes


def slices(values, grid, axes=None, *, at=None, cmap: str = "viridis", vmax: Optional[float] = None):
    """Three orthogonal slices of a 3D field through the point ``at``
    (default: the box centre). Returns the three Axes."""
    values, grid = _field(values, grid)
    if values.ndim != 3:
        raise ValueError(f"slices draws 3D fields; got shape {values.shape}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
    at = np.mean([grid.lower, grid.upper], axis=0) if at is None else np.asarray(at, dtype=float)
    idx = grid.nearest_node(at)
    finite = np.isfinite(values)
    top = float(np.max(values[finite])) if vmax is None else float(vmax)
    names = ("x1", "x2", "x3")
    for ax, k in zip(axes, range(3)):
        a, b = [j for j in range(3) if j != k]
        cut = np.take(values, idx[k], axis=k)
        image = ax.pcolormesh(grid.axes[a], grid.axes[b], np.minimum(cut, top).T, cmap=cmap,
                              shading="auto", vmin=0, vmax=top)
        ax.set(xlabel=names[a], ylabel=names[b], aspect="equal",
               title=f"{names[k]} = {grid.axes[k][idx[k]]:.3g}")
    axes[-1].figure.colorbar(image, ax=list(axes), shrink=0.85)
    return axes


def level_surface(values, grid, level: float, ax=None, *, color: str = "C0", alpha: float = 0.6):
    """The level surface {U = level} of a 3D field: a triangulated surface
    (marching cubes) when scikit-image is installed, else the boundary
    cells of the sublevel set as voxels."""
    values, grid = _field(values, grid)
    if values.ndim != 3:
        raise ValueError(f"level_surface draws 3D fields; got shape {values.shape}")
    ax = _axes(ax, projection="3d")
    filled = np.where(np.isfinite(values), values, np.nanmax(values[np.isfinite(values)]) + 1)
    try:
        from skimage.measure import marching_cubes
    except ImportError:
        inside = filled <= level
        step = max(1, max(grid.shape) // 40)
        coarse = inside[::step, ::step, ::step]
        ax.voxels(coarse, facecolors=color, alpha=alpha, edgecolor="none")
        ax.set(xlabel="x1 (cells)", ylabel="x2 (cells)", zlabel="x3 (cells)")
    else:
        verts, faces, _, _ = marching_cubes(filled, level, spacing=grid.spacing)
        verts = verts + np.asarray(grid.lower)
        ax.plot_trisurf(verts[:, 0], verts[:, 1], faces, verts[:, 2], color=color, alpha=alpha, lw=0)
        ax.set(xlabel="x1", ylabel="x2", zlabel="x3")
    ax.set_title(f"U = {level:g}")
    return ax


def trajectories(paths, ax=None, *, background=None, grid=None, max_paths: int = 10, lw: float = 0.5):
    """Monte Carlo paths (a Paths result or an array (n, m, 2)) over an
    optional background field (QuasiPotential, Landscape or values+grid)."""
    ax = _axes(ax)
    if background is not None:
        quasipotential(background, grid, ax=ax, levels=8, colorbar=False)
    p = np.asarray(getattr(paths, "paths", paths), dtype=float)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ValueError(f"trajectories draws 2D paths of shape (n, m, 2); got {p.shape}")
    for k, path in enumerate(p[:max_paths]):
        ax.plot(path[:, 0], path[:, 1], lw=lw, color=f"C{k % 10}", alpha=0.8)
    ax.set(xlabel="x1", ylabel="x2", aspect="equal")
    return ax


def exit_positions(exits, ax=None, *, center=None, predicted=None, bins: int = 72):
    """Histogram of the exit angle around ``center`` (2D; default the mean
    exit position's centre of the boundary, the origin) with the predicted
    exit points (argmin of U on the boundary) as vertical lines."""
    ax = _axes(ax)
    pos = np.asarray(exits.positions)[~np.asarray(exits.censored)]
    if pos.shape[-1] != 2:
        raise ValueError("exit_positions draws 2D exits")
    c = np.zeros(2) if center is None else np.asarray(center, dtype=float)
    angles = np.arctan2(pos[:, 1] - c[1], pos[:, 0] - c[0])
    ax.hist(angles, bins=bins, range=(-np.pi, np.pi), color="C0", alpha=0.8, label=f"{len(pos)} exits")
    if predicted is not None:
        for k, q in enumerate(np.atleast_2d(predicted)):
            ax.axvline(np.arctan2(q[1] - c[1], q[0] - c[0]), color="r", ls="--", lw=1,
                       label="argmin U on the boundary" if k == 0 else None)
    ax.set(xlabel="exit angle (rad)", ylabel="exits", xlim=(-np.pi, np.pi))
    ax.legend(fontsize=8)
    return ax


def barrier_fit(fit, ax=None):
    """ln E tau - c ln eps against 1/eps with its interval, the fitted line
    (slope V0) and, when known, a line of the predicted slope."""
    ax = _axes(ax)
    inv = 1 / np.asarray(fit.eps)
    m = np.array([e.value for e in fit.means])
    lo = np.array([e.low for e in fit.means])
    hi = np.array([e.high for e in fit.means])
    shift = fit.c * np.log(fit.eps)
    y = np.log(m) - shift
    ax.errorbar(inv, y, yerr=[y - (np.log(np.maximum(lo, 1e-300)) - shift), np.log(hi) - shift - y],
                fmt="o", color="C0", label="Monte Carlo (95%)")
    xs = np.linspace(inv.min(), inv.max(), 50)
    ax.plot(xs, fit.a + fit.V0.value * xs, "C0-", label=f"fit: V0 = {fit.V0.value:.4g}")
    if fit.predicted is not None:
        anchor = np.mean(y - fit.predicted * inv)
        ax.plot(xs, anchor + fit.predicted * xs, "r--", label=f"predicted V0 = {fit.predicted:.4g}")
    ax.set(xlabel="1 / eps", ylabel=f"ln E tau - {fit.c:g} ln eps")
    ax.legend(fontsize=8)
    return ax


def convergence(n, errors: dict, ax=None, *, orders: Sequence[int] = (1, 2)):
    """Errors against nodes per axis (log-log) with reference slopes.
    ``errors`` maps a label to the error at each n."""
    ax = _axes(ax)
    n = np.asarray(n, dtype=float)
    for k, (label, e) in enumerate(errors.items()):
        ax.loglog(n, e, "o-", color=f"C{k}", label=label)
    first = min(np.asarray(e, dtype=float)[0] for e in errors.values())
    for p in orders:
        ax.loglog(n, first * (n / n[0]) ** (-p), "k:", lw=0.8)
        ax.annotate(f"order {p}", (n[-1], first * (n[-1] / n[0]) ** (-p)), fontsize=8)
    ax.set(xlabel="nodes per axis", ylabel="error")
    ax.legend(fontsize=8)
    return ax


def _branches(rows: list) -> list:
    """Attractors followed along a line of landscape rows: a list of
    branches, each a list of (row index, attractor index). Consecutive rows
    are matched by position (least total distance); a match farther than
    half the least distance between two attractors of either row is refused,
    so that an attractor that disappears ends its branch."""
    from scipy.optimize import linear_sum_assignment

    branches: list = []
    open_: dict = {}  # attractor index in the previous row -> branch
    prev = None
    for r, row in enumerate(rows):
        if row.get("error") is not None or not row.get("k"):
            open_, prev = {}, None
            continue
        A = np.asarray(row["attractors"], dtype=float)
        now: dict = {}
        if prev is not None:
            P = np.asarray(rows[prev]["attractors"], dtype=float)
            dist = np.linalg.norm(P[:, None, :] - A[None, :, :], axis=-1)
            gaps = [np.linalg.norm(S[:, None] - S[None, :], axis=-1)[np.triu_indices(len(S), 1)] for S in (P, A)]
            gaps = np.concatenate(gaps)
            tol = 0.5 * gaps.min() if len(gaps) else np.inf
            for i, j in zip(*linear_sum_assignment(dist)):
                if dist[i, j] <= tol and i in open_:
                    now[j] = open_[i]
                    now[j].append((r, j))
        for j in range(len(A)):
            if j not in now:
                branches.append([(r, j)])
                now[j] = branches[-1]
        open_, prev = now, r
    return branches


def sweep_diagram(result, parameter: Optional[str] = None, ax=None, *, where=None):
    """Exit costs of the attractors against one swept parameter (a
    :class:`hjqp.sweep.Sweep` of landscapes): one line per attractor
    followed by position (styles alternate, so that tied lines stay apart), an open circle where an attractor appears inside
    the range, a cross where it disappears, filled dots where it is
    selected (phi = 0; all of those tied), triangles where the basin reaches the box edge
    below the exit cost (the true cost may be lower), grey bars where a
    point failed."""
    if result.what != "landscape":
        raise ValueError(f"the diagram draws landscape sweeps, not {result.what!r}")
    name, x, rows = result.line(parameter, where)
    ax = _axes(ax)
    branches = _branches(rows)
    labelled = set()

    def once(label):
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for b, branch in enumerate(branches):
        idx = np.array([r for r, _ in branch])
        cost = np.array([rows[r]["exit_costs"][j] for r, j in branch], dtype=float)
        colour = f"C{b % 10}"
        where_at = np.asarray(rows[branch[0][0]]["attractors"][branch[0][1]])
        ax.plot(x[idx], cost, ("-", "--", ":", "-.")[b % 4], color=colour, lw=1.5,
                label=f"attractor near ({', '.join(f'{c:.2g}' for c in where_at)})")
        sel = np.array([j in rows[r].get("tied", [rows[r]["selected"]]) for r, j in branch])
        if sel.any():
            ax.plot(x[idx[sel]], cost[sel], "o", color=colour, ms=6, label=None)
            ax.plot([], [], "ko", ms=6, label=once("selected (phi = 0)"))
        edge = np.array([bool(rows[r]["exit_on_edge"][j]) for r, j in branch])
        if edge.any():
            ax.plot(x[idx[edge]], cost[edge], "v", color=colour, mfc="none", ms=8,
                    label=once("basin reaches the box edge lower"))
        if idx[0] > 0:
            ax.plot(x[idx[0]], cost[0], "o", mfc="white", mec=colour, ms=9, mew=1.5, label=once("appears"))
        if idx[-1] < len(rows) - 1:
            ax.plot(x[idx[-1]], cost[-1], "x", color=colour, ms=9, mew=2, label=once("disappears"))
    for r, row in enumerate(rows):
        if row.get("error") is not None:
            ax.axvline(x[r], color="0.6", lw=4, alpha=0.4, label=once("failed point"))
    ax.set(xlabel=name, ylabel="exit cost (barrier) V",
           title=f"{result.model}: exit costs against {name}")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return ax
