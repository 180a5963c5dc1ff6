"""fft:numba's overlap-save tiling: the cost model's tilings are valid for every model layer,
and forced many-tile runs match the oracle (the catalog's small cases mostly take one tile)."""
import numpy as np
import pytest

from fastconv import reference
from fastconv.backends.numba_fft_rules import (LARGE_SPECTRA_BYTES, MIN_FFT, SHORT_FFT,
                                               FFTTiling, fft_tiling, smooth_size)
from fastconv.testing import MODEL_LAYERS, c2, tolerance


@pytest.mark.parametrize("case", MODEL_LAYERS, ids=lambda c: c.id)
def test_fft_tiling_covers_output_without_wraparound(case):
    p = case.problem
    t = fft_tiling(p)
    for fft, per, tiles, out, stride, k, dil in (
            (t.fft_h, t.tile_ho, t.tiles_h, p.h_out, p.stride[0], p.kh, p.dilation[0]),
            (t.fft_w, t.tile_wo, t.tiles_w, p.w_out, p.stride[1], p.kw, p.dilation[1])):
        assert smooth_size(fft) == fft
        assert (per - 1) * stride + (k - 1) * dil < fft      # no circular wrap-around
        assert per * tiles >= out > per * (tiles - 1)          # tiles cover, none wasted


def _kernel_spectra_bytes(p, t):
    return p.c_out * p.c_in_per_group * t.fft_h * (t.fft_w // 2 + 1) * 2 * p.np_dtype.itemsize


def test_fft_tiling_goes_below_the_floor_only_for_large_kernel_spectra():
    # ResNet-50 res5 downsample: 2M channel pairs, 1.9 GB of kernel spectra at 15 x 15
    big = c2(1, 1024, 14, 14, 2048, 1, 1, stride=2).problem
    t = fft_tiling(big)
    assert SHORT_FFT <= min(t.fft_h, t.fft_w) < MIN_FFT
    floor = FFTTiling(smooth_size(14), smooth_size(14), 1, 1, 7, 7)
    assert _kernel_spectra_bytes(big, floor) > LARGE_SPECTRA_BYTES
    assert _kernel_spectra_bytes(big, t) < _kernel_spectra_bytes(big, floor) / 2
    # ResNet-50 res2 3x3: small kernel spectra, the floor holds
    small = c2(1, 64, 56, 56, 64, 3, 3, padding=1).problem
    t = fft_tiling(small)
    assert min(t.fft_h, t.fft_w) >= MIN_FFT
    assert _kernel_spectra_bytes(small, t) <= LARGE_SPECTRA_BYTES


FORCED = [
    c2(2, 3, 23, 19, 5, 3, 3, padding=1, name="odd"),
    c2(1, 4, 20, 17, 6, 5, 3, stride=2, padding=(2, 1), name="stride2"),
    c2(1, 4, 21, 22, 4, 3, 3, dilation=2, padding=2, groups=2, name="dil2_groups"),
    c2(1, 2, 18, 18, 3, 1, 1, name="1x1"),
]


def _forced_tiling(p, fft_h, fft_w):
    per_h = (fft_h - ((p.kh - 1) * p.dilation[0] + 1)) // p.stride[0] + 1
    per_w = (fft_w - ((p.kw - 1) * p.dilation[1] + 1)) // p.stride[1] + 1
    return FFTTiling(fft_h, fft_w, -(-p.h_out // per_h), -(-p.w_out // per_w), per_h, per_w)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", FORCED, ids=lambda c: c.id)
def test_fft_numba_forced_tiles_match_oracle(case, dtype):
    from fastconv.backends import numba_cpu
    case = case.replace(dtype=dtype)
    p = case.problem
    rng = np.random.default_rng(7)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    w = rng.standard_normal(case.weight_shape).astype(dtype)
    b = rng.standard_normal(case.c_out).astype(dtype)
    ref = reference.conv2d(x, w, b, **case.kwargs)
    for fft_h, fft_w in ((9, 8), (10, 16), (16, 9)):
        t = _forced_tiling(p, fft_h, fft_w)
        assert t.tiles_h * t.tiles_w > 1
        y = np.full(case.out_shape, np.nan, dtype)
        numba_cpu.run_fft(p, x, w, b, y, tiling=t)
        err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
        assert err < tolerance(dtype, "fft"), (t, err)


CHUNKED = [
    c2(3, 4, 13, 29, 14, 3, 3, padding=1, groups=2, name="groups_batch"),
    c2(2, 3, 17, 40, 13, 3, 3, stride=2, padding=(1, 2), name="stride2"),
    # rows one column wider than the output: a panel crossing a row gap of 1 with one
    # repeated tail column spans exactly nr input columns but is not contiguous
    c2(2, 3, 7, 8, 5, 3, 2, padding=1, name="gap_meets_tail"),
]


@pytest.mark.parametrize("budget", [1, 4 * 2**10, 40 * 2**10, 2**30])
@pytest.mark.parametrize("case", CHUNKED, ids=lambda c: c.id)
def test_im2col_numba_chunks_cover_every_panel_and_match_oracle(case, budget):
    """im2col:numba packs its panels in chunks under a byte budget: whole (image, group)
    pairs, or column ranges of one pair when a pair does not fit. Every budget, down to
    one that fits a single block of panels, computes every output once."""
    from fastconv.backends import numba_cpu
    p = case.problem
    nr = numba_cpu.NR_BY_DTYPE[p.dtype]
    chunks = numba_cpu.im2col_chunks(p, nr, budget)
    npan = -(-(p.h_out * p.w_out) // nr)
    covered = sorted((q, c) for q0, nq, c0, nc in chunks
                     for q in range(q0, q0 + nq) for c in range(c0, c0 + nc))
    assert covered == [(q, c) for q in range(p.n * p.groups) for c in range(npan)]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(case.x_shape).astype(p.dtype)
    w = rng.standard_normal(case.weight_shape).astype(p.dtype)
    b = rng.standard_normal(case.c_out).astype(p.dtype)
    y = np.full(case.out_shape, np.nan, p.dtype)
    old = numba_cpu.IM2COL_CHUNK_BYTES
    numba_cpu.IM2COL_CHUNK_BYTES = budget
    try:
        numba_cpu.run_im2col(p, x, w, b, y)
    finally:
        numba_cpu.IM2COL_CHUNK_BYTES = old
    ref = reference.conv2d(x, w, b, **case.kwargs)
    err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
    assert err < tolerance(p.dtype, "im2col"), err


ONE_ROW = [
    c2(1, 5, 3, 3, 7, 1, 1, name="1x1_9px"),                 # fewer pixels than a tile row
    c2(2, 6, 9, 7, 13, 1, 1, name="1x1_63px"),               # a last tile shifted left
    c2(1, 4, 11, 9, 8, 1, 1, stride=2, name="1x1_s2"),       # sampled pixels copied
    c2(1, 4, 10, 13, 6, 1, 1, stride=(3, 2), groups=2, name="1x1_s32_groups"),
    c2(1, 3, 9, 9, 7, 1, 1, stride=2, padding=1, name="1x1_s2_padded"),   # not one row
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("algo", ["direct", "im2col"])
@pytest.mark.parametrize("case", ONE_ROW, ids=lambda c: c.id)
def test_numba_1x1_as_one_row_matches_oracle(case, algo, dtype):
    """Unpadded 1x1 convolutions run as one long row of their (sampled) pixels; NHWC input
    (not contiguous in the logical order) too."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    w = rng.standard_normal(case.weight_shape).astype(dtype)
    b = rng.standard_normal(case.c_out).astype(dtype)
    ref = reference.conv2d(x, w, b, **case.kwargs)
    for layout, xi, wi in (("NCHW", x, w),
                           ("NHWC", x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0))):
        y = case.conv(xi, wi, b, **{**case.kwargs, "layout": layout}, algo=algo,
                      backend="numba")
        if layout == "NHWC":
            y = y.transpose(0, 3, 1, 2)
        err = np.linalg.norm(y - ref) / np.linalg.norm(ref)
        assert err < tolerance(dtype, algo), (layout, err)
