"""Hypothesis property tests: random small problems, every argument form, against the oracle.

The "ci" profile (tests/conftest.py) is derandomized with a fixed example count, so CI runs
the same examples every time; HYPOTHESIS_PROFILE=dev explores further.
"""
import numpy as np
import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, note, strategies as st  # noqa: E402

from fastconv import api, dispatch, implementations  # noqa: E402
from fastconv.registry import REFERENCE  # noqa: E402
from fastconv.testing import (Case, check_against_oracle, make_inputs,  # noqa: E402
                              normwise_error, oracle, skip_reason, tolerance)

AVAILABLE = [impl for impl in implementations() if impl.available and impl is not REFERENCE]


def per_dim(draw, values, dims):
    """An int when all values agree and the draw says so, else a tuple (both forms tested)."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return tuple(values) if dims == 2 or draw(st.booleans()) else values[0]


@st.composite
def cases(draw, max_size=9):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]

    mode = draw(st.sampled_from(["int", "pairs", "same", "same_lower", "valid"]))
    if mode in ("same", "same_lower"):
        padding, pads = mode, [0] * dims
    elif mode == "valid":
        padding, pads = mode, [0] * dims
    elif mode == "int":
        p = draw(st.integers(0, 3))
        padding, pads = p, [2 * p] * dims
    else:
        pairs = [(draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(dims)]
        padding = pairs[0] if dims == 1 else tuple(pairs)
        pads = [a + b for a, b in pairs]
    # smallest size for which the (dilated) kernel fits the padded input
    lows = [1 if mode.startswith("same") else max(1, e - p) for e, p in zip(eff, pads)]
    size = tuple(draw(st.integers(lo, lo + max_size)) for lo in lows)

    layout = draw(st.sampled_from(["NCHW", "NHWC"] if dims == 2 else ["NCL", "NLC"]))
    return Case(n=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out, size=size, kernel=kernel,
                stride=per_dim(draw, stride, dims), padding=padding,
                dilation=per_dim(draw, dilation, dims), groups=groups,
                dtype=draw(st.sampled_from(["float32", "float64"])), layout=layout,
                flip=draw(st.booleans()), bias=draw(st.booleans()))


def expected_spatial_out(case):
    """Output sizes from the definition, independently of the API."""
    dims = case.spatial_dims
    stride = case.stride if isinstance(case.stride, tuple) else (case.stride,) * dims
    dil = case.dilation if isinstance(case.dilation, tuple) else (case.dilation,) * dims
    out = []
    for i, (size, k, s, d) in enumerate(zip(case.size, case.kernel, stride, dil)):
        if isinstance(case.padding, str):
            out.append(-(-size // s) if case.padding != "valid"
                       else (size - (k - 1) * d - 1) // s + 1)
            continue
        if isinstance(case.padding, int):
            before = after = case.padding
        else:
            before, after = case.padding if dims == 1 else case.padding[i]
        out.append((size + before + after - (k - 1) * d - 1) // s + 1)
    return tuple(out)


@given(case=cases(), seed=st.integers(0, 2**16))
def test_auto_matches_oracle(case, seed):
    note(case.id)
    x, w, b = make_inputs(case, np.random.default_rng(seed))
    y = case.conv(x, w, b, **case.kwargs)
    spatial = expected_spatial_out(case)
    shape = ((case.n, *spatial, case.c_out) if case.channels_last
             else (case.n, case.c_out, *spatial))
    assert y.shape == shape and y.dtype == np.dtype(case.dtype)
    impl = dispatch.select(case.problem, None, None)
    err = normwise_error(y, oracle(case, x, w, b))
    assert err <= tolerance(case.dtype, impl.algo), (impl.name, err)


@pytest.mark.skipif(not AVAILABLE, reason="no compiled implementation is available")
@given(case=cases(), seed=st.integers(0, 2**16), strided=st.booleans())
def test_every_available_implementation_matches_oracle(case, seed, strided):
    note(case.id)
    for impl in AVAILABLE:
        if skip_reason(impl, case) is None:
            check_against_oracle(impl, case, np.random.default_rng(seed), strided=strided)


@given(dims=st.sampled_from([1, 2]), size=st.integers(1, 12), k=st.integers(1, 6),
       d=st.integers(1, 4), s=st.integers(1, 4), before=st.integers(0, 5),
       after=st.integers(0, 5))
def test_kernel_must_fit_the_padded_input(dims, size, k, d, s, before, after):
    """ValueError (naming weight) exactly when the dilated kernel overhangs the padded input;
    otherwise the output size is floor((size + pads - span) / stride) + 1 >= 1."""
    x = np.broadcast_to(np.float32(0), (1, 1, size) if dims == 1 else (1, 1, 3, size))
    w = np.broadcast_to(np.float32(0), (1, 1, k) if dims == 1 else (1, 1, 1, k))
    padding = (before, after) if dims == 1 else (0, (before, after))
    stride, dilation = (s, (1, d)) if dims == 2 else (s, d)
    args = (dims, x, w, None, stride, padding, dilation, 1, "NCHW" if dims == 2 else "NCL", False)
    span = (k - 1) * d + 1
    if size + before + after < span:
        with pytest.raises(ValueError, match="weight"):
            api.prepare(*args)
    else:
        assert api.prepare(*args).problem.w_out == (size + before + after - span) // s + 1 >= 1
