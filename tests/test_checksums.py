"""Results are bit-for-bit those recorded in tests/data/checksums.json
(solves, landscapes, eikonal marches, Monte Carlo and SGD runs on the
benchmarks' problems; see tests/checksums.py), on the platform that
recorded them."""

import pytest

import checksums

STORED = checksums.load()
SAME_PLATFORM = STORED["platform"] == checksums.platform_fingerprint()


@pytest.mark.skipif(not SAME_PLATFORM, reason=f"checksums recorded on {STORED['platform']}: bit-level results "
                    "depend on the CPU's BLAS kernels and SIMD math")
@pytest.mark.parametrize("case", sorted(checksums.CASES))
def test_results_are_bit_identical_to_the_recorded_ones(case):
    assert checksums.compute(case) == STORED["cases"][case]


def test_every_case_is_recorded():
    assert sorted(STORED["cases"]) == sorted(checksums.CASES)
