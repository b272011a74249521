"""Figures from hjqp results (matplotlib).

Each function draws results computed elsewhere onto an Axes (made if not
given) and returns it; none computes anything beyond what drawing needs.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = [
    "PHI_RANGE",
    "U_RANGE",
    "colour_limit",
    "plateaus",
    "contour_levels",
    "mark_points",
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

#: A landscape's phi is coloured up to this many times its highest exit
#: level, max_i (phi(O_i) + V_i): the wells, the saddles and the way out,
#: with the ground above them in one colour.
PHI_RANGE = 2.0

#: A local quasi-potential U is coloured up to this many times the level at
#: which it first reaches the box edge: beyond, paths that would leave the
#: box are missing and U only says "at least this".
U_RANGE = 2.0

# One look for every figure: attractors white discs, saddles red crosses,
# exit points orange diamonds, minimum action paths red lines, contour lines
# thin and white; above the colour range light grey, unreached (+inf) white.
_ATTRACTOR = dict(marker="o", ms=7, mfc="w", mec="k", mew=1.2, ls="none", zorder=5)
_SADDLE = dict(marker="X", ms=9, mfc="r", mec="w", mew=0.8, ls="none", zorder=5)
_EXIT = dict(marker="D", ms=6, mfc="orange", mec="k", mew=0.8, ls="none", zorder=5)
_NAME = dict(textcoords="offset points", xytext=(6, 6), fontsize=9, zorder=6,
             bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.75))
_OVER = "0.85"
_CONTOUR = dict(colors="w", linewidths=0.6, alpha=0.75)
# Share of the coloured nodes within one bin of 1/_PLATEAU_BINS of the colour
# range that makes a plateau (a smooth well puts about 1/_PLATEAU_BINS of
# them in each), and how close to a plateau no contour level comes (a
# fraction of the colour range).
_PLATEAU_BINS = 400
_PLATEAU_SHARE = 0.02
_PLATEAU_MARGIN = 0.02


def _axes(ax, projection=None):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(5.5, 4.4), constrained_layout=True)
    return fig.add_subplot(projection=projection)


def _field(result, grid):
    """(values, grid) from a QuasiPotential, a Landscape or an array."""
    if hasattr(result, "values") and hasattr(result, "grid"):
        return np.asarray(result.values, dtype=float), result.grid
    if grid is None:
        raise ValueError("an array of values needs its grid= to be drawn")
    return np.asarray(result, dtype=float), grid


def colour_limit(result, values: Optional[np.ndarray] = None):
    """The top of the colour range of a field and what it is.

    A Landscape (has ``exit_costs``): ``PHI_RANGE`` times its highest exit
    level max_i (phi(O_i) + V_i) over the exits found. A QuasiPotential:
    ``U_RANGE`` times the least value on the box edge. Never above the
    largest finite value (nor for a plain array, which has no such level).

    Returns ``(top, why)``: a float and a phrase for the colour bar."""
    values = np.asarray(result.values if values is None else values, dtype=float)
    finite = values[np.isfinite(values)]
    largest = float(np.max(finite)) if finite.size else 1.0
    level, why = None, ""
    exits = getattr(result, "exit_costs", None)
    if exits is not None:
        exits = np.asarray(exits, dtype=float)
        ok = np.isfinite(exits)
        if ok.any():
            level = float(np.max(np.asarray(result.global_values, dtype=float)[ok] + exits[ok]))
            why = f"{PHI_RANGE:g} x max exit level"
            level *= PHI_RANGE
    elif hasattr(result, "attractor") and values.ndim >= 2:
        edge = np.concatenate([np.moveaxis(values, axis, 0)[[0, -1]].ravel() for axis in range(values.ndim)])
        edge = edge[np.isfinite(edge)]
        if edge.size:
            level = float(np.min(edge))
            why = f"{U_RANGE:g} x U's least value on the box edge"
            level *= U_RANGE
    if level is None or not level > 0 or level >= largest:
        return largest, "largest value"
    return level, why


def plateaus(values: np.ndarray, top: Optional[float] = None) -> np.ndarray:
    """Intervals ``(m, 2)`` of values that a field takes on a large share of
    its nodes below ``top`` (a flat region: phi beyond the saddles of a flat
    loss, u_i across another basin). Contour lines at such values come out
    as noise: the field wanders within a rounding error of them."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if top is not None:
        v = v[v <= top]
    if v.size < 16:
        return np.zeros((0, 2))
    lo, hi = float(v.min()), float(v.max() if top is None else top)
    if not hi > lo:
        return np.array([[lo, lo]])
    counts, edges = np.histogram(v, bins=_PLATEAU_BINS, range=(lo, hi))
    flat = counts >= _PLATEAU_SHARE * v.size
    out = []
    i = 0
    while i < len(flat):
        if flat[i]:
            j = i
            while j + 1 < len(flat) and flat[j + 1]:
                j += 1
            inside = v[(v >= edges[i]) & (v <= edges[j + 1])]
            out.append((float(inside.min()), float(inside.max())))
            i = j + 1
        else:
            i += 1
    return np.array(out).reshape(-1, 2)


def contour_levels(values: np.ndarray, top: float, n: int = 10, *, bottom: float = 0.0) -> np.ndarray:
    """About ``n`` evenly spaced round levels in (bottom, top), none within
    ``_PLATEAU_MARGIN`` of the colour range of a plateau (:func:`plateaus`)."""
    from matplotlib.ticker import MaxNLocator

    if not (n and top > bottom):
        return np.zeros(0)
    levels = MaxNLocator(nbins=n, steps=[1, 2, 2.5, 5, 10]).tick_values(bottom, top)
    levels = levels[(levels > bottom) & (levels < top)]
    margin = _PLATEAU_MARGIN * (top - bottom)
    for lo, hi in plateaus(values, top):
        levels = levels[(levels < lo - margin) | (levels > hi + margin)]
    return levels


def _resolved(values: np.ndarray, step: float) -> np.ndarray:
    """Nodes where the field changes by less than ``step`` to each
    neighbour: contour lines ``step`` apart are at least a cell apart there
    (elsewhere, as across a valley narrower than a cell, they would merge
    into one line)."""
    ok = np.ones(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for axis in range(values.ndim):
            jump = ~(np.abs(np.diff(values, axis=axis)) <= step)
            lead = (slice(None),) * axis
            ok[lead + (slice(0, -1),)] &= ~jump
            ok[lead + (slice(1, None),)] &= ~jump
    return ok


def _colormap(cmap):
    import matplotlib

    cm = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
    return cm.with_extremes(over=_OVER, bad="w")


def _colorbar(ax, image, **kwargs):
    """A colour bar as tall as the axes (aspect-equal axes are often shorter
    than the space the layout gives them), just right of them."""
    cax = ax.inset_axes([1.03, 0.0, 0.035, 1.0])
    return ax.figure.colorbar(image, cax=cax, **kwargs)


def mark_points(ax, attractors=None, saddles=None, exit_points=None, *, names: bool = True):
    """Attractors (white discs, named O1, O2, ...), saddles (red crosses,
    S1, ...) and exit points (orange diamonds, named after their
    attractor) in their first two coordinates, each with a legend entry."""
    if attractors is not None and len(attractors):
        a = np.atleast_2d(np.asarray(attractors, dtype=float))
        ax.plot(*a[:, :2].T, label="attractors", **_ATTRACTOR)
        if names:
            for i, p in enumerate(a):
                ax.annotate(f"O{i + 1}", p[:2], **_NAME)
    if saddles is not None and len(saddles):
        z = np.atleast_2d(np.asarray(saddles, dtype=float))
        ax.plot(*z[:, :2].T, label="saddles", **_SADDLE)
        if names and len(z) > 1:
            for i, p in enumerate(z):
                ax.annotate(f"S{i + 1}", p[:2], **_NAME)
    if exit_points is not None and len(exit_points):
        e = np.atleast_2d(np.asarray(exit_points, dtype=float))
        shown = np.all(np.isfinite(e), axis=1)
        if shown.any():
            ax.plot(*e[shown, :2].T, label="exit points", **_EXIT)
            if names:
                for i in np.flatnonzero(shown):
                    ax.annotate(f"exit O{i + 1}", e[i, :2], **_NAME)


def quasipotential(result, grid=None, ax=None, *, levels: int = 10, vmax: Optional[float] = None,
                   attractors=None, saddles=None, paths: Sequence[np.ndarray] = (), cmap: str = "viridis",
                   title: Optional[str] = None, colorbar: bool = True, exit_points=None,
                   label: Optional[str] = None, names: bool = True):
    """Heatmap and contours of a 2D quasi-potential (a QuasiPotential, a
    Landscape's global phi, or values with their grid), with attractors,
    saddles, exit points and paths (e.g. minimum action paths) on top.

    ``vmax`` caps the colour scale; by default :func:`colour_limit`. Values
    above it take one light grey, marked on the colour bar (extend='max');
    unreached nodes (+inf) are white. Contour levels are round numbers away
    from the field's plateaus (:func:`contour_levels`), drawn only where
    they are at least a cell apart. ``label`` names the colour bar (default
    "phi" for a landscape, "U" otherwise)."""
    values, grid = _field(result, grid)
    if values.ndim != 2:
        raise ValueError(f"quasipotential draws 2D fields; got shape {values.shape} (see slices)")
    ax = _axes(ax)
    finite = np.isfinite(values)
    if vmax is None:
        top, why = colour_limit(result, values) if hasattr(result, "values") else colour_limit(values, values)
    else:
        top, why = float(vmax), "given"
    largest = float(np.max(values[finite])) if finite.any() else top
    x, y = grid.axes
    shown = np.ma.masked_invalid(values)
    image = ax.pcolormesh(x, y, shown.T, cmap=_colormap(cmap), shading="auto", vmin=0.0, vmax=top)
    if levels:
        lv = contour_levels(values, top, levels)
        if len(lv):
            step = float(np.min(np.diff(lv))) if len(lv) > 1 else top
            drawn = np.ma.masked_where(~(finite & _resolved(values, step)), values)
            if drawn.count():
                ax.contour(x, y, drawn.T, levels=lv, **_CONTOUR)
    if attractors is None and hasattr(result, "attractors"):
        attractors = result.attractors
    elif attractors is None and hasattr(result, "attractor"):
        attractors = np.atleast_2d(result.attractor)
    if saddles is None and hasattr(result, "saddles"):
        saddles = result.saddles
    for k, path in enumerate(paths):
        ax.plot(*np.asarray(path)[:, :2].T, "r-", lw=1.4, label="minimum action paths" if k == 0 else None,
                zorder=4)
    _draw_cycles(ax, result, "w")
    mark_points(ax, attractors, saddles, exit_points, names=names)
    if colorbar:
        name = label or ("phi" if hasattr(result, "exit_costs") else "U")
        cut = largest > top * (1 + 1e-9)
        bar = _colorbar(ax, image, extend="max" if cut else "neither")
        notes = ([f"grey: > {top:.3g} = {why}"] if cut and why != "given" else []) + (
            ["white: not reached"] if not finite.all() else [])
        bar.set_label(name + (f" ({'; '.join(notes)})" if notes else ""), fontsize=9)
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
    """The basins of a 2D Landscape (one colour each, grey for none), with
    the attractors, saddles and exit points named."""
    ax = _axes(ax)
    labels = np.asarray(land.basins, dtype=float)
    labels[labels < 0] = np.nan
    x, y = land.grid.axes
    ax.pcolormesh(x, y, labels.T, cmap=cmap, shading="auto", vmin=0, vmax=max(9, land.k - 1), alpha=0.55)
    ax.set_facecolor("0.85")
    _draw_cycles(ax, land, "k")
    mark_points(ax, land.attractors, land.saddles)
    ax.set(xlabel="x1", ylabel="x2", aspect="equal", title="basins of attraction (grey: none)")
    return ax


def implicit_regularisation(land, loss: np.ndarray, axes=None, *, cmap: str = "viridis",
                            vmax: Optional[float] = None):
    """The loss f beside the global quasi-potential phi on the same grid:
    where f cannot tell its minima apart, phi does. phi is coloured as
    :func:`quasipotential` does (default cut: :func:`colour_limit`), each
    attractor named with its phi, the selected one ringed. Returns the two
    Axes."""
    loss = np.asarray(loss, dtype=float)
    if loss.shape != land.values.shape:
        raise ValueError(f"loss has shape {loss.shape}, the landscape's grid {land.values.shape}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    x, y = land.grid.axes
    image = axes[0].pcolormesh(x, y, loss.T, cmap=cmap, shading="auto")
    axes[0].figure.colorbar(image, ax=axes[0], shrink=0.85).set_label("f", fontsize=8)
    mark_points(axes[0], land.attractors)
    lowest = ", ".join(f"f(O{i + 1}) = {v:.3g}" for i, v in enumerate(_values_at(loss, land.grid, land.attractors)))
    axes[0].set(title=f"loss f: {lowest}", xlabel="x1", ylabel="x2", aspect="equal")
    quasipotential(land, ax=axes[1], cmap=cmap, vmax=vmax, names=False,
                   title=f"global quasi-potential phi: the noise selects O{land.selected + 1}")
    for i, (a, v) in enumerate(zip(land.attractors, land.global_values)):
        axes[1].annotate(f"O{i + 1}: phi = {v:.3g}", a[:2], **_NAME)
    s = land.attractors[land.selected]
    axes[1].plot(*s[:2], "o", mfc="none", mec="r", ms=16, mew=2, label="selected (phi = 0)")
    axes[1].legend(loc="lower left", fontsize=8, framealpha=0.8)
    return axes


def _values_at(values: np.ndarray, grid, points) -> np.ndarray:
    """A field's values at the nodes nearest to points (n, d)."""
    return np.array([values[tuple(grid.nearest_node(p))] for p in np.atleast_2d(points)])


def slices(values, grid, axes=None, *, at=None, cmap: str = "viridis", vmax: Optional[float] = None,
           label: Optional[str] = None):
    """Three orthogonal slices of a 3D field through the point ``at``
    (default: the box centre), coloured as :func:`quasipotential` does
    (default cut: :func:`colour_limit`), with the attractors that lie in
    each slice. Returns the three Axes."""
    result = values
    values, grid = _field(values, grid)
    if values.ndim != 3:
        raise ValueError(f"slices draws 3D fields; got shape {values.shape}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    at = np.mean([grid.lower, grid.upper], axis=0) if at is None else np.asarray(at, dtype=float)
    idx = grid.nearest_node(at)
    if vmax is None:
        top, why = colour_limit(result, values) if hasattr(result, "values") else colour_limit(values, values)
    else:
        top, why = float(vmax), "given"
    finite = values[np.isfinite(values)]
    cut = finite.size and float(np.max(finite)) > top * (1 + 1e-9)
    attractors = getattr(result, "attractors", None)
    if attractors is None and hasattr(result, "attractor"):
        attractors = np.atleast_2d(result.attractor)
    names = ("x1", "x2", "x3")
    for ax, k in zip(axes, range(3)):
        a, b = [j for j in range(3) if j != k]
        cut_plane = np.ma.masked_invalid(np.take(values, idx[k], axis=k))
        image = ax.pcolormesh(grid.axes[a], grid.axes[b], cut_plane.T, cmap=_colormap(cmap), shading="auto",
                              vmin=0, vmax=top)
        if attractors is not None:
            near = np.abs(np.asarray(attractors)[:, k] - grid.axes[k][idx[k]]) <= grid.spacing[k]
            for i in np.flatnonzero(near):
                ax.plot(attractors[i][a], attractors[i][b], **_ATTRACTOR)
                ax.annotate(f"O{i + 1}", (attractors[i][a], attractors[i][b]), **_NAME)
        ax.set(xlabel=names[a], ylabel=names[b], aspect="equal",
               title=f"{names[k]} = {grid.axes[k][idx[k]]:.3g}")
    bar = axes[-1].figure.colorbar(image, ax=list(axes), shrink=0.85, extend="max" if cut else "neither")
    name = label or ("phi" if hasattr(result, "exit_costs") else "U")
    bar.set_label(name + (f" (grey: > {top:.3g} = {why})" if cut and why != "given" else ""), fontsize=8)
    return axes


def level_surface(values, grid, level: float, ax=None, *, color: str = "C0", alpha: float = 0.6):
    """The level surface {U = level} of a 3D field: a triangulated surface
    (marching cubes) when scikit-image is installed, else the cells of the
    sublevel set as voxels, in the grid's coordinates either way."""
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
        # The voxels' corners: half a (coarse) cell around each sampled node.
        edges = [np.append(axis[::step], axis[::step][-1] + h * step) - 0.5 * h * step
                 for axis, h in zip(grid.axes, grid.spacing)]
        corners = np.meshgrid(*edges, indexing="ij")
        ax.voxels(*corners, coarse, facecolors=color, alpha=alpha, edgecolor="none")
    else:
        verts, faces, _, _ = marching_cubes(filled, level, spacing=grid.spacing)
        verts = verts + np.asarray(grid.lower)
        ax.plot_trisurf(verts[:, 0], verts[:, 1], faces, verts[:, 2], color=color, alpha=alpha, lw=0)
    ax.set(xlabel="x1", ylabel="x2", zlabel="x3")
    ax.set_title(f"the level surface U = {level:.4g}")
    return ax


def trajectories(paths, ax=None, *, background=None, grid=None, max_paths: int = 10, lw: float = 0.5,
                 labels: Optional[Sequence[str]] = None):
    """Monte Carlo paths (a Paths result or an array (n, m, 2)) over an
    optional background field (QuasiPotential, Landscape or values+grid,
    coloured as :func:`quasipotential` does). The view takes in the whole
    paths; outside the background's box, where nothing was computed, it is
    hatched and the box outlined."""
    ax = _axes(ax)
    p = np.asarray(getattr(paths, "paths", paths), dtype=float)
    if p.ndim != 3 or p.shape[-1] != 2:
        raise ValueError(f"trajectories draws 2D paths of shape (n, m, 2); got {p.shape}")
    p = p[:max_paths]
    if background is not None:
        _, box = _field(background, grid)
        quasipotential(background, grid, ax=ax, levels=8)
        from matplotlib.patches import Rectangle

        (x0, y0), (x1, y1) = box.lower, box.upper
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="k", lw=1, ls="--", zorder=3,
                               label="solved box"))
        ax.set_facecolor("w")
        ax.patch.set_hatch("//")
        ax.patch.set_edgecolor("0.8")
        seen = np.concatenate([p.reshape(-1, 2), [box.lower, box.upper]])
    else:
        seen = p.reshape(-1, 2)
    for k, path in enumerate(p):
        ax.plot(path[:, 0], path[:, 1], lw=lw, color=f"C{k % 10}", alpha=0.6,
                label=None if labels is None else labels[k])
    seen = seen[np.all(np.isfinite(seen), axis=1)]
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    pad = 0.03 * (hi - lo)
    ax.set(xlabel="x1", ylabel="x2", aspect="equal", xlim=(lo[0] - pad[0], hi[0] + pad[0]),
           ylim=(lo[1] - pad[1], hi[1] + pad[1]))
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
                       label="predicted: argmin of U on the boundary" if k == 0 else None)
    ax.set(xlabel="exit angle around the centre", ylabel="exits", xlim=(-np.pi, np.pi))
    ax.set_xticks(np.linspace(-np.pi, np.pi, 5), ["-pi", "-pi/2", "0", "pi/2", "pi"])
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
    :class:`hjqp.Sweep` of landscapes): one line per attractor
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
