"""Long-lived processes: many calls of every implementation do not grow memory."""
import os

import numpy as np
import pytest

import fastconv
from fastconv.testing import c2, case_rng, make_inputs

CALLS = 10_000
GROWTH_LIMIT = 10 * 2**20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


CASE = c2(1, 4, 10, 10, 4, 3, 3, padding=1)
# The CUDA simulator runs every GPU thread as a Python thread: 10,000 launches take an hour.
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
@pytest.mark.parametrize("impl", fastconv.implementations(), ids=lambda i: i.name)
def test_ten_thousand_calls_keep_rss_flat(impl):
    if not impl.available:
        pytest.skip(impl.reason)
    if impl.backend == "cuda" and SIMULATED:
        pytest.skip("CUDA simulator: too slow for 10,000 calls")
    if impl.rejection(CASE.problem):
        pytest.skip(impl.rejection(CASE.problem))
    x, w, b = make_inputs(CASE, case_rng(CASE))
    y = np.empty(CASE.out_shape, CASE.dtype)

    def call():  # a fresh output every other call: allocation paths exercised too
        CASE.conv(x, w, b, algo=impl.algo, backend=impl.backend, **CASE.kwargs)
        CASE.conv(x, w, b, algo=impl.algo, backend=impl.backend, out=y, **CASE.kwargs)
    for _ in range(500):  # caches, plans, JIT, scratch buffers reach their steady state
        call()
    before = rss_bytes()
    for _ in range(CALLS // 2):
        call()
    growth = rss_bytes() - before
    assert growth < GROWTH_LIMIT, f"{impl.name}: RSS grew {growth / 2**20:.1f} MiB"
