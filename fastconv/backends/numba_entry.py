"""Lazy entry points of the Numba CPU backend: importing fastconv never imports Numba; the
kernels module (numba_cpu.py) is imported on the first call of a numba implementation."""
from __future__ import annotations

from typing import Optional

from ..problem import ConvProblem


def run_direct(problem, x, w, bias, y):
    from . import numba_cpu
    numba_cpu.run_direct(problem, x, w, bias, y)


def run_im2col(problem, x, w, bias, y):
    from . import numba_cpu
    numba_cpu.run_im2col(problem, x, w, bias, y)


def run_fft(problem, x, w, bias, y):
    from . import numba_cpu
    numba_cpu.run_fft(problem, x, w, bias, y)


def supports_fft(problem: ConvProblem) -> Optional[str]:
    from .numba_fft_rules import fft_rejection
    return fft_rejection(problem)
