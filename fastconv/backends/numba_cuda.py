"""The cuda backend: Numba CUDA kernels (numba-cuda package), launch geometry, device arrays.

Three implementations, each a ``run(problem, x, w, bias, y)`` for the registry:

- ``direct:cuda``: a thread block computes a tile_h x tile_w output tile for co_tile output
  channels (DirectGeometry); per input channel the input tile plus its halo and the
  co_tile kernels are staged in shared memory; each thread accumulates
  rows_per_thread x co_tile outputs in registers.
- ``im2col:cuda``: an implicit GEMM, Y_g (M = C_out/g) x (N = n*h_out*w_out) = W_g (M x K) times
  the lowered input (K = C_in/g*kh*kw x N), per group. The lowered matrix never exists in global
  memory: each BK-slice of it is gathered from x (padding, stride, dilation applied) straight
  into shared memory, next to a BK-slice of W; each thread keeps a 4x4 register block of Y.
- ``fft:cuda``: overlap-save over tiles. Shared-memory radix-2 2-D FFTs (tile sizes are powers
  of two) of every input tile and of every (dilated) kernel, then, fused in one kernel per
  (image, output channel, tile): the per-frequency contraction over the group's input
  channels, the inverse FFT in shared memory, and the strided write of the valid outputs.

Arrays. ``run`` takes NumPy arrays (any strides: the logical NCHW views the API builds) or
device arrays. Host arrays are made C-contiguous in the compute dtype on the host and copied
to the device; the output comes back into ``y``. Device arrays reach ``run`` through
:func:`run_on_device`, which turns the user's arrays (any layout, strides, flip, dtype) into
contiguous logical NCHW device arrays with small gather kernels (no host round trip) and
answers with a device array in the user's layout. So the compute kernels only ever see
contiguous NCHW / OIHW arrays of one dtype; the kernels are specialised per dtype (float32,
float64) from the same Python source.

Launch geometry (block shapes, tile sizes, shared-memory capacities) lives in the GEOMETRY
section below and nowhere else.
"""
from __future__ import annotations

import functools
import math
import os
import sys
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..problem import CHANNELS_LAST, ConvProblem


# ---- launch geometry: the one place ----------------------------------------------------------
def simulator() -> bool:
    """True when Numba runs CUDA kernels in its Python simulator (NUMBA_ENABLE_CUDASIM=1, read
    by numba-cuda when numba.cuda is first imported; asked of its config once it is)."""
    if "numba.cuda" in sys.modules:
        try:
            from numba.cuda.core import config
            return bool(config.ENABLE_CUDASIM)
        except ImportError:  # older numba-cuda layouts: fall back to the environment
            pass
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


SHARED_BYTES = 32 * 1024  # per block for tiles; below the 48 KiB static limit of every GPU


@dataclass(frozen=True)
class DirectGeometry:
    tile_w: int = 16          # output columns per block (= threads in x)
    tile_h: int = 16          # output rows per block
    threads_h: int = 8        # threads in y; each thread owns tile_h / threads_h rows
    co_tile: int = 8          # output channels per block (per thread, in registers)
    smem_in: int = 4096       # shared elements for the input tile + halo
    smem_w: int = 1024        # shared elements for co_tile kernels

    @property
    def rows_per_thread(self) -> int:
        return self.tile_h // self.threads_h


@dataclass(frozen=True)
class GemmGeometry:
    bm: int = 64              # rows of Y (output channels) per block
    bn: int = 64              # columns of Y (output pixels) per block
    bk: int = 8               # depth of one shared-memory slice of W and of the lowered x
    tm: int = 4               # register block: tm x tn outputs per thread
    tn: int = 4

    @property
    def threads(self) -> tuple[int, int]:
        return (self.bn // self.tn, self.bm // self.tm)


@dataclass(frozen=True)
class FftGeometry:
    threads: int = 256        # threads per block of the FFT kernels
    min_tile: int = 16        # smallest tile side (when the problem is not smaller)
    max_side: int = 512       # largest tile side (twiddle table: max_side / 2 entries)


@dataclass(frozen=True)
class Geometry:
    direct: DirectGeometry
    gemm: GemmGeometry
    fft: FftGeometry
    shared_bytes: int = SHARED_BYTES
    elementwise_threads: int = 256


GPU = Geometry(DirectGeometry(), GemmGeometry(), FftGeometry())
# Numba's simulator runs every thread of a block as a Python thread, so it gets the same kernels
# with small blocks; its tiles are also smaller than the test problems, so the multi-tile and
# edge paths run, and its small shared-memory budget for direct sends larger spans through the
# global-memory path.
SIMULATOR = Geometry(
    DirectGeometry(tile_w=8, tile_h=4, threads_h=2, co_tile=2, smem_in=128, smem_w=64),
    GemmGeometry(bm=8, bn=16, bk=4, tm=2, tn=4),
    FftGeometry(threads=32, min_tile=8),
    elementwise_threads=64)


def geometry() -> Geometry:
    """The launch geometry in force: SIMULATOR under NUMBA_ENABLE_CUDASIM=1, else GPU."""
    return SIMULATOR if simulator() else GPU


def fft_capacity(dtype) -> int:
    """Complex tile elements (tile_h * tile_w) that fit shared memory as split re/im arrays."""
    return geometry().shared_bytes // (2 * np.dtype(dtype).itemsize)


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


@dataclass(frozen=True)
class FftTiles:
    th: int      # tile sides (powers of two)
    tw: int
    lh: int      # dense (stride-1) outputs per tile side: t - span + 1
    lw: int
    nth: int     # tiles along each axis
    ntw: int


def fft_tiles(problem: ConvProblem) -> Optional[FftTiles]:
    """Overlap-save tiles for ``problem``, or None when its kernel span does not fit."""
    cap = fft_capacity(problem.dtype)
    (sh, sw), (dh, dw) = problem.stride, problem.dilation
    spans = ((problem.kh - 1) * dh + 1, (problem.kw - 1) * dw + 1)
    # dense (stride-1) outputs needed per axis: positions 0, s, 2s, ... (out - 1) * s
    dense = ((problem.h_out - 1) * sh + 1, (problem.w_out - 1) * sw + 1)
    max_side = geometry().fft.max_side
    if max(_pow2(spans[0]), _pow2(spans[1])) > max_side:
        return None
    sides = []
    for span, d in zip(spans, dense):
        # at least twice the span (>= half of each tile is useful), but no bigger than what
        # covers the whole problem in one tile
        t = min(_pow2(max(2 * span, geometry().fft.min_tile)), _pow2(d + span - 1))
        sides.append(min(max(t, _pow2(span)), max_side))
    th, tw = sides
    while th * tw > cap:  # shrink the larger side while it still holds its span
        if tw >= th and tw // 2 >= spans[1]:
            tw //= 2
        elif th // 2 >= spans[0]:
            th //= 2
        elif tw // 2 >= spans[1]:
            tw //= 2
        else:
            return None
    lh, lw = th - spans[0] + 1, tw - spans[1] + 1
    return FftTiles(th, tw, lh, lw, -(-dense[0] // lh), -(-dense[1] // lw))


def _blocks(n: int, per_block: int) -> int:
    return max(1, -(-n // per_block))


# ---- availability and supports ---------------------------------------------------------------
MAX_GRID_YZ = 65535  # CUDA's limit on gridDim.y and gridDim.z (gridDim.x: 2**31 - 1)


def _grid_too_large(grid) -> Optional[str]:
    if grid[0] > 2**31 - 1 or max(grid[1:]) > MAX_GRID_YZ:
        return f"launch grid {grid} exceeds CUDA's limits"
    return None


def supports_direct(problem: ConvProblem) -> Optional[str]:
    # tiles that do not fit shared memory read global memory instead: no shape limit
    return _grid_too_large(direct_launch(problem)[0])


def supports_im2col(problem: ConvProblem) -> Optional[str]:
    return _grid_too_large(gemm_launch(problem)[0])


def supports_fft(problem: ConvProblem) -> Optional[str]:
    t = fft_tiles(problem)
    if t is None:
        return (f"the dilated kernel span does not fit one shared-memory FFT tile (at most "
                f"{fft_capacity(problem.dtype)} {problem.dtype} complex elements, sides <= "
                f"{geometry().fft.max_side})")
    return _grid_too_large((problem.n * max(problem.c_in, problem.c_out), t.nth * t.ntw, 1))


# ---- device arrays ---------------------------------------------------------------------------
def is_device_array(a) -> bool:
    """Anything with __cuda_array_interface__ (CuPy, torch CUDA tensors, Numba device arrays)
    or a Numba device array (the simulator's fake ones have no interface)."""
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


# numba.cuda, imported on first use (``import fastconv`` never imports numba.cuda). Kernels
# must reach it as a module global: Numba's simulator swaps that global for its fake module.
cuda = None


def _cuda():
    global cuda
    if cuda is None:
        from numba import cuda as module
        cuda = module
    return cuda


def as_device(a):
    """A Numba device array viewing ``a`` (no copy)."""
    if getattr(a, "__cuda_ndarray__", False):
        return a
    return _cuda().as_cuda_array(a)


def host_placeholder(a):
    """A zero-stride host array with ``a``'s shape and dtype, for validation without copies
    (host arrays pass through unchanged)."""
    if not is_device_array(a):
        return a
    if hasattr(a, "__cuda_array_interface__"):
        iface = a.__cuda_array_interface__
        shape, dtype = tuple(iface["shape"]), np.dtype(iface["typestr"])
    else:
        shape, dtype = tuple(a.shape), np.dtype(a.dtype)
    return np.broadcast_to(np.zeros((), dtype), shape)


# ---- kernels (compiled lazily, once per dtype) -------------------------------------------------
def _kernels(dtype_name: str):
    return _compile(dtype_name, geometry())


@functools.cache
def _compile(dtype_name: str, G: Geometry):
    """Every kernel specialised for ``dtype_name``: the same source for float32 and float64,
    with the dtype (for shared and local arrays) frozen in as a compile-time constant."""
    from numba import float32, float64
    _cuda()

    dt = {"float32": float32, "float64": float64}[dtype_name]
    D = G.direct
    TW, TH, BH = D.tile_w, D.tile_h, D.threads_h
    ROWS, SMEM_IN, SMEM_W = D.rows_per_thread, D.smem_in, D.smem_w
    NT_DIRECT = TW * BH
    BM, BN, BK, TM, TN = G.gemm.bm, G.gemm.bn, G.gemm.bk, G.gemm.tm, G.gemm.tn
    GX, GY = G.gemm.threads
    NT_GEMM = GX * GY
    CAP = G.shared_bytes // (2 * np.dtype(dtype_name).itemsize)
    HALF_SIDE = G.fft.max_side // 2  # twiddles: max(th, tw) / 2 <= max_side / 2
    NT_FFT = G.fft.threads

    def make_direct(CO_T):
        """The direct kernel for CO_T output channels per block (and per thread)."""
        ACC_DIRECT = ROWS * CO_T

        @cuda.jit
        def direct(x, w, bias, y, has_bias, sh, sw, dh, dw, pt, pl, ci_g, co_g, co_tiles,
                   span_h, span_w, smem_x, smem_w):
            """y[n, co0:co0+CO_T, tile] for block (tile x, tile y, (n, group, channel tile))."""
            xs = cuda.shared.array(SMEM_IN, dt)
            ws = cuda.shared.array(SMEM_W, dt)
            acc = cuda.local.array(ACC_DIRECT, dt)
            wv = cuda.local.array(CO_T, dt)
            tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
            tid = ty * TW + tx
            z = cuda.blockIdx.z
            ct = z % co_tiles
            z //= co_tiles
            groups = y.shape[1] // co_g
            g = z % groups
            n = z // groups
            co0 = g * co_g + ct * CO_T
            co_end = (g + 1) * co_g
            H, W = x.shape[2], x.shape[3]
            KH, KW = w.shape[2], w.shape[3]
            HO, WO = y.shape[2], y.shape[3]
            oh_base, ow_base = cuda.blockIdx.y * TH, cuda.blockIdx.x * TW
            ih_base, iw_base = oh_base * sh - pt, ow_base * sw - pl
            ow = ow_base + tx
            for i in range(ACC_DIRECT):
                acc[i] = 0
            for ci in range(ci_g):
                c = g * ci_g + ci
                cuda.syncthreads()  # the previous channel's tiles are no longer read
                if smem_x:
                    for idx in range(tid, span_h * span_w, NT_DIRECT):
                        ih = ih_base + idx // span_w
                        iw = iw_base + idx % span_w
                        v = dt(0)
                        if ih >= 0 and ih < H and iw >= 0 and iw < W:
                            v = x[n, c, ih, iw]
                        xs[idx] = v
                if smem_w:
                    for idx in range(tid, CO_T * KH * KW, NT_DIRECT):
                        j = idx // (KH * KW)
                        rs = idx % (KH * KW)
                        v = dt(0)
                        if co0 + j < co_end:
                            v = w[co0 + j, ci, rs // KW, rs % KW]
                        ws[idx] = v
                cuda.syncthreads()
                for r in range(KH):
                    for s in range(KW):
                        for j in range(CO_T):
                            if smem_w:
                                wv[j] = ws[(j * KH + r) * KW + s]
                            elif co0 + j < co_end:
                                wv[j] = w[co0 + j, ci, r, s]
                            else:
                                wv[j] = 0
                        for rr in range(ROWS):
                            lh = (ty + rr * BH) * sh + r * dh
                            lw = tx * sw + s * dw
                            if smem_x:
                                v = xs[lh * span_w + lw]
                            else:
                                v = dt(0)
                                ih, iw = ih_base + lh, iw_base + lw
                                if ih >= 0 and ih < H and iw >= 0 and iw < W:
                                    v = x[n, c, ih, iw]
                            for j in range(CO_T):
                                acc[rr * CO_T + j] += v * wv[j]
            if ow < WO:
                for rr in range(ROWS):
                    oh = oh_base + ty + rr * BH
                    if oh < HO:
                        for j in range(CO_T):
                            co = co0 + j
                            if co < co_end:
                                v = acc[rr * CO_T + j]
                                if has_bias:
                                    v += bias[co]
                                y[n, co, oh, ow] = v

        return direct


    @cuda.jit
    def implicit_gemm(x, w2, bias, y, has_bias, sh, sw, dh, dw, pt, pl, ci_g, co_g, KH, KW):
        """Block (column tile, row tile, group): Y_g[m0:m0+BM, p0:p0+BN] = W_g @ lowered(x),
        the lowered input gathered slice by slice into shared memory, never stored."""
        As = cuda.shared.array((BK, BM), dt)
        Bs = cuda.shared.array((BK, BN), dt)
        acc = cuda.local.array((TM, TN), dt)
        a_reg = cuda.local.array(TM, dt)
        b_reg = cuda.local.array(TN, dt)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        tid = ty * GX + tx
        g = cuda.blockIdx.z
        m0, p0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
        H, W = x.shape[2], x.shape[3]
        HO, WO = y.shape[2], y.shape[3]
        KHKW = KH * KW
        K = w2.shape[1]
        P = y.shape[0] * HO * WO
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = 0
        for k0 in range(0, K, BK):
            # A slice: BK x BM weights of the group (zero beyond its rows or K)
            for idx in range(tid, BK * BM, NT_GEMM):
                m, kk = idx // BK, idx % BK  # k fastest: W's rows are contiguous in k
                v = dt(0)
                if m0 + m < co_g and k0 + kk < K:
                    v = w2[g * co_g + m0 + m, k0 + kk]
                As[kk, m] = v
            # B slice: BK x BN of the lowered input, gathered from x with padding as zeros
            for idx in range(tid, BK * BN, NT_GEMM):
                kk, col = idx // BN, idx % BN
                v = dt(0)
                p, k = p0 + col, k0 + kk
                if p < P and k < K:
                    n = p // (HO * WO)
                    q = p % (HO * WO)
                    ci = k // KHKW
                    rs = k % KHKW
                    ih = (q // WO) * sh - pt + (rs // KW) * dh
                    iw = (q % WO) * sw - pl + (rs % KW) * dw
                    if ih >= 0 and ih < H and iw >= 0 and iw < W:
                        v = x[n, g * ci_g + ci, ih, iw]
                Bs[kk, col] = v
            cuda.syncthreads()
            for kk in range(BK):
                for i in range(TM):
                    a_reg[i] = As[kk, ty + i * GY]
                for j in range(TN):
                    b_reg[j] = Bs[kk, tx + j * GX]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += a_reg[i] * b_reg[j]
            cuda.syncthreads()  # before the next slice overwrites As, Bs
        for i in range(TM):
            m = m0 + ty + i * GY
            if m < co_g:
                co = g * co_g + m
                for j in range(TN):
                    p = p0 + tx + j * GX
                    if p < P:
                        v = acc[i, j]
                        if has_bias:
                            v += bias[co]
                        q = p % (HO * WO)
                        y[p // (HO * WO), co, q // WO, q % WO] = v

    # ---- FFT: radix-2 decimation in time on split re/im shared arrays --------------------
    @cuda.jit(device=True)
    def bitrev(i, bits):
        r = 0
        for _ in range(bits):
            r = (r << 1) | (i & 1)
            i >>= 1
        return r

    @cuda.jit(device=True)
    def twiddles(twr, twi, tmax, tid):
        """twr + i*twi = exp(-2 pi i k / tmax), k < tmax / 2."""
        for k in range(tid, tmax // 2, NT_FFT):
            a = 2.0 * math.pi * k / tmax
            twr[k] = math.cos(a)
            twi[k] = -math.sin(a)

    @cuda.jit(device=True)
    def butterfly(re, im, i0, i1, twr, twi, k, inverse):
        """One radix-2 butterfly on elements i0, i1 with twiddle k (conjugated if inverse)."""
        wr, wi = twr[k], twi[k]
        if inverse:
            wi = -wi
        tr = wr * re[i1] - wi * im[i1]
        ti = wr * im[i1] + wi * re[i1]
        re[i1], im[i1] = re[i0] - tr, im[i0] - ti
        re[i0], im[i0] = re[i0] + tr, im[i0] + ti

    @cuda.jit(device=True)
    def fft2(re, im, twr, twi, th, tw, tmax, inverse, tid):
        """In-place 2-D FFT of a th x tw tile stored bit-reversed along both axes (output in
        natural order); inverse: conjugate twiddles (no 1/N scaling). Whole block calls."""
        half = 1
        while half < tw:  # along rows
            for idx in range(tid, th * (tw // 2), NT_FFT):
                a, b = idx // (tw // 2), idx % (tw // 2)
                pos = b % half
                i0 = a * tw + (b // half) * 2 * half + pos
                i1 = i0 + half
                butterfly(re, im, i0, i1, twr, twi, pos * (tmax // (2 * half)), inverse)
            cuda.syncthreads()
            half *= 2
        half = 1
        while half < th:  # along columns
            for idx in range(tid, tw * (th // 2), NT_FFT):
                col, b = idx % tw, idx // tw
                pos = b % half
                i0 = ((b // half) * 2 * half + pos) * tw + col
                i1 = i0 + half * tw
                butterfly(re, im, i0, i1, twr, twi, pos * (tmax // (2 * half)), inverse)
            cuda.syncthreads()
            half *= 2

    @cuda.jit
    def fft_input_tiles(x, out_re, out_im, th, tw, lh, lw, ntw, log_h, log_w, pt, pl):
        """Block (n * C_in + c, tile): the spectrum of one th x tw overlap-save input tile."""
        re = cuda.shared.array(CAP, dt)
        im = cuda.shared.array(CAP, dt)
        twr = cuda.shared.array(HALF_SIDE, dt)
        twi = cuda.shared.array(HALF_SIDE, dt)
        tid = cuda.threadIdx.x
        nc, tile = cuda.blockIdx.x, cuda.blockIdx.y
        C = x.shape[1]
        n, c = nc // C, nc % C
        ih0 = (tile // ntw) * lh - pt
        iw0 = (tile % ntw) * lw - pl
        H, W = x.shape[2], x.shape[3]
        tmax = max(th, tw)
        twiddles(twr, twi, tmax, tid)
        for idx in range(tid, th * tw, NT_FFT):
            a, b = idx // tw, idx % tw
            ih, iw = ih0 + a, iw0 + b
            v = dt(0)
            if ih >= 0 and ih < H and iw >= 0 and iw < W:
                v = x[n, c, ih, iw]
            j = bitrev(a, log_h) * tw + bitrev(b, log_w)
            re[j] = v
            im[j] = 0
        cuda.syncthreads()
        fft2(re, im, twr, twi, th, tw, tmax, False, tid)
        for idx in range(tid, th * tw, NT_FFT):
            out_re[nc, tile, idx] = re[idx]
            out_im[nc, tile, idx] = im[idx]

    @cuda.jit
    def fft_kernel_tiles(w, out_re, out_im, th, tw, log_h, log_w, dh, dw):
        """Block (co * C_in/g + ci): the spectrum of one dilated kernel, zero-padded to a tile."""
        re = cuda.shared.array(CAP, dt)
        im = cuda.shared.array(CAP, dt)
        twr = cuda.shared.array(HALF_SIDE, dt)
        twi = cuda.shared.array(HALF_SIDE, dt)
        tid = cuda.threadIdx.x
        oc = cuda.blockIdx.x
        CG, KH, KW = w.shape[1], w.shape[2], w.shape[3]
        co, ci = oc // CG, oc % CG
        tmax = max(th, tw)
        twiddles(twr, twi, tmax, tid)
        for idx in range(tid, th * tw, NT_FFT):
            a, b = idx // tw, idx % tw
            v = dt(0)
            if a % dh == 0 and b % dw == 0 and a // dh < KH and b // dw < KW:
                v = w[co, ci, a // dh, b // dw]
            j = bitrev(a, log_h) * tw + bitrev(b, log_w)
            re[j] = v
            im[j] = 0
        cuda.syncthreads()
        fft2(re, im, twr, twi, th, tw, tmax, False, tid)
        for idx in range(tid, th * tw, NT_FFT):
            out_re[oc, 0, idx] = re[idx]
            out_im[oc, 0, idx] = im[idx]

    @cuda.jit
    def fft_contract_inverse(xre, xim, wre, wim, bias, y, has_bias, th, tw, lh, lw, ntw,
                             log_h, log_w, sh, sw, ci_g, co_g):
        """Block (n * C_out + co, tile): Y(f) = sum_ci X_ci(f) conj(W_co,ci(f)) per frequency
        (correlation, not convolution), inverse FFT, and the strided valid outputs."""
        re = cuda.shared.array(CAP, dt)
        im = cuda.shared.array(CAP, dt)
        twr = cuda.shared.array(HALF_SIDE, dt)
        twi = cuda.shared.array(HALF_SIDE, dt)
        tid = cuda.threadIdx.x
        nk, tile = cuda.blockIdx.x, cuda.blockIdx.y
        CO, CI = y.shape[1], ci_g * (y.shape[1] // co_g)
        n, co = nk // CO, nk % CO
        g = co // co_g
        tmax = max(th, tw)
        twiddles(twr, twi, tmax, tid)
        for f in range(tid, th * tw, NT_FFT):
            sr = dt(0)
            si = dt(0)
            for ci in range(ci_g):
                row = n * CI + g * ci_g + ci
                ar, ai = xre[row, tile, f], xim[row, tile, f]
                br, bi = wre[co * ci_g + ci, 0, f], wim[co * ci_g + ci, 0, f]
                sr += ar * br + ai * bi
                si += ai * br - ar * bi
            j = bitrev(f // tw, log_h) * tw + bitrev(f % tw, log_w)
            re[j] = sr
            im[j] = si
        cuda.syncthreads()
        fft2(re, im, twr, twi, th, tw, tmax, True, tid)
        scale = dt(1.0 / (th * tw))
        HO, WO = y.shape[2], y.shape[3]
        u0, v0 = (tile // ntw) * lh, (tile % ntw) * lw
        for idx in range(tid, lh * lw, NT_FFT):
            a, b = idx // lw, idx % lw
            u, v = u0 + a, v0 + b
            if u % sh == 0 and v % sw == 0 and u // sh < HO and v // sw < WO:
                val = re[a * tw + b] * scale
                if has_bias:
                    val += bias[co]
                y[n, co, u // sh, v // sw] = val

    return dict(direct=make_direct(D.co_tile), direct_single=make_direct(1),
                implicit_gemm=implicit_gemm, fft_input_tiles=fft_input_tiles,
                fft_kernel_tiles=fft_kernel_tiles, fft_contract_inverse=fft_contract_inverse)


@functools.cache
def _elementwise():
    """Layout kernels for device inputs (any dtype, any strides: Numba specialises them)."""
    _cuda()

    @cuda.jit
    def gather4(src, dst, code, flip):
        """dst (A, B, C, D) contiguous logical NCHW/OIHW from a 4-D src: code 0 same order,
        1 NHWC input, 2 HWIO weight; flip reverses the two spatial axes."""
        i = cuda.grid(1)
        if i < dst.size:
            A, B, C, D = dst.shape
            d = i % D
            c = (i // D) % C
            b = (i // (C * D)) % B
            a = i // (B * C * D)
            cs, ds = (C - 1 - c, D - 1 - d) if flip else (c, d)
            if code == 0:
                dst[a, b, c, d] = src[a, b, cs, ds]
            elif code == 1:
                dst[a, b, c, d] = src[a, cs, ds, b]
            else:
                dst[a, b, c, d] = src[cs, ds, b, a]

    @cuda.jit
    def gather3(src, dst, code, flip):
        """dst (A, B, 1, D) from a 3-D src: code 0 NCL/OIW, 1 NLC input, 2 WIO weight."""
        i = cuda.grid(1)
        if i < dst.size:
            B, D = dst.shape[1], dst.shape[3]
            d = i % D
            b = (i // D) % B
            a = i // (B * D)
            ds = D - 1 - d if flip else d
            if code == 0:
                dst[a, b, 0, d] = src[a, b, ds]
            elif code == 1:
                dst[a, b, 0, d] = src[a, ds, b]
            else:
                dst[a, b, 0, d] = src[ds, b, a]

    @cuda.jit
    def gather1(src, dst):
        i = cuda.grid(1)
        if i < dst.size:
            dst[i] = src[i]

    @cuda.jit
    def scatter4(src, dst):
        """dst (N, H, W, C) from src (N, C, H, W)."""
        i = cuda.grid(1)
        if i < dst.size:
            N, H, W, C = dst.shape
            c = i % C
            w = (i // C) % W
            h = (i // (C * W)) % H
            n = i // (C * W * H)
            dst[n, h, w, c] = src[n, c, h, w]

    @cuda.jit
    def scatter3(src, dst):
        """dst (N, L, C) from src (N, C, 1, L)."""
        i = cuda.grid(1)
        if i < dst.size:
            N, L, C = dst.shape
            c = i % C
            w = (i // C) % L
            n = i // (C * L)
            dst[n, w, c] = src[n, c, 0, w]

    return dict(gather4=gather4, gather3=gather3, gather1=gather1, scatter4=scatter4,
                scatter3=scatter3)


def _launch_1d(kernel, size, *args):
    threads = geometry().elementwise_threads
    kernel[_blocks(size, threads), threads](*args)


# ---- run functions ---------------------------------------------------------------------------
def _operands(problem: ConvProblem, x, w, bias, y):
    """Device operands (x, w, bias, y) for the kernels: device arrays pass through (they come
    contiguous from run_on_device); host arrays are made contiguous in the compute dtype and
    copied over. A missing bias becomes a 1-element dummy the kernels never read."""
    _cuda()
    dtype = problem.np_dtype

    def dev(a):
        if is_device_array(a):
            return as_device(a)
        return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))

    bd = cuda.device_array(1, dtype) if bias is None else dev(bias)
    yd = as_device(y) if is_device_array(y) else cuda.device_array(problem.out_shape, dtype)
    return dev(x), dev(w), bd, yd


def _finish(y, yd) -> None:
    if not is_device_array(y):
        y[...] = yd.copy_to_host()  # y: the API's logical view of the user's out (any strides)


def _conv_args(problem: ConvProblem):
    (sh, sw), (dh, dw) = problem.stride, problem.dilation
    return sh, sw, dh, dw, problem.padding[0], problem.padding[2]


def direct_co_tile(problem: ConvProblem) -> int:
    """Output channels per block: the geometry's co_tile, or 1 when a group has a single
    output channel (depthwise, single-channel filters), so that no FMA is wasted."""
    return 1 if problem.c_out_per_group == 1 else geometry().direct.co_tile


def direct_launch(problem: ConvProblem):
    """(grid, block, co_tiles, span_h, span_w, stage x in shared memory, stage w in shared
    memory)."""
    D = geometry().direct
    co_tile = direct_co_tile(problem)
    (sh, sw), (dh, dw) = problem.stride, problem.dilation
    span_h = (D.tile_h - 1) * sh + (problem.kh - 1) * dh + 1
    span_w = (D.tile_w - 1) * sw + (problem.kw - 1) * dw + 1
    co_tiles = _blocks(problem.c_out_per_group, co_tile)
    grid = (_blocks(problem.w_out, D.tile_w), _blocks(problem.h_out, D.tile_h),
            problem.n * problem.groups * co_tiles)
    return (grid, (D.tile_w, D.threads_h), co_tiles, span_h, span_w,
            span_h * span_w <= D.smem_in, co_tile * problem.kh * problem.kw <= D.smem_w)


def gemm_launch(problem: ConvProblem):
    gemm = geometry().gemm
    grid = (_blocks(problem.n * problem.h_out * problem.w_out, gemm.bn),
            _blocks(problem.c_out_per_group, gemm.bm), problem.groups)
    return grid, gemm.threads


def run_direct(problem: ConvProblem, x, w, bias, y) -> None:
    xd, wd, bd, yd = _operands(problem, x, w, bias, y)
    grid, block, co_tiles, span_h, span_w, smem_x, smem_w = direct_launch(problem)
    kernel = "direct_single" if direct_co_tile(problem) == 1 else "direct"
    _kernels(problem.dtype)[kernel][grid, block](
        xd, wd, bd, yd, bias is not None, *_conv_args(problem), problem.c_in_per_group,
        problem.c_out_per_group, co_tiles, span_h, span_w, smem_x, smem_w)
    _finish(y, yd)


def run_im2col(problem: ConvProblem, x, w, bias, y) -> None:
    xd, wd, bd, yd = _operands(problem, x, w, bias, y)
    w2 = wd.reshape(problem.c_out, problem.c_in_per_group * problem.kh * problem.kw)
    grid, block = gemm_launch(problem)
    _kernels(problem.dtype)["implicit_gemm"][grid, block](
        xd, w2, bd, yd, bias is not None, *_conv_args(problem), problem.c_in_per_group,
        problem.c_out_per_group, problem.kh, problem.kw)
    _finish(y, yd)


def run_fft(problem: ConvProblem, x, w, bias, y) -> None:
    _cuda()
    t = fft_tiles(problem)
    if t is None:
        raise NotImplementedError(f"fft:cuda: {supports_fft(problem)}")
    xd, wd, bd, yd = _operands(problem, x, w, bias, y)
    k = _kernels(problem.dtype)
    threads = geometry().fft.threads
    dtype, size, ntiles = problem.np_dtype, t.th * t.tw, t.nth * t.ntw
    log_h, log_w = t.th.bit_length() - 1, t.tw.bit_length() - 1
    sh, sw, dh, dw, pt, pl = _conv_args(problem)
    n, ci_g, co_g = problem.n, problem.c_in_per_group, problem.c_out_per_group
    # spectra in global memory: every input tile (n * C_in, tiles, th * tw) and every kernel
    xre = cuda.device_array((n * problem.c_in, ntiles, size), dtype)
    xim = cuda.device_array_like(xre)
    wre = cuda.device_array((problem.c_out * ci_g, 1, size), dtype)
    wim = cuda.device_array_like(wre)
    k["fft_input_tiles"][(n * problem.c_in, ntiles), threads](
        xd, xre, xim, t.th, t.tw, t.lh, t.lw, t.ntw, log_h, log_w, pt, pl)
    k["fft_kernel_tiles"][(problem.c_out * ci_g, 1), threads](
        wd, wre, wim, t.th, t.tw, log_h, log_w, dh, dw)
    k["fft_contract_inverse"][(n * problem.c_out, ntiles), threads](
        xre, xim, wre, wim, bd, yd, bias is not None, t.th, t.tw, t.lh, t.lw, t.ntw,
        log_h, log_w, sh, sw, ci_g, co_g)
    _finish(y, yd)


# ---- device inputs: logical views without host copies ---------------------------------------
_X_CODE = {"NCHW": 0, "NCL": 0, "NHWC": 1, "NLC": 1}
_W_CODE = {"NCHW": 0, "NCL": 0, "NHWC": 2, "NLC": 2}


def _logical_device(a, shape, code: int, flip: bool, dtype):
    """``a`` (device or host, user layout) as a contiguous logical device array of ``shape``
    (NCHW / OIHW) in ``dtype``; a view when it already is one, else one gather kernel."""
    _cuda()
    a = as_device(a) if is_device_array(a) else cuda.to_device(np.ascontiguousarray(a))
    if (code == 0 and not flip and np.dtype(a.dtype) == dtype and a.is_c_contiguous()):
        return a.reshape(shape)
    dst = cuda.device_array(shape, dtype)
    ew = _elementwise()
    if a.ndim == 4:
        _launch_1d(ew["gather4"], dst.size, a, dst, code, flip)
    else:
        _launch_1d(ew["gather3"], dst.size, a, dst, code, flip)
    return dst


def run_on_device(impl, problem: ConvProblem, x, weight, bias):
    """Run ``impl`` (a cuda implementation) on the user's arrays (x on the device; weight and
    bias on the device or the host) and answer with a device array in the user's layout."""
    _cuda()
    dtype = problem.np_dtype
    if 0 in problem.out_shape:
        return cuda.device_array(problem.user_out_shape, dtype)
    xl = _logical_device(x, problem.x_shape, _X_CODE[problem.layout], False, dtype)
    wl = _logical_device(weight, problem.weight_shape, _W_CODE[problem.layout], problem.flip,
                         dtype)
    bl = None
    if bias is not None:
        b = as_device(bias) if is_device_array(bias) else cuda.to_device(np.asarray(bias))
        if np.dtype(b.dtype) == dtype and b.is_c_contiguous():
            bl = b
        else:
            bl = cuda.device_array(problem.c_out, dtype)
            _launch_1d(_elementwise()["gather1"], bl.size, b, bl)
    yd = cuda.device_array(problem.out_shape, dtype)
    impl.run(problem, xl, wl, bl, yd)
    if problem.layout in CHANNELS_LAST:
        out = cuda.device_array(problem.user_out_shape, dtype)
        scatter = _elementwise()["scatter4" if out.ndim == 4 else "scatter3"]
        _launch_1d(scatter, out.size, yd, out)
        return out
    return yd.reshape(problem.user_out_shape)
