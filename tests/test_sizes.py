"""Index arithmetic is 64-bit: inputs with more than 2**31 elements.

np.zeros of 8 GiB costs nothing until written (calloc maps the zero page), so an input that
large can be read by a kernel as long as the output stays small: a long 1-D signal, or a tall
image, taken with a large stride. Only the last few thousand samples hold data; the result is
checked against the oracle on that tail alone. (An output past 2**31 elements would need 8 GiB
of real memory, so the output side is not exercised here.)
"""
import os
import sys

import numpy as np
import pytest

import fastconv
from fastconv import reference

BIG = 2**31 + 2**20 + 7  # elements, past the int32 range
STRIDE = 2**20


def _lazy_zeros_ok() -> bool:
    return sys.platform.startswith("linux") and os.sysconf("SC_PAGE_SIZE") > 0


pytestmark = pytest.mark.skipif(not _lazy_zeros_ok(), reason="needs lazily committed zeros")


@pytest.mark.parametrize("impl", fastconv.implementations(), ids=lambda i: i.name)
def test_conv1d_input_past_int32(impl):
    if impl.backend != "c":
        pytest.skip("C kernels only: the numba kernels re-lay the whole (8 GiB) input per call")
    if not impl.available:
        pytest.skip(impl.reason)
    x = np.zeros((1, 1, BIG), np.float32)
    tail = 4 * STRIDE
    rng = np.random.default_rng(0)
    x[0, 0, -tail:] = rng.standard_normal(tail, dtype=np.float32)  # 16 MiB really written
    w = rng.standard_normal((2, 1, 5)).astype(np.float32)
    from fastconv.api import prepare
    problem = prepare(1, x, w, None, STRIDE, 0, 3, 1, "NCL", False).problem
    reason = impl.rejection(problem)
    if reason:
        pytest.skip(reason)
    y = fastconv.conv1d(x, w, stride=STRIDE, dilation=3, algo=impl.algo, backend=impl.backend)
    assert y.shape == (1, 2, (BIG - 13) // STRIDE + 1)
    first = (y.shape[-1] - 3)  # the last outputs read only the tail
    start = first * STRIDE
    ref = reference.conv1d(x[:, :, start:], w, stride=STRIDE, dilation=3)
    np.testing.assert_allclose(y[..., first:], ref, rtol=1e-5, atol=1e-5)
    assert np.all(y[..., :first - 2] == 0)


@pytest.mark.parametrize("impl", fastconv.implementations(), ids=lambda i: i.name)
def test_conv2d_input_past_int32(impl):
    if impl.backend != "c":
        pytest.skip("C kernels only: the numba kernels re-lay the whole (8 GiB) input per call")
    if not impl.available:
        pytest.skip(impl.reason)
    h, w_ = 2**15 + 3, 2**16 + 5  # h * w > 2**31
    x = np.zeros((1, 1, h, w_), np.float32)
    rng = np.random.default_rng(1)
    x[0, 0, -8:, :] = rng.standard_normal((8, w_), dtype=np.float32)
    wt = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    stride = (2**10, 2**12)
    from fastconv.api import prepare
    problem = prepare(2, x, wt, None, stride, 0, 1, 1, "NCHW", False).problem
    reason = impl.rejection(problem)
    if reason:
        pytest.skip(reason)
    y = fastconv.conv2d(x, wt, stride=stride, algo=impl.algo, backend=impl.backend)
    last_row = (h - 3) // stride[0]
    start = last_row * stride[0]
    ref = reference.conv2d(x[:, :, start:, :], wt, stride=stride)
    np.testing.assert_allclose(y[:, :, last_row:], ref, rtol=1e-5, atol=1e-5)
