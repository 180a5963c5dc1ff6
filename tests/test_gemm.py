"""fastconv's GEMM (csrc/gemm*.c) against NumPy float64, with sizes generated from the tile.

For every ISA this machine can run (the portable one always) and both dtypes, m, n and k go
below, to, above and to multiples of the microkernel tile (MR, NR) and the k block (KC), read
from C (``gemm_blocking``), so a new microkernel is tested by what it declares. Operands come
strided, transposed and reversed; beta == 0 must not read C (it is NaN-poisoned); the narrow
last panels (dot kernels), the packed-A and in-place-A paths, the NC/MC blocks and the
thread grid all get sizes that reach them.
"""
import numpy as np
import pytest

from fastconv.backends import c as cb

pytestmark = pytest.mark.skipif(cb.unavailable_reason() is not None,
                                reason=str(cb.unavailable_reason()))

DTYPES = (np.float32, np.float64)
# Bounds on ||C - C_ref||_F / || |A| |B| ||_F, the normwise form of the classical GEMM error
# bound |C - C_ref| <= k eps |A| |B| (Higham, ch. 3): unlike ||C - C_ref|| / ||C_ref||, it does
# not blow up when an entry of C cancels (m = n = 1 is one dot product). Observed ~1e-7 and
# ~2e-16 at the k <= ~600 used here.
TOL = {np.float32: 2e-6, np.float64: 1e-12}


def around(t: int) -> list[int]:
    """Sizes below, at, above and at multiples of a tile dimension t."""
    return sorted({v for v in (1, t - 1, t, t + 1, 2 * t, 3 * t + 1) if v >= 1})


def rel_err(got, want, a, b, extra=0.0) -> float:
    """||got - want|| / || |a| |b| || (+ extra: the norm of any beta * C term in want)."""
    want = np.asarray(want, dtype=np.float64)
    scale = np.linalg.norm(np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)) + extra
    return float(np.linalg.norm(np.asarray(got, np.float64) - want) / (scale if scale else 1))


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tile_sizes(isa, dtype):
    blk = cb.gemm_blocking(isa, dtype)
    mr, nr, kc = blk["mr"], blk["nr"], blk["kc"]
    rng = np.random.default_rng(0)
    ms = around(mr)
    ns = sorted(set(around(nr)) | {max(1, nr // 4), nr // 4 + 1, nr + nr // 4, 3 * nr + 1})
    ks = [1, kc - 1, kc, kc + 1, 2 * kc + 3]
    for k in ks:
        a_full = rand(rng, (max(ms), k), dtype)
        b_full = rand(rng, (k, max(ns)), dtype)
        for m in ms:
            for n in ns:
                a, b = a_full[:m], b_full[:, :n]
                c = np.full((m, n), np.nan, dtype)
                cb.gemm(a, b, out=c, nthreads=1)
                err = rel_err(c, a.astype(np.float64) @ b, a, b)
                assert err <= TOL[dtype], (isa, m, n, k, err)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("nthreads", [1, 2, 3])
def test_blocks_and_threads(isa, dtype, nthreads):
    """m past MC and n past NC (packed A, several jc blocks), small n (A read in place, a
    narrow last panel), k past KC; each with 1..3 threads."""
    blk = cb.gemm_blocking(isa, dtype)
    rng = np.random.default_rng(1)
    shapes = [(blk["mc"] + blk["mr"] + 1, 5, blk["nc"] + blk["nr"] + 3),
              (2 * blk["mc"] + 1, blk["kc"] + 7, 3 * blk["nr"] + 1),
              (13, 2 * blk["kc"] + 1, 1100),
              (200, 300, 49)]
    for m, k, n in shapes:
        a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
        c = np.full((m, n), np.nan, dtype)
        cb.gemm(a, b, out=c, nthreads=nthreads)
        assert rel_err(c, a.astype(np.float64) @ b, a, b) <= TOL[dtype], (isa, m, k, n)


def strided_views(rng, dtype, m, n, k):
    """(name, a, b) pairs of the same logical operands in different memory layouts."""
    a = rand(rng, (m, k), dtype)
    b = rand(rng, (k, n), dtype)
    a_big = np.zeros((2 * m, 3 * k), dtype)
    a_big[::2, ::3] = a
    b_big = np.zeros((3 * k, 2 * n), dtype)
    b_big[::3, ::2] = b
    return [
        ("contiguous", a, b),
        ("transposed", np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T),
        ("strided", a_big[::2, ::3], b_big[::3, ::2]),
        ("reversed", np.ascontiguousarray(a[::-1, ::-1])[::-1, ::-1],
         np.ascontiguousarray(b[:, ::-1])[:, ::-1]),
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("mnk", [(7, 33, 19), (37, 70, 300), (64, 1030, 20)],
                         ids=lambda s: "x".join(map(str, s)))
def test_strided_operands(isa, dtype, mnk):
    m, n, k = mnk
    rng = np.random.default_rng(2)
    views = strided_views(rng, dtype, m, n, k)
    _, a0, b0 = views[0]
    want = a0.astype(np.float64) @ b0.astype(np.float64)
    for name, a, b in views:
        assert np.array_equal(a, a0) and np.array_equal(b, b0)
        outs = {"c": np.full((m, n), np.nan, dtype),
                "c-colmajor": np.full((n, m), np.nan, dtype).T,
                "c-strided": np.full((2 * m, 3 * n), np.nan, dtype)[::2, ::3],
                "c-reversed": np.full((m, n), np.nan, dtype)[::-1]}
        for cname, c in outs.items():
            cb.gemm(a, b, out=c, nthreads=2)
            assert rel_err(c, want, a0, b0) <= TOL[dtype], (isa, name, cname)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_beta(isa, dtype):
    rng = np.random.default_rng(3)
    blk = cb.gemm_blocking(isa, dtype)
    m, n, k = 2 * blk["mr"] + 1, blk["nr"] + 3, blk["kc"] + 5  # two k blocks: beta once
    a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
    c0 = rand(rng, (m, n), dtype)
    prod = a.astype(np.float64) @ b
    for alpha, beta in [(1.0, 1.0), (0.5, -2.0), (-3.0, 0.0), (0.0, 1.5)]:
        c = c0.copy()
        cb.gemm(a, b, out=c, alpha=alpha, beta=beta)
        want = alpha * prod + beta * c0.astype(np.float64)
        scaled = rel_err(c, want, abs(alpha) * a, b, abs(beta) * np.linalg.norm(c0))
        assert scaled <= TOL[dtype], (alpha, beta, scaled)
    # beta == 0 never reads C: NaN and Inf in it must not propagate
    c = np.full((m, n), np.nan, dtype)
    c[0, 0] = np.inf
    cb.gemm(a, b, out=c, alpha=2.0, beta=0.0)
    assert np.isfinite(c).all()
    assert rel_err(c, 2 * prod, 2 * a, b) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_degenerate_sizes(dtype):
    rng = np.random.default_rng(4)
    c = rand(rng, (3, 4), dtype)
    want = 2 * c.astype(np.float64)
    cb.gemm(np.empty((3, 0), dtype), np.empty((0, 4), dtype), out=c, beta=2.0)  # k == 0
    assert np.array_equal(c, want)
    c = np.full((3, 4), np.nan, dtype)
    cb.gemm(np.empty((3, 0), dtype), np.empty((0, 4), dtype), out=c)
    assert (c == 0).all()
    assert cb.gemm(np.empty((0, 5), dtype), np.empty((5, 4), dtype)).shape == (0, 4)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_microkernel(isa, dtype):
    """One microkernel call on packed panels: every m <= MR, n <= NR edge, k around KC."""
    blk = cb.gemm_blocking(isa, dtype)
    mr, nr, kc = blk["mr"], blk["nr"], blk["kc"]
    rng = np.random.default_rng(5)
    # the assembly k loops run 4 steps per iteration and a remainder loop: every k mod 4
    for k in (0, 1, 2, 3, 4, 5, 6, 7, kc + 1):
        ap, bp = rand(rng, (k, mr), dtype), rand(rng, (k, nr), dtype)
        full = ap.T.astype(np.float64) @ bp  # (MR, NR)
        abs_full = np.abs(ap.T).astype(np.float64) @ np.abs(bp)
        for m in sorted({1, mr - 1, mr}):
            for n in sorted({1, max(1, nr // 4), nr - 1, nr}):
                c = np.full((m, n), np.nan, dtype)
                cb.gemm_ukernel(isa, ap, bp, c, alpha=1.0, beta=0.0)
                bound = np.linalg.norm(abs_full[:m, :n]) or 1.0
                assert np.linalg.norm(c - full[:m, :n]) / bound <= TOL[dtype], (isa, k, m, n)
                c0 = rand(rng, (2 * n, 3 * m), dtype).T[::3, ::2]  # strided C
                c = c0.copy()
                cb.gemm_ukernel(isa, ap, bp, c, alpha=-0.5, beta=2.0)
                want = -0.5 * full[:m, :n] + 2 * c0.astype(np.float64)
                bound = 0.5 * np.linalg.norm(abs_full[:m, :n]) + 2 * np.linalg.norm(c0)
                assert np.linalg.norm(c - want) / bound <= TOL[dtype], (isa, k, m, n)


def test_workspace_too_small():
    ffi, lib = cb._native()
    a = np.ones((8, 8), np.float32)
    c = np.empty((8, 8), np.float32)
    p = ffi.cast("float *", a.ctypes.data)
    status = lib.fc_f32_gemm(8, 8, 8, 1.0, p, 8, 1, p, 8, 1, 0.0,
                             ffi.cast("float *", c.ctypes.data), 8, 1, 1, ffi.NULL, 0)
    assert status == lib.FC_ERR_WORKSPACE_TOO_SMALL


def test_blocking_table_consistent():
    for isa in cb.ISA_NAMES:
        for dtype in DTYPES:
            blk = cb.gemm_blocking(isa, dtype)
            assert blk["mc"] % blk["mr"] == 0 and blk["nc"] % blk["nr"] == 0, (isa, blk)
            assert blk["kc"] >= 1


def test_wrapper_errors():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="inner dimensions"):
        cb.gemm(a, np.ones((5, 2), np.float32))
    with pytest.raises(TypeError):
        cb.gemm(a, np.ones((4, 2), np.float64))
    with pytest.raises(ValueError, match="beta"):
        cb.gemm(a, np.ones((4, 2), np.float32), beta=1.0)
    with pytest.raises(ValueError, match="overlap"):
        big = np.ones((4, 4), np.float32)
        cb.gemm(big, big, out=big)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("nthreads", [1, 2])
def test_skinny_products(isa, dtype, nthreads):
    """Products of at most NR/4 columns with a row-major A take the whole-row dot path
    (gemm_driver.h, skinny): every column count up to NR/4 + 1, m around its 32-row chunks
    and the dot kernel's row groups, k with a remainder, B a contiguous column or strided, C
    strided, alpha and beta; NaN in C with beta == 0 must not propagate."""
    blk = cb.gemm_blocking(isa, dtype)
    rng = np.random.default_rng(11)
    cb.set_isa(isa)
    try:
        for n in range(1, blk["nr"] // 4 + 2):
            for m, k in [(1, 17), (3, 16), (33, 100), (70, 1030)]:
                a = rand(rng, (m, k + 3), dtype)[:, 1:k + 1]  # row-major, padded rows
                b_full = rand(rng, (2 * k, 3 * n), dtype)
                for b in (b_full[:k, :n], b_full[::2, ::3]):
                    want = a.astype(np.float64) @ b
                    c = np.full((m, 2 * n), np.nan, dtype)[:, ::2]
                    cb.gemm(a, b, out=c, nthreads=nthreads)
                    assert rel_err(c, want, a, b) <= TOL[dtype], (isa, m, n, k)
                    c0 = rand(rng, (m, n), dtype)
                    c = c0.copy()
                    cb.gemm(a, b, out=c, alpha=-0.5, beta=2.0, nthreads=nthreads)
                    extra = 2.0 * np.linalg.norm(c0)
                    assert rel_err(c, -0.5 * want + 2.0 * c0, 0.5 * a, b, extra) <= \
                        TOL[dtype], (isa, m, n, k, "alpha/beta")
    finally:
        cb.set_isa(None)
