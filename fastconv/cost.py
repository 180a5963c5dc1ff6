"""Which algorithm to try first for a problem: a short rule a person can read (NNPACK style).

This is the interim heuristic; the dispatcher issue replaces it with analytic FLOP/byte counts
times constants fitted on this machine. The thresholds come from the figures in
docs/performance.md (AMD EPYC Zen 4, 2 cores, 2026-11-29, `fastconv bench --quick` and the
per-kernel benches): our GEMM runs dense layers at several times the direct kernel's speed once
the reduction (C_in/groups x kH x kW) and C_out/groups are large enough to fill its 6x16 tile;
the FFT's cost does not grow with the kernel area, so it wins once the kernel has some hundred
taps.
"""
from __future__ import annotations

from .problem import ConvProblem

# Kernel taps from which the FFT beats spatial algorithms (11x11 in 2-D; 64 taps in 1-D).
FFT_MIN_TAPS_2D = 121
FFT_MIN_TAPS_1D = 64
# Reduction length and output channels per group from which im2col's GEMM beats direct loops.
GEMM_MIN_REDUCTION = 32
GEMM_MIN_C_OUT = 16
# Algorithms only an explicit algo= request selects, ranked after every other candidate:
# winograd until the dispatcher issue's cost model weighs it (issue 6).
EXPLICIT_ONLY = ("winograd",)
# Backends in order of preference for host arrays (cuda is excluded by the dispatcher).
BACKEND_ORDER = ("c", "numba", "cuda", "numpy")


def algo_order(problem: ConvProblem) -> tuple[str, ...]:
    """Algorithms from most to least promising for ``problem``."""
    taps = problem.kh * problem.kw
    fft_min = FFT_MIN_TAPS_1D if problem.spatial_dims == 1 else FFT_MIN_TAPS_2D
    if taps >= fft_min and problem.stride == (1, 1):
        return ("fft", "direct", "im2col", "reference")
    if (problem.c_in_per_group * taps >= GEMM_MIN_REDUCTION
            and problem.c_out_per_group >= GEMM_MIN_C_OUT):
        return ("im2col", "direct", "fft", "reference")
    return ("direct", "im2col", "fft", "reference")


def preference_key(problem: ConvProblem):
    """Sort key for implementations: backend first, then algorithm order for this problem."""
    order = algo_order(problem)

    def key(impl) -> tuple[int, int, int]:
        algo_rank = order.index(impl.algo) if impl.algo in order else len(order)
        return (impl.algo in EXPLICIT_ONLY, BACKEND_ORDER.index(impl.backend), algo_rank)
    return key
