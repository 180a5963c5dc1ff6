"""The public API: every error path, dtype promotion, unusual arrays, output handling,
padding arithmetic, implementation choice and threads."""
import dataclasses
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fastconv
from fastconv import api, dispatch, implementations, reference, threads
from fastconv.registry import ALGOS, BACKENDS, NOT_IMPLEMENTED

RNG = np.random.default_rng(11)
X = RNG.standard_normal((2, 4, 6, 7)).astype(np.float32)      # N C H W
W = RNG.standard_normal((6, 2, 3, 3)).astype(np.float32)      # groups=2
B = RNG.standard_normal(6).astype(np.float32)
X1 = RNG.standard_normal((2, 4, 9)).astype(np.float32)        # N C L
W1 = RNG.standard_normal((6, 2, 3)).astype(np.float32)
OUT_SHAPE = (2, 6, 4, 5)


@pytest.fixture
def no_kernel_runs(monkeypatch):
    """Make any implementation that dispatch selects fail the test if it runs: errors must be
    raised before a kernel does anything."""
    ran = []
    real_select = dispatch.select

    def select(problem, algos, backend):
        impl = real_select(problem, algos, backend)
        return dataclasses.replace(impl, run=lambda *args: ran.append(impl.name))

    monkeypatch.setattr(dispatch, "select", select)
    yield ran
    assert not ran, f"a kernel ran before the error: {ran}"


def conv2d(**changes):
    kwargs = dict(x=X, weight=W, bias=B, groups=2)
    kwargs.update(changes)
    return fastconv.conv2d(**kwargs)


def conv1d(**changes):
    kwargs = dict(x=X1, weight=W1, bias=B, groups=2)
    kwargs.update(changes)
    return fastconv.conv1d(**kwargs)


class Ragged:
    """An object np.asarray cannot turn into a number array."""
    def __array__(self, dtype=None, copy=None):
        raise ValueError("no array for you")


ro_out = np.zeros(OUT_SHAPE, np.float32)
ro_out.flags.writeable = False
overlap_buf = np.zeros(2 * 4 * 6 * 7 + 2 * 6 * 4 * 5, np.float32)
X_SHARED = overlap_buf[:X.size].reshape(X.shape)
X_SHARED[...] = X
OUT_SHARED = overlap_buf[X.size - 10: X.size - 10 + 240].reshape(OUT_SHAPE)

# (id, call, exception, argument names of which at least one must appear in the message)
ERRORS = [
    ("layout-1d-name", lambda: conv2d(layout="NCL"), ValueError, "layout"),
    ("layout-none", lambda: conv2d(layout=None), ValueError, "layout"),
    ("layout-lowercase", lambda: conv2d(layout="nhwc"), ValueError, "layout"),
    ("conv1d-layout-2d", lambda: conv1d(layout="NHWC"), ValueError, "layout"),
    ("flip-int", lambda: conv2d(flip=1), TypeError, "flip"),
    ("flip-str", lambda: conv2d(flip="yes"), TypeError, "flip"),
    ("x-ragged", lambda: conv2d(x=[[[[1.0, 2.0], [3.0]]]]), TypeError, "x"),
    ("x-array-fails", lambda: conv2d(x=Ragged()), TypeError, "x"),
    ("x-complex", lambda: conv2d(x=X.astype(np.complex64)), TypeError, "x"),
    ("x-object", lambda: conv2d(x=X.astype(object)), TypeError, "x"),
    ("x-str", lambda: conv2d(x=np.full(X.shape, "a")), TypeError, "x"),
    ("x-datetime", lambda: conv2d(x=np.zeros(X.shape, "datetime64[s]")), TypeError, "x"),
    ("x-none", lambda: conv2d(x=None), TypeError, "x"),
    ("weight-complex", lambda: conv2d(weight=W.astype(complex)), TypeError, "weight"),
    ("weight-str", lambda: conv2d(weight="abc"), TypeError, "weight"),
    ("bias-complex", lambda: conv2d(bias=B.astype(complex)), TypeError, "bias"),
    ("bias-object", lambda: conv2d(bias=[None] * 6), TypeError, "bias"),
    ("x-longdouble", lambda: conv2d(x=X.astype(np.longdouble)), TypeError, "x"),
    ("bias-longdouble", lambda: conv2d(bias=B.astype(np.longdouble)), TypeError, "bias"),
    ("x-3d", lambda: conv2d(x=X[0]), ValueError, "x"),
    ("x-5d", lambda: conv2d(x=X[None]), ValueError, "x"),
    ("x-scalar", lambda: conv2d(x=1.0), ValueError, "x"),
    ("weight-3d", lambda: conv2d(weight=W[0]), ValueError, "weight"),
    ("conv1d-x-4d", lambda: conv1d(x=X), ValueError, "x"),
    ("conv1d-weight-4d", lambda: conv1d(weight=W), ValueError, "weight"),
    ("groups-zero", lambda: conv2d(groups=0), ValueError, "groups"),
    ("groups-negative", lambda: conv2d(groups=-2), ValueError, "groups"),
    ("groups-float", lambda: conv2d(groups=2.0), TypeError, "groups"),
    ("groups-bool", lambda: conv2d(groups=True), TypeError, "groups"),
    ("groups-str", lambda: conv2d(groups="2"), TypeError, "groups"),
    ("x-no-channels", lambda: conv2d(x=X[:, :0], groups=1), ValueError, "x"),
    ("x-empty-height", lambda: conv2d(x=X[:, :, :0]), ValueError, "x"),
    ("x-empty-width", lambda: conv2d(x=X[:, :, :, :0]), ValueError, "x"),
    ("conv1d-x-empty-length", lambda: conv1d(x=X1[:, :, :0]), ValueError, "x"),
    ("weight-empty-kernel", lambda: conv2d(weight=W[:, :, :0]), ValueError, "weight"),
    ("groups-not-dividing-c-in", lambda: conv2d(groups=3, weight=W[:, :1]), ValueError,
     "groups"),
    ("groups-not-dividing-c-out", lambda: conv2d(weight=W[:5], bias=B[:5]), ValueError,
     "groups"),
    ("weight-channels", lambda: conv2d(weight=W[:, :1]), ValueError, "weight"),
    ("weight-channels-nhwc", lambda: conv2d(x=X.transpose(0, 2, 3, 1),
                                           weight=W.transpose(2, 3, 0, 1), layout="NHWC"),
     ValueError, "weight"),
    ("bias-length", lambda: conv2d(bias=B[:5]), ValueError, "bias"),
    ("bias-2d", lambda: conv2d(bias=B[:, None]), ValueError, "bias"),
    ("bias-scalar", lambda: conv2d(bias=1.0), ValueError, "bias"),
    ("stride-zero", lambda: conv2d(stride=0), ValueError, "stride"),
    ("stride-negative", lambda: conv2d(stride=(1, -1)), ValueError, "stride"),
    ("stride-three", lambda: conv2d(stride=(1, 2, 3)), ValueError, "stride"),
    ("stride-one-of-two", lambda: conv2d(stride=(2,)), ValueError, "stride"),
    ("stride-float", lambda: conv2d(stride=1.0), TypeError, "stride"),
    ("stride-str", lambda: conv2d(stride="1"), TypeError, "stride"),
    ("stride-none", lambda: conv2d(stride=None), TypeError, "stride"),
    ("stride-ndarray", lambda: conv2d(stride=np.array([1, 2])), TypeError, "stride"),
    ("stride-bool", lambda: conv2d(stride=(True, 1)), TypeError, "stride"),
    ("stride-beyond-int64", lambda: conv2d(stride=2**63), ValueError, "stride"),
    ("conv1d-stride-two", lambda: conv1d(stride=(1, 2)), ValueError, "stride"),
    ("dilation-zero", lambda: conv2d(dilation=0), ValueError, "dilation"),
    ("dilation-three", lambda: conv2d(dilation=[1, 1, 1]), ValueError, "dilation"),
    ("dilation-float", lambda: conv2d(dilation=(1, 1.5)), TypeError, "dilation"),
    ("padding-negative", lambda: conv2d(padding=-1), ValueError, "padding"),
    ("padding-negative-pair", lambda: conv2d(padding=((1, -1), 0)), ValueError, "padding"),
    ("padding-unknown-mode", lambda: conv2d(padding="full"), ValueError, "padding"),
    ("padding-uppercase-mode", lambda: conv2d(padding="SAME"), ValueError, "padding"),
    ("padding-three", lambda: conv2d(padding=(1, 2, 3)), ValueError, "padding"),
    ("padding-onnx-flat", lambda: conv2d(padding=(1, 1, 1, 1)), ValueError, "padding"),
    ("padding-triple-entry", lambda: conv2d(padding=((1, 2, 3), (1, 1))), ValueError,
     "padding"),
    ("padding-beyond-int64", lambda: conv2d(padding=(0, (2**64, 0))), ValueError, "padding"),
    ("padding-float", lambda: conv2d(padding=1.5), TypeError, "padding"),
    ("padding-none", lambda: conv2d(padding=None), TypeError, "padding"),
    ("padding-bool", lambda: conv2d(padding=True), TypeError, "padding"),
    ("padding-float-in-pair", lambda: conv2d(padding=((1, 0.5), 0)), TypeError, "padding"),
    ("conv1d-padding-three", lambda: conv1d(padding=(1, 2, 3)), ValueError, "padding"),
    ("conv1d-padding-negative-pair", lambda: conv1d(padding=(2, -1)), ValueError, "padding"),
    ("conv1d-padding-two-pairs", lambda: conv1d(padding=((1, 1), (1, 1))), ValueError,
     "padding"),
    ("kernel-taller-than-input", lambda: conv2d(x=X[:, :, :2]), ValueError, "weight"),
    ("kernel-wider-than-input", lambda: conv2d(x=X[:, :, :, :2], padding=((1, 1), 0)),
     ValueError, "weight"),
    ("dilated-kernel-too-large", lambda: conv2d(dilation=(1, 4)), ValueError, "weight"),
    ("conv1d-kernel-too-long", lambda: conv1d(x=X1[:, :, :2], padding=(0, 0)), ValueError,
     "weight"),
    ("algo-int", lambda: conv2d(algo=3), TypeError, "algo"),
    ("algo-none", lambda: conv2d(algo=None), TypeError, "algo"),
    ("algo-empty", lambda: conv2d(algo=()), TypeError, "algo"),
    ("algo-unknown", lambda: conv2d(algo="winograd9000"), ValueError, "algo"),
    ("algo-unknown-in-tuple", lambda: conv2d(algo=("direct", "nope")), ValueError, "algo"),
    ("algo-pair-name", lambda: conv2d(algo="direct:c"), ValueError, "algo"),
    ("backend-none", lambda: conv2d(backend=None), TypeError, "backend"),
    ("backend-unknown", lambda: conv2d(backend="gpu"), ValueError, "backend"),
    ("out-list", lambda: conv2d(out=[0.0] * 240), TypeError, "out"),
    ("out-shape", lambda: conv2d(out=np.zeros((2, 6, 4, 6), np.float32)), ValueError, "out"),
    ("out-layout", lambda: conv2d(out=np.zeros((2, 4, 5, 6), np.float32)), ValueError, "out"),
    ("out-dtype", lambda: conv2d(out=np.zeros(OUT_SHAPE, np.float64)), ValueError, "out"),
    ("out-big-endian", lambda: conv2d(out=np.zeros(OUT_SHAPE, ">f4")), ValueError, "out"),
    ("out-read-only", lambda: conv2d(out=ro_out), ValueError, "out"),
    ("out-overlaps-x", lambda: conv2d(x=X_SHARED, out=OUT_SHARED), ValueError, "out"),
]


@pytest.mark.parametrize("call, exc, names", [pytest.param(*e[1:], id=e[0]) for e in ERRORS])
def test_error(call, exc, names, no_kernel_runs):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc  # exactly TypeError/ValueError, not a subclass surprise
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    assert re.search(rf"(^|[^\w]){re.escape(names)}($|[^\w])", message), \
        f"{message!r} does not name {names!r}"


def test_error_out_overlapping_weight_and_bias(no_kernel_runs):
    buf = np.zeros(W.size + 240, np.float32)
    w = buf[:W.size].reshape(W.shape)
    w[...] = W
    with pytest.raises(ValueError, match="overlap"):
        conv2d(weight=w, out=buf[W.size - 1:W.size - 1 + 240].reshape(OUT_SHAPE))
    b = np.zeros(240, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        conv2d(bias=b[:6], out=b.reshape(OUT_SHAPE))


def test_out_is_untouched_on_error(no_kernel_runs):
    out = np.full(OUT_SHAPE, 7.0, np.float32)
    with pytest.raises(ValueError):
        conv2d(out=out, algo="nope")
    assert (out == 7.0).all()


# ---- not supported ----------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, reason", [
    (dict(algo="reference", backend="c"), "no such pair"),
    (dict(algo="reference", backend="numba"), "no such pair"),
])
def test_explicit_choice_that_cannot_run(kwargs, reason, no_kernel_runs):
    with pytest.raises(NotImplementedError) as info:
        conv2d(**kwargs)
    message = str(info.value)
    assert "not supported" in message and reason in message and "\n" not in message
    assert "n2c4h6w7k6r3s3_s1p0_g2" in message  # the problem id, for bug reports


def test_an_entry_without_a_kernel_is_not_implemented():
    from fastconv.registry import Implementation
    placeholder = Implementation("winograd", "c")
    assert not placeholder.available and placeholder.reason == NOT_IMPLEMENTED


def test_rejection_reason_reaches_the_user(monkeypatch):
    """A kernel's supports() text is what the user reads."""
    direct_c = next(i for i in implementations() if i.name == "direct:c")
    if not direct_c.available:
        pytest.skip(direct_c.reason)
    picky = dataclasses.replace(direct_c, supports=lambda p: "groups > 1 not handled"
                                if p.groups > 1 else None)
    monkeypatch.setattr(dispatch, "REGISTRY", (picky,) + dispatch.REGISTRY[1:])
    dispatch.select.cache_clear()
    try:
        with pytest.raises(NotImplementedError, match="not supported.*groups > 1 not handled"):
            conv2d(algo="direct", backend="c")
        assert conv2d(groups=1, weight=np.ones((6, 4, 3, 3), np.float32), algo="direct",
                      backend="c").shape == OUT_SHAPE
    finally:
        dispatch.select.cache_clear()


# ---- implementations() ------------------------------------------------------------------------
def test_implementations_lists_every_pair():
    impls = implementations()
    names = [impl.name for impl in impls]
    assert len(names) == len(set(names))
    assert set(names) == {f"{a}:{b}" for a in ALGOS for b in BACKENDS} | {"reference:numpy"}
    assert len(ALGOS) * len(BACKENDS) == 12
    assert names[-1] == "reference:numpy"  # the last resort comes last
    for impl in impls:
        assert impl.name == f"{impl.algo}:{impl.backend}"
        assert impl.available == (impl.reason is None)
        assert impl.name in repr(impl)
        if impl.run is None:
            assert impl.reason == NOT_IMPLEMENTED and not impl.available
    by_name = {impl.name: impl for impl in impls}
    assert by_name["reference:numpy"].available
    direct_c = by_name["direct:c"]
    assert direct_c.available or "C extension" in direct_c.reason


def test_choice_follows_the_request():
    problem = api.prepare(2, X, W, B, 1, 0, 1, 2, "NCHW", False).problem
    available = [impl for impl in implementations() if impl.available]
    # auto: the cost model's cheapest estimate among those that accept (tests/test_dispatch.py)
    assert dispatch.select(problem, None, None) is dispatch.options(problem, None, None)[0].impl
    assert dispatch.select(problem, None, "numpy").name == "reference:numpy"
    assert dispatch.select(problem, ("reference",), None).name == "reference:numpy"
    if any(impl.name == "direct:c" for impl in available):
        assert dispatch.select(problem, ("im2col", "direct"), "c").name in ("im2col:c",
                                                                             "direct:c")
        assert dispatch.select(problem, ("direct",), None).algo == "direct"
        assert dispatch.select(problem, ("direct",), "c").name == "direct:c"


def test_reference_warning_only_when_auto_falls_back(monkeypatch):
    """Asking for the reference (or the numpy backend) is not a fallback: no warning. Falling
    back to it under algo="auto" because nothing compiled can run warns."""
    dispatch.select.cache_clear()  # choices are cached: start from a clean slate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conv2d(backend="numpy")
        conv2d(algo="reference")
    monkeypatch.setattr(dispatch, "REGISTRY", (dispatch.REFERENCE,))
    dispatch.select.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="slow NumPy reference"):
            conv2d(padding=1)
    finally:
        dispatch.select.cache_clear()


def test_algo_and_backend_forms_give_the_same_result():
    expected = conv2d()
    for kwargs in (dict(algo="direct"), dict(algo=["direct", "reference"]),
                   dict(algo=("reference",)), dict(backend="numpy"), dict(backend="auto"),
                   dict(algo="auto", backend="auto")):
        np.testing.assert_allclose(conv2d(**kwargs), expected, rtol=1e-5, atol=1e-5,
                                   err_msg=str(kwargs))


# ---- dtypes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("x_dtype, w_dtype, expected", [
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64),
    (np.float16, np.float16, np.float32),
    (np.float16, np.float32, np.float32),
    (np.bool_, np.bool_, np.float32),
    (np.int8, np.int8, np.float32),
    (np.uint8, np.float32, np.float32),
    (np.int16, np.int16, np.float32),
    # np.result_type(int32/int64, float32) is float64 in NumPy: the documented rule
    (np.int32, np.float32, np.float64),
    (np.int64, np.int64, np.float64),
    (np.uint64, np.float16, np.float64),
])
def test_dtype_promotion(x_dtype, w_dtype, expected):
    x = (X * 3).astype(x_dtype)
    w = (W * 3).astype(w_dtype)
    assert np.result_type(x, w, np.float32) == expected  # the promotion rule the API states
    y = fastconv.conv2d(x, w, groups=2)
    assert y.dtype == expected
    ref = reference.conv2d(x, w, groups=2)
    tol = 2e-6 if expected == np.float32 else 1e-12
    assert np.linalg.norm(y - ref) <= tol * np.linalg.norm(ref)


def test_bias_dtype_float16_keeps_float32():
    y = conv2d(bias=B.astype(np.float16))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, conv2d(bias=B.astype(np.float16).astype(np.float32)))


def test_bias_dtype_does_not_promote_the_output():
    # The output dtype is np.result_type(x, weight, float32); bias is cast to it.
    y = conv2d(bias=B.astype(np.float64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, conv2d(bias=B), rtol=1e-6)


def test_float64_result_is_float64_accurate():
    x, w = X.astype(np.float64) / 3, W.astype(np.float64) / 7
    y = fastconv.conv2d(x, w, groups=2)
    ref = reference.conv2d(x, w, groups=2)
    assert np.linalg.norm(y - ref) <= 1e-13 * np.linalg.norm(ref)


# ---- unusual inputs ---------------------------------------------------------------------------
def test_lists_are_accepted():
    expected = conv2d()
    y = conv2d(x=X.tolist(), weight=W.tolist(), bias=B.tolist())
    assert y.dtype == np.float64  # Python floats are float64
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    y1 = conv1d(x=X1.tolist(), weight=W1.tolist(), bias=B.tolist())
    np.testing.assert_allclose(y1, conv1d(), rtol=1e-5, atol=1e-5)


def test_read_only_inputs():
    expected = conv2d()
    x, w, b = X.copy(), W.copy(), B.copy()
    for a in (x, w, b):
        a.flags.writeable = False
    np.testing.assert_array_equal(conv2d(x=x, weight=w, bias=b), expected)


@pytest.mark.parametrize("order", [">", "<"])
def test_byte_order(order):
    expected = conv2d()
    args = {k: v.astype(order + "f4") for k, v in dict(x=X, weight=W, bias=B).items()}
    y = conv2d(**args)
    assert y.dtype == np.float32 and y.dtype.isnative
    np.testing.assert_array_equal(y, expected)
    y64 = conv2d(x=X.astype(order + "f8"), weight=W.astype(">f8"), bias=B)
    assert y64.dtype == np.float64 and y64.dtype.isnative
    np.testing.assert_allclose(y64, conv2d(x=X.astype(np.float64)), rtol=1e-12, atol=1e-12)


def test_offset_and_strided_views():
    expected = conv2d()
    big = np.zeros((3, 9, 8, 15), np.float32)
    x = big[1:, 2:6, 1:7, 1::2]  # offset in every axis, step 2 in the last
    x[...] = X
    wbig = np.zeros((7, 2, 3, 3), np.float32)
    w = wbig[1:]
    w[...] = W
    assert not x.flags.c_contiguous and x.ctypes.data != big.ctypes.data
    np.testing.assert_array_equal(conv2d(x=x, weight=w, bias=np.repeat(B, 3)[::3]), expected)
    # negative strides and a Fortran-ordered weight
    x_rev = np.ascontiguousarray(X[:, :, ::-1])[:, :, ::-1]
    # (auto may pick im2col:c, whose GEMM packs a Fortran-ordered weight by another path: the
    # same sums in another order, so equal to rounding rather than bitwise)
    np.testing.assert_allclose(conv2d(x=x_rev, weight=np.asfortranarray(W)), expected,
                               rtol=1e-5, atol=1e-5)
    # broadcast (zero-stride) input
    x0 = np.broadcast_to(np.float32(1.5), X.shape)
    np.testing.assert_allclose(conv2d(x=x0), conv2d(x=np.full(X.shape, 1.5, np.float32)),
                               rtol=1e-6)


def test_unaligned_inputs_and_out():
    expected = conv2d()

    def unaligned(a):
        """A copy of ``a`` one byte into a buffer: misaligned for its dtype."""
        u = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
        u[...] = a
        return u

    x = unaligned(X)
    assert not x.flags.aligned
    np.testing.assert_array_equal(conv2d(x=x, weight=unaligned(W), bias=unaligned(B)), expected)
    out = unaligned(np.full(OUT_SHAPE, np.nan, np.float32))
    assert not out.flags.aligned and out.flags.writeable
    assert conv2d(out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_repeated_calls_are_validated_like_the_first():
    """conv2d remembers the problems of valid calls (api._KNOWN_CALLS): a repeat with other
    data is computed afresh, and a repeat that differs only in an argument's type, alignment,
    strides or output is still judged on its own."""
    api._KNOWN_CALLS.clear()
    x2 = RNG.standard_normal(X.shape).astype(np.float32)
    first = fastconv.conv2d(X, W, B, padding=1, groups=2)
    assert len(api._KNOWN_CALLS) == 1
    np.testing.assert_array_equal(fastconv.conv2d(X, W, B, padding=1, groups=2), first)
    want = reference.conv2d(x2.astype(np.float64), W.astype(np.float64), B.astype(np.float64),
                            padding=1, groups=2)
    np.testing.assert_allclose(fastconv.conv2d(x2, W, B, padding=1, groups=2), want,
                               rtol=1e-4, atol=1e-4)
    assert len(api._KNOWN_CALLS) == 1
    with pytest.raises(TypeError, match="groups"):  # True == 1, but a bool is no int
        fastconv.conv2d(X[:, :2], W[:, :2], B, padding=1, groups=True)
    fastconv.conv2d(X[:, :2], W[:, :2], B, padding=1, groups=1)
    with pytest.raises(TypeError, match="groups"):
        fastconv.conv2d(X[:, :2], W[:, :2], B, padding=1, groups=True)
    buf = np.zeros((2, 6, 6, 7), np.float32)
    fastconv.conv2d(buf[:, :4], W, B, padding=1, groups=2)
    with pytest.raises(ValueError, match="overlap"):  # out aliasing x, after a valid call
        fastconv.conv2d(buf[:, :4], W, B, padding=1, groups=2, out=buf)
    # lists and non-NumPy arrays are validated every time and never remembered
    api._KNOWN_CALLS.clear()
    fastconv.conv2d(X, W, B, padding=[1, 1], groups=2)
    fastconv.conv2d(X.tolist(), W, B, padding=1, groups=2)
    assert not api._KNOWN_CALLS


def test_inputs_are_never_modified():
    for call in (lambda x, w, b: fastconv.conv2d(x, w, b, groups=2, padding="same", flip=True),
                 lambda x, w, b: fastconv.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0),
                                                 b, groups=2, layout="NHWC", stride=2),
                 lambda x, w, b: fastconv.conv1d(x[:, :, 0], w[:, :, 0], b, groups=2, flip=True),
                 lambda x, w, b: fastconv.conv2d(x, w, b, groups=2, algo="reference")):
        x, w, b = X.copy(), W.copy(), B.copy()
        call(x, w, b)
        for a, a0 in ((x, X), (w, W), (b, B)):
            np.testing.assert_array_equal(a, a0)


# ---- out ------------------------------------------------------------------------------------
def test_out_contiguous_and_strided():
    expected = conv2d()
    out = np.full(OUT_SHAPE, np.nan, np.float32)
    assert conv2d(out=out) is out
    np.testing.assert_array_equal(out, expected)
    buf = np.full((2, 6, 4, 10), np.nan, np.float32)
    out = buf[..., ::2]
    assert conv2d(out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert np.isnan(buf[..., 1::2]).all()
    # channels-last out whose memory is channels-first (a transposed view)
    out_t = np.full((2, 6, 4, 5), np.nan, np.float32).transpose(0, 2, 3, 1)
    y = fastconv.conv2d(X.transpose(0, 2, 3, 1), W.transpose(2, 3, 1, 0), B, groups=2,
                        layout="NHWC", out=out_t)
    assert y is out_t
    np.testing.assert_array_equal(out_t, expected.transpose(0, 2, 3, 1))


def test_out_conv1d_layouts():
    expected = conv1d()
    out = np.full(expected.shape, np.nan, np.float32)
    assert conv1d(out=out) is out
    np.testing.assert_array_equal(out, expected)
    out_nlc = np.full((2, 7, 6), np.nan, np.float32)
    y = fastconv.conv1d(X1.transpose(0, 2, 1), W1.transpose(2, 1, 0), B, groups=2,
                        layout="NLC", out=out_nlc)
    assert y is out_nlc
    np.testing.assert_array_equal(out_nlc, expected.transpose(0, 2, 1))


# ---- empty batches and memory ------------------------------------------------------------
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_empty_batch(layout):
    x = X[:0] if layout == "NCHW" else X[:0].transpose(0, 2, 3, 1)
    w = W if layout == "NCHW" else W.transpose(2, 3, 1, 0)
    y = fastconv.conv2d(x, w, B, groups=2, layout=layout, stride=2, padding="same")
    expected_shape = (0, 6, 3, 4) if layout == "NCHW" else (0, 3, 4, 6)
    assert y.shape == expected_shape and y.dtype == np.float32
    out = np.empty(expected_shape, np.float32)
    assert fastconv.conv2d(x, w, B, groups=2, layout=layout, stride=2, padding="same",
                           out=out) is out
    y1 = fastconv.conv1d(X1[:0], W1, groups=2, padding=(1, 0))
    assert y1.shape == (0, 6, 8)
    assert reference.conv2d(x, w, groups=2, layout=layout, stride=2, padding="same").shape == \
        expected_shape


def test_empty_batch_still_honours_an_explicit_choice():
    with pytest.raises(NotImplementedError, match="not supported"):
        fastconv.conv2d(X[:0], W, groups=2, algo="reference", backend="c")


@pytest.mark.parametrize("c_out", [4, 2 ** 14], ids=["2**60-bytes", "2**72-bytes"])
def test_output_too_large_raises_memory_error_quickly(c_out, no_kernel_runs):
    """An output of 2**60 bytes (beyond any address space, whatever the overcommit policy) and
    one whose byte count does not even fit in an intp; x is a zero-stride view of one element,
    so nothing large exists before the output is requested."""
    x = np.broadcast_to(np.float32(1), (2 ** 24, 1, 2 ** 16, 2 ** 16))
    w = np.ones((c_out, 1, 1, 1), np.float32)
    # quickly: refused before any kernel runs (no_kernel_runs), not timed (no clock reading)
    with pytest.raises(MemoryError) as info:
        fastconv.conv2d(x, w)
    message = str(info.value)
    assert "GiB" in message and "\n" not in message and "output" in message


# ---- padding arithmetic -------------------------------------------------------------------------
def tf_out(size, k, s, d, mode):
    """TensorFlow's output size for SAME / VALID (tf.nn.convolution docs)."""
    eff = (k - 1) * d + 1
    return -(-size // s) if mode != "valid" else -(-(size - eff + 1) // s)


def tf_same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def test_string_padding_matches_tensorflow():
    checked = 0
    for size in range(1, 14):
        for k in range(1, 6):
            for s in range(1, 4):
                for d in (1, 2):
                    eff = (k - 1) * d + 1
                    for mode in ("same", "same_lower", "valid"):
                        x = np.broadcast_to(np.float32(0), (1, 1, size, 3))
                        w = np.broadcast_to(np.float32(0), (1, 1, k, 1))
                        args = (2, x, w, None, (s, 1), mode, (d, 1), 1, "NCHW", False)
                        if mode == "valid" and size < eff:
                            with pytest.raises(ValueError, match="padding"):
                                api.prepare(*args)
                            continue
                        p = api.prepare(*args).problem
                        assert p.h_out == tf_out(size, k, s, d, mode), (size, k, s, d, mode)
                        before, after = tf_same_pads(size, k, s, d)
                        expected = {"same": (before, after), "same_lower": (after, before),
                                    "valid": (0, 0)}[mode]
                        assert p.padding[:2] == expected, (size, k, s, d, mode)
                        assert p.padding[2:] == (0, 0)
                        checked += 1
    assert checked > 900


def test_string_padding_output_shapes_end_to_end():
    x = RNG.standard_normal((1, 2, 11, 8)).astype(np.float32)
    w = RNG.standard_normal((3, 2, 4, 3)).astype(np.float32)
    assert fastconv.conv2d(x, w, stride=(2, 3), padding="same").shape == (1, 3, 6, 3)
    assert fastconv.conv2d(x, w, stride=(2, 3), padding="same_lower").shape == (1, 3, 6, 3)
    assert fastconv.conv2d(x, w, stride=(2, 3), padding="valid").shape == (1, 3, 4, 2)
    # same vs same_lower differ only in where the odd extra row goes
    y_same = fastconv.conv2d(x, w, padding="same")
    y_lower = fastconv.conv2d(x, w, padding="same_lower")
    np.testing.assert_allclose(y_same, fastconv.conv2d(x, w, padding=((1, 2), 1)), rtol=1e-6)
    np.testing.assert_allclose(y_lower, fastconv.conv2d(x, w, padding=((2, 1), 1)), rtol=1e-6)


def test_padding_forms_are_equivalent():
    expected = conv2d(padding=((1, 1), (2, 2)))
    for padding in ((1, 2), [1, 2], ((1, 1), 2), (1, (2, 2)), (np.int64(1), np.int32(2))):
        np.testing.assert_array_equal(conv2d(padding=padding), expected, err_msg=str(padding))
    np.testing.assert_array_equal(conv2d(padding=0), conv2d(padding="valid"))
    np.testing.assert_array_equal(conv2d(stride=2), conv2d(stride=(2, 2)))
    np.testing.assert_array_equal(conv2d(dilation=(2, 2)), conv2d(dilation=2))
    np.testing.assert_array_equal(conv2d(groups=np.int64(2), stride=np.int8(2)),
                                  conv2d(stride=2))
    np.testing.assert_array_equal(conv2d(flip=np.True_), conv2d(flip=True))


def test_conv1d_padding_pair():
    y = conv1d(padding=(2, 1))
    assert y.shape == (2, 6, 10)
    padded = np.pad(X1, ((0, 0), (0, 0), (2, 1)))
    np.testing.assert_allclose(y, conv1d(x=padded), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(conv1d(padding=[2, 1]), y)
    np.testing.assert_array_equal(conv1d(padding=((2, 1),)), y)
    np.testing.assert_array_equal(conv1d(padding=(3,)), conv1d(padding=3))
    # conv1d is conv2d with a unit height
    y2 = fastconv.conv2d(X1[:, :, None], W1[:, :, None], B, groups=2, padding=((0, 0), (2, 1)))
    np.testing.assert_allclose(y, y2[:, :, 0], rtol=1e-6, atol=1e-6)


def test_flip_is_a_spatial_flip_of_the_weight():
    np.testing.assert_array_equal(conv2d(flip=True), conv2d(weight=W[:, :, ::-1, ::-1]))
    np.testing.assert_array_equal(conv1d(flip=True), conv1d(weight=W1[:, :, ::-1]))


def test_channels_last_is_a_transpose():
    y = fastconv.conv2d(X.transpose(0, 2, 3, 1), W.transpose(2, 3, 1, 0), B, groups=2,
                        layout="NHWC", stride=(1, 2), padding=1)
    np.testing.assert_allclose(y, conv2d(stride=(1, 2), padding=1).transpose(0, 2, 3, 1),
                               rtol=1e-6, atol=1e-6)


# ---- threads ----------------------------------------------------------------------------------
@pytest.fixture
def fresh_threads(monkeypatch):
    """Thread state as in a new process (restored afterwards by monkeypatch)."""
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.delenv("FASTCONV_NUM_THREADS", raising=False)
    return monkeypatch


def test_threads_default_and_set(fresh_threads):
    default = fastconv.get_num_threads()
    assert default >= 1
    if hasattr(os, "sched_getaffinity"):
        assert default == len(os.sched_getaffinity(0))
    expected = conv2d()
    for n in (1, 3, np.int64(2)):
        fastconv.set_num_threads(n)
        assert fastconv.get_num_threads() == n and type(fastconv.get_num_threads()) is int
        np.testing.assert_array_equal(conv2d(), expected)


def test_thread_count_reaches_the_c_descriptor(fresh_threads):
    c = pytest.importorskip("fastconv.backends.c")
    if c.unavailable_reason():
        pytest.skip(c.unavailable_reason())
    call = api.prepare(2, X, W, B, 1, 0, 1, 2, "NCHW", False)
    y = np.empty(OUT_SHAPE, np.float32)
    fastconv.set_num_threads(3)
    assert c.conv2d_desc(call.problem, call.x, call.w, call.bias, y).nthreads == 3


@pytest.mark.parametrize("value, exc", [(0, ValueError), (-1, ValueError), (1.0, TypeError),
                                        (True, TypeError), ("2", TypeError), (None, TypeError)])
def test_set_num_threads_errors(value, exc, fresh_threads):
    before = fastconv.get_num_threads()
    with pytest.raises(exc, match=r"\bn\b") as info:
        fastconv.set_num_threads(value)
    assert "\n" not in str(info.value)
    assert fastconv.get_num_threads() == before


def test_env_var(fresh_threads):
    fresh_threads.setenv("FASTCONV_NUM_THREADS", " 3 ")
    assert fastconv.get_num_threads() == 3
    for bad in ("0", "-2", "two", "1.5"):
        fresh_threads.setattr(threads, "_num_threads", None)
        fresh_threads.setenv("FASTCONV_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="FASTCONV_NUM_THREADS") as info:
            fastconv.get_num_threads()
        assert "\n" not in str(info.value)
    fresh_threads.setenv("FASTCONV_NUM_THREADS", "")
    fresh_threads.setattr(threads, "_num_threads", None)
    assert fastconv.get_num_threads() >= 1


def test_env_var_in_a_new_process():
    env = dict(os.environ, FASTCONV_NUM_THREADS="5")
    code = "import fastconv; print(fastconv.get_num_threads())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"


def test_problem_id_format():
    p = api.prepare(2, np.zeros((2, 6, 11, 13)), np.zeros((4, 3, 3, 5)), None, 2, (1, 2), 1, 2,
                    "NCHW", False).problem
    assert p.id == "n2c6h11w13k4r3s5_s2p1x2_g2_f64"
    p1 = api.prepare(1, np.zeros((1, 20, 3), np.float32), np.zeros((3, 3, 4), np.float32), None,
                     1, (2, 0), 2, 1, "NLC", True).problem
    assert str(p1) == p1.id == "n1c3w20k4s3_s1p2,0_d2_nlc_flip"


def test_c_status_codes_map_to_exceptions():
    c = pytest.importorskip("fastconv.backends.c")
    if c.unavailable_reason():
        pytest.skip(c.unavailable_reason())
    _, lib = c._native()
    c.check_status(lib.FC_OK, "k")
    for status, exc in ((lib.FC_ERR_UNSUPPORTED, NotImplementedError),
                        (lib.FC_ERR_ISA_UNAVAILABLE, RuntimeError),
                        (lib.FC_ERR_WORKSPACE_TOO_SMALL, c.KernelError),
                        (lib.FC_ERR_INVALID_ARGUMENT, c.KernelError), (99, c.KernelError)):
        with pytest.raises(exc, match="^k: "):
            c.check_status(status, "k")
