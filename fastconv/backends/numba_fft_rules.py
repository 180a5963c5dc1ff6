"""Sizes and limits of fft:numba, free of Numba so that dispatch never imports it."""
from __future__ import annotations

from typing import Optional

from ..problem import ConvProblem

MAX_SPECTRA_BYTES = 4 << 30   # the half spectra of x, weight and y held at once


def smooth_size(n: int) -> int:
    """Smallest m >= n with no prime factor above 5 (the sizes fft:numba transforms)."""
    m = max(1, n)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def fft_sizes(problem: ConvProblem) -> tuple[int, int, int, int]:
    """(padded H, padded W, FFT H, FFT W): circular correlation on a grid at least as large
    as the padded input never wraps into a valid output."""
    p = problem
    hp = p.h + p.padding[0] + p.padding[1]
    wp = p.w + p.padding[2] + p.padding[3]
    return hp, wp, smooth_size(hp), smooth_size(wp)


def spectra_bytes(problem: ConvProblem) -> int:
    p = problem
    _, _, fh, fw = fft_sizes(p)
    planes = p.n * p.c_in + p.c_out * p.c_in_per_group + p.n * p.c_out
    return planes * (fw // 2 + 1) * fh * 2 * p.np_dtype.itemsize


def fft_rejection(problem: ConvProblem) -> Optional[str]:
    need = spectra_bytes(problem)
    if need > MAX_SPECTRA_BYTES:
        return (f"fft:numba would hold {need / 2**30:.1f} GiB of spectra "
                f"(limit {MAX_SPECTRA_BYTES / 2**30:.0f} GiB)")
    return None
