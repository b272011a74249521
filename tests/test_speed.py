"""What the leaner march keeps: the kernel reads the caller's drift and
diffusion in place (and a symmetrised copy of a diffusion symmetric only to
within the tolerance), and the benchmark's peer is scikit-fmm at order 1
with order 2 alongside. (Speed itself is measured by benchmarks/, never
asserted.)"""

import numpy as np
import pytest

from hjqp import _core


def _fields(n, skew=0.0):
    """Drift and a position-dependent anisotropic diffusion on n^2 nodes of
    [-1, 1]^2; `skew` adds that much (relative) asymmetry to D."""
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    b = np.stack([-2 * X - 3 * Y, 3 * X - Y], axis=-1)
    c = 0.3 * np.sin(X + 2 * Y)
    D = np.empty((n, n, 2, 2))
    D[..., 0, 0] = 1.5 + 0.2 * X
    D[..., 1, 1] = 1.0 + 0.1 * Y
    D[..., 0, 1] = c * (1 + skew)
    D[..., 1, 0] = c * (1 - skew)
    return b, D


def _march(b, D, n):
    h = 2.0 / (n - 1)
    centre = (n // 2) * n + n // 2
    return _core.march2d(np.array([-1.0, -1.0]), np.array([h, h]), b, D, np.array([centre]), np.array([0.0]),
                         np.zeros((1, 2)), update_radius=64.0, max_turn=1.4, max_value=np.inf)


def test_a_diffusion_symmetric_within_the_tolerance_marches_as_its_symmetrised_copy():
    n = 41
    b, skewed = _fields(n, skew=1e-12)
    exact = skewed.copy()
    exact[..., 0, 1] = exact[..., 1, 0] = 0.5 * (skewed[..., 0, 1] + skewed[..., 1, 0])
    a, e = _march(b, skewed, n), _march(b, exact, n)
    assert np.isfinite(a.values).sum() > n * n // 2
    np.testing.assert_array_equal(a.values, e.values)
    np.testing.assert_array_equal(a.gradients, e.gradients)


def test_strided_and_non_float_inputs_march_as_their_contiguous_copies():
    # The kernel reads its inputs in place: arrays the binding converts
    # (strided views, float32) must live through the march.
    n = 41
    b, D = _fields(n)
    wide_b = np.zeros((n, n, 4))
    wide_b[..., ::2] = b
    ref = _march(b, D, n)
    strided = _march(wide_b[..., ::2], np.asfortranarray(D), n)
    np.testing.assert_array_equal(ref.values, strided.values)
    single = _march(b.astype(np.float32), D, n)
    direct = _march(b.astype(np.float32).astype(float), D, n)
    np.testing.assert_array_equal(single.values, direct.values)


def test_the_benchmark_times_scikit_fmm_at_orders_one_and_two():
    pytest.importorskip("skfmm")
    from hjqp.report.bench import solve_rows

    (row,) = solve_rows([33], 1, ["linear"])
    for key in ("skfmm_seconds", "skfmm_order2_seconds"):
        assert row[key] > 0
    assert row["ratio_to_skfmm"] == pytest.approx(row["seconds"] / row["skfmm_seconds"])
    assert row["ratio_to_skfmm_order2"] == pytest.approx(row["seconds"] / row["skfmm_order2_seconds"])
