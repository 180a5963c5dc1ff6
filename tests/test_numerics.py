"""NaN and Inf behaviour per algorithm (docs/numerics.md), and float64 accuracy.

Local algorithms (direct, im2col, the reference) compute each output from its own receptive
field only: a NaN in x poisons exactly the outputs whose window covers it, in every output
channel of its group. Transform algorithms (fft, winograd) mix a whole tile: a NaN or Inf
poisons at least those outputs and possibly the rest of its tile, never anything outside the
tiles that read it. The tiling is the kernel's business, so for them the tests check the
superset, and that finite inputs give finite outputs.
"""
import numpy as np
import pytest

import fastconv
from fastconv.testing import F64, SMOKE, EDGES, c2, case_rng, make_inputs, normwise_error, oracle

LOCAL_ALGOS = ("direct", "im2col", "reference")
CASES = [c2(1, 4, 13, 12, 6, 3, 3, padding=1),
         c2(2, 6, 11, 10, 4, 5, 3, stride=2, dilation=(1, 2), padding=(2, 1), groups=2),
         c2(1, 3, 12, 12, 3, 3, 3, padding=1, groups=3, layout="NHWC")]


def _impls():
    return [pytest.param(i, id=i.name) for i in fastconv.implementations()]


def _run(impl, case, x, w, b):
    reason = impl.rejection(case.problem) if impl.available else impl.reason
    if reason:
        pytest.skip(reason)
    return case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs)


@pytest.mark.parametrize("special", [np.nan, np.inf])
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("impl", _impls())
def test_special_value_in_input(impl, case, special):
    x, w, b = make_inputs(case, case_rng(case))
    x = x.copy()
    x.flat[x.size // 2 + 3] = special
    y = _run(impl, case, x, w, b)
    ref = oracle(case, x, w, b)
    expected_bad = ~np.isfinite(ref)
    assert expected_bad.any()
    bad = ~np.isfinite(y)
    assert bad[expected_bad].all(), "an output reading the special value came out finite"
    if impl.algo in LOCAL_ALGOS:
        assert np.array_equal(bad, expected_bad), "non-finite outputs outside the window"
        # Inf stays Inf where the oracle says so (no Inf - Inf in a local sum of one Inf)
        assert np.array_equal(np.isnan(y), np.isnan(ref))
    good = ~bad
    assert normwise_error(y[good], ref[good]) < 1e-4


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("impl", _impls())
def test_nan_in_weight_poisons_its_output_channel(impl, case):
    """A NaN weight tap poisons every output where that tap reads a real input element. Where
    it falls on padding the result depends on the algorithm: kernels that skip padded taps
    (direct) keep those outputs finite, kernels that multiply materialised zeros (im2col, the
    oracle, fft) give NaN (0 x NaN). Never anything outside that output channel for the local
    algorithms."""
    x, w, b = make_inputs(case, case_rng(case))
    w = w.copy()
    w.flat[0] = np.nan  # one tap of output channel 0 (OIHW and HWIO alike)
    y = _run(impl, case, x, w, b)
    indicator = np.zeros_like(w)
    indicator.flat[0] = 1
    must = oracle(case, np.ones_like(x), indicator, None) > 0  # tap on a real input
    bad = ~np.isfinite(y)
    assert bad[must].all(), "an output whose NaN tap read real data came out finite"
    if impl.algo in LOCAL_ALGOS:
        may = ~np.isfinite(oracle(case, x, w, b))
        assert not (bad & ~may).any(), "NaN outside the poisoned output channel"


@pytest.mark.parametrize("impl", _impls())
def test_finite_inputs_give_finite_outputs(impl):
    """Large but finite values: no transform may overflow where the direct sum does not."""
    case = CASES[0]
    x, w, b = make_inputs(case, case_rng(case))
    x = x * 1e15  # |y| ~ 1e16 fits float32 (max 3e38) with a wide margin
    y = _run(impl, case, x.astype(np.float32), w, b)
    assert np.isfinite(y).all()


F64_CASES = [c for c in SMOKE + EDGES if np.dtype(c.dtype) == np.float64] + [
    c.replace(dtype=F64) for c in SMOKE if np.dtype(c.dtype) != np.float64]


@pytest.mark.parametrize("case", F64_CASES, ids=str)
@pytest.mark.parametrize("impl", _impls())
def test_float64_within_1e12(impl, case):
    """Every float64 path is within 1e-12 normwise relative error of the oracle,
    transform algorithms included."""
    if impl.backend == "cuda":
        pytest.skip("the GPU paths are float32-first; their float64 bound is the catalog's")
    x, w, b = make_inputs(case, case_rng(case))
    y = _run(impl, case, x, w, b)
    assert normwise_error(y, oracle(case, x, w, b)) <= 1e-12
