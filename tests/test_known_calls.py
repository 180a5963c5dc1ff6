"""Repeated calls (fastconv.known_calls): a call with the signature of an earlier valid call
skips validation and set-up and gives the same result; every change of signature (arrays'
shapes, strides, dtypes, out, the other arguments, the thread count, the dispatcher's state)
and every per-call property of the data (alignment, a read-only or overlapping out) is still
handled as on the first call. Results against the float64 oracle; no timing asserted.
Also: a fresh process that convolves NumPy arrays imports neither numba.cuda nor (when the C
extension chooses) numba."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastconv
from fastconv import api, dispatch, profiling, reference
from fastconv.backends import c as c_backend
from fastconv.testing import normwise_error

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 4, 7, 6)).astype(np.float32)
W = RNG.standard_normal((6, 2, 3, 3)).astype(np.float32)
B = RNG.standard_normal(6).astype(np.float32)
KW = dict(padding=1, groups=2)
TOL = 1e-4  # loose enough for any float32 algorithm "auto" may pick (fft included)


def oracle(x, w, b=None, **kwargs):
    f64 = [None if a is None else np.asarray(a, np.float64) for a in (x, w, b)]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("algo", "backend")}
    return reference.conv2d(*f64, **kwargs)


def check(y, x, w, b=None, **kwargs):
    assert not np.isnan(y).any()
    err = normwise_error(y, oracle(x, w, b, **kwargs))
    assert err <= TOL, err


def unaligned(a):
    """A copy of ``a`` whose data starts one byte past an aligned address (same strides)."""
    raw = np.empty(a.nbytes + a.itemsize + 1, np.uint8)
    start = (-raw.ctypes.data % a.itemsize) + 1
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


@pytest.fixture(autouse=True)
def fresh_tables(isolated_dispatch):
    api._KNOWN_CALLS.clear()
    yield
    api._KNOWN_CALLS.clear()


def test_hit_gives_the_same_result_with_new_data():
    first = fastconv.conv2d(X, W, B, **KW)
    assert len(api._KNOWN_CALLS) == 1
    again = fastconv.conv2d(X, W, B, **KW)  # a hit: the remembered call runs it
    assert len(api._KNOWN_CALLS) == 1
    assert np.array_equal(first, again)
    check(again, X, W, B, **KW)
    x2 = RNG.standard_normal(X.shape).astype(np.float32)
    for _ in range(2):
        check(fastconv.conv2d(x2, W, B, **KW), x2, W, B, **KW)
    assert len(api._KNOWN_CALLS) == 1


@pytest.mark.parametrize("change", [
    "stride", "padding", "dilation", "groups", "flip", "algo", "backend", "no_bias",
    "float64_x", "float64_all", "int_x", "strided_x", "negative_strides_w", "fortran_x",
    "bias_float64", "batch", "nhwc", "padding_pairs", "padding_same"])
def test_every_change_of_signature_is_a_new_entry(change):
    x, w, b, kw = X, W, B, dict(KW)
    if change == "stride":
        kw["stride"] = 2
    elif change == "padding":
        kw["padding"] = 2
    elif change == "dilation":
        kw["dilation"] = (1, 2)
    elif change == "groups":
        w, kw["groups"] = RNG.standard_normal((6, 4, 3, 3)).astype(np.float32), 1
    elif change == "flip":
        kw["flip"] = True
    elif change == "algo":
        kw["algo"] = "im2col"
    elif change == "backend":
        kw["backend"] = "numpy"
    elif change == "no_bias":
        b = None
    elif change == "float64_x":
        x = X.astype(np.float64)
    elif change == "float64_all":
        x, w, b = X.astype(np.float64), W.astype(np.float64), B.astype(np.float64)
    elif change == "int_x":
        x = (X * 10).astype(np.int16)
    elif change == "strided_x":
        x = np.repeat(X, 2, axis=3)[..., ::2]
    elif change == "negative_strides_w":
        w = W[:, :, ::-1, ::-1].copy()[:, :, ::-1, ::-1]
    elif change == "fortran_x":
        x = np.asfortranarray(X)
    elif change == "bias_float64":
        b = B.astype(np.float64)
    elif change == "batch":
        x = X[:1]
    elif change == "nhwc":
        x, w = np.ascontiguousarray(X.transpose(0, 2, 3, 1)), \
            np.ascontiguousarray(W.transpose(2, 3, 1, 0))
        kw["layout"] = "NHWC"
    elif change == "padding_pairs":
        kw["padding"] = ((1, 0), (0, 2))
    elif change == "padding_same":
        kw["padding"] = "same"
    first = fastconv.conv2d(X, W, B, **KW)
    check(first, X, W, B, **KW)
    ys = [fastconv.conv2d(x, w, b, **kw) for _ in range(3)]  # a miss, then two hits
    assert len(api._KNOWN_CALLS) == 2
    want_dtype = np.result_type(x.dtype, w.dtype, np.float32)
    assert all(y.dtype == want_dtype for y in ys)
    if kw.get("layout") == "NHWC":
        ys = [y.transpose(0, 3, 1, 2) for y in ys]
        x, w, kw = X, W, {k: v for k, v in kw.items() if k != "layout"}
    for y in ys:
        check(y, x, w, b, **kw)
    assert np.array_equal(ys[1], ys[2])
    # the first signature is still remembered and still right
    assert np.array_equal(fastconv.conv2d(X, W, B, **KW), first)


def test_conv1d_and_conv2d_with_equal_arguments_are_apart():
    x1, w1 = X[:, :, 0, :], W[:, :, 0, :]
    for _ in range(2):
        y1 = fastconv.conv1d(x1, w1, B, padding=1, groups=2)
        np.testing.assert_allclose(
            y1, reference.conv1d(x1.astype(np.float64), w1.astype(np.float64),
                                 B.astype(np.float64), padding=1, groups=2),
            rtol=1e-4, atol=1e-4)
        check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
    assert len(api._KNOWN_CALLS) == 2


def test_thread_count_is_part_of_the_signature():
    previous = fastconv.get_num_threads()
    try:
        for threads in (1, 3, 1):
            fastconv.set_num_threads(threads)
            for _ in range(2):
                check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
        assert len(api._KNOWN_CALLS) == 2
    finally:
        fastconv.set_num_threads(previous)


def test_dispatcher_changes_forget_the_bound_calls(monkeypatch):
    fastconv.conv2d(X, W, B, **KW)
    before = dispatch.generation
    dispatch.select.cache_clear()
    assert dispatch.generation == before + 1
    check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
    assert len(api._KNOWN_CALLS) == 2  # a new signature: nothing bound before is reused
    limit = fastconv.get_workspace_limit()
    try:
        fastconv.set_workspace_limit(1 << 20)
        assert dispatch.generation > before + 1
        check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
    finally:
        fastconv.set_workspace_limit(limit)
    # forcing an algorithm through the environment, then forgetting: the forced one runs
    monkeypatch.setenv("FASTCONV_ALGO", "reference")
    dispatch.select.cache_clear()
    ran = []
    real = dispatch.select

    def spy(problem, algos, backend):
        impl = real(problem, algos, backend)
        ran.append(impl.name)
        return impl
    spy.cache_clear = real.cache_clear
    monkeypatch.setattr(dispatch, "select", spy)  # another dispatcher: another signature
    for _ in range(2):
        check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
    assert ran == ["reference:numpy"]  # asked once, then remembered


@pytest.mark.skipif(c_backend.unavailable_reason() is not None, reason="no C extension")
def test_isa_change_forgets_the_bound_calls():
    before = dispatch.generation
    try:
        for isa in c_backend.supported_isas():
            c_backend.set_isa(isa)
            for _ in range(2):
                check(fastconv.conv2d(X, W, B, **KW, algo="im2col", backend="c"), X, W, B, **KW)
    finally:
        c_backend.set_isa(None)
    assert dispatch.generation >= before + len(c_backend.supported_isas())


def test_out_each_kind():
    want = oracle(X, W, B, **KW)
    outs = [np.full(want.shape, np.nan, np.float32) for _ in range(2)]
    for out in outs + outs:  # other out arrays of the signature: hits
        assert fastconv.conv2d(X, W, B, **KW, out=out) is out
        check(out, X, W, B, **KW)
    assert len(api._KNOWN_CALLS) == 1
    # a strided out (another signature), then an unaligned one with the remembered strides
    big = np.full(want.shape[:3] + (want.shape[3] * 2,), np.nan, np.float32)
    for _ in range(2):
        assert fastconv.conv2d(X, W, B, **KW, out=big[..., ::2]).base is big
        check(big[..., ::2], X, W, B, **KW)
    odd = unaligned(np.full(want.shape, np.nan, np.float32))
    assert not odd.flags.aligned
    assert fastconv.conv2d(X, W, B, **KW, out=odd) is odd
    check(odd, X, W, B, **KW)
    # after valid calls with out of this signature: read-only, overlapping
    ro = np.zeros(want.shape, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastconv.conv2d(X, W, B, **KW, out=ro)
    buf = np.zeros((2, 6, 7, 6), np.float32)
    for _ in range(2):
        fastconv.conv2d(buf[:, :4], W, B, **KW, out=np.zeros((2, 6, 7, 6), np.float32))
    with pytest.raises(ValueError, match="overlap"):
        fastconv.conv2d(buf[:, :4], W, B, **KW, out=buf)


def test_unaligned_operands_after_aligned_ones():
    for _ in range(2):
        fastconv.conv2d(X, W, B, **KW)
    x, w, b = unaligned(X), unaligned(W), unaligned(B)
    assert not (x.flags.aligned or w.flags.aligned or b.flags.aligned)
    assert x.strides == X.strides  # the remembered signature: alignment is checked per call
    for args in ((x, W, B), (X, w, B), (X, W, b), (x, w, b)):
        check(fastconv.conv2d(*args, **KW), *args, **KW)


def test_invalid_values_equal_to_valid_ones_still_raise():
    for _ in range(2):
        fastconv.conv2d(X, W, B, stride=1, **KW)
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(X, W, B, stride=True, **KW)
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(X, W, B, stride=1.0, **KW)
    with pytest.raises(TypeError, match="stride"):
        fastconv.conv2d(X, W, B, stride=(1, True), **KW)
    with pytest.raises(TypeError, match="flip"):
        fastconv.conv2d(X, W, B, flip=0, **KW)


def test_lists_and_numpy_scalars_are_validated_every_time():
    for _ in range(2):
        check(fastconv.conv2d(X.tolist(), W, B, **KW), X, W, B, **KW)
        check(fastconv.conv2d(X, W, B, padding=[1, 1], groups=2), X, W, B, **KW)
        check(fastconv.conv2d(X, W, B, padding=1, groups=np.int64(2)), X, W, B, **KW)
    assert not api._KNOWN_CALLS


def test_profiled_calls_are_recorded_after_known_ones():
    for _ in range(2):
        fastconv.conv2d(X, W, B, **KW)
    with fastconv.profile(quiet=True) as prof:
        for _ in range(2):
            check(fastconv.conv2d(X, W, B, **KW), X, W, B, **KW)
    assert len(prof.calls) == 2
    assert profiling.recorder is None


@pytest.mark.skipif(c_backend.unavailable_reason() is not None, reason="no C extension")
@pytest.mark.parametrize("algo", ["direct", "im2col"])
def test_bound_c_calls_carry_an_active_profile(algo):
    """A descriptor bound once carries no profile; a run inside profile_into gets a copy that
    carries it (counted calls: no clock reading). A layer that takes direct:c's blocked kernel
    (its plain loop reports no profile)."""
    x = RNG.standard_normal((1, 16, 12, 12)).astype(np.float32)
    w = RNG.standard_normal((32, 16, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(32).astype(np.float32)
    for _ in range(2):
        fastconv.conv2d(x, w, b, padding=1, algo=algo, backend="c")
    prof = c_backend.new_profile()
    with c_backend.profile_into(prof):
        for _ in range(3):
            check(fastconv.conv2d(x, w, b, padding=1, algo=algo, backend="c"), x, w, b,
                  padding=1)
    assert prof.calls == 3
    fastconv.conv2d(x, w, b, padding=1, algo=algo, backend="c")
    assert prof.calls == 3


# ---- plans ---------------------------------------------------------------------------------
def test_plan_calls_hit_and_miss():
    p = fastconv.plan(X.shape, W.shape, weight=W, **KW)
    bare = fastconv.plan(X.shape, W.shape, **KW)
    first = p(X, bias=B)
    check(first, X, W, B, **KW)
    assert np.array_equal(p(X, bias=B), first)
    assert len(p._known) == 1
    w2 = RNG.standard_normal(W.shape).astype(np.float32)
    for _ in range(2):
        check(bare(X, W, B), X, W, B, **KW)
        check(bare(X, w2, B), X, w2, B, **KW)  # other weights, same signature: a hit
    assert len(bare._known) == 1
    cases = [
        (np.repeat(X, 2, axis=3)[..., ::2], None),   # strided x
        (X.astype(np.float64), None),                # cast to the plan's dtype
        (unaligned(X), None),                        # unaligned, the remembered strides
        (X, np.full(first.shape, np.nan, np.float32)),
    ]
    for x, out in cases:
        for _ in range(2):
            y = p(x, bias=B, out=out)
            assert y.dtype == np.float32 and (out is None or y is out)
            check(y, x, W, B, **KW)
    check(p(X, bias=None), X, W, None, **KW)
    with pytest.raises(ValueError, match="plan was made for"):
        p(X[:1])


def test_plan_calls_follow_the_thread_count():
    p = fastconv.plan(X.shape, W.shape, weight=W, **KW)
    previous = fastconv.get_num_threads()
    try:
        for threads in (1, 2, 1):
            fastconv.set_num_threads(threads)
            for _ in range(2):
                check(p(X, bias=B), X, W, B, **KW)
        assert len(p._known) == 2
    finally:
        fastconv.set_num_threads(previous)


def test_plan_keeps_its_weights_when_the_caller_writes_to_them():
    w = W.copy()
    p = fastconv.plan(X.shape, W.shape, weight=w, algo="direct", **KW)
    for _ in range(2):
        check(p(X, bias=B), X, W, B, **KW)
    w[...] = 0
    check(p(X, bias=B), X, W, B, **KW)


# ---- cold start ----------------------------------------------------------------------------
FRESH = """
import json, sys
import numpy as np
import fastconv
y = fastconv.conv2d(np.ones((1, 8, 4, 4), np.float32), np.ones((8, 8, 1, 1), np.float32))
p = fastconv.plan((1, 8, 4, 4), (8, 8, 1, 1), weight=np.ones((8, 8, 1, 1), np.float32))
print(json.dumps({"ok": bool((y == 8).all() and (p(np.ones((1, 8, 4, 4))) == 8).all()),
                  "impl": p.impl.name,
                  "numba": "numba" in sys.modules, "numba.cuda": "numba.cuda" in sys.modules}))
"""


def test_numpy_arrays_do_not_import_numba_cuda(tmp_path):
    """No GPU probe (importing numba.cuda takes most of a second) unless a GPU array or
    backend="cuda" asks; numba itself only when a numba implementation is chosen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTCONV_ALGO",
                                                                    "FASTCONV_BACKEND"))}
    env["FASTCONV_CACHE_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"]
    assert not result["numba.cuda"]
    if not result["impl"].endswith(":numba"):
        assert not result["numba"]
