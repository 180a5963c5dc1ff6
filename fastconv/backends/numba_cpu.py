"""The Numba CPU backend: direct, im2col and fft as parallel ``@njit`` kernels.

Shape of the code
-----------------
Python (this module's ``run_*`` functions) normalises; kernels compute. Every kernel sees only
C-contiguous 1-D arrays of the problem's dtype plus ints, so each kernel compiles exactly twice
(float32, float64) whatever the caller's layout, strides, flip or conv1d-ness: the catalog's
strided, NHWC and flipped cases reuse the same machine code, and ``cache=True`` keeps it on disk.

The input is re-laid once per call (``_relayout_input``): zero padding applied, and the width
axis split into ``stride_w`` phases, ``xs[n, c, hp, phase, q] = xpad[n, c, hp, q*stride_w +
phase]``, so that tap (r, s) of output column ow lives at ``q = ow + (s*dil_w) // stride_w`` of
phase ``(s*dil_w) % stride_w``: unit stride along the output width for every stride and
dilation. Each tap (ci, r, s) is then one offset ``koff`` into that buffer, and

- ``direct:numba`` is an implicit GEMM: an MR x NR microkernel (numba_ukernels.py) reads its B
  rows straight from the image at ``base + koff[k]`` (NR output columns of one output row),
  A is the weight packed in MR-row panels; prange over (image, group, output row, column block).
  Problems with fewer than 4 output channels per group (depthwise) use a row kernel instead:
  one output row accumulated tap by tap, vectorised along the width.
- ``im2col:numba`` packs im2col panels (KC x NR, im2col fused into the packing, no lowered
  matrix) of the flattened output pixels and runs the same microkernel over them, cache
  blocked over K; prange over (image, group, block of column panels).
- ``fft:numba``: see the FFT section below.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
from numba import njit, prange

from ..problem import ConvProblem
from ..threads import get_num_threads
from .numba_ukernels import uk_6x8, uk_6x16

MR = 6
NR_BY_DTYPE = {"float32": 16, "float64": 8}   # one row of the tile = two 256-bit vectors
KC = 256          # K block of the im2col GEMM: a KC x NR fp32 panel is 16 KiB (half of L1d)
NC_PANELS = 8     # column panels packed together: one prange job of the im2col GEMM
SMALL_M = 4       # fewer output channels per group than this: direct uses the row kernel


def set_threads() -> None:
    """Numba's pool follows fastconv.set_num_threads (capped at the pool's size)."""
    import numba
    numba.set_num_threads(max(1, min(get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


# ---- input / weight / output marshalling -------------------------------------------------
class Layout:
    """Geometry of the re-laid input buffer (see the module docstring)."""

    def __init__(self, problem: ConvProblem, nr: int):
        p = problem
        sh, sw = p.stride
        dh, dw = p.dilation
        self.hp = p.h + p.padding[0] + p.padding[1]
        wp = p.w + p.padding[2] + p.padding[3]
        nwb = -(-p.w_out // nr)
        # columns q the kernels may read: q < nwb*nr + max tap shift (direct reads whole NR
        # blocks; the extra columns are zeros whose outputs are discarded)
        self.wq = max(-(-wp // sw), nwb * nr + ((p.kw - 1) * dw) // sw)
        self.sw = sw
        self.rowstride = sw * self.wq
        self.plane = self.hp * self.rowstride
        r, s = np.meshgrid(np.arange(p.kh), np.arange(p.kw), indexing="ij")
        tap = (r * dh * self.rowstride + ((s * dw) % sw) * self.wq + (s * dw) // sw).ravel()
        ci = np.arange(p.c_in_per_group)[:, None] * self.plane
        self.koff = (ci + tap[None, :]).ravel().astype(np.int64)   # order (ci, r, s)


def _relayout_input(problem: ConvProblem, x: np.ndarray, lay: Layout) -> np.ndarray:
    p = problem
    pt, _, pl, _ = p.padding
    n, c = p.n, p.c_in
    buf = np.zeros((n, c, lay.hp, lay.wq, lay.sw), dtype=p.np_dtype)
    flat = buf.reshape(n, c, lay.hp, lay.wq * lay.sw)
    flat[:, :, pt:pt + p.h, pl:pl + p.w] = x
    if lay.sw == 1:
        return buf.reshape(-1)
    return np.ascontiguousarray(buf.transpose(0, 1, 2, 4, 3)).reshape(-1)


def _pack_weights(problem: ConvProblem, w: np.ndarray) -> np.ndarray:
    """A panels: (groups, ceil(kg/MR), K, MR), rows beyond kg zero; K ordered (ci, r, s)."""
    p = problem
    g, kg = p.groups, p.c_out_per_group
    k = p.c_in_per_group * p.kh * p.kw
    mp = -(-kg // MR)
    a = np.zeros((g, mp * MR, k), dtype=p.np_dtype)
    a[:, :kg] = w.reshape(g, kg, k)
    return np.ascontiguousarray(a.reshape(g, mp, MR, k).transpose(0, 1, 3, 2)).reshape(-1)


def _bias(problem: ConvProblem, bias) -> np.ndarray:
    if bias is None:
        return np.zeros(problem.c_out, dtype=problem.np_dtype)
    return np.ascontiguousarray(bias, dtype=problem.np_dtype)


def _out_buffer(y: np.ndarray):
    """A flat contiguous buffer the kernel writes; (buffer, whether to copy it into y)."""
    if y.flags.c_contiguous and y.flags.writeable:
        return y.reshape(-1), False
    return np.empty(y.size, dtype=y.dtype), True


# ---- kernels -----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _uk(nr, kc, ap, ao, bp, bo, koff, ct):
    if nr == 16:
        uk_6x16(kc, ap, ao, bp, bo, koff, ct)
    else:
        uk_6x8(kc, ap, ao, bp, bo, koff, ct)


@njit(parallel=True, cache=True)
def direct_igemm(xs, apk, koff, bias, y, n, c_in, c_out, groups, ho, wo, sh, rowstride, plane,
                 nr):
    """Implicit-GEMM direct convolution (see module docstring); y is (n, c_out, ho, wo)."""
    kk = koff.size
    cg = c_in // groups
    kg = c_out // groups
    mp = (kg + MR - 1) // MR
    nwb = (wo + nr - 1) // nr
    for t in prange(n * groups * ho * nwb):
        wb = t % nwb
        rest = t // nwb
        oh = rest % ho
        rest //= ho
        gi = rest % groups
        ni = rest // groups
        bo = (ni * c_in + gi * cg) * plane + oh * sh * rowstride + wb * nr
        ct = np.empty(MR * nr, dtype=y.dtype)
        jn = min(nr, wo - wb * nr)
        for m in range(mp):
            _uk(nr, kk, apk, (gi * mp + m) * kk * MR, xs, bo, koff, ct)
            for i in range(min(MR, kg - m * MR)):
                k = gi * kg + m * MR + i
                yo = ((ni * c_out + k) * ho + oh) * wo + wb * nr
                bv = bias[k]
                for j in range(jn):
                    y[yo + j] = ct[i * nr + j] + bv


@njit(parallel=True, cache=True)
def direct_rows(xs, wf, bias, y, n, c_in, c_out, groups, kh, kw, ho, wo, sh, dh, dw, sw, wq,
                rowstride, plane):
    """Row kernel for few output channels per group (depthwise): y row += w tap * x row."""
    cg = c_in // groups
    kg = c_out // groups
    for t in prange(n * c_out * ho):
        oh = t % ho
        rest = t // ho
        k = rest % c_out
        ni = rest // c_out
        gi = k // kg
        yo = t * wo
        bv = bias[k]
        for j in range(wo):
            y[yo + j] = bv
        for ci in range(cg):
            xo = (ni * c_in + gi * cg + ci) * plane + oh * sh * rowstride
            for r in range(kh):
                for s in range(kw):
                    wv = wf[((k * cg + ci) * kh + r) * kw + s]
                    src = xo + r * dh * rowstride + ((s * dw) % sw) * wq + (s * dw) // sw
                    for j in range(wo):
                        y[yo + j] += wv * xs[src + j]


@njit(parallel=True, cache=True)
def im2col_gemm(xs, apk, koff, bias, y, n, c_in, c_out, groups, ho, wo, sh, rowstride, plane,
                nr):
    """GEMM y[k, col] = sum_K A[k, K] B[K, col] with B = im2col(x) packed panel by panel."""
    kk = koff.size
    cg = c_in // groups
    kg = c_out // groups
    mp = (kg + MR - 1) // MR
    ncol = ho * wo
    npan = (ncol + nr - 1) // nr
    nblk = (npan + NC_PANELS - 1) // NC_PANELS
    for t in prange(n * groups * nblk):
        blk = t % nblk
        rest = t // nblk
        gi = rest % groups
        ni = rest // groups
        p0 = blk * NC_PANELS
        np_ = min(NC_PANELS, npan - p0)
        xb = (ni * c_in + gi * cg) * plane
        colbase = np.empty(np_ * nr, dtype=np.int64)
        for j in range(np_ * nr):
            col = min(p0 * nr + j, ncol - 1)   # tail columns repeat the last (discarded)
            colbase[j] = (col // wo) * sh * rowstride + col % wo
        bpk = np.empty(np_ * KC * nr, dtype=y.dtype)
        pk = np.arange(KC) * nr
        ct = np.empty(MR * nr, dtype=y.dtype)
        for k0 in range(0, kk, KC):
            kc = min(KC, kk - k0)
            for p in range(np_):
                for q in range(kc):
                    src = xb + koff[k0 + q]
                    dst = (p * kc + q) * nr
                    for j in range(nr):
                        bpk[dst + j] = xs[src + colbase[p * nr + j]]
            for m in range(mp):
                ao = ((gi * mp + m) * kk + k0) * MR
                mi = min(MR, kg - m * MR)
                for p in range(np_):
                    _uk(nr, kc, apk, ao, bpk, p * kc * nr, pk, ct)
                    c0 = (p0 + p) * nr
                    jn = min(nr, ncol - c0)
                    for i in range(mi):
                        k = gi * kg + m * MR + i
                        yo = (ni * c_out + k) * ncol + c0
                        if k0 == 0:
                            bv = bias[k]
                            for j in range(jn):
                                y[yo + j] = ct[i * nr + j] + bv
                        else:
                            for j in range(jn):
                                y[yo + j] += ct[i * nr + j]


# ---- run functions (the registry's entries) ----------------------------------------------
def _gemm_args(problem, x, w, bias, y):
    nr = NR_BY_DTYPE[problem.dtype]
    lay = Layout(problem, nr)
    xs = _relayout_input(problem, x, lay)
    out, copy = _out_buffer(y)
    return nr, lay, xs, out, copy


def run_direct(problem: ConvProblem, x, w, bias, y) -> None:
    set_threads()
    p = problem
    nr, lay, xs, out, copy = _gemm_args(p, x, w, bias, y)
    b = _bias(p, bias)
    if p.c_out_per_group < SMALL_M:
        wf = np.ascontiguousarray(w, dtype=p.np_dtype).reshape(-1)
        direct_rows(xs, wf, b, out, p.n, p.c_in, p.c_out, p.groups, p.kh, p.kw, p.h_out,
                    p.w_out, p.stride[0], p.dilation[0], p.dilation[1], lay.sw, lay.wq,
                    lay.rowstride, lay.plane)
    else:
        direct_igemm(xs, _pack_weights(p, w), lay.koff, b, out, p.n, p.c_in, p.c_out,
                     p.groups, p.h_out, p.w_out, p.stride[0], lay.rowstride, lay.plane, nr)
    if copy:
        y[...] = out.reshape(y.shape)


def run_im2col(problem: ConvProblem, x, w, bias, y) -> None:
    set_threads()
    p = problem
    nr, lay, xs, out, copy = _gemm_args(p, x, w, bias, y)
    im2col_gemm(xs, _pack_weights(p, w), lay.koff, _bias(p, bias), out, p.n, p.c_in, p.c_out,
                p.groups, p.h_out, p.w_out, p.stride[0], lay.rowstride, lay.plane, nr)
    if copy:
        y[...] = out.reshape(y.shape)
