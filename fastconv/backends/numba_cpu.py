"""The Numba CPU backend: direct, im2col and fft as parallel ``@njit`` kernels.

Shape of the code
-----------------
Python (this module's ``run_*`` functions) normalises; kernels compute. Every kernel sees only
C-contiguous 1-D arrays of the problem's dtype plus ints, so each kernel compiles exactly twice
(float32, float64) whatever the caller's layout, strides, flip or conv1d-ness: the catalog's
strided, NHWC and flipped cases reuse the same machine code, and ``cache=True`` keeps it on disk.

The input is re-laid once per call (``_relayout_input``; not when it is already so): zero
padding applied, and the width axis split into ``stride_w`` phases,
``xs[n, c, hp, phase, q] = xpad[n, c, hp, q*stride_w + phase]``, so that tap (r, s) of output
column ow lives at ``q = ow + (s*dil_w) // stride_w`` of phase ``(s*dil_w) % stride_w``: unit
stride along the output width for every stride and dilation. Each tap (ci, r, s) is then one
offset ``koff`` into that buffer, and

- ``direct:numba`` is an implicit GEMM: an MR x NR microkernel (numba_ukernels.py) reads its B
  rows straight from the image at ``base + koff[k]`` (NR output columns of one output row)
  and A (the weight) in place, row by row; prange over (image, group, output row, column
  block, slice of the output channels).
  Problems with fewer than 4 output channels per group (depthwise) use a row kernel instead:
  one output row accumulated tap by tap, vectorised along the width.
- ``im2col:numba`` packs im2col panels (K x NR, im2col fused into the packing, no lowered
  matrix) of the flattened output pixels and runs the same microkernel over them, cache
  blocked over K; prange over (image, group, block of column panels, slice of the output
  channels). The packed panels are bounded (IM2COL_CHUNK_BYTES, workspace limit): larger
  problems run in chunks of (image, group) pairs or of column panels. An unpadded stride-1
  input is used as it is (a 1x1 convolution copies nothing but its panels).
- ``fft:numba``: overlap-save tiles (numba_fft_rules.fft_tiling), see the FFT section below.

direct and im2col run an unpadded 1x1 convolution as the stride-1 one of its sampled pixels,
all in one row (``_one_row``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
from typing import Optional

import numba
import numpy as np
from numba import njit, prange

from .. import workspace
from ..problem import ConvProblem
from ..threads import get_num_threads
from .numba_fft_rules import FFTTiling, fft_tiling, smooth_size  # noqa: F401 (re-exported)
from .numba_ukernels import out_6x8, out_6x16, uk_6x8, uk_6x16

MR = 6
NR_BY_DTYPE = {"float32": 16, "float64": 8}   # one row of the tile = two 256-bit vectors
# K block of the im2col GEMM: a job's KC x NC_PANELS*NR fp32 block of B is 256 KiB, in L2
# (1 MiB). 256 timed the same within noise; 512 sends each output tile through memory half as
# often when K > 256.
KC = 512
NC_PANELS = 8     # column panels packed together: one prange job of the im2col GEMM
# M panels a column panel meets in turn (BLIS's loop order: the panel's KC x NR block of B
# stays in L1 while these MC_PANELS x MR rows of A, 96 KiB fp32 at KC = 512, come from L2).
# Against every M panel of the job passing each column panel in turn (A's rows in L1, B from
# L2): 0.70-1.05x the time, 0.93x typical, on ResNet-50's layers (res3 1x1 reduce_first 0.70)
MC_PANELS = 8
IM2COL_CHUNK_BYTES = 16 * 2**20   # packed im2col panels per pass: written, then read from L3
SMALL_M = 4       # fewer output channels per group than this: direct uses the row kernel


_numba_threads = threading.local()   # .n: the count this thread last gave Numba


def set_threads() -> None:
    """Numba's pool follows fastconv.set_num_threads (capped at the pool's size). Numba's
    count is per calling thread; it is set when it differs from what this thread last set
    (numba.set_num_threads costs 3.5 us and numba.get_num_threads 2, a tenth of a small
    call's Python side), so a numba.set_num_threads of the caller's own between two calls is
    not undone."""
    n = max(1, min(get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if getattr(_numba_threads, "n", None) != n:
        numba.set_num_threads(n)
        _numba_threads.n = n


def slp_vectorize():
    """Compile (on a cache miss) with LLVM's SLP vectoriser on.

    Numba turns SLP off by default (NUMBA_SLP_VECTORIZE=0) and reads the flag when it builds
    its optimisation pipeline, once, at the first compilation in the process: fastconv's
    __init__ sets the environment variable before numba is imported, and this context covers
    a numba imported earlier whose pipeline is not built yet. A process that compiled other
    numba code before fastconv's kernels keeps SLP off (and would cache slow kernels): set
    NUMBA_SLP_VECTORIZE=1 there. A cache hit compiles nothing. Without SLP the microkernels'
    96 scalar accumulators stay scalar
    (vfmadd231ss, ~2 GFLOP/s); with it each row becomes two ymm FMAs (vfmadd231ps). Numba
    compiles under a global lock, so no other compilation sees the flag in between.
    """
    if numba.config.SLP_VECTORIZE:
        return contextlib.nullcontext()   # the usual case: on since import, nothing to switch
    return _slp_switched_on()


@contextlib.contextmanager
def _slp_switched_on():
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba.config.SLP_VECTORIZE = old


# ---- input / weight / output marshalling -------------------------------------------------
class Layout:
    """Geometry of the re-laid input buffer (see the module docstring)."""

    def __init__(self, problem: ConvProblem, nr: int, whole_blocks: bool):
        p = problem
        sh, sw = p.stride
        dh, dw = p.dilation
        self.hp = p.h + p.padding[0] + p.padding[1]
        wp = p.w + p.padding[2] + p.padding[3]
        # columns q the kernels may read: those of real output columns' taps, except that
        # direct reads whole NR-wide blocks (``whole_blocks``): an output row narrower than
        # NR is read as one block, q < nr + max tap shift (the extra columns are zeros whose
        # outputs are discarded; wider rows end in a block shifted left, see direct_igemm)
        self.wq = -(-wp // sw)
        if whole_blocks and p.w_out < nr:
            self.wq = max(self.wq, nr + ((p.kw - 1) * dw) // sw)
        self.sw = sw
        self.rowstride = sw * self.wq
        self.plane = self.hp * self.rowstride
        # x itself is this buffer when unpadded, stride 1 and no wider
        self.in_place = sw == 1 and self.wq == p.w and not any(p.padding)
        r, s = np.meshgrid(np.arange(p.kh), np.arange(p.kw), indexing="ij")
        tap = (r * dh * self.rowstride + ((s * dw) % sw) * self.wq + (s * dw) // sw).ravel()
        ci = np.arange(p.c_in_per_group)[:, None] * self.plane
        self.koff = (ci + tap[None, :]).ravel().astype(np.int64)   # order (ci, r, s)


def _relayout_input(problem: ConvProblem, x: np.ndarray, lay: Layout) -> np.ndarray:
    p = problem
    if lay.in_place:
        return _flat(x, p.np_dtype)
    pt, _, pl, _ = p.padding
    n, c = p.n, p.c_in
    buf = np.zeros((n, c, lay.hp, lay.wq, lay.sw), dtype=p.np_dtype)
    flat = buf.reshape(n, c, lay.hp, lay.wq * lay.sw)
    flat[:, :, pt:pt + p.h, pl:pl + p.w] = x
    if lay.sw == 1:
        return buf.reshape(-1)
    return np.ascontiguousarray(buf.transpose(0, 1, 2, 4, 3)).reshape(-1)


@functools.lru_cache(maxsize=256)
def _one_row(problem: ConvProblem) -> Optional[ConvProblem]:
    """An unpadded 1x1 convolution multiplies each sampled pixel by the weight on its own: it
    is the stride-1 convolution of x[:, :, ::sh, ::sw] (cut to h_out x w_out), and the
    sampled pixels may as well be one row of h_out*w_out. That problem (None for others)
    gives the GEMM kernels full-width column blocks along the whole image (a 14-wide output
    row filled 14/16 of a 16-wide tile) and nothing to re-lay: a strided one copies only the
    pixels it samples, 0.07-0.14 ms on ResNet-50's downsample layers, where the phase
    re-layout copied the whole input in 0.4-0.9 ms."""
    p = problem
    if (p.kh, p.kw) != (1, 1) or any(p.padding):
        return None
    return dataclasses.replace(p, h=1, w=p.h_out * p.w_out, stride=(1, 1), dilation=(1, 1))


def _as_one_row(problem: ConvProblem, x: np.ndarray):
    """(problem, x) in _one_row's form when it applies, else as given."""
    row = _one_row(problem)
    if row is None:
        return problem, x
    sh, sw = problem.stride
    if (sh, sw) != (1, 1):
        x = x[:, :, :(problem.h_out - 1) * sh + 1:sh, :(problem.w_out - 1) * sw + 1:sw]
    return row, np.ascontiguousarray(x).reshape(row.n, row.c_in, 1, row.w)


def _flat(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` as a flat, C-contiguous, writeable array of ``dtype`` (a copy only when needed).
    Writeable too: Numba types read-only arrays separately, which would compile every kernel
    again for the read-only inputs the tests (and users) pass."""
    if not (a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, dtype=dtype, order="C")   # a copy (np.array copies by default)
    return a.reshape(-1)


def _bias(problem: ConvProblem, bias) -> np.ndarray:
    if bias is None:
        return np.zeros(problem.c_out, dtype=problem.np_dtype)
    return _flat(bias, problem.np_dtype)


def _out_buffer(y: np.ndarray):
    """A flat contiguous buffer the kernel writes; (buffer, whether to copy it into y)."""
    if y.flags.c_contiguous and y.flags.writeable:
        return y.reshape(-1), False
    return np.empty(y.size, dtype=y.dtype), True


# ---- kernels -----------------------------------------------------------------------------
@njit(cache=True)
def _tile(nr, kc, ap, ao, lda, bp, bo, koff, y, yo, ldc, mi, jn, add_bias, bias, bk, ct):
    """One output tile: the MR x nr product (microkernel into ``ct``), rows i < mi and
    columns j < jn of it added to bias[bk + i] (``add_bias``: the first K block) or to
    y's own values (a later K block) at y[yo + i*ldc + j].

    Why this shape (best of 4 x 5 runs, one core, res2 3x3 GEMM; measured, not guessed):
    writing y from the microkernel's registers (with y's offset and row stride as
    arguments) left LLVM's SLP vectoriser unable to prove the stores consecutive, and it
    then kept the 96 accumulators scalar: 5 GFLOP/s. Into ``ct`` at constant offsets, then
    copied through row slices (which the loop vectoriser handles; out_6x16 for full-width
    tiles): 61, against 68 for the microkernel with no output at all. A function of its
    own, not inlined into the callers' loops: with both microkernels inlined there, LLVM
    allocated registers worse (32 instead of 52 GFLOP/s)."""
    if nr == 16:
        uk_6x16(kc, ap, ao, lda, mi, bp, bo, koff, ct)
        if jn == 16:
            out_6x16(ct, y, yo, ldc, mi, add_bias, bias, bk)
            return
    else:
        uk_6x8(kc, ap, ao, lda, mi, bp, bo, koff, ct)
        if jn == 8:
            out_6x8(ct, y, yo, ldc, mi, add_bias, bias, bk)
            return
    for i in range(mi):
        yr = y[yo + i * ldc:yo + i * ldc + jn]
        cr = ct[i * nr:i * nr + jn]
        if add_bias:
            bv = bias[bk + i]
            for j in range(jn):
                yr[j] = cr[j] + bv
        else:
            for j in range(jn):
                yr[j] += cr[j]


@njit(parallel=True, cache=True)
def direct_igemm(xs, wf, koff, bias, y, n, c_in, c_out, groups, ho, wo, sh, rowstride, plane,
                 nr, mgroups):
    """Implicit-GEMM direct convolution (see module docstring); y is (n, c_out, ho, wo).
    One prange job = one nr-wide block of one output row (image, group, output row, column
    block) times one of ``mgroups`` slices of the M panels: its tiles share the input rows
    they read, and each job holds several tiles (one job per tile, as before, scheduled
    thousands of jobs of a few hundred cycles each on the 1x1 layers). A row at least nr
    wide ends in a block shifted left to end at its last column, so no block reads past
    the row (no padding to whole blocks to re-lay, no narrow tile); the columns it shares
    with the block before are computed twice, to the same values."""
    kk = koff.size
    cg = c_in // groups
    kg = c_out // groups
    mp = (kg + MR - 1) // MR
    nwb = (wo + nr - 1) // nr
    for t in prange(n * groups * ho * nwb * mgroups):
        mg = t % mgroups
        rest = t // mgroups
        wb = rest % nwb
        rest //= nwb
        oh = rest % ho
        rest //= ho
        gi = rest % groups
        ni = rest // groups
        c0 = min(wb * nr, max(0, wo - nr))
        bo = (ni * c_in + gi * cg) * plane + oh * sh * rowstride + c0
        ct = np.empty(MR * nr, dtype=y.dtype)
        # slices of equal size (+-1 panel): Numba hands each thread an equal run of jobs
        for m in range(mg * mp // mgroups, (mg + 1) * mp // mgroups):
            k = gi * kg + m * MR
            _tile(nr, kk, wf, k * kk, kk, xs, bo, koff, y,
                  ((ni * c_out + k) * ho + oh) * wo + c0, ho * wo, min(MR, kg - m * MR),
                  min(nr, wo - c0), True, bias, k, ct)


@njit(parallel=True, cache=True, fastmath={"contract"})
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
        yrow = y[yo:yo + wo]
        for j in range(wo):
            yrow[j] = bv
        for ci in range(cg):
            xo = (ni * c_in + gi * cg + ci) * plane + oh * sh * rowstride
            for r in range(kh):
                for s in range(kw):
                    wv = wf[((k * cg + ci) * kh + r) * kw + s]
                    src = xo + r * dh * rowstride + ((s * dw) % sw) * wq + (s * dw) // sw
                    xrow = xs[src:src + wo]
                    for j in range(wo):
                        yrow[j] += wv * xrow[j]


@njit(parallel=True, cache=True)
def im2col_pack(xs, koff, bpk, c_in, groups, ho, wo, sh, rowstride, plane, nr, pair0, npairs,
                pan0, npans):
    """Pack the im2col panels of (image, group) pairs [pair0, pair0 + npairs) and column
    panels [pan0, pan0 + npans): bpk[pair, panel, K, j] = B[K, panel*nr + j] with
    B = im2col(x) (columns past the last repeat it; their outputs are discarded). One prange
    job per panel; the panel's nr columns usually lie in one output row, and then each of its
    K rows is one contiguous copy instead of nr gathers."""
    kk = koff.size
    cg = c_in // groups
    ncol = ho * wo
    for t in prange(npairs * npans):
        pair = pair0 + t // npans
        xb = ((pair // groups) * c_in + (pair % groups) * cg) * plane
        c0 = (pan0 + t % npans) * nr
        dst = t * kk * nr
        colbase = np.empty(nr, dtype=np.int64)
        # every column checked (first-to-last distance alone is not enough: a row gap and
        # repeated tail columns can cancel)
        contiguous = True
        for j in range(nr):
            col = min(c0 + j, ncol - 1)
            colbase[j] = (col // wo) * sh * rowstride + col % wo
            contiguous &= colbase[j] == colbase[0] + j
        if contiguous:
            for q in range(kk):
                src = xb + koff[q] + colbase[0]
                brow = bpk[dst + q * nr:dst + q * nr + nr]
                xrow = xs[src:src + nr]
                for j in range(nr):
                    brow[j] = xrow[j]
        else:
            for q in range(kk):
                src = xb + koff[q]
                for j in range(nr):
                    bpk[dst + q * nr + j] = xs[src + colbase[j]]


@njit(parallel=True, cache=True)
def im2col_gemm(bpk, wf, bias, y, c_out, groups, ncol, kk, nr, mgroups, pair0, npairs, pan0,
                npans):
    """y[k, col] = bias[k] + sum_K A[k, K] B[K, col] over the panels im2col_pack packed.
    One prange job: (pair, block of <= NC_PANELS panels, one of ``mgroups`` slices of the M
    panels); small-N layers use mgroups > 1 so every thread has work. Within a job, K runs in
    KC blocks: the job's B block (KC x NC_PANELS*nr) stays in L2 while the M panels pass,
    MC_PANELS at a time.
    (Packing inside the jobs instead, KC rows before their use, measured slower: 2.0-2.5 ms
    against 1.4-1.6 for the two passes on res2's 1x1 reduce; so did reading B in place for a
    1x1 convolution, 2.1 ms: its rows lie a channel plane apart.)"""
    kg = c_out // groups
    mp = (kg + MR - 1) // MR
    nblk = (npans + NC_PANELS - 1) // NC_PANELS
    for t in prange(npairs * nblk * mgroups):
        mg = t % mgroups
        rest = t // mgroups
        blk = rest % nblk
        qi = rest // nblk
        pair = pair0 + qi
        gi = pair % groups
        ni = pair // groups
        # blocks of panels and slices of M of equal size (+-1): Numba hands each thread an
        # equal run of jobs, and 13 panels cut 8 + 5 had one thread do 8/13 of the work
        p0 = blk * npans // nblk
        np_ = (blk + 1) * npans // nblk - p0
        pk = np.arange(KC) * nr
        ct = np.empty(MR * nr, dtype=y.dtype)
        for k0 in range(0, kk, KC):
            kc = min(KC, kk - k0)
            m1 = (mg + 1) * mp // mgroups
            for mb in range(mg * mp // mgroups, m1, MC_PANELS):
                for p in range(np_):
                    c0 = (pan0 + p0 + p) * nr
                    for m in range(mb, min(m1, mb + MC_PANELS)):
                        mi = min(MR, kg - m * MR)
                        k = gi * kg + m * MR
                        _tile(nr, kc, wf, k * kk + k0, kk, bpk,
                              ((qi * npans + p0 + p) * kk + k0) * nr, pk, y,
                              (ni * c_out + k) * ncol + c0, ncol, mi, min(nr, ncol - c0),
                              k0 == 0, bias, k, ct)


# ---- run functions (the registry's entries) ----------------------------------------------
# A call's Python side is kept to looking up its plan (everything that depends only on the
# problem, the thread count and the budget, remembered per problem) and marshalling the
# arrays. With the thread count set only on a change, the no-op SLP context and fewer array
# checks, a 1x1 8-channel 8x8 call's run_direct takes 13 us instead of 17, run_im2col 25
# instead of 32.
def _m_slices(problem: ConvProblem, jobs: int, threads: int) -> int:
    """Into how many slices to cut the M panels so that ``jobs`` jobs become at least 4 per
    thread (the last of too few jobs would leave a thread idle), and a multiple of the thread
    count where the M panels allow (Numba gives each thread an equal run of jobs)."""
    mp = -(-problem.c_out_per_group // MR)
    m = max(1, min(mp, -(-4 * threads // jobs)))
    while m < mp and jobs * m % threads:
        m += 1
    return m


@functools.lru_cache(maxsize=256)
def _direct_plan(problem: ConvProblem, threads: int):
    """(nr, layout, M slices) of direct:numba."""
    p = problem
    nr = NR_BY_DTYPE[p.dtype]
    if p.dtype == "float32" and p.w_out <= nr // 2:
        nr //= 2   # 7-wide rows (ResNet res5) waste less of a 6x8 tile than of a 6x16 one
    jobs = p.n * p.groups * p.h_out * -(-p.w_out // nr)
    return nr, Layout(p, nr, True), _m_slices(p, jobs, threads)


def run_direct(problem: ConvProblem, x, w, bias, y) -> None:
    set_threads()
    p, x = _as_one_row(problem, x)
    nr, lay, mgroups = _direct_plan(p, get_num_threads())
    xs = _relayout_input(p, x, lay)
    out, copy = _out_buffer(y)
    wf, b = _flat(w, p.np_dtype), _bias(p, bias)
    with slp_vectorize():
        if p.c_out_per_group < SMALL_M:
            direct_rows(xs, wf, b, out, p.n, p.c_in, p.c_out, p.groups, p.kh, p.kw,
                        p.h_out, p.w_out, p.stride[0], p.dilation[0], p.dilation[1], lay.sw,
                        lay.wq, lay.rowstride, lay.plane)
        else:
            direct_igemm(xs, wf, lay.koff, b, out, p.n, p.c_in, p.c_out, p.groups, p.h_out,
                         p.w_out, p.stride[0], lay.rowstride, lay.plane, nr, mgroups)
    if copy:
        y[...] = out.reshape(y.shape)


def im2col_chunks(problem: ConvProblem, nr: int, budget: int):
    """(pair0, npairs, pan0, npans) chunks whose packed im2col panels take at most ``budget``
    bytes (at least one block of NC_PANELS panels): whole (image, group) pairs when one fits,
    else column ranges of one pair."""
    p = problem
    kk = p.c_in_per_group * p.kh * p.kw
    npan = -(-(p.h_out * p.w_out) // nr)
    panel_bytes = kk * nr * p.np_dtype.itemsize
    pairs = p.n * p.groups
    per_chunk = budget // (npan * panel_bytes)
    if per_chunk >= 1:
        return [(q, min(per_chunk, pairs - q), 0, npan) for q in range(0, pairs, per_chunk)]
    step = max(NC_PANELS, budget // panel_bytes // NC_PANELS * NC_PANELS)
    return [(q, 1, c, min(step, npan - c)) for q in range(pairs) for c in range(0, npan, step)]


@functools.lru_cache(maxsize=256)
def _im2col_plan(problem: ConvProblem, threads: int, budget: int):
    """(nr, layout, packed panels' size, chunks (pair0, npairs, pan0, npans, M slices)) of
    im2col:numba."""
    p = problem
    nr = NR_BY_DTYPE[p.dtype]
    lay = Layout(p, nr, False)
    chunks = tuple((q0, nq, c0, nc, _m_slices(p, nq * -(-nc // NC_PANELS), threads))
                   for q0, nq, c0, nc in im2col_chunks(p, nr, budget))
    bsize = max(nq * nc for _, nq, _, nc, _ in chunks) * lay.koff.size * nr
    return nr, lay, bsize, chunks


def run_im2col(problem: ConvProblem, x, w, bias, y) -> None:
    set_threads()
    p, x = _as_one_row(problem, x)
    budget = min(workspace.get_workspace_limit(), IM2COL_CHUNK_BYTES)
    nr, lay, bsize, chunks = _im2col_plan(p, get_num_threads(), budget)
    bpk, = workspace.scratch_arrays(p.np_dtype, bsize)
    xs = _relayout_input(p, x, lay)
    out, copy = _out_buffer(y)
    wf, b = _flat(w, p.np_dtype), _bias(p, bias)
    kk = lay.koff.size
    with slp_vectorize():
        for pair0, npairs, pan0, npans, mgroups in chunks:
            im2col_pack(xs, lay.koff, bpk, p.c_in, p.groups, p.h_out, p.w_out, p.stride[0],
                        lay.rowstride, lay.plane, nr, pair0, npairs, pan0, npans)
            im2col_gemm(bpk, wf, b, out, p.c_out, p.groups, p.h_out * p.w_out, kk, nr, mgroups,
                        pair0, npairs, pan0, npans)
    if copy:
        y[...] = out.reshape(y.shape)


# ---- FFT ---------------------------------------------------------------------------------
# fft:numba is a 2-D FFT convolution written here, not rocket-fft: rocket-fft would make
# np.fft work inside @njit, but it is one more compiled dependency to install, and its
# interface transforms one array at a time, while the convolution wants batched transforms
# whose inner loop runs along a contiguous batch axis (that is what vectorises in Numba).
#
# Complex data are split (separate real and imaginary float arrays). A length-F transform of
# a (F, B) block runs Stockham autosort decimation-in-frequency passes of radix 4, 2, 3, 5
# (sizes are padded to 2^a 3^b 5^c); in each pass the innermost loop runs over s*B
# contiguous elements (s: the pass's stride), so it vectorises even for the first pass. A 2-D
# transform is: FFT along H (batch W), transpose, FFT along W (batch H): the spectrum stays
# transposed, (W, H), which the per-frequency contraction does not care about, and the
# inverse undoes it in the opposite order. Real input: two real planes a, b are transformed
# as one complex plane a + ib and separated by Hermitian symmetry; only the Fw//2 + 1
# non-redundant columns are kept. Correlation is X * conj(W). The output is cut into
# overlap-save tiles (fft_tiling: each transform covers one output tile plus the kernel's
# span, so circular wrap-around never reaches a kept output); tiles are batched as images, so
# the kernel spectra are (Fw//2 + 1) x Fh per channel pair whatever the image size, instead
# of the whole padded image's (they dominated on ResNet layers: 61 MB for res2's 3x3).

def fft_factors(n: int) -> np.ndarray:
    out = []
    for p in (4, 2, 3, 5):
        while n % p == 0:
            out.append(p)
            n //= p
    assert n == 1
    return np.array(out, dtype=np.int64)


@njit(cache=True, fastmath={"contract"})
def _fft_pass(xr, xi, yr, yi, n, s, p, B, N, twr, twi):
    """One Stockham DIF radix-p pass on length-n sub-sequences at stride s (elements are
    length-B batch vectors): y[q + s(p*j + t)] = (sum_r x[q + s(j + r m)] w_p^(rt)) w_n^(jt).
    twr/twi: w_N^k, k < N, with the transform's sign folded in.

    Inner loops index slice views (``a[q]``, q from range) rather than ``x[i0 + q]``: Numba
    wraps negative indices, and only for a bare loop counter can LLVM prove the wrap-around
    select away and vectorise."""
    m = n // p
    sb = s * B
    step = N // n
    if p == 2:
        for j in range(m):
            c = twr[j * step]
            d = twi[j * step]
            ar_ = xr[j * sb:(j + 1) * sb]
            ai_ = xi[j * sb:(j + 1) * sb]
            br_ = xr[(j + m) * sb:(j + m + 1) * sb]
            bi_ = xi[(j + m) * sb:(j + m + 1) * sb]
            y0r = yr[2 * j * sb:(2 * j + 1) * sb]
            y0i = yi[2 * j * sb:(2 * j + 1) * sb]
            y1r = yr[(2 * j + 1) * sb:(2 * j + 2) * sb]
            y1i = yi[(2 * j + 1) * sb:(2 * j + 2) * sb]
            for q in range(sb):
                ar = ar_[q]
                ai = ai_[q]
                br = br_[q]
                bi = bi_[q]
                y0r[q] = ar + br
                y0i[q] = ai + bi
                tr = ar - br
                ti = ai - bi
                y1r[q] = tr * c - ti * d
                y1i[q] = tr * d + ti * c
    elif p == 4:
        # w_4 = -i for the forward sign; twi[N//4] is -1 (forward) or +1 (inverse)
        sg = twi[N // 4]
        for j in range(m):
            c1 = twr[j * step]
            d1 = twi[j * step]
            c2 = twr[2 * j * step]
            d2 = twi[2 * j * step]
            c3 = twr[3 * j * step]
            d3 = twi[3 * j * step]
            x0r = xr[j * sb:(j + 1) * sb]
            x0i = xi[j * sb:(j + 1) * sb]
            x1r = xr[(j + m) * sb:(j + m + 1) * sb]
            x1i = xi[(j + m) * sb:(j + m + 1) * sb]
            x2r = xr[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            x2i = xi[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            x3r = xr[(j + 3 * m) * sb:(j + 3 * m + 1) * sb]
            x3i = xi[(j + 3 * m) * sb:(j + 3 * m + 1) * sb]
            o0 = 4 * j * sb
            y0r = yr[o0:o0 + sb]
            y0i = yi[o0:o0 + sb]
            y1r = yr[o0 + sb:o0 + 2 * sb]
            y1i = yi[o0 + sb:o0 + 2 * sb]
            y2r = yr[o0 + 2 * sb:o0 + 3 * sb]
            y2i = yi[o0 + 2 * sb:o0 + 3 * sb]
            y3r = yr[o0 + 3 * sb:o0 + 4 * sb]
            y3i = yi[o0 + 3 * sb:o0 + 4 * sb]
            for q in range(sb):
                ar = x0r[q]
                ai = x0i[q]
                br = x1r[q]
                bi = x1i[q]
                cr = x2r[q]
                ci = x2i[q]
                dr = x3r[q]
                di = x3i[q]
                s0r = ar + cr
                s0i = ai + ci
                e0r = ar - cr
                e0i = ai - ci
                s1r = br + dr
                s1i = bi + di
                e1r = br - dr
                e1i = bi - di
                # (b - d) * w_4 = (b - d) * (sg * i)
                er = -sg * e1i
                ei = sg * e1r
                y0r[q] = s0r + s1r
                y0i[q] = s0i + s1i
                tr = e0r + er
                ti = e0i + ei
                y1r[q] = tr * c1 - ti * d1
                y1i[q] = tr * d1 + ti * c1
                tr = s0r - s1r
                ti = s0i - s1i
                y2r[q] = tr * c2 - ti * d2
                y2i[q] = tr * d2 + ti * c2
                tr = e0r - er
                ti = e0i - ei
                y3r[q] = tr * c3 - ti * d3
                y3i[q] = tr * d3 + ti * c3
    elif p == 3:
        # w_3 = k3 + i*s3 (k3 = -1/2, s3 = -sin(2 pi/3) forward), w_3^2 = conj(w_3); both
        # from the twiddle table, in the data's dtype (a literal 0.5 would promote to float64)
        k3 = twr[N // 3]
        s3 = twi[N // 3]
        for j in range(m):
            c1 = twr[j * step]
            d1 = twi[j * step]
            c2 = twr[2 * j * step]
            d2 = twi[2 * j * step]
            x0r = xr[j * sb:(j + 1) * sb]
            x0i = xi[j * sb:(j + 1) * sb]
            x1r = xr[(j + m) * sb:(j + m + 1) * sb]
            x1i = xi[(j + m) * sb:(j + m + 1) * sb]
            x2r = xr[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            x2i = xi[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            o0 = 3 * j * sb
            y0r = yr[o0:o0 + sb]
            y0i = yi[o0:o0 + sb]
            y1r = yr[o0 + sb:o0 + 2 * sb]
            y1i = yi[o0 + sb:o0 + 2 * sb]
            y2r = yr[o0 + 2 * sb:o0 + 3 * sb]
            y2i = yi[o0 + 2 * sb:o0 + 3 * sb]
            for q in range(sb):
                ar = x0r[q]
                ai = x0i[q]
                pr = x1r[q] + x2r[q]
                pi = x1i[q] + x2i[q]
                mr = x1r[q] - x2r[q]
                mi = x1i[q] - x2i[q]
                y0r[q] = ar + pr
                y0i[q] = ai + pi
                hr = ar + k3 * pr
                hi = ai + k3 * pi
                # X1 = h + i*s3*m, X2 = h - i*s3*m
                tr = hr - s3 * mi
                ti = hi + s3 * mr
                y1r[q] = tr * c1 - ti * d1
                y1i[q] = tr * d1 + ti * c1
                tr = hr + s3 * mi
                ti = hi - s3 * mr
                y2r[q] = tr * c2 - ti * d2
                y2i[q] = tr * d2 + ti * c2
    else:
        # radix 5: w_5^1 = (k1, s1), w_5^2 = (k2, s2), w_5^3 = conj(w_5^2), w_5^4 = conj(w_5^1);
        # with P1 = x1 + x4, M1 = x1 - x4, P2 = x2 + x3, M2 = x2 - x3:
        #   X1, X4 = x0 + k1 P1 + k2 P2 +- i (s1 M1 + s2 M2)
        #   X2, X3 = x0 + k2 P1 + k1 P2 +- i (s2 M1 - s1 M2)
        # (4 twiddle products per butterfly; the generic radix-p form this replaced did 25
        # complex products and 5 passes over its outputs)
        k1 = twr[N // 5]
        s1 = twi[N // 5]
        k2 = twr[2 * N // 5]
        s2 = twi[2 * N // 5]
        for j in range(m):
            c1 = twr[j * step]
            d1 = twi[j * step]
            c2 = twr[2 * j * step]
            d2 = twi[2 * j * step]
            c3 = twr[3 * j * step]
            d3 = twi[3 * j * step]
            c4 = twr[4 * j * step]
            d4 = twi[4 * j * step]
            x0r = xr[j * sb:(j + 1) * sb]
            x0i = xi[j * sb:(j + 1) * sb]
            x1r = xr[(j + m) * sb:(j + m + 1) * sb]
            x1i = xi[(j + m) * sb:(j + m + 1) * sb]
            x2r = xr[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            x2i = xi[(j + 2 * m) * sb:(j + 2 * m + 1) * sb]
            x3r = xr[(j + 3 * m) * sb:(j + 3 * m + 1) * sb]
            x3i = xi[(j + 3 * m) * sb:(j + 3 * m + 1) * sb]
            x4r = xr[(j + 4 * m) * sb:(j + 4 * m + 1) * sb]
            x4i = xi[(j + 4 * m) * sb:(j + 4 * m + 1) * sb]
            o0 = 5 * j * sb
            y0r = yr[o0:o0 + sb]
            y0i = yi[o0:o0 + sb]
            y1r = yr[o0 + sb:o0 + 2 * sb]
            y1i = yi[o0 + sb:o0 + 2 * sb]
            y2r = yr[o0 + 2 * sb:o0 + 3 * sb]
            y2i = yi[o0 + 2 * sb:o0 + 3 * sb]
            y3r = yr[o0 + 3 * sb:o0 + 4 * sb]
            y3i = yi[o0 + 3 * sb:o0 + 4 * sb]
            y4r = yr[o0 + 4 * sb:o0 + 5 * sb]
            y4i = yi[o0 + 4 * sb:o0 + 5 * sb]
            # two loops (X0, X1, X4, then X2, X3): one loop computing all five ran twice as
            # slow (125-point axis, batch 64: 36 against 17.5 us)
            for q in range(sb):
                ar = x0r[q]
                ai = x0i[q]
                p1r = x1r[q] + x4r[q]
                p1i = x1i[q] + x4i[q]
                p2r = x2r[q] + x3r[q]
                p2i = x2i[q] + x3i[q]
                y0r[q] = ar + p1r + p2r
                y0i[q] = ai + p1i + p2i
                a1r = ar + k1 * p1r + k2 * p2r
                a1i = ai + k1 * p1i + k2 * p2i
                b1r = s1 * (x1r[q] - x4r[q]) + s2 * (x2r[q] - x3r[q])
                b1i = s1 * (x1i[q] - x4i[q]) + s2 * (x2i[q] - x3i[q])
                # i*B = (-B.i, B.r)
                tr = a1r - b1i
                ti = a1i + b1r
                y1r[q] = tr * c1 - ti * d1
                y1i[q] = tr * d1 + ti * c1
                tr = a1r + b1i
                ti = a1i - b1r
                y4r[q] = tr * c4 - ti * d4
                y4i[q] = tr * d4 + ti * c4
            for q in range(sb):
                ar = x0r[q]
                ai = x0i[q]
                a2r = ar + k2 * (x1r[q] + x4r[q]) + k1 * (x2r[q] + x3r[q])
                a2i = ai + k2 * (x1i[q] + x4i[q]) + k1 * (x2i[q] + x3i[q])
                b2r = s2 * (x1r[q] - x4r[q]) - s1 * (x2r[q] - x3r[q])
                b2i = s2 * (x1i[q] - x4i[q]) - s1 * (x2i[q] - x3i[q])
                tr = a2r - b2i
                ti = a2i + b2r
                y2r[q] = tr * c2 - ti * d2
                y2i[q] = tr * d2 + ti * c2
                tr = a2r + b2i
                ti = a2i - b2r
                y3r[q] = tr * c3 - ti * d3
                y3i[q] = tr * d3 + ti * c3


@njit(cache=True)
def _fft_axis0(ar, ai, br, bi, N, B, factors, twr, twi):
    """Transform the (N, B) block in (ar, ai) along axis 0, using (br, bi) as scratch; returns
    True when the result ended up in (br, bi)."""
    n = N
    s = 1
    swapped = False
    for f in range(factors.size):
        p = factors[f]
        if swapped:
            _fft_pass(br, bi, ar, ai, n, s, p, B, N, twr, twi)
        else:
            _fft_pass(ar, ai, br, bi, n, s, p, B, N, twr, twi)
        swapped = not swapped
        n //= p
        s *= p
    return swapped


@njit(cache=True, inline="always")
def _transpose_8x8(src, so, cols, dst, do, rows):
    """dst[do + j*rows + i] = src[so + i*cols + j] for i, j < 8: eight 8-element row slices
    in, eight out, so that LLVM's SLP vectoriser turns the block into vector loads, shuffles
    and stores (4x faster than element loops, which stay scalar: 2.4 vs 9.7 us for 81 x 81)."""
    s0 = src[so:so + 8]
    s1 = src[so + cols:so + cols + 8]
    s2 = src[so + 2 * cols:so + 2 * cols + 8]
    s3 = src[so + 3 * cols:so + 3 * cols + 8]
    s4 = src[so + 4 * cols:so + 4 * cols + 8]
    s5 = src[so + 5 * cols:so + 5 * cols + 8]
    s6 = src[so + 6 * cols:so + 6 * cols + 8]
    s7 = src[so + 7 * cols:so + 7 * cols + 8]
    for j in range(8):
        d = dst[do + j * rows:do + j * rows + 8]
        d[0] = s0[j]
        d[1] = s1[j]
        d[2] = s2[j]
        d[3] = s3[j]
        d[4] = s4[j]
        d[5] = s5[j]
        d[6] = s6[j]
        d[7] = s7[j]


@njit(cache=True)
def _transpose(src, dst, rows, cols):
    """dst (cols, rows) = src (rows, cols)^T: 8 x 8 blocks, then the edges element by
    element."""
    r8 = rows // 8 * 8
    c8 = cols // 8 * 8
    for i0 in range(0, r8, 8):
        for j0 in range(0, c8, 8):
            _transpose_8x8(src, i0 * cols + j0, cols, dst, j0 * rows + i0, rows)
    for i in range(r8):
        for j in range(c8, cols):
            dst[j * rows + i] = src[i * cols + j]
    for i in range(r8, rows):
        for j in range(cols):
            dst[j * rows + i] = src[i * cols + j]


@njit(cache=True)
def _fft2_pair(za_r, za_i, zb_r, zb_i, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, kept):
    """2-D FFT of the (Fh, Fw) plane in (za_r, za_i) into the (Fw, kept) spectrum: only the
    first ``kept`` (<= Fh) outputs of the first axis go through the second (the forward
    keeps all Fh; the inverse only the output columns its tile uses, 67 of 81 for a 15 x 15
    kernel: that much less transposing and second pass). Uses (zb_r, zb_i) as the other
    buffer; returns True when the spectrum ended in zb_* (copying it back cost 5-10% of a
    transform). Forward or inverse by the twiddles passed; the inverse swaps the axis
    arguments."""
    if _fft_axis0(za_r, za_i, zb_r, zb_i, Fh, Fw, fh, twh_r, twh_i):
        _transpose(zb_r, za_r, kept, Fw)
        _transpose(zb_i, za_i, kept, Fw)
        return _fft_axis0(za_r, za_i, zb_r, zb_i, Fw, kept, fw, tww_r, tww_i)
    _transpose(za_r, zb_r, kept, Fw)
    _transpose(za_i, zb_i, kept, Fw)
    return not _fft_axis0(zb_r, zb_i, za_r, za_i, Fw, kept, fw, tww_r, tww_i)


@njit(cache=True, inline="always")
def _plane_tile(pl, channels, tiles_h, tiles_w):
    """(image, tile row, tile column, channel) of plane pl of the overlap-save planes,
    ordered (image, tile row, tile column, channel)."""
    tile = pl // channels
    tq = tile // tiles_w
    return tq // tiles_h, tq % tiles_h, tile % tiles_w, pl % channels


@njit(cache=True)
def _half_spectra_pair(zr, zi, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, pa, has_b,
                       out_r, out_i):
    """Transform the plane pair packed in (zr, zi) = (plane pa, plane pa + 1) on the (Fh, Fw)
    grid (clobbering them) and store both half spectra: out_*[p] is (Fw//2 + 1, Fh),
    frequency along W major; without has_b, zi was zero and only plane pa is stored."""
    U = Fw // 2 + 1
    nf = U * Fh
    half = out_r[:0].sum() + 0.5   # 0.5 in the data's dtype
    pb = pa + 1
    tr = np.empty_like(zr)
    ti = np.empty_like(zi)
    if _fft2_pair(zr, zi, tr, ti, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, Fh):
        zr = tr
        zi = ti
    # separate: X_a = (S + conj(S~)) / 2, X_b = (S - conj(S~)) / 2i, S~[u, v] = S[-u, -v]
    for u in range(U):
        um = Fw - u if u > 0 else 0
        for v in range(Fh):
            vm = Fh - v if v > 0 else 0   # (Fh - v) % Fh without a division
            sr = zr[u * Fh + v]
            si = zi[u * Fh + v]
            cr = zr[um * Fh + vm]
            ci = -zi[um * Fh + vm]
            o = u * Fh + v
            out_r[pa * nf + o] = half * (sr + cr)
            out_i[pa * nf + o] = half * (si + ci)
            if has_b:
                out_r[pb * nf + o] = half * (si - ci)
                out_i[pb * nf + o] = -half * (sr - cr)


@njit(parallel=True, cache=True)
def fft_real_planes(src, nplanes, rows, cols, row0, col0, rstep, cstep, Fh, Fw, fh, twh_r,
                    twh_i, fw, tww_r, tww_i, out_r, out_i):
    """Half spectra of nplanes real planes (the kernels): plane p is src[p*rows*cols ...]
    (rows, cols), placed at (row0 + i*rstep, col0 + j*cstep) of a zero (Fh, Fw) grid
    (rstep, cstep > 1 dilate a kernel); layout of out_* as _half_spectra_pair's."""
    F = Fh * Fw
    for pp in prange((nplanes + 1) // 2):
        zr = np.zeros(F, dtype=src.dtype)
        zi = np.zeros(F, dtype=src.dtype)
        pa = 2 * pp
        pb = pa + 1
        for i in range(rows):
            for j in range(cols):
                zr[(row0 + i * rstep) * Fw + col0 + j * cstep] = src[(pa * rows + i) * cols + j]
        if pb < nplanes:
            for i in range(rows):
                for j in range(cols):
                    zi[(row0 + i * rstep) * Fw + col0 + j * cstep] = \
                        src[(pb * rows + i) * cols + j]
        _half_spectra_pair(zr, zi, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, pa,
                           pb < nplanes, out_r, out_i)


@njit(parallel=True, cache=True)
def fft_input_planes(x, n, c_in, h, w, tiles_h, tiles_w, step_h, step_w, pad_t, pad_l, Fh, Fw,
                     fh, twh_r, twh_i, fw, tww_r, tww_i, out_r, out_i):
    """Half spectra of the overlap-save input tiles, read straight from x (n, c_in, h, w):
    plane (tile * c_in + ci), tiles ordered (image, tile row, tile column), is the (Fh, Fw)
    window of the zero-padded input at (ti * step_h - pad_t, tj * step_w - pad_l) in x's
    coordinates; what falls outside x is zero. No padded copy or tile array is made (they
    cost 0.3-0.5 ms of a 15 x 15 filter call)."""
    F = Fh * Fw
    nplanes = n * tiles_h * tiles_w * c_in
    for pp in prange((nplanes + 1) // 2):
        zr = np.zeros(F, dtype=x.dtype)
        zi = np.zeros(F, dtype=x.dtype)
        pa = 2 * pp
        for q in range(2):
            pl = pa + q
            if pl >= nplanes:
                break
            z = zr if q == 0 else zi
            ni, ti_, tj, ci = _plane_tile(pl, c_in, tiles_h, tiles_w)
            r0 = ti_ * step_h - pad_t
            c0 = tj * step_w - pad_l
            j_lo = max(0, -c0)
            j_hi = min(Fw, w - c0)
            for i in range(max(0, -r0), min(Fh, h - r0)):
                xo = ((ni * c_in + ci) * h + r0 + i) * w + c0
                if j_hi > j_lo:
                    z[i * Fw + j_lo:i * Fw + j_hi] = x[xo + j_lo:xo + j_hi]
        _half_spectra_pair(zr, zi, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, pa,
                           pa + 1 < nplanes, out_r, out_i)


@njit(parallel=True, cache=True, fastmath={"contract"})
def fft_contract(xr, xi, wr, wi, yr, yi, n, c_in, c_out, groups, nf):
    """Y[n, k, f] = sum_ci X[n, g*cg + ci, f] * conj(W[k, ci, f]) over frequency chunks of 128
    and blocks of 4 output channels (X loaded once per 4 channels). One job is a (channel
    block, frequency chunk) for every image (overlap-save tile), so that its W chunk is read
    from memory once and stays in cache for all the tiles."""
    cg = c_in // groups
    kg = c_out // groups
    FB = 128
    nfb = (nf + FB - 1) // FB
    nkb = (c_out + 3) // 4
    for t in prange(nkb * nfb):
        fb = t % nfb
        kb = t // nfb
        f0 = fb * FB
        f1 = min(nf, f0 + FB)
        nfc = f1 - f0
        for ni in range(n):
            for k in range(kb * 4, min(c_out, kb * 4 + 4)):
                gi = k // kg
                yo = (ni * c_out + k) * nf
                ykr = yr[yo + f0:yo + f1]
                yki = yi[yo + f0:yo + f1]
                ykr[:] = 0.0
                yki[:] = 0.0
                for ci in range(cg):
                    xo = (ni * c_in + gi * cg + ci) * nf
                    wo_ = (k * cg + ci) * nf
                    xcr = xr[xo + f0:xo + f1]
                    xci = xi[xo + f0:xo + f1]
                    wcr = wr[wo_ + f0:wo_ + f1]
                    wci = wi[wo_ + f0:wo_ + f1]
                    for f in range(nfc):
                        ar = xcr[f]
                        ai = xci[f]
                        br = wcr[f]
                        bi = wci[f]
                        ykr[f] += ar * br + ai * bi
                        yki[f] += ai * br - ar * bi


@njit(parallel=True, cache=True)
def ifft_real_planes(sr, si, nplanes, Fh, Fw, fh, twh_r, twh_i, fw, tww_r, tww_i, y, c_out,
                     ho, wo, sh, sw, bias, tiles_h, tiles_w, h_out, w_out):
    """Inverse of the half spectra sr/si (plane = (tile * c_out + k), tiles ordered (n,
    tile row, tile column)) into y (n, c_out, h_out, w_out): tile (ti, tj) of y is
    ifft2(S)[oh*sh, ow*sw] + bias[k] for its (ho, wo) outputs, cut at y's edges."""
    U = Fw // 2 + 1
    F = Fh * Fw
    nf = U * Fh
    scale = 1.0 / F
    xs = min(Fw, (wo - 1) * sw + 1)   # the columns x = j * sw the outputs read
    for pp in prange((nplanes + 1) // 2):
        zr = np.empty(F, dtype=y.dtype)
        zi = np.empty(F, dtype=y.dtype)
        tr = np.empty(F, dtype=y.dtype)
        ti = np.empty(F, dtype=y.dtype)
        pa = 2 * pp
        pb = pa + 1
        # a lone last plane pairs with itself, its copy zeroed (no per-element branch)
        bw = 1.0 if pb < nplanes else 0.0
        ob = pb * nf if pb < nplanes else pa * nf
        oa = pa * nf
        # Z = Ya + i Yb on the full (Fw, Fh) grid, the upper half from Hermitian symmetry
        for u in range(U):
            ar = sr[oa + u * Fh:oa + (u + 1) * Fh]
            ai = si[oa + u * Fh:oa + (u + 1) * Fh]
            br = sr[ob + u * Fh:ob + (u + 1) * Fh]
            bi = si[ob + u * Fh:ob + (u + 1) * Fh]
            zur = zr[u * Fh:(u + 1) * Fh]
            zui = zi[u * Fh:(u + 1) * Fh]
            for v in range(Fh):
                zur[v] = ar[v] - bw * bi[v]
                zui[v] = ai[v] + bw * br[v]
        for u in range(U, Fw):
            src = (Fw - u) * Fh
            zr[u * Fh] = sr[oa + src] + bw * si[ob + src]
            zi[u * Fh] = -si[oa + src] + bw * sr[ob + src]
            # v >= 1 reads index Fh - v: a reversed run without the v = 0 branch, which LLVM
            # vectorises (reversed loads); the branch kept the loop scalar
            ar = sr[oa + src:oa + src + Fh]
            ai = si[oa + src:oa + src + Fh]
            br = sr[ob + src:ob + src + Fh]
            bi = si[ob + src:ob + src + Fh]
            zur = zr[u * Fh:(u + 1) * Fh]
            zui = zi[u * Fh:(u + 1) * Fh]
            for v in range(1, Fh):
                zur[v] = ar[Fh - v] + bw * bi[Fh - v]
                zui[v] = -ai[Fh - v] + bw * br[Fh - v]
        # The inverse runs the same two passes with the axes swapped: (Fw, Fh) -> (Fh, xs),
        # the second pass only on the xs columns the tile's outputs read
        if _fft2_pair(zr, zi, tr, ti, Fw, Fh, fw, tww_r, tww_i, fh, twh_r, twh_i, xs):
            zr, tr = tr, zr
            zi, ti = ti, zi
        for q in range(2):
            pl = pa + q
            if pl >= nplanes:
                break
            z = zr if q == 0 else zi
            ni, tii, tj, k = _plane_tile(pl, c_out, tiles_h, tiles_w)
            bv = bias[k]
            for i in range(min(ho, h_out - tii * ho)):
                yo = ((ni * c_out + k) * h_out + tii * ho + i) * w_out + tj * wo
                yrow = y[yo:yo + min(wo, w_out - tj * wo)]
                if sw == 1:   # a contiguous row: vector loads (a gather for other strides)
                    zrow = z[(i * sh) * xs:(i * sh) * xs + yrow.size]
                    for j in range(yrow.size):
                        yrow[j] = zrow[j] * scale + bv
                else:
                    for j in range(yrow.size):
                        yrow[j] = z[(i * sh) * xs + j * sw] * scale + bv


@njit(parallel=True, cache=True, fastmath={"contract"})
def dft_kernel_planes(src, nplanes, kh, kw, dh, dw, Fh, Fw, twh_r, twh_i, tww_r, tww_i, out_r,
                      out_i):
    """Half spectra of small kernels by a separable direct DFT (same layout as
    fft_real_planes): A[s, v] = sum_r w[r, s] e^(-2 pi i v r dh / Fh), then
    W[u, v] = sum_s A[s, v] e^(-2 pi i u s dw / Fw); (kh + U) kw Fh complex multiply-adds per
    plane instead of a full Fh x Fw transform of a grid that is almost all zeros."""
    U = Fw // 2 + 1
    # e^(-2 pi i v r dh / Fh) for every (r, v), shared by all planes
    rr = np.empty(kh * Fh, dtype=out_r.dtype)
    ri = np.empty(kh * Fh, dtype=out_r.dtype)
    for r in range(kh):
        for v in range(Fh):
            e = (v * r * dh) % Fh
            rr[r * Fh + v] = twh_r[e]
            ri[r * Fh + v] = twh_i[e]
    for pl in prange(nplanes):
        ar = np.zeros(kw * Fh, dtype=out_r.dtype)
        ai = np.zeros(kw * Fh, dtype=out_r.dtype)
        for s in range(kw):
            asr = ar[s * Fh:(s + 1) * Fh]
            asi = ai[s * Fh:(s + 1) * Fh]
            for r in range(kh):
                wv = src[(pl * kh + r) * kw + s]
                trr = rr[r * Fh:(r + 1) * Fh]
                tri = ri[r * Fh:(r + 1) * Fh]
                for v in range(Fh):
                    asr[v] += wv * trr[v]
                    asi[v] += wv * tri[v]
        for u in range(U):
            o = (pl * U + u) * Fh
            orow = out_r[o:o + Fh]
            oiow = out_i[o:o + Fh]
            orow[:] = 0.0
            oiow[:] = 0.0
            for s in range(kw):
                e = (u * s * dw) % Fw
                c = tww_r[e]
                d = tww_i[e]
                asr = ar[s * Fh:(s + 1) * Fh]
                asi = ai[s * Fh:(s + 1) * Fh]
                for v in range(Fh):
                    xr = asr[v]
                    xi = asi[v]
                    orow[v] += xr * c - xi * d
                    oiow[v] += xr * d + xi * c


def kernel_by_dft(problem: ConvProblem, fh: int, fw: int) -> bool:
    """Separable DFT of the kernels when it costs less than a pair-packed 2-D FFT (rough
    operation counts: (kh + U) kw Fh multiply-adds vs Fh Fw log2(Fh Fw) / 2)."""
    p = problem
    dft = (p.kh + fw // 2 + 1) * p.kw * fh
    fft = 0.5 * fh * fw * np.log2(max(2, fh * fw))
    return dft <= fft


@functools.lru_cache(maxsize=64)
def _twiddles(n: int, sign: float, dtype) -> tuple[np.ndarray, np.ndarray]:
    """w_n^k = e^(sign 2 pi i k / n), k < n, as (cos, sin) arrays; cached (the kernels only
    read them), so a call does not recompute them."""
    k = np.arange(n)
    ang = sign * 2.0 * np.pi * k / n
    return np.cos(ang).astype(dtype), np.sin(ang).astype(dtype)


def run_fft(problem: ConvProblem, x, w, bias, y, tiling: Optional[FFTTiling] = None) -> None:
    """fft:numba with the cost model's tiling, or ``tiling`` (tests force many tiles)."""
    set_threads()
    p = problem
    dt = p.np_dtype
    t = fft_tiling(p) if tiling is None else tiling
    Fh, Fw = t.fft_h, t.fft_w
    fh, fw = fft_factors(Fh), fft_factors(Fw)
    thr, thi = _twiddles(Fh, -1.0, dt)
    twr, twi = _twiddles(Fw, -1.0, dt)
    nf = (Fw // 2 + 1) * Fh
    nb = p.n * t.tiles_h * t.tiles_w     # tiles are images of the per-frequency contraction
    wc = _flat(w, dt)
    npx = nb * p.c_in
    npw = p.c_out * p.c_in_per_group
    npy = nb * p.c_out
    xs_r, xs_i, ws_r, ws_i, ys_r, ys_i = workspace.scratch_arrays(
        dt, npx * nf, npx * nf, npw * nf, npw * nf, npy * nf, npy * nf)
    out, copy = _out_buffer(y)
    with slp_vectorize():
        fft_input_planes(_flat(x, dt), p.n, p.c_in, p.h, p.w, t.tiles_h, t.tiles_w,
                         t.tile_ho * p.stride[0], t.tile_wo * p.stride[1], p.padding[0],
                         p.padding[2], Fh, Fw, fh, thr, thi, fw, twr, twi, xs_r, xs_i)
        if kernel_by_dft(p, Fh, Fw):
            dft_kernel_planes(wc, npw, p.kh, p.kw, p.dilation[0], p.dilation[1], Fh, Fw, thr,
                              thi, twr, twi, ws_r, ws_i)
        else:
            fft_real_planes(wc, npw, p.kh, p.kw, 0, 0, p.dilation[0], p.dilation[1], Fh, Fw,
                            fh, thr, thi, fw, twr, twi, ws_r, ws_i)
        fft_contract(xs_r, xs_i, ws_r, ws_i, ys_r, ys_i, nb, p.c_in, p.c_out, p.groups, nf)
        ifft_real_planes(ys_r, ys_i, npy, Fh, Fw, fh, thr, -thi, fw, twr, -twi, out,
                         p.c_out, t.tile_ho, t.tile_wo, p.stride[0], p.stride[1],
                         _bias(p, bias), t.tiles_h, t.tiles_w, p.h_out, p.w_out)
    if copy:
        y[...] = out.reshape(y.shape)


# ---- cache status ------------------------------------------------------------------------
# The kernels a call may compile; the microkernels and FFT helpers are compiled into them.
KERNELS = (direct_igemm, direct_rows, im2col_pack, im2col_gemm, fft_input_planes,
           fft_real_planes, dft_kernel_planes, fft_contract, ifft_real_planes)


def numba_cache_status() -> str:
    """Whether Numba's on-disk cache holds compiled code for this module's kernels, e.g.
    "warm: 6/6 kernels, 12 signatures in /path" or "cold: 0/6 kernels ...". A cold cache
    means the first call of each kernel and dtype compiles (seconds to a minute)."""
    warm = sigs = 0
    where = "?"
    for kernel in KERNELS:
        try:
            cache = kernel._cache
            where = cache._cache_path
            entries = len(cache._cache_file._load_index())  # {} when absent or stale
        except Exception:  # private Numba API: report unknown rather than fail `info`
            return "unknown (this Numba's cache layout is not the one expected)"
        warm += entries > 0
        sigs += entries
    state = "warm" if warm == len(KERNELS) else ("partly warm" if warm else "cold")
    return f"{state}: {warm}/{len(KERNELS)} kernels, {sigs} signatures cached in {where}"
