"""Hypothesis fuzzing of the public API, run in a subprocess by tests/test_fuzz.py (a crash in
native code then fails one test instead of killing pytest).

Three kinds of calls:
- valid problems built by construction (random sizes, strides, paddings in every accepted form,
  dilations, groups, dtypes, layouts, flip, bias, strided and offset views) run on "auto" and on
  one randomly drawn implementation that accepts them, and must match the float64 oracle;
- the same problems with exactly one defect from a list of documented mistakes must raise
  TypeError or ValueError (never compute, never crash);
- arbitrary junk in every argument must raise TypeError or ValueError or succeed.

    python tests/fuzz_api.py [--examples 300] [--seed 0]
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import fastconv
from fastconv.testing import normwise_error, tolerance
from fastconv import reference

CPU_IMPLS = [i for i in fastconv.implementations()
             if i.available and i.backend in ("c", "numba", "numpy")]


@st.composite
def valid_calls(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 3))
    c_in = groups * draw(st.integers(1, 3))
    c_out = groups * draw(st.integers(1, 3))
    n = draw(st.integers(0, 2))
    kernel = [draw(st.integers(1, 5)) for _ in range(dims)]
    dilation = [draw(st.integers(1, 3)) for _ in range(dims)]
    stride = [draw(st.integers(1, 3)) for _ in range(dims)]
    pads = [(draw(st.integers(0, 4)), draw(st.integers(0, 4))) for _ in range(dims)]
    # input at least the dilated kernel minus the padding, so the output is non-empty
    size = [max(1, (k - 1) * d + 1 - sum(p)) + draw(st.integers(0, 9))
            for k, d, p in zip(kernel, dilation, pads)]
    padding = draw(st.sampled_from(["pairs", "ints", "same", "valid"]))
    if padding == "ints":
        pads = [(p[0], p[0]) for p in pads]
        size = [max(s, (k - 1) * d + 1 - 2 * p[0]) for s, k, d, p in zip(size, kernel,
                                                                          dilation, pads)]
    if padding == "same":
        stride_kw = stride
    pad_arg = {"pairs": tuple(pads) if dims == 2 else pads[0],
               "ints": tuple(p[0] for p in pads) if dims == 2 else pads[0][0],
               "same": "same", "valid": "valid"}[padding]
    if padding == "valid":
        size = [max(s, (k - 1) * d + 1) for s, k, d in zip(size, kernel, dilation)]
    stride_kw = tuple(stride) if dims == 2 else stride[0]
    dil_kw = tuple(dilation) if dims == 2 else dilation[0]
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int16]))
    channels_last = draw(st.booleans())
    layout = ("NHWC" if dims == 2 else "NLC") if channels_last else ("NCHW" if dims == 2
                                                                       else "NCL")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x_shape = (n, *size, c_in) if channels_last else (n, c_in, *size)
    w_shape = ((*kernel, c_in // groups, c_out) if channels_last
               else (c_out, c_in // groups, *kernel))
    x = (rng.standard_normal(x_shape) * 3).astype(dtype)
    w = (rng.standard_normal(w_shape) * 3).astype(dtype)
    b = (rng.standard_normal(c_out) * 3).astype(dtype) if draw(st.booleans()) else None
    if draw(st.booleans()):  # a strided, offset, read-only view with NaN in the gaps
        buf = np.full(x_shape[:-1] + (2 * x_shape[-1] + 1,), np.nan
                      if np.issubdtype(dtype, np.floating) else 0, dtype)
        buf[..., 1::2] = x
        x = buf[..., 1::2]
        x.flags.writeable = False
    if draw(st.booleans()):
        w = w[::-1].copy()[::-1]  # negative stride along the first axis
    kwargs = dict(stride=stride_kw, padding=pad_arg, dilation=dil_kw, groups=groups,
                  layout=layout, flip=draw(st.booleans()))
    return dims, x, w, b, kwargs


def _conv(dims):
    return fastconv.conv2d if dims == 2 else fastconv.conv1d


def _oracle(dims, x, w, b, kwargs):
    return (reference.conv2d if dims == 2 else reference.conv1d)(x, w, b, **kwargs)


@given(valid_calls(), st.integers(0, 10**6))
def check_valid(call, pick):
    dims, x, w, b, kwargs = call
    conv = _conv(dims)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference fallback warns; that is allowed here
        y = conv(x, w, b, **kwargs)
    ref = _oracle(dims, x, w, b, kwargs)
    assert y.shape == ref.shape, (y.shape, ref.shape)
    dtype = y.dtype
    if ref.size:
        err = normwise_error(y, ref)
        assert err <= max(tolerance(dtype, a) for a in ("direct", "im2col", "fft")), err
    from fastconv.api import prepare  # the problem as the API sees it, to pick an impl
    problem = prepare(dims, x, w, b, kwargs["stride"], kwargs["padding"], kwargs["dilation"],
                      kwargs["groups"], kwargs["layout"], kwargs["flip"]).problem
    accepting = [i for i in CPU_IMPLS if i.rejection(problem) is None]
    impl = accepting[pick % len(accepting)]
    y = conv(x, w, b, algo=impl.algo, backend=impl.backend, **kwargs)
    if ref.size:
        err = normwise_error(y, ref)
        assert err <= tolerance(dtype, impl.algo), (impl.name, err)


# One documented mistake each: (name, function that breaks a valid call)
DEFECTS = {
    "stride 0": lambda d, x, w, b, k: (x, w, b, {**k, "stride": 0}),
    "negative stride": lambda d, x, w, b, k: (x, w, b, {**k, "stride": -1}),
    "negative padding": lambda d, x, w, b, k: (x, w, b, {**k, "padding": -1}),
    "dilation 0": lambda d, x, w, b, k: (x, w, b, {**k, "dilation": 0}),
    "groups 0": lambda d, x, w, b, k: (x, w, b, {**k, "groups": 0}),
    "float groups": lambda d, x, w, b, k: (x, w, b, {**k, "groups": 1.5}),
    "bad layout": lambda d, x, w, b, k: (x, w, b, {**k, "layout": "NCWH"}),
    "bad padding word": lambda d, x, w, b, k: (x, w, b, {**k, "padding": "full"}),
    "x one dim short": lambda d, x, w, b, k: (x[..., 0], w, b, k),
    "weight one dim extra": lambda d, x, w, b, k: (x, w[None], b, k),
    "bias wrong length": lambda d, x, w, b, k: (x, w, np.zeros(w.size + 1, np.float32), k),
    "complex x": lambda d, x, w, b, k: (x.astype(np.complex64), w, b, k),
    "string x": lambda d, x, w, b, k: ("x", w, b, k),
    "object weight": lambda d, x, w, b, k: (x, np.array([[object()]]), b, k),
    "bool padding": lambda d, x, w, b, k: (x, w, b, {**k, "padding": True}),
    "huge padding": lambda d, x, w, b, k: (x, w, b, {**k, "padding": 2**62}),
    "unknown algo": lambda d, x, w, b, k: (x, w, b, {**k, "algo": "winograd2"}),
    "unknown backend": lambda d, x, w, b, k: (x, w, b, {**k, "backend": "tpu"}),
    "kernel larger than input": lambda d, x, w, b, k: (
        x, np.zeros(w.shape[:2] + (x.shape[-1] + 40,) * d, w.dtype)
        if k["layout"] in ("NCHW", "NCL") else
        np.zeros((x.shape[1] + 40,) * d + w.shape[-2:], w.dtype), b,
        {**k, "padding": 0, "dilation": 1}),
}


@given(valid_calls(), st.sampled_from(sorted(DEFECTS)))
def check_invalid(call, defect):
    dims, x, w, b, kwargs = call
    x, w, b, kwargs = DEFECTS[defect](dims, x, w, b, kwargs)
    try:
        _conv(dims)(x, w, b, **kwargs)
    except (TypeError, ValueError):
        return
    raise AssertionError(f"{defect}: accepted")


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                 st.floats(allow_nan=True), st.text(max_size=5),
                 st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
                 st.lists(st.integers(-2, 5), max_size=3))


@given(st.sampled_from([1, 2]), st.dictionaries(
    st.sampled_from(["stride", "padding", "dilation", "groups", "layout", "flip", "algo",
                     "backend"]), JUNK, max_size=3))
def check_junk(dims, junk):
    x = np.ones((1, 2) + (6,) * dims, np.float32)
    w = np.ones((2, 2) + (3,) * dims, np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _conv(dims)(x, w, **junk)
    except (TypeError, ValueError):
        pass


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    opts = settings(max_examples=args.examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)
    for check in (check_valid, check_invalid, check_junk):
        seed(args.seed)(opts(check))()
        print(f"fuzz: {check.__name__}: {args.examples} examples passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
