"""Every registered implementation x the shared catalog, against the float64 oracle.

The matrix is built from ``implementations()`` itself, so a new kernel is tested by
registering it. Unavailable implementations skip with their own reason, and ones that reject a
problem skip with their rejection. Each call goes through the public API with exactly that
implementation selected, into a NaN-poisoned ``out``; the strided variant also feeds
non-contiguous, offset, negatively strided, read-only inputs and a strided ``out``
(see fastconv.testing.check_against_oracle for everything checked).
"""
import numpy as np
import pytest

from fastconv import implementations
from fastconv.registry import REFERENCE
from fastconv.testing import EDGES, SMALL_MODEL_LAYERS, SMOKE, check_against_oracle, skip_reason

IMPLS = [impl for impl in implementations() if impl is not REFERENCE]

# Contiguous inputs over the whole test catalog; the strided variant over EDGES (the catalog
# that exercises argument handling), which keeps the matrix lean as backends are added.
CONTIGUOUS = SMOKE + EDGES + SMALL_MODEL_LAYERS
STRIDED = EDGES


def matrix(cases, impls):
    return [pytest.param(impl, case, id=f"{impl.name}-{case.id}") for impl in impls
            for case in cases]


def run_or_skip(impl, case, strided):
    why = skip_reason(impl, case)
    if why is not None:
        pytest.skip(f"{impl.name}: {why}")
    check_against_oracle(impl, case, strided=strided)


@pytest.mark.parametrize("impl, case", matrix(CONTIGUOUS, IMPLS))
def test_matches_oracle(impl, case):
    run_or_skip(impl, case, strided=False)


@pytest.mark.parametrize("impl, case", matrix(STRIDED, IMPLS))
def test_matches_oracle_strided(impl, case):
    run_or_skip(impl, case, strided=True)


# The reference is the oracle, so comparing it with itself would only test the plumbing around
# it: the API's views for layouts, flip and conv1d, writing into out, rounding to float32.
# A few cases through the public API cover exactly that.
REFERENCE_CASES = SMOKE + tuple(c for c in EDGES if c.layout in ("NHWC", "NLC") or c.flip)


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=str)
@pytest.mark.parametrize("strided", [False, True], ids=["contiguous", "strided"])
def test_reference_through_api(case, strided):
    check_against_oracle(REFERENCE, case, strided=strided)


def test_catalog_ids_are_unique():
    for catalog in (SMOKE + EDGES, SMALL_MODEL_LAYERS):
        ids = [case.id for case in catalog]
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_unavailable_implementations_skip_with_their_reason():
    """The skip above relies on rejection() returning the availability reason first."""
    for impl in implementations():
        if not impl.available:
            assert impl.reason
            assert skip_reason(impl, SMOKE[0]) == impl.reason


def test_at_least_one_compiled_implementation_runs():
    """Guard against the whole matrix silently skipping (e.g. the C extension not built)."""
    runnable = [impl.name for impl in IMPLS if impl.available]
    assert runnable, [f"{impl.name}: {impl.reason}" for impl in IMPLS]


def test_check_against_oracle_catches_wrong_results(monkeypatch):
    """The checker itself must fail on an unwritten element, an off-by-one result, and a write
    outside a strided out view."""
    from dataclasses import replace

    from fastconv import dispatch

    case = SMOKE[0]

    def broken(mode):
        def run(problem, x, w, bias, y):
            REFERENCE.run(problem, x, w, bias, y)
            if mode == "unwritten":
                y[0, 0, 0, 0] = np.nan
            elif mode == "wrong":
                y[0, 0, -1, -1] += 1e-3
            elif mode == "outside":
                y.base[..., 0] = 0.0  # the buffer's first column: not part of the view
        return run

    for mode, message in (("unwritten", "NaN"), ("wrong", "normwise error"),
                          ("outside", "outside")):
        fake = replace(REFERENCE, run=broken(mode))
        monkeypatch.setattr(dispatch, "select", lambda problem, algos, backend: fake)
        with pytest.raises(AssertionError, match=message):
            check_against_oracle(fake, case, strided=True)


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("impl, case", matrix(SMOKE, [i for i in IMPLS if i.backend != "cuda"]))
def test_matches_oracle_with_thread_counts(impl, case, threads, monkeypatch):
    """One thread and more threads than this CI machine has cores: same answers (CPU
    backends: fastconv's thread count does not apply to GPU kernels)."""
    from fastconv import threads as thread_state
    monkeypatch.setattr(thread_state, "_num_threads", threads)
    run_or_skip(impl, case, strided=False)
