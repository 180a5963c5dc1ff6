"""The heuristic cost model: analytic work counts per algorithm times constants fitted per
(algo, backend) on this machine.

An estimate is a dot product: ``seconds = sum(coefficient[f] * feature[f])`` over the features
of the implementation's algorithm (FLOP-like counts, element counts that stand for bytes moved,
and ``call`` = 1 for the per-call overhead). The feature functions below are the only code; the
coefficients live in fastconv/cost_constants.py, written by ``bench/fit_cost.py`` with the date,
machine and command beside them, or, after ``fastconv tune --machine``, in the tuning file,
fitted the same way (fastconv.cost_fit) on this machine. A new implementation therefore needs
constants, not code: an ``algo:backend`` pair without fitted constants gets CONSERVATIVE
(slower than anything fitted), so it is chosen automatically only where nothing else can run,
until the next fit.

Accuracy guards come before costs (scipy's choose_conv_method does the same): under algo="auto"
an algorithm outside its guard is rejected with the reason, whatever its estimate. An explicit
``algo=`` request bypasses the guards.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

from . import machine_params
from .problem import ConvProblem

# The GEMM microkernel's register tile (gemm_ukernel_avx2.c: 6 rows x 16 columns); padding the
# GEMM to it counts the multiply-adds the microkernel really issues on ragged edges.
GEMM_TILE_M, GEMM_TILE_N = 6, 16
# Winograd's output tile side where the C kernel's rule cannot be asked (no extension built):
# F(4x4, 3x3), 6x6 input tiles.
WINOGRAD_OUT_TILE = 4
# winograd:c's vector length in float32 lanes on the ISA the constants were fitted with (AVX2).
WINOGRAD_LANES = 8


def _out_elems(p: ConvProblem) -> float:
    return float(p.n * p.c_out * p.h_out * p.w_out)


def _in_elems(p: ConvProblem) -> float:
    return float(p.n * p.c_in * p.h * p.w)


def _padded(size: int, tile: int) -> int:
    return -(-size // tile) * tile


def direct_features(p: ConvProblem, backend: str) -> dict[str, float]:
    """Direct loops: every multiply-add, split by kind because the kernels vectorise dense,
    depthwise and 1-D problems differently; outputs and inputs stand for the bytes moved."""
    macs = float(p.macs)
    depthwise = p.c_in_per_group == 1
    return {"call": 1.0,
            "mac": macs if not depthwise else 0.0,
            "mac_dw": macs if depthwise else 0.0,
            "mac_1d": macs if p.spatial_dims == 1 else 0.0,
            "out": _out_elems(p), "in": _in_elems(p)}


def _gemm_columns(n: int) -> int:
    """Columns the GEMM computes for n: whole NR-wide panels, except that a last panel of at
    most NR/4 columns goes to the dot kernel at its real width (gemm_driver.h)."""
    full = n // GEMM_TILE_N * GEMM_TILE_N
    rest = n - full
    return full + (rest if rest <= GEMM_TILE_N // 4 else GEMM_TILE_N)


def im2col_features(p: ConvProblem, backend: str) -> dict[str, float]:
    """Lowering + one GEMM per (image, group): C_out/g x (H_out W_out) x (C_in/g kH kW). The
    GEMM's multiply-adds are counted padded to the microkernel tile (rows; columns as
    _gemm_columns says); the lowered matrix is written once and read once (none for a
    pointwise problem, whose input is the operand)."""
    k = p.c_in_per_group * p.kh * p.kw
    pixels = p.h_out * p.w_out
    gemms = p.n * p.groups
    padded = float(gemms * _padded(p.c_out_per_group, GEMM_TILE_M) * k
                   * _gemm_columns(pixels))
    lowered = 0.0 if p.is_pointwise else float(gemms * k * pixels)
    return {"call": 1.0, "mac_padded": padded, "lowered": lowered, "gemms": float(gemms),
            "out": _out_elems(p), "in": _in_elems(p)}


def fft_geometry(p: ConvProblem, backend: str) -> tuple[int, int, int]:
    """(points per transform, transforms per image plane, log2 of the transform size).

    Both fft kernels transform overlap-save tiles whose sizes their own planners pick: fft:c
    in C (asked for here, a cached call), fft:numba in numba_fft_rules.fft_tiling."""
    from .backends import numba_fft_rules
    hp = p.h + p.padding[0] + p.padding[1]
    wp = p.w + p.padding[2] + p.padding[3]
    keff_h = p.dilation[0] * (p.kh - 1) + 1
    keff_w = p.dilation[1] * (p.kw - 1) + 1
    if backend == "c" and p.n > 0:
        from .backends import c as c_backend
        try:
            th, tw = c_backend.fft_tiles(p)
        except (RuntimeError, NotImplementedError, ImportError):  # no plan: numba's tiling
            pass
        else:
            valid_h, valid_w = max(th - keff_h + 1, 1), max(tw - keff_w + 1, 1)
            tiles = -(-(hp - keff_h + 1) // valid_h) * -(-(wp - keff_w + 1) // valid_w)
            return th * tw, tiles, max(math.log2(th * tw), 1.0)
    t = numba_fft_rules.fft_tiling(p)
    points = t.fft_h * t.fft_w
    return points, t.tiles_h * t.tiles_w, max(math.log2(points), 1.0)


def fft_features(p: ConvProblem, backend: str) -> dict[str, float]:
    """Forward transforms of every input plane, the complex contraction over input channels,
    inverse transforms of every output plane; plus the element traffic; ``kernel_fft_flop``:
    the kernel planes' transforms (a plan makes them once)."""
    points, tiles, log_n = fft_geometry(p, backend)
    data_planes = p.n * (p.c_in + p.c_out) * tiles
    kernel_planes = p.c_out * p.c_in_per_group
    return {"call": 1.0,
            "fft_flop": float(data_planes * points * log_n),
            "kernel_fft_flop": float(kernel_planes * points * log_n),
            "fft_mac": float(p.n * p.c_out * p.c_in_per_group * tiles * points) / 2,
            "out": _out_elems(p), "in": _in_elems(p)}


def winograd_tile(p: ConvProblem, backend: str) -> int:
    """The output tile side the kernel uses: winograd:c's rule decides per problem (asked
    through a cached call, as fft_geometry asks fft:c's planner)."""
    if backend == "c" and p.n > 0:
        from .backends import c as c_backend
        try:
            return c_backend.winograd_tile(p)
        except (RuntimeError, NotImplementedError, ImportError):
            pass
    return WINOGRAD_OUT_TILE


def winograd_features(p: ConvProblem, backend: str) -> dict[str, float]:
    """F(m x m, 3x3): (m + 2)^2 multiply-adds per (tile, input channel, output channel) instead
    of 9 m^2 (F(4x4): 36 instead of 144), plus the input, kernel and output transforms. Per
    group, winograd:c pads input channels to a vector and output channels to two (its
    microkernel's columns), so a depthwise problem (one channel per group) does 8 x 16 times
    the useful work; and each group is its own pass of three barrier-separated stages
    ("groups"). ``kernel_transform``: the weights' transform (a plan makes it once)."""
    m = winograd_tile(p, backend)
    tiles = p.n * -(-p.h_out // m) * -(-p.w_out // m)
    points = (m + 2) ** 2
    cpad = _padded(p.c_in_per_group, WINOGRAD_LANES)
    kpad = _padded(p.c_out_per_group, 2 * WINOGRAD_LANES)
    return {"call": 1.0,
            "mac": float(tiles * points * p.groups * cpad * kpad),
            "transform": float(points * p.groups * tiles * (cpad + kpad)),
            "kernel_transform": float(points * p.groups * cpad * kpad),
            "groups": float(p.groups),
            "out": _out_elems(p), "in": _in_elems(p)}


def generic_features(p: ConvProblem, backend: str) -> dict[str, float]:
    """Any other algorithm (the reference, ones added later): the direct multiply-adds."""
    return {"call": 1.0, "mac": float(p.macs), "out": _out_elems(p)}


# The features that count the weights' own transform, which a plan made with its weights pays
# once (fastconv.plan: the implementation's prepare hook) instead of per call. direct:c's
# weight packing has none: a feature for it (weight elements of the channel-blocked kernel)
# made the fitted model's per-call choices worse (regret 1.034 -> 1.069 on one timing table).
WEIGHT_FEATURES: dict[str, tuple[str, ...]] = {
    "fft": ("kernel_fft_flop",), "winograd": ("kernel_transform",),
}

FEATURES: dict[str, Callable[[ConvProblem, str], dict[str, float]]] = {
    "direct": direct_features, "im2col": im2col_features, "fft": fft_features,
    "winograd": winograd_features,
}

# Coefficients for a pair that was never fitted: 1 ms per call and 0.5 GMAC/s on the direct
# count, slower than every fitted CPU implementation (the NumPy reference runs ~1 GMAC/s), so an
# unfitted pair is a last resort rather than a gamble.
CONSERVATIVE = {"call": 1e-3, "mac": 2e-9, "mac_padded": 2e-9, "mac_dw": 2e-9,
                "fft_mac": 2e-9, "out": 1e-8}


def features(problem: ConvProblem, algo: str, backend: str) -> dict[str, float]:
    return FEATURES.get(algo, generic_features)(problem, backend)


def builtin_constants(name: str) -> tuple[dict[str, float], bool]:
    """(coefficients, fitted?) of implementation ``name`` ("algo:backend") from
    fastconv/cost_constants.py, CONSERVATIVE for a pair never fitted."""
    from .cost_constants import CONSTANTS
    fitted = CONSTANTS.get(name)
    return (fitted, True) if fitted else (CONSERVATIVE, False)


def constants(name: str) -> tuple[dict[str, float], bool]:
    """(coefficients, fitted?) the dispatcher uses for ``name``: this machine's, fitted by
    ``fastconv tune --machine`` (fastconv.machine_params), where the tuning file has them;
    otherwise the built-in ones."""
    tuned = machine_params.tuned_cost(name)
    return (tuned, True) if tuned else builtin_constants(name)


def estimate_with(coefficients: dict[str, float], fitted: bool, problem: ConvProblem,
                  algo: str, backend: str, prepared: bool = False) -> float:
    """Seconds of one call of ``algo:backend`` on ``problem`` under ``coefficients``
    (``prepared``: the weights' transform already made, WEIGHT_FEATURES left out); an unfitted
    pair's conservative rates apply to the direct count whatever its features."""
    feats = features(problem, algo, backend) if fitted else generic_features(problem, backend)
    skip = WEIGHT_FEATURES.get(algo, ()) if prepared else ()
    return sum(coefficients.get(f, 0.0) * value for f, value in feats.items() if f not in skip)


def estimate(problem: ConvProblem, algo: str, backend: str, prepared: bool = False) -> float:
    """Estimated seconds of one call of ``algo:backend`` on ``problem``; ``prepared``: by a
    plan holding the implementation's prepared weights."""
    return estimate_with(*constants(f"{algo}:{backend}"), problem, algo, backend, prepared)


# ---- accuracy guards (algo="auto" only) ------------------------------------------------------
def winograd_guard(p: ConvProblem) -> Optional[str]:
    """Winograd's transforms amplify rounding error (more for larger tiles and float inputs
    far from unit scale); F(4x4, 3x3) stays within testing.TOLERANCES only for the 3x3,
    stride 1, undilated float32 case it is built for."""
    if (p.kh, p.kw) != (3, 3) or p.stride != (1, 1) or p.dilation != (1, 1) \
            or p.dtype != "float32":
        return ("accuracy guard: algo='auto' uses winograd only for float32 3x3 stride-1 "
                "undilated problems (ask for algo='winograd' explicitly)")
    return None


# fft's error grows like u * log2(transform size) relative to the largest term; at the sizes
# the planner picks (<= 2**20 points) that is within testing's fft tolerance for both dtypes,
# which the oracle tests check over every catalog, so fft has no guard beyond supports().
ACCURACY_GUARDS: dict[str, Callable[[ConvProblem], Optional[str]]] = {
    "winograd": winograd_guard,
}


def guard(problem: ConvProblem, algo: str) -> Optional[str]:
    """Why algo="auto" must not pick ``algo`` for ``problem`` (None when it may)."""
    check = ACCURACY_GUARDS.get(algo)
    return check(problem) if check else None
