"""fft:c: the FFT itself against numpy.fft, and the FFT convolution against the oracle.

The registry x catalog matrix (test_impls.py) already runs fft:c over every catalog case with
the cost model's tiles (mostly one tile per image). Here: the raw transforms for every length
1..512 and the smooth lengths up to 4096, the convolution with tiles forced small (many tiles,
partial edge tiles) in both threading modes and every ISA this CPU runs, the C entry points'
argument checks and workspace bounds, and what NaN and Inf do to an FFT convolution.
"""
import numpy as np
import pytest

import fastconv
from fastconv import api, reference
from fastconv.backends import c as cb
from fastconv.testing import normwise_error, tolerance
from fastconv.threads import get_num_threads, set_num_threads

pytestmark = pytest.mark.skipif(cb.unavailable_reason() is not None,
                                reason=str(cb.unavailable_reason()))

# Normwise relative error ||y - ref|| / ||ref|| of the raw transforms against numpy.fft in
# float64. Measured (tests/test_fft.py sizes, standard-normal data, AVX2 and portable builds):
# float32 worst 5.8e-7 (length 509: a prime, done by the generic O(p^2) pass), smooth lengths
# below 3e-7; float64 worst 1.1e-15. Rounding error of a radix-r FFT grows like u log n
# (u = 6e-8 / 1.1e-16); the bounds leave a factor ~4 over the worst measured.
FFT_TOL = {np.float32: 2e-6, np.float64: 5e-15}
COMPLEX = {np.float32: np.complex64, np.float64: np.complex128}


def smooth_sizes(limit):
    return sorted({2**a * 3**b * 5**c for a in range(13) for b in range(8) for c in range(6)
                   if 2**a * 3**b * 5**c <= limit})


SIZES = list(range(1, 513)) + [n for n in smooth_sizes(4096) if n > 512]


def nerr(y, ref):
    return float(np.linalg.norm(np.asarray(y) - ref) / np.linalg.norm(ref))


# ---- raw transforms -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_rfft_irfft_every_size(dtype):
    """rfft vs numpy.fft.rfft and irfft(rfft(x)) == x, for 1..512 and smooth sizes to 4096;
    11 rows, so full and partial lane groups (8 / 4 lanes on AVX2) are both exercised."""
    rng = np.random.default_rng(0)
    bad = []
    for n in SIZES:
        x = rng.standard_normal((11, n)).astype(dtype)
        X = cb.rfft(x)
        assert X.dtype == COMPLEX[dtype] and X.shape == (11, n // 2 + 1)
        e1 = nerr(X, np.fft.rfft(x.astype(np.float64)))
        e2 = nerr(cb.irfft(X, n), x.astype(np.float64))
        if not max(e1, e2) <= FFT_TOL[dtype]:
            bad.append((n, e1, e2))
    assert not bad, bad[:10]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_complex_fft_every_size(dtype):
    """The complex transform under the real ones: fft vs numpy.fft.fft, ifft(fft(z)) == z."""
    rng = np.random.default_rng(1)
    bad = []
    for n in SIZES:
        z = (rng.standard_normal((9, n)) + 1j * rng.standard_normal((9, n))).astype(COMPLEX[dtype])
        Z = cb.cfft(z)
        e1 = nerr(Z, np.fft.fft(z.astype(np.complex128)))
        e2 = nerr(cb.cfft(Z, inverse=True), z.astype(np.complex128))
        if not max(e1, e2) <= FFT_TOL[dtype]:
            bad.append((n, e1, e2))
    assert not bad, bad[:10]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [(2, 1), (2, 3), (4, 4), (6, 10), (16, 17), (30, 45),
                                   (64, 64), (100, 96), (128, 250), (14, 7)], ids=str)
def test_rfft2_round_trip(shape, dtype):
    """The convolution's 2-D pipeline (real along axis 0, transpose, complex along axis 1)."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    X = cb.rfft2(x)
    assert nerr(X, np.fft.rfftn(x.astype(np.float64), axes=(1, 0))) <= FFT_TOL[dtype]
    assert nerr(cb.irfft2(X, shape[0]), x.astype(np.float64)) <= FFT_TOL[dtype]


def test_raw_transform_rejects_bad_sizes():
    with pytest.raises(ValueError):
        cb.rfft2(np.zeros((3, 4), np.float32))  # the real axis must be even
    with pytest.raises(ValueError):
        cb.irfft(np.zeros(4, np.complex64), 9)  # 9 // 2 + 1 = 5 bins expected


def test_every_isa_transforms(isa):
    rng = np.random.default_rng(3)
    for n in (1, 2, 6, 7, 64, 120, 243, 1000, 4096):
        x = rng.standard_normal((5, n)).astype(np.float32)
        assert nerr(cb.rfft(x), np.fft.rfft(x.astype(np.float64))) <= FFT_TOL[np.float32]


# ---- convolution with forced tilings --------------------------------------------------------
def run_fft(spatial, x, w, b, tiles, mode, **kw):
    """fft:c with explicit tiles and mode, through the API's own argument handling."""
    call = api.prepare(spatial, x, w, b, kw.get("stride", 1), kw.get("padding", 0),
                       kw.get("dilation", 1), kw.get("groups", 1),
                       kw.get("layout", "NCHW" if spatial == 2 else "NCL"), kw.get("flip", False))
    y = np.full(call.problem.out_shape, np.nan, dtype=call.problem.np_dtype)
    cb.conv2d_fft(call.problem, call.x, call.w, call.bias, y, tiles=tiles, mode=mode)
    return y, call.problem


def logical(problem, ref):
    """The oracle's output (user layout) as a logical NCHW array."""
    return api.logical_output(problem, ref)


# (x shape, weight shape, kwargs, tiles): small tiles make many tiles and partial edge tiles
CONV2D = [
    ((1, 1, 23, 29), (1, 1, 5, 5), dict(padding=2), (8, 10)),
    ((2, 3, 17, 19), (4, 3, 3, 5), dict(padding=((0, 2), (3, 1))), (6, 8)),          # asymmetric
    ((1, 4, 20, 18), (6, 2, 3, 3), dict(padding=1, groups=2), (8, 8)),
    ((1, 5, 16, 21), (5, 1, 5, 5), dict(padding=2, groups=5), (10, 12)),              # depthwise
    ((1, 4, 16, 16), (8, 1, 3, 3), dict(padding=1, groups=4), (6, 6)),                # multiplier 2
    ((1, 2, 19, 23), (3, 2, 3, 3), dict(padding=2, dilation=2), (12, 10)),
    ((1, 2, 21, 20), (3, 2, 5, 4), dict(padding=(1, 2), stride=2), (10, 8)),
    ((1, 3, 25, 22), (2, 3, 3, 3), dict(padding=3, stride=(3, 2), dilation=(2, 1)), (12, 8)),
    ((1, 2, 15, 17), (3, 2, 4, 3), dict(padding=1, flip=True), (8, 6)),
    ((2, 15, 17, 3), (3, 5, 3, 4), dict(padding=1, layout="NHWC"), (8, 8)),
    ((1, 2, 9, 40), (2, 2, 3, 9), dict(padding=(1, 4)), (4, 16)),                     # wide kernel
    ((1, 1, 6, 6), (1, 1, 7, 7), dict(padding=4), (8, 8)),                            # kernel > x
    ((1, 2, 12, 13), (3, 2, 2, 2), dict(stride=3), (4, 4)),                           # stride > k
]
CONV1D = [
    ((1, 1, 200), (1, 1, 9), dict(padding=4), 16),
    ((3, 4, 97), (6, 4, 7), dict(padding=(5, 1)), 24),
    ((2, 6, 150), (6, 2, 5), dict(padding=2, groups=3, stride=2), 12),
    ((1, 8, 64), (8, 1, 11), dict(padding=5, groups=8), 32),                         # depthwise
    ((2, 3, 80), (4, 3, 4), dict(padding=6, dilation=3, flip=True), 20),
    ((2, 70, 5), (3, 5, 4), dict(padding=2, layout="NLC", stride=3), 10),
    ((9, 2, 33), (3, 2, 3), dict(padding=1), 8),                                     # > VL tiles
    # fewer kernel pairs than lanes: the kernel spectra by decimation (D = 8, 4, 2 on AVX2)
    ((2, 1, 300), (1, 1, 21), dict(padding=(3, 17), dilation=2), 64),
    ((1, 1, 257), (2, 1, 13), dict(padding=6, flip=True), 48),
    ((1, 3, 100), (1, 3, 5), dict(padding=2, stride=2), 32),
]


def _check(spatial, xs, ws, kw, tiles, mode, dtype, rng):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    cout = ws[-1] if kw.get("layout") in ("NHWC", "NLC") else ws[0]
    b = rng.standard_normal(cout).astype(dtype)
    y, problem = run_fft(spatial, x, w, b, tiles, mode, **kw)
    oracle = reference.conv2d if spatial == 2 else reference.conv1d
    ref = logical(problem, oracle(x, w, b, **kw))
    assert not np.isnan(y).any(), "unwritten outputs"
    err = normwise_error(y, ref)
    assert err <= tolerance(dtype, "fft"), (problem.id, tiles, mode, err)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", [0, 1], ids=["shared", "tile-parallel"])
@pytest.mark.parametrize("xs, ws, kw, tiles", CONV2D, ids=[str(i) for i in range(len(CONV2D))])
def test_conv2d_forced_tiles(xs, ws, kw, tiles, mode, dtype):
    _check(2, xs, ws, kw, tiles, mode, dtype, np.random.default_rng(len(xs) + sum(ws)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("xs, ws, kw, tile", CONV1D, ids=[str(i) for i in range(len(CONV1D))])
def test_conv1d_forced_tiles(xs, ws, kw, tile, dtype):
    _check(1, xs, ws, kw, (0, tile), -1, dtype, np.random.default_rng(sum(xs)))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_and_isas(isa, threads):
    """Every ISA variant and thread count on a tiled 2-D and 1-D problem (both modes)."""
    old = get_num_threads()
    set_num_threads(threads)
    try:
        rng = np.random.default_rng(threads)
        for mode in (0, 1):
            _check(2, (2, 3, 30, 27), (4, 3, 5, 3), dict(padding=2), (12, 10), mode,
                   np.float32, rng)
        _check(1, (3, 2, 300), (4, 2, 17), dict(padding=8), (0, 48), -1, np.float64, rng)
    finally:
        set_num_threads(old)


@pytest.mark.parametrize("threads", [2, 3])
def test_kernel_transform_then_the_data_transforms(threads):
    """In one call the kernel spectra are made, then applied, on the same per-thread scratch.
    Many spectra chunks, few apply chunks, repeated: a chunk that read unfinished spectra, or
    threads sharing scratch, would show up here."""
    old = get_num_threads()
    set_num_threads(threads)
    try:
        rng = np.random.default_rng(11)
        for _ in range(15):
            _check(1, (1, 6, 90), (20, 6, 9), dict(padding=4), (0, 32), -1, np.float32, rng)
            _check(2, (1, 1, 20, 21), (7, 1, 5, 5), dict(padding=2), (16, 12), 1, np.float32,
                   rng)
            _check(2, (1, 3, 20, 21), (5, 3, 5, 5), dict(padding=2), (16, 12), 1, np.float32,
                   rng)
    finally:
        set_num_threads(old)


def test_cost_model_choice_is_valid_and_one_tile_for_small_problems():
    call = api.prepare(2, np.zeros((1, 1, 40, 40), np.float32), np.zeros((1, 1, 9, 9), np.float32),
                       None, 1, 4, 1, 1, "NCHW", False)
    th, tw = cb.fft_tiles(call.problem)
    assert th % 2 == 0 and th >= 9 and tw >= 9
    call1 = api.prepare(1, np.zeros((1, 1, 48000), np.float32), np.zeros((1, 1, 513), np.float32),
                        None, 1, 256, 1, 1, "NCL", False)
    th, tw = cb.fft_tiles(call1.problem)
    assert th == 1 and tw % 2 == 0 and tw > 513


# ---- the C entry points' own checks -------------------------------------------------------------
def _desc_problem():
    x = np.random.default_rng(5).standard_normal((1, 2, 20, 20)).astype(np.float32)
    w = np.random.default_rng(6).standard_normal((3, 2, 5, 5)).astype(np.float32)
    call = api.prepare(2, x, w, None, 1, 2, 1, 1, "NCHW", False)
    y = np.empty(call.problem.out_shape, np.float32)
    return call, y


def test_workspace_sizes_are_respected():
    """The kernels stay inside the queried sizes: guard bytes after plan, spectra and workspace
    come back untouched (the thread scratch formula lives in two places in C)."""
    ffi, lib = cb._native()
    call, y = _desc_problem()
    for mode in (0, 1):
        for nthreads in (1, 3):
            d = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
            d.nthreads = nthreads
            sizes = ffi.new("size_t[3]")
            assert lib.fc_fft_conv_sizes(d, 4, 8, 8, mode, sizes, sizes + 1, sizes + 2) == 0
            bufs = [cb._aligned_workspace(int(n) + 256) for n in sizes]
            for buf in bufs:
                buf[:] = 0xA5
            plan, spec, ws = bufs
            v = cb.pointer
            assert lib.fc_f32_conv2d_fft_plan(d, 8, 8, mode, v(plan), sizes[0]) == 0
            assert lib.fc_f32_conv2d_fft(v(plan), d, cb.pointer(call.w), cb.pointer(call.x),
                                         ffi.NULL, cb.pointer(y), v(spec), sizes[1], v(ws),
                                         sizes[2]) == 0
            for buf, n in zip(bufs, sizes):
                assert (buf[int(n):] == 0xA5).all()
            ref = reference.conv_logical(call.problem, call.x, call.w)
            assert normwise_error(y, ref) <= tolerance(np.float32, "fft")


def test_entry_points_reject_bad_arguments():
    ffi, lib = cb._native()
    call, y = _desc_problem()
    d = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
    sizes = ffi.new("size_t[3]")
    assert lib.fc_fft_conv_sizes(d, 4, 8, 8, -1, sizes, sizes + 1, sizes + 2) == 0
    plan, spec, ws = (cb._aligned_workspace(int(n)) for n in sizes)
    v = cb.pointer
    INVALID, SMALL = lib.FC_ERR_INVALID_ARGUMENT, lib.FC_ERR_WORKSPACE_TOO_SMALL
    assert lib.fc_f32_conv2d_fft_plan(d, 7, 8, -1, v(plan), plan.size) == INVALID  # odd tile
    assert lib.fc_f32_conv2d_fft_plan(d, 4, 8, -1, v(plan), plan.size) == INVALID  # < kernel
    assert lib.fc_f32_conv2d_fft_plan(d, 8, 8, 2, v(plan), plan.size) == INVALID   # mode
    assert lib.fc_f32_conv2d_fft_plan(d, 8, 8, -1, v(plan), plan.size - 64) == SMALL
    assert lib.fc_f32_conv2d_fft_plan(d, 8, 8, -1, v(plan), plan.size) == 0
    args = (cb.pointer(call.w), v(spec), spec.size, v(ws))
    assert lib.fc_f32_conv2d_fft_kernel_spectra(v(plan), d, *args, 64) == SMALL
    assert lib.fc_f32_conv2d_fft_apply(v(plan), d, v(spec), cb.pointer(call.x), ffi.NULL,
                                       cb.pointer(y), v(ws), ws.size - 64) == SMALL
    other = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
    other.c_out = 6  # not the problem the plan was made for
    assert lib.fc_f32_conv2d_fft_kernel_spectra(v(plan), other, *args, ws.size) == INVALID
    assert lib.fc_f64_conv2d_fft_kernel_spectra(
        v(plan), d, ffi.cast("double *", call.w.ctypes.data), v(spec), spec.size, v(ws),
        ws.size) == INVALID  # a float32 plan
    assert lib.fc_f32_conv2d_fft_kernel_spectra(v(plan), d, *args, ws.size) == 0
    assert lib.fc_f32_conv2d_fft_apply(v(plan), d, v(spec), cb.pointer(call.x), ffi.NULL,
                                       cb.pointer(y), v(ws), ws.size) == 0


# ---- NaN and Inf ------------------------------------------------------------------------------
def test_nan_spoils_the_tiles_that_read_it():
    """A NaN in x: the direct definition spoils only the outputs whose window holds it; an FFT
    spoils every output of every tile whose input holds it (a transform mixes all its samples).
    Tiles that never read the NaN stay correct; nothing the oracle marks NaN comes out finite."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 1, 40, 40)).astype(np.float32)
    w = rng.standard_normal((1, 1, 5, 5)).astype(np.float32)
    x[0, 0, 7, 9] = np.nan
    tiles = (12, 12)  # 8 x 8 outputs per tile: 5 x 5 tiles
    y, problem = run_fft(2, x, w, None, tiles, 1, padding=2)
    ref = reference.conv2d(x, w, padding=2)
    bad_ref, bad = ~np.isfinite(ref), ~np.isfinite(y)
    assert bad_ref.sum() == 25                     # the 5 x 5 window around the NaN
    assert bad[bad_ref].all()                      # every one of those is non-finite here too
    assert bad.sum() > bad_ref.sum()               # ... and so are their tiles' other outputs
    # The NaN at input (7, 9) is read by the tiles covering outputs rows 5..9, cols 7..11:
    # tile rows 0..1, tile columns 0..1 (8 outputs per tile). All other outputs are correct.
    spoiled = np.zeros((40, 40), bool)
    spoiled[0:16, 0:16] = True
    assert not bad[0, 0][~spoiled].any()
    good = ~spoiled
    err = np.abs(y[0, 0][good] - ref[0, 0][good]).max() / np.abs(ref[0, 0][good]).max()
    assert err < 1e-5


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_becomes_nan_over_its_tiles(value):
    """An Inf in x: the direct definition gives +-Inf (or NaN where +Inf meets -Inf products);
    the FFT gives NaN over the tiles that read it (Inf - Inf inside the transforms), never a
    finite number where the definition is infinite."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 1, 30, 30)).astype(np.float32)
    w = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    x[0, 0, 20, 4] = value
    y, _ = run_fft(2, x, w, None, (0, 0), -1, padding=1)   # cost model's tiles: one tile here
    ref = reference.conv2d(x, w, padding=1)
    assert np.isinf(ref).sum() == 9
    assert not np.isfinite(y[~np.isfinite(ref)]).any()
    assert np.isnan(y).sum() >= 9


def test_nan_in_the_weight_spoils_everything():
    """The kernel spectra mix every tap into every bin: one NaN tap makes every output NaN
    (the direct definition too: every output reads every tap)."""
    x = np.ones((1, 1, 16, 16), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    w[0, 0, 1, 1] = np.nan
    y = fastconv.conv2d(x, w, padding=1, algo="fft", backend="c")
    assert np.isnan(y).all()
