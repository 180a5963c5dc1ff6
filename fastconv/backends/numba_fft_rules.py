"""Sizes and limits of fft:numba, free of Numba so that dispatch never imports it."""
from __future__ import annotations

import functools
import math
from typing import NamedTuple, Optional

from ..problem import ConvProblem

MAX_SPECTRA_BYTES = 4 << 30   # the half spectra of x, weight and y held at once
# Relative costs of the cost model (fp32, per unit below), from fft:numba's phase timings:
# a multiply-add of the contraction runs at full SIMD width with X reused across 4 channels,
# the FFT passes load and store every element per pass, and kernel spectra larger than the
# caches are written once and streamed back by the contraction of every tile.
FFT_COST = 1.0          # per (N log2 N) of one complex transform
CONTRACT_COST = 1.0     # per complex multiply-add
SPECTRA_BYTE_COST = 0.5  # per byte of kernel spectra beyond L2
PLANE_COST = 2000.0     # fixed per transformed plane (buffers, zero fill, separation pass)
MIN_FFT = 16            # shorter transforms leave the batch-axis loops too short to vectorise
# ... unless the kernel spectra at that floor pass LARGE_SPECTRA_BYTES: then they are a fresh
# allocation every call (beyond workspace.SCRATCH_KEEP) that every tile streams through, and
# transforms down to SHORT_FFT points are weighed too. Measured (2 threads, fft:numba forced
# to either tiling, interleaved with fft:c; 2026-11-29): ResNet-50 res5 downsample (2048 x
# 1024, 1x1 stride 2) 15 x 15 -> 8 x 8 transforms 685 -> 332 ms (1.9 -> 0.6 GB of spectra),
# res4 3x3 16 x 16 -> 9 x 9 37.7 -> 20.8 ms, res4 downsample 251 -> 150, res5
# 1x1_reduce_first 129 -> 74; of the twelve ResNet-50 / VGG-16 layers it moves none got
# slower beyond noise. Allowing 4-point transforms as well made res5 3x3 and VGG conv5 slower
# (73 -> 103 ms, 135 -> 169): too short for the batch loops, as above.
LARGE_SPECTRA_BYTES = 64 << 20
SHORT_FFT = 8


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


class FFTTiling(NamedTuple):
    """Overlap-save tiling: the output is cut into (tile_ho, tile_wo) tiles, each computed
    from one (fft_h, fft_w) transform of the padded input starting at (tile_ho * stride_h *
    i, tile_wo * stride_w * j); circular correlation on that grid never wraps into an output
    of the tile since (tile_ho - 1) * stride_h + (kh - 1) * dil_h < fft_h."""
    fft_h: int
    fft_w: int
    tiles_h: int
    tiles_w: int
    tile_ho: int
    tile_wo: int


def _axis_candidates(out: int, stride: int, span: int, whole: int,
                     min_fft: int = MIN_FFT) -> list[tuple[int, int, int]]:
    """(fft size, outputs per tile, tiles) for one axis: smooth sizes from the smallest that
    holds one output (and min_fft) up to the one holding the whole padded axis."""
    cands = []
    f = smooth_size(max(span, min(min_fft, whole)))
    while True:
        per = min(out, (f - span) // stride + 1)
        cands.append((f, per, -(-out // per)))
        if per >= out or f >= whole:
            break
        f = smooth_size(f + 1)
    return cands


# Relative time of one pass over the data per radix, in units where a pass of radix p
# costs log2(p) (N log2 N overall): radix-3 and radix-4 passes measure so; a radix-5 pass
# (more live values than registers, two loops over the data) measures about twice that.
PASS_COST = {2: 1.0, 3: math.log2(3), 4: 2.0, 5: 2 * math.log2(5)}


def _passes_cost(n: int) -> float:
    cost = 0.0
    for p in (4, 2, 3, 5):   # the factor order of numba_cpu.fft_factors
        while n % p == 0:
            cost += PASS_COST[p]
            n //= p
    return cost


def _transform_cost(fh: int, fw: int) -> float:
    return fh * fw * max(1.0, _passes_cost(fh) + _passes_cost(fw))


@functools.lru_cache(maxsize=256)
def fft_tiling(problem: ConvProblem) -> FFTTiling:
    """The tiling with the least modelled time: per tile, c_in forward and c_out inverse real
    2-D transforms (two planes per complex transform) and c_out x c_in/groups multiply-adds
    per frequency; once per call, the kernel spectra (pair-packed transforms) and their
    memory traffic. Small tiles cut the kernel spectra; large ones waste less overlap.
    Transforms start at MIN_FFT points, or at SHORT_FFT when the best tiling from MIN_FFT up
    holds more than LARGE_SPECTRA_BYTES of kernel spectra."""
    p = problem
    hp = p.h + p.padding[0] + p.padding[1]
    wp = p.w + p.padding[2] + p.padding[3]
    span_h = (p.kh - 1) * p.dilation[0] + 1
    span_w = (p.kw - 1) * p.dilation[1] + 1
    pairs = p.c_out * p.c_in_per_group

    def kernel_bytes(fh, fw):
        return pairs * fh * (fw // 2 + 1) * 2 * p.np_dtype.itemsize

    best = None
    for min_fft in (MIN_FFT, SHORT_FFT):
        if best is not None and kernel_bytes(best[1].fft_h, best[1].fft_w) <= LARGE_SPECTRA_BYTES:
            break
        for fh, ph, th in _axis_candidates(p.h_out, p.stride[0], span_h, smooth_size(hp),
                                           min_fft):
            for fw, pw, tw in _axis_candidates(p.w_out, p.stride[1], span_w, smooth_size(wp),
                                               min_fft):
                nf = fh * (fw // 2 + 1)
                tiles = p.n * th * tw
                t_fft = FFT_COST * 0.5 * _transform_cost(fh, fw)
                cost = (t_fft + PLANE_COST) * (tiles * (p.c_in + p.c_out) + pairs)
                cost += CONTRACT_COST * tiles * p.groups * pairs * nf
                cost += SPECTRA_BYTE_COST * max(0, kernel_bytes(fh, fw) - (1 << 19))
                if best is None or cost < best[0]:
                    best = (cost, FFTTiling(fh, fw, th, tw, ph, pw))
    return best[1]


def spectra_bytes(problem: ConvProblem) -> int:
    p = problem
    t = fft_tiling(p)
    tiles = t.tiles_h * t.tiles_w
    planes = p.n * tiles * (p.c_in + p.c_out) + p.c_out * p.c_in_per_group
    return planes * (t.fft_w // 2 + 1) * t.fft_h * 2 * p.np_dtype.itemsize


def fft_rejection(problem: ConvProblem) -> Optional[str]:
    need = spectra_bytes(problem)
    if need > MAX_SPECTRA_BYTES:
        return (f"fft:numba would hold {need / 2**30:.1f} GiB of spectra "
                f"(limit {MAX_SPECTRA_BYTES / 2**30:.0f} GiB)")
    return None
