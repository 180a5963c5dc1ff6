"""im2col:c (csrc/im2col.c: lowering + GEMM) against the float64 oracle, fastconv.reference.

Every call writes into a NaN-poisoned ``out=``, so an element the kernel forgets shows up.
Covers stride, dilation, asymmetric padding, groups, depthwise, flip, NHWC, conv1d, batches,
the 1x1 path that lowers nothing, blocked lowering (tiny workspace budgets), strided views,
both thread counts and both dtypes.
"""
import numpy as np
import pytest

import fastconv
from fastconv import reference
from fastconv.backends import c as cb
from fastconv.testing import time_every_phase

pytestmark = pytest.mark.skipif(cb.unavailable_reason() is not None,
                                reason=str(cb.unavailable_reason()))

# Normwise relative error ||y - y_ref|| / ||y_ref|| (y_ref in float64). float32: 2e-6 (observed
# <= 4e-7 up to K = 4608 here); float64: 1e-12.
TOL = {np.float32: 2e-6, np.float64: 1e-12}


def run_case(xs, ws, dtype=np.float32, bias=True, seed=0, x_view=None, **kw):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    if x_view is not None:
        x = x_view(x)
    w = rng.standard_normal(ws).astype(dtype)
    layout = kw.get("layout", "NCHW")
    c_out = ws[0] if layout in ("NCHW", "NCL") else ws[-1]
    b = rng.standard_normal(c_out).astype(dtype) if bias else None
    conv1 = x.ndim == 3
    ref = (reference.conv1d if conv1 else reference.conv2d)(x, w, b, **kw)
    out = np.full(ref.shape, np.nan, dtype)
    got = (fastconv.conv1d if conv1 else fastconv.conv2d)(x, w, b, algo="im2col", backend="c",
                                                         out=out, **kw)
    assert got is out
    err = np.linalg.norm(out.astype(np.float64) - ref) / np.linalg.norm(ref)
    assert err <= TOL[dtype], (xs, ws, kw, err)


CASES = {
    "basic": ((1, 3, 10, 11), (4, 3, 3, 3), {}),
    "pad1": ((2, 5, 9, 8), (6, 5, 3, 3), {"padding": 1}),
    "stride2": ((1, 4, 11, 10), (5, 4, 3, 3), {"stride": 2, "padding": 1}),
    "stride_hw": ((1, 4, 11, 10), (5, 4, 3, 2), {"stride": (2, 3)}),
    "dilation": ((1, 3, 12, 13), (4, 3, 3, 3), {"dilation": (2, 3), "padding": 2}),
    "asym_pad": ((2, 3, 7, 9), (4, 3, 3, 2), {"padding": ((0, 2), (3, 1))}),
    "same": ((1, 3, 8, 9), (2, 3, 4, 5), {"padding": "same"}),
    "everything": ((2, 6, 9, 8), (4, 3, 3, 2),
                   {"groups": 2, "stride": (2, 1), "padding": ((1, 2), (0, 3)),
                    "dilation": (1, 2)}),
    "groups": ((2, 8, 7, 6), (12, 2, 3, 3), {"groups": 4, "padding": 1}),
    "depthwise": ((1, 8, 7, 7), (8, 1, 3, 3), {"groups": 8, "padding": 1}),
    "depthwise_mult": ((2, 4, 6, 7), (8, 1, 3, 3), {"groups": 4, "stride": 2}),
    "flip": ((3, 5, 6, 7), (4, 5, 3, 3), {"flip": True, "padding": 1}),
    "flip_groups": ((1, 6, 6, 7), (4, 3, 2, 3), {"flip": True, "groups": 2}),
    "nhwc": ((2, 7, 6, 5), (3, 3, 5, 4), {"layout": "NHWC", "padding": 1}),
    "nhwc_stride": ((2, 9, 8, 3), (3, 3, 3, 6), {"layout": "NHWC", "stride": 2}),
    "nhwc_groups": ((1, 6, 6, 4), (3, 3, 2, 6), {"layout": "NHWC", "groups": 2, "padding": 1}),
    "nhwc_flip": ((1, 6, 5, 3), (2, 3, 3, 4), {"layout": "NHWC", "flip": True}),
    "conv1d": ((2, 7, 20), (4, 7, 3), {"padding": 2, "stride": 2}),
    "conv1d_dil": ((1, 3, 30), (5, 3, 4), {"dilation": 3, "padding": (4, 1)}),
    "conv1d_nlc": ((2, 20, 7), (3, 7, 4), {"layout": "NLC"}),
    "batch": ((5, 6, 8, 7), (9, 6, 3, 3), {"padding": 1}),
    "kernel_eq_input": ((2, 3, 5, 4), (4, 3, 5, 4), {}),
    "output_1x1": ((3, 4, 6, 6), (5, 4, 3, 3), {"stride": 3, "dilation": 2}),
    "narrow_n": ((1, 32, 7, 7), (40, 32, 3, 3), {"padding": 1}),  # n = 49: dot kernel edge
    # stride 1 with x's row stride == w_out: lowered panel by panel straight from x (masked
    # copies where a tap reaches into the padding); dilated, and x a view whose rows have a
    # gap (w 5 of 7)
    "runs_dil": ((2, 3, 9, 10), (4, 3, 3, 3), {"dilation": 2, "padding": 2}),
    "runs_gap": ((2, 3, 6, 7), (4, 3, 3, 3), {"padding": ((1, 1), (2, 2)),
                                              "x_view": lambda x: x[..., :5]}),
    # stride 2 along the width (row-major lowering, step-2 copies) with dilation, asymmetric
    # padding and a batch; x a view with a gap after each row
    "s2_rows": ((3, 4, 9, 11), (5, 4, 3, 3), {"stride": (1, 2), "dilation": (1, 2),
                                                "padding": ((1, 0), (2, 1))}),
    "s2_view": ((2, 3, 12, 13), (4, 3, 3, 3), {"stride": 2, "padding": 1,
                                               "x_view": lambda x: x[:, :, 1:, :-2]}),
    # more taps than the panel-by-panel lowering keeps masks for (64): row-major lowering
    "taps_81": ((2, 2, 12, 11), (3, 2, 9, 9), {"padding": 4}),
    # the 1x1 path (no lowering): NCHW, batches, groups, NHWC
    "pw": ((1, 16, 9, 9), (24, 16, 1, 1), {}),
    "pw_batch": ((3, 16, 9, 9), (24, 16, 1, 1), {}),
    "pw_groups": ((2, 12, 5, 6), (8, 3, 1, 1), {"groups": 4}),
    "pw_nhwc": ((4, 5, 6, 16), (1, 1, 16, 12), {"layout": "NHWC"}),
    "pw_conv1d": ((3, 8, 17), (5, 8, 1), {}),
    # 1x1 that must still lower: strided or padded
    "pw_stride": ((2, 8, 9, 9), (6, 8, 1, 1), {"stride": 2}),
    "pw_pad": ((1, 8, 5, 5), (6, 8, 1, 1), {"padding": 1}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CASES))
def test_cases(name, dtype):
    xs, ws, kw = CASES[name]
    run_case(xs, ws, dtype, **kw)


def test_no_bias():
    run_case((2, 5, 9, 8), (6, 5, 3, 3), bias=False, padding=1)
    run_case((2, 5, 9, 8), (6, 5, 1, 1), bias=False)


@pytest.mark.parametrize("nthreads", [1, 2])
@pytest.mark.parametrize("name", ["batch", "pw_batch", "pw_nhwc", "nhwc", "narrow_n"])
def test_threads(name, nthreads):
    old = fastconv.get_num_threads()
    fastconv.set_num_threads(nthreads)
    try:
        xs, ws, kw = CASES[name]
        run_case(xs, ws, **kw)
    finally:
        fastconv.set_num_threads(old)


def test_larger_layer():
    """A ResNet-like layer: K = 1152, several k blocks, n = 196."""
    run_case((1, 128, 14, 14), (64, 128, 3, 3), padding=1)


# Budgets that force every blocking of the lowered matrix: one output row, several rows of
# one image, whole images but not the whole batch, everything at once.
@pytest.mark.parametrize("budget", [1, 30_000, 120_000, 2**30])
@pytest.mark.parametrize("name", ["batch", "nhwc", "everything", "conv1d", "depthwise",
                                  "runs_gap", "s2_rows"])
def test_blocked_lowering(name, budget):
    old = fastconv.get_workspace_limit()
    fastconv.set_workspace_limit(budget)
    try:
        xs, ws, kw = CASES[name]
        run_case(xs, ws, **kw)
        run_case(xs, ws, np.float64, **kw)
    finally:
        fastconv.set_workspace_limit(old)


def test_workspace_follows_budget():
    """The size query grows with the budget up to the whole matrix, never below one row; the
    1x1 path asks for no lowering space at all."""
    from fastconv.api import prepare
    _ffi, lib = cb._native()

    def query(xs, ws, budget, **kw):
        x = np.zeros(xs, np.float32)
        w = np.zeros(ws, np.float32)
        call = prepare(2, x, w, None, kw.get("stride", 1), kw.get("padding", 0), 1, 1,
                       "NCHW", False)
        y = np.empty(call.problem.out_shape, np.float32)
        d = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
        return lib.fc_f32_conv2d_im2col_workspace_size(d, budget), call.problem

    def size(budget):
        return query((4, 8, 32, 32), (8, 8, 3, 3), budget, padding=1)[0]

    lowered_all = 8 * 9 * 4 * 32 * 32 * 4  # K x (n h w) float32
    smallest = size(0)
    sizes = [smallest, size(smallest + lowered_all // 2), size(2**30)]
    # the block is capped at a cache-friendly size (about 512 KiB of lowered data here: two of
    # the four images), so the largest budget does not buy the whole matrix
    assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2]
    assert sizes[0] >= 8 * 9 * 32 * 4  # one output row of the patch matrix
    assert lowered_all // 4 <= sizes[2] - sizes[0] < lowered_all
    pw, _ = query((4, 8, 32, 32), (8, 8, 1, 1), 2**30)
    gemm_only = lib.fc_f32_gemm_workspace_size(8, 4 * 32 * 32, 8, fastconv.get_num_threads())
    assert pw <= gemm_only + 1024  # GEMM packing only: nothing lowered


def test_strided_views():
    # x a non-contiguous view (every other channel and column), y a view into a larger array
    run_case((2, 8, 10, 12), (5, 4, 3, 3), x_view=lambda x: x[:, ::2, :, 1::2], padding=1)
    run_case((2, 8, 10, 12), (5, 4, 1, 1), x_view=lambda x: x[:, ::2, :, 1::2])
    run_case((2, 8, 10, 12), (5, 8, 1, 1), x_view=lambda x: x[:, :, ::-1])


def test_strided_out():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 6, 7)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    for kh in (3, 1):
        ww = w[:, :, :kh, :kh]
        ref = reference.conv2d(x, ww, padding=kh // 2)
        big = np.full((2, 10, ref.shape[2] + 3, ref.shape[3]), np.nan, np.float32)
        out = big[:, ::2, 1:1 + ref.shape[2]]  # channel stride 2, rows not contiguous
        fastconv.conv2d(x, ww, padding=kh // 2, algo="im2col", backend="c", out=out)
        assert np.linalg.norm(out - ref) / np.linalg.norm(ref) <= TOL[np.float32]


def test_registry_entry():
    impl = fastconv.registry.BY_NAME["im2col:c"]
    assert impl.available, impl.reason


def test_workspace_module(monkeypatch):
    from fastconv import workspace
    assert workspace.MIN_DEFAULT_LIMIT <= workspace.DEFAULT_LIMIT <= workspace.MAX_DEFAULT_LIMIT
    for text, value in [("64", 64 * 2**20), ("512K", 512 * 2**10), ("1G", 2**30),
                        ("1048576B", 2**20), ("8MiB", 8 * 2**20)]:
        assert workspace._parse_limit(text) == value
    with pytest.raises(ValueError):
        workspace._parse_limit("lots")
    old = fastconv.get_workspace_limit()
    try:
        monkeypatch.setenv("FASTCONV_WORKSPACE_LIMIT", "3M")
        fastconv.set_workspace_limit(None)
        assert fastconv.get_workspace_limit() == 3 * 2**20
        fastconv.set_workspace_limit(12345)
        assert fastconv.get_workspace_limit() == 12345
        with pytest.raises(ValueError):
            fastconv.set_workspace_limit(-1)
        with pytest.raises(TypeError):
            fastconv.set_workspace_limit(1.5)
    finally:
        fastconv.set_workspace_limit(old)
    buf = workspace.aligned_empty(1000)
    assert buf.nbytes == 1000 and buf.ctypes.data % 64 == 0
    with pytest.raises(MemoryError, match="workspace"):
        workspace.aligned_empty(2**62)


@pytest.mark.parametrize("name", ["everything", "narrow_n", "pw_batch", "nhwc", "batch",
                                  "runs_gap", "s2_rows"])
def test_every_isa(isa, name):
    """The lowering packs for the active ISA's tile (NR, KC), so each ISA gets its own run."""
    xs, ws, kw = CASES[name]
    run_case(xs, ws, **kw)
    run_case(xs, ws, np.float64, **kw)


@pytest.mark.parametrize("kh", [3, 1])
def test_profile_phases(kh):
    """With a profile attached the kernel adds its phase times and counts the call: lowering
    (input_transform, not on the 1x1 path) and the GEMM (multiply) inside the total."""
    from fastconv.api import prepare
    ffi, lib = cb._native()
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 20, 20)).astype(np.float32)
    w = rng.standard_normal((24, 16, kh, kh)).astype(np.float32)
    call = prepare(2, x, w, None, 1, kh // 2, 1, 1, "NCHW", False)
    y = np.full(call.problem.out_shape, np.nan, np.float32)
    d = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
    d.profile = prof = ffi.new("fc_profile *")
    ws = np.empty(lib.fc_f32_conv2d_im2col_workspace_size(d, 2**30) + 64, np.uint8)
    for calls in (1, 2):
        cb.check_status(lib.fc_f32_conv2d_im2col(d, cb.pointer(call.x), cb.pointer(call.w),
                                                 ffi.NULL, cb.pointer(y), cb.pointer(ws),
                                                 ws.nbytes), "im2col:c")
        assert prof.calls == calls
    assert prof.multiply >= 0 and prof.total >= 0
    assert prof.input_transform + prof.multiply + prof.kernel_transform <= prof.total * 1.001
    assert prof.output_transform == 0
    if kh == 1:
        assert prof.input_transform == 0  # no lowering on the 1x1 path
    # which phases are timed, on one thread until they are (no clock reading asserted)
    timed_phases = ("multiply", "input_transform") if kh > 1 else ("multiply",)

    def run_once(p):
        d1 = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
        d1.profile = p
        ws1 = np.empty(lib.fc_f32_conv2d_im2col_workspace_size(d1, 2**30) + 64, np.uint8)
        cb.check_status(lib.fc_f32_conv2d_im2col(d1, cb.pointer(call.x), cb.pointer(call.w),
                                                 ffi.NULL, cb.pointer(y), cb.pointer(ws1),
                                                 ws1.nbytes), "im2col:c")
    timed, calls = time_every_phase(run_once, timed_phases)
    assert timed.calls == calls and all(getattr(timed, k) > 0 for k in timed_phases)
    assert (timed.input_transform > 0) == (kh > 1) and timed.output_transform == 0
    ref = reference.conv2d(x, w, padding=kh // 2)
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= TOL[np.float32]


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("n,hw", [(1, 1), (3, 1), (8, 1), (2, 2), (1, 4)])
def test_pointwise_on_few_pixels(n, hw, layout):
    """1x1 convolutions of images of 1 to 16 pixels (classifier heads: the GEMM's skinny
    path), with bias, batch 1-8, both layouts, against the oracle."""
    rng = np.random.default_rng(n * 10 + hw)
    x = rng.standard_normal((n, 70, hw, hw)).astype(np.float32)
    w = rng.standard_normal((45, 70, 1, 1)).astype(np.float32)
    b = rng.standard_normal(45).astype(np.float32)
    want = reference.conv2d(x, w, b)
    if layout == "NHWC":
        got = fastconv.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), b,
                              layout="NHWC", algo="im2col", backend="c").transpose(0, 3, 1, 2)
    else:
        got = fastconv.conv2d(x, w, b, algo="im2col", backend="c")
    assert np.linalg.norm(got - want) / np.linalg.norm(want) <= TOL[np.float32]
