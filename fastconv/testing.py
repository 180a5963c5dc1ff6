"""Shared test and benchmark material: the shape catalog, input builders and the oracle check.

Tests and benchmarks iterate ``implementations() x catalog``; every problem in here is a
:class:`Case` whose ``.id`` is the ConvProblem id (``n2c6h11w13k4r3s5_s2p1x2_g2``), so a failing
test, a benchmark row and a bug report all name a problem the same way.

Catalogs:

- ``SMOKE``: a handful of small problems, one per major path, for quick checks.
- ``EDGES``: the argument combinations the API promises (tiny, odd and prime sizes, 1x1,
  stride > 1, dilation, padding >= kernel/2, asymmetric and string paddings, groups, depthwise,
  N > 1, both dtypes, both layouts, flip, no bias, conv1d) at sizes small enough to run against
  the oracle in milliseconds.
- ``MODEL_LAYERS``: real layer shapes (ResNet-50, VGG-16, MobileNetV2, large-kernel depthwise,
  audio conv1d) at full size, for benchmarks. Tests run them through :func:`scaled_down`
  (``SMALL_MODEL_LAYERS``), which keeps each layer's character (kernel, stride, dilation,
  padding, grouping) at a few channels and pixels.
- ``SUITES``: the same layers by network name (plus ``convnext_dw`` and ``image_filter``), for
  ``fastconv bench --suite NAME``, the benchmark suites and the dispatcher's regret benchmark.

This module imports only NumPy and fastconv; pytest and hypothesis stay in tests/.
"""
from __future__ import annotations

import dataclasses
import functools
import zlib
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import api, reference
from .problem import ConvProblem

# ---- tolerances ------------------------------------------------------------------------------
# Normwise relative error ||y - y_ref||_F / ||y_ref||_F against the float64 oracle, per
# (dtype, algo). ONE table: tests and benchmarks both read it through tolerance().
#
# Where the numbers come from:
# - float32 direct / im2col: 2e-6, the acceptance bound for them. Rounding error of a float32
#   dot product of length K = C_in/groups * kH * kW summed in order grows like u * sqrt(K)
#   (u = 2**-24 ~ 6e-8). Measured with the naive sequential direct:c kernel on standard-normal
#   data (3x3, 8x8 output): K = 576 -> 4.0e-7, 2304 -> 7.6e-7, 4608 -> 1.2e-6, 9216 -> 1.6e-6;
#   the test catalog stays below K ~ 1000 (max measured 2.2e-7), so the bound has ~9x margin
#   there and still holds for full-size MODEL_LAYERS (K <= 6144). Blocked kernels with several
#   accumulators do better, not worse.
# - float64 direct / im2col: 1e-12, the same growth with u = 2**-53 ~ 1.1e-16 (~2e-15 at
#   K = 4608) leaves more than two orders of magnitude of margin.
# - reference: the oracle itself, stored in the output dtype: one rounding (u32 / u64).
# - fft: PROVISIONAL placeholder (float32 1e-5; float64 scaled alike), to
#   be replaced by measured values. FFT error grows like u * log2(FFT size) relative to the
#   largest term rather than each output.
# - winograd (F(4x4, 3x3), points 0, +-1, +-2; F(2x2, 3x3), points 0, +-1): the bound of
#   Winograd kernels, 1e-4. Measured on N(0,1) data (bench/bench_winograd.py --check --tiles 2,4,
#   tests/test_winograd.py): F(4x4) float32 7.7e-7 (VGG-16 conv1_1, C = 3) to 4.5e-6
#   (conv4_x, C = 512), ~20x margin; F(2x2) 1.2e-7 to 7.0e-7; float64 F(4x4) 1.4e-15 to
#   7.9e-15, F(2x2) 2.5e-16 to 1.5e-15 against 1e-10. F(4x4)'s transforms amplify rounding
#   ~3-5x over im2col's error, F(2x2)'s barely.
TOLERANCES: dict[tuple[str, str], float] = {
    ("float32", "direct"): 2e-6,
    ("float32", "im2col"): 2e-6,
    ("float32", "fft"): 1e-5,
    ("float32", "winograd"): 1e-4,
    ("float32", "reference"): 1e-7,
    ("float64", "direct"): 1e-12,
    ("float64", "im2col"): 1e-12,
    ("float64", "fft"): 1e-11,
    ("float64", "winograd"): 1e-10,
    ("float64", "reference"): 1e-15,
}


def tolerance(dtype, algo: str) -> float:
    """The normwise error allowed for ``algo`` in ``dtype`` (KeyError names a missing entry)."""
    key = (np.dtype(dtype).name, algo)
    try:
        return TOLERANCES[key]
    except KeyError:
        raise KeyError(f"fastconv.testing.TOLERANCES has no entry for {key}; add one with a "
                       "note on where the number comes from") from None


def normwise_error(y, ref) -> float:
    """||y - ref|| / ||ref|| in float64 (Frobenius norm over every element); inf when ``y``
    holds a NaN or Inf (an unwritten, poisoned element), absolute error when ``ref`` is 0."""
    y = np.asarray(y, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        raise ValueError(f"shapes differ: {y.shape} vs {ref.shape}")
    if not np.isfinite(y).all():
        return float("inf")
    diff = float(np.linalg.norm((y - ref).ravel()))
    scale = float(np.linalg.norm(ref.ravel()))
    return diff / scale if scale > 0 else diff


# ---- cases -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One convolution call: sizes in benchdnn order plus conv2d/conv1d's keyword arguments.

    ``size`` and ``kernel`` are (H, W) and (kH, kW) for conv2d, (L,) and (K,) for conv1d;
    ``stride``, ``padding``, ``dilation`` are passed to the API exactly as written here (so
    "same", per-dimension and (before, after) forms are exercised as users write them).
    """
    n: int
    c_in: int
    c_out: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    groups: int = 1
    dtype: str = "float32"
    layout: str = ""          # "" -> NCHW / NCL
    flip: bool = False
    bias: bool = True
    name: str = ""            # model layer name; prefixes the id
    count: int = 1            # times the layer occurs in its network (benchmarks' net totals)

    def __post_init__(self):
        if len(self.size) != len(self.kernel) or len(self.size) not in (1, 2):
            raise ValueError(f"size {self.size} and kernel {self.kernel} must both be 1-D or 2-D")
        if not self.layout:
            object.__setattr__(self, "layout", "NCHW" if len(self.size) == 2 else "NCL")

    # ---- what the API sees -----------------------------------------------------------------
    @property
    def spatial_dims(self) -> int:
        return len(self.size)

    @property
    def channels_last(self) -> bool:
        return self.layout in ("NHWC", "NLC")

    @property
    def conv(self):
        """fastconv.conv2d or fastconv.conv1d."""
        return api.conv2d if self.spatial_dims == 2 else api.conv1d

    @property
    def oracle_conv(self):
        """fastconv.reference.conv2d or conv1d (float64 results)."""
        return reference.conv2d if self.spatial_dims == 2 else reference.conv1d

    @property
    def kwargs(self) -> dict:
        """Keyword arguments shared by the API and the oracle (not algo, backend, out)."""
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups, layout=self.layout, flip=self.flip)

    @property
    def x_shape(self) -> tuple[int, ...]:
        if self.channels_last:
            return (self.n, *self.size, self.c_in)
        return (self.n, self.c_in, *self.size)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        cg = self.c_in // self.groups
        if self.channels_last:  # HWIO / WIO
            return (*self.kernel, cg, self.c_out)
        return (self.c_out, cg, *self.kernel)

    @functools.cached_property
    def problem(self) -> ConvProblem:
        """The ConvProblem the API builds for this call (via the API's own validation, on
        zero-stride placeholder arrays, so full-size model layers cost nothing)."""
        dtype = np.dtype(self.dtype)
        x = np.broadcast_to(np.zeros((), dtype), self.x_shape)
        w = np.broadcast_to(np.zeros((), dtype), self.weight_shape)
        return api.prepare(self.spatial_dims, x, w, None, self.stride, self.padding,
                           self.dilation, self.groups, self.layout, self.flip).problem

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The output shape in the user's layout."""
        return self.problem.user_out_shape

    @property
    def id(self) -> str:
        """The problem id (plus ``_nobias``), prefixed ``<name>-`` for named model layers."""
        text = self.problem.id + ("" if self.bias else "_nobias")
        return f"{self.name}-{text}" if self.name else text

    def __str__(self) -> str:
        return self.id

    def replace(self, **changes) -> "Case":
        return dataclasses.replace(self, **changes)


def c2(n, c, h, w, k, r, s, **kwargs) -> Case:
    """A conv2d case in benchdnn order: n c h w k(=C_out) r(=kH) s(=kW)."""
    return Case(n, c, k, (h, w), (r, s), **kwargs)


def c1(n, c, l, k, s, **kwargs) -> Case:
    """A conv1d case: n c l(=length) k(=C_out) s(=kernel width)."""
    return Case(n, c, k, (l,), (s,), **kwargs)


F64 = "float64"

SMOKE: tuple[Case, ...] = (
    c2(1, 3, 8, 9, 4, 3, 3, padding=1),
    c2(2, 4, 7, 7, 6, 3, 3, stride=2, groups=2, layout="NHWC"),
    c2(1, 8, 6, 6, 8, 3, 3, padding="same", groups=8, dtype=F64),
    c1(2, 3, 16, 5, 3, padding=(2, 0), flip=True),
)

EDGES: tuple[Case, ...] = (
    # tiny
    c2(1, 1, 1, 1, 1, 1, 1),                                  # the smallest problem there is
    c2(1, 1, 3, 3, 1, 2, 2, bias=False),                      # the textbook 3x3 * 2x2 shape
    c2(1, 2, 2, 3, 3, 2, 3),                                  # kernel == input: 1x1 output
    # odd and prime sizes, beyond 8/16-wide vector tiles
    c2(1, 3, 7, 11, 5, 3, 3),
    c2(2, 5, 13, 17, 7, 5, 3, padding=(2, 1)),
    c2(1, 3, 31, 37, 17, 3, 3, padding=1),
    c2(1, 19, 5, 33, 23, 3, 3, padding=1, bias=False),
    # 1x1
    c2(1, 8, 5, 7, 6, 1, 1),                                  # pointwise: a plain GEMM
    c2(2, 6, 9, 8, 5, 1, 1, stride=2),                        # ResNet downsample
    c2(1, 4, 5, 5, 3, 1, 1, padding=1),                       # padded 1x1: border = bias
    # stride > 1
    c2(2, 6, 11, 13, 4, 3, 5, stride=2, padding=(1, 2), groups=2),
    c2(1, 3, 10, 9, 4, 3, 3, stride=(3, 2)),
    c2(1, 3, 12, 12, 5, 4, 4, stride=4),                      # stride == kernel (patchify)
    c2(1, 2, 9, 10, 3, 2, 2, stride=3),                       # stride > kernel: rows skipped
    # dilation
    c2(1, 3, 11, 12, 4, 3, 3, dilation=2),
    c2(1, 2, 12, 13, 3, 3, 2, dilation=(2, 3), padding=2, stride=2),
    # padding >= kernel / 2
    c2(1, 3, 5, 6, 4, 3, 3, padding=2),                       # output larger than input
    c2(1, 2, 4, 5, 3, 3, 3, padding=4),                       # pad > kernel: pure-bias rows
    c2(1, 2, 2, 2, 3, 5, 5, padding=2),                       # kernel larger than input
    # asymmetric padding (ONNX ((top, bottom), (left, right)))
    c2(1, 3, 7, 8, 4, 3, 3, padding=((0, 2), (1, 0))),
    c2(1, 2, 6, 7, 3, 2, 4, padding=((3, 0), (0, 3)), stride=2),
    # string paddings
    c2(1, 3, 9, 10, 4, 3, 3, padding="same"),
    c2(1, 3, 9, 10, 4, 4, 2, padding="same", stride=2),       # even kernel: extra at the end
    c2(1, 3, 9, 10, 4, 4, 2, padding="same_lower", stride=2),  # ... at the start
    c2(1, 3, 8, 8, 4, 3, 3, padding="same", stride=3, dilation=2),
    c2(1, 3, 9, 10, 2, 3, 3, padding="valid", stride=2),
    # groups and depthwise
    c2(1, 4, 7, 7, 6, 3, 3, groups=2),
    c2(2, 6, 8, 9, 9, 3, 2, groups=3, stride=2, padding=1),
    c2(1, 8, 9, 9, 8, 3, 3, groups=8, padding=1),             # depthwise
    c2(1, 4, 10, 11, 8, 3, 3, groups=4, stride=2, padding="same"),  # depth multiplier 2
    c2(1, 6, 12, 12, 6, 5, 5, groups=6, padding=2, dilation=2),
    c2(1, 16, 9, 11, 16, 7, 7, groups=16, padding=3),        # ConvNeXt-style 7x7 depthwise
    # N > 1
    c2(3, 2, 6, 5, 3, 3, 3, padding=1),
    # float64
    c2(2, 3, 8, 9, 4, 3, 3, padding=1, stride=2, dtype=F64),
    c2(1, 4, 7, 7, 4, 3, 3, groups=4, dtype=F64, layout="NHWC", flip=True),
    # layouts and flip
    c2(2, 3, 7, 8, 5, 3, 2, padding=1, layout="NHWC"),
    c2(1, 4, 9, 9, 6, 3, 3, groups=2, stride=2, layout="NHWC", padding="same"),
    c2(1, 2, 6, 7, 3, 3, 2, flip=True, padding=((1, 0), (0, 1))),
    c2(2, 3, 8, 8, 4, 3, 3, layout="NHWC", flip=True, dilation=2, bias=False),
    # conv1d
    c1(1, 1, 1, 1, 1),
    c1(2, 3, 17, 4, 3),
    c1(1, 4, 29, 6, 5, stride=2, padding=(3, 1)),
    c1(1, 3, 20, 4, 3, dilation=3, padding="same"),
    c1(1, 4, 19, 4, 4, padding="same_lower", stride=3),
    c1(2, 6, 16, 9, 3, groups=3, padding=1),
    c1(1, 8, 23, 8, 5, groups=8, padding=2),                  # depthwise
    c1(1, 3, 15, 5, 4, layout="NLC", stride=2, padding=2),
    c1(1, 3, 12, 4, 3, flip=True, padding=(0, 2), dtype=F64),
    c1(2, 4, 11, 6, 3, layout="NLC", flip=True, groups=2, bias=False),
)


def _resnet50() -> list[Case]:
    """ResNet-50 v1.5 (torchvision: stride on the 3x3), 224x224; one row per distinct shape,
    with how often it occurs (the 53 convolutions of the net)."""
    rows = [c2(1, 3, 224, 224, 64, 7, 7, stride=2, padding=3, name="resnet50.conv1")]
    # stage: (input size, mid channels, input channels of the first block, first-block stride,
    # blocks)
    for stage, size, mid, c_first, stride, blocks in ((2, 56, 64, 64, 1, 3),
                                                      (3, 56, 128, 256, 2, 4),
                                                      (4, 28, 256, 512, 2, 6),
                                                      (5, 14, 512, 1024, 2, 3)):
        out, inner = 4 * mid, size // stride
        p = f"resnet50.res{stage}"
        rows += [c2(1, c_first, size, size, mid, 1, 1, name=f"{p}.1x1_reduce_first")]
        if stride > 1:
            rows += [c2(1, mid, size, size, mid, 3, 3, stride=2, padding=1, name=f"{p}.3x3_s2")]
        # stage 2's stride-1 downsample (64 -> 256 on 56x56) has 1x1_expand's shape
        rows += [c2(1, mid, inner, inner, mid, 3, 3, padding=1, name=f"{p}.3x3",
                    count=blocks - (stride > 1)),
                 c2(1, mid, inner, inner, out, 1, 1, name=f"{p}.1x1_expand",
                    count=blocks + (stride == 1)),
                 c2(1, out, inner, inner, mid, 1, 1, name=f"{p}.1x1_reduce", count=blocks - 1)]
        if stride > 1:
            rows += [c2(1, c_first, size, size, out, 1, 1, stride=2, name=f"{p}.downsample")]
    return rows


def _vgg16() -> list[Case]:
    """VGG-16's thirteen 3x3 convolutions, 224x224; repeated shapes listed once."""
    shapes = [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56),
              (256, 256, 56), (256, 512, 28), (512, 512, 28), (512, 512, 14)]
    names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2_3", "conv4_1",
             "conv4_2_3", "conv5_1_3"]
    return [c2(1, c, s, s, k, 3, 3, padding=1, name=f"vgg16.{nm}")
            for (c, k, s), nm in zip(shapes, names)]


def _mobilenet_v2() -> list[Case]:
    """MobileNetV2 1.0 at 224x224: the stem, every distinct depthwise shape, some 1x1s."""
    rows = [c2(1, 3, 224, 224, 32, 3, 3, stride=2, padding=1, name="mobilenet_v2.stem"),
            c2(1, 16, 112, 112, 96, 1, 1, name="mobilenet_v2.b1.expand"),
            c2(1, 96, 56, 56, 24, 1, 1, name="mobilenet_v2.b1.project"),
            c2(1, 960, 7, 7, 320, 1, 1, name="mobilenet_v2.b16.project"),
            c2(1, 320, 7, 7, 1280, 1, 1, name="mobilenet_v2.head")]
    # depthwise 3x3: (channels, input size, stride, block)
    for c, size, stride, block in ((32, 112, 1, 0), (96, 112, 2, 1), (144, 56, 1, 2),
                                   (144, 56, 2, 3), (192, 28, 1, 4), (192, 28, 2, 6),
                                   (384, 14, 1, 7), (576, 14, 1, 11), (576, 14, 2, 13),
                                   (960, 7, 1, 14)):
        rows.append(c2(1, c, size, size, c, 3, 3, stride=stride, padding=1, groups=c,
                       name=f"mobilenet_v2.b{block}.dw" + ("_s2" if stride > 1 else "")))
    return rows


def _shufflenet_v1_g3() -> list[Case]:
    """ShuffleNet v1 1x, g = 3, 224x224: every distinct convolution with its count (stem,
    grouped 1x1s, depthwise 3x3s, the classifier as a 1x1 of a 1x1 image). A unit is 1x1 g3
    -> depthwise 3x3 -> 1x1 g3 with a quarter of the output channels in the bottleneck; the
    first unit of a stage has stride 2 and outputs out - in channels (concatenated with the
    pooled shortcut); stage 2's first 1x1 is not grouped (24 input channels)."""
    rows = [c2(1, 3, 224, 224, 24, 3, 3, stride=2, padding=1, name="shufflenet_g3.stem")]
    c_in = 24
    for stage, size, out, units in ((2, 56, 240, 4), (3, 28, 480, 8), (4, 14, 960, 4)):
        mid, p, half = out // 4, f"shufflenet_g3.s{stage}", size // 2
        rows += [c2(1, c_in, size, size, mid, 1, 1, groups=1 if stage == 2 else 3,
                    name=f"{p}.u1.reduce"),
                 c2(1, mid, size, size, mid, 3, 3, stride=2, padding=1, groups=mid,
                    name=f"{p}.u1.dw_s2"),
                 c2(1, mid, half, half, out - c_in, 1, 1, groups=3, name=f"{p}.u1.expand"),
                 c2(1, out, half, half, mid, 1, 1, groups=3, name=f"{p}.reduce",
                    count=units - 1),
                 c2(1, mid, half, half, mid, 3, 3, padding=1, groups=mid, name=f"{p}.dw",
                    count=units - 1),
                 c2(1, mid, half, half, out, 1, 1, groups=3, name=f"{p}.expand",
                    count=units - 1)]
        c_in = out
    rows.append(c2(1, 960, 1, 1, 1000, 1, 1, name="shufflenet_g3.classifier"))
    return rows


def _squeezenet_1_1() -> list[Case]:
    """SqueezeNet 1.1, 224x224: the stem, each fire module's squeeze 1x1, expand 1x1 and
    expand 3x3, and the 1x1 classifier (conv10) on 13x13."""
    rows = [c2(1, 3, 224, 224, 64, 3, 3, stride=2, name="squeezenet1_1.conv1")]
    # fire: (number, input channels, squeeze, expand (each of 1x1 and 3x3), size)
    for fire, c_in, squeeze, expand, size in ((2, 64, 16, 64, 55), (3, 128, 16, 64, 55),
                                              (4, 128, 32, 128, 27), (5, 256, 32, 128, 27),
                                              (6, 256, 48, 192, 13), (7, 384, 48, 192, 13),
                                              (8, 384, 64, 256, 13), (9, 512, 64, 256, 13)):
        p = f"squeezenet1_1.fire{fire}"
        rows += [c2(1, c_in, size, size, squeeze, 1, 1, name=f"{p}.squeeze"),
                 c2(1, squeeze, size, size, expand, 1, 1, name=f"{p}.expand1x1"),
                 c2(1, squeeze, size, size, expand, 3, 3, padding=1, name=f"{p}.expand3x3")]
    rows.append(c2(1, 512, 13, 13, 1000, 1, 1, name="squeezenet1_1.conv10"))
    return rows


def _large_kernels() -> list[Case]:
    return [
        c2(1, 96, 56, 56, 96, 7, 7, padding=3, groups=96, layout="NHWC",
           name="convnext_t.stage1.dw7x7"),                   # ConvNeXt runs channels-last
        c2(1, 128, 56, 56, 128, 31, 31, padding=15, groups=128, name="replknet31b.stage1.dw31"),
        c2(1, 512, 14, 14, 512, 27, 27, padding=13, groups=512, name="replknet31b.stage3.dw27"),
    ]


def _convnext_dw() -> list[Case]:
    """ConvNeXt-T's depthwise 7x7 of each stage (channels-last, as ConvNeXt runs), 224x224."""
    return [c2(1, c, s, s, c, 7, 7, padding=3, groups=c, layout="NHWC",
               name=f"convnext_t.stage{i}.dw7x7")
            for i, (c, s) in enumerate(((96, 56), (192, 28), (384, 14), (768, 7)), start=1)]


def _audio_1d() -> list[Case]:
    return [
        # wav2vec 2.0 feature encoder on 1 s of 16 kHz audio (3199 -> 1599 -> ... -> 49)
        c1(1, 1, 16000, 512, 10, stride=5, name="wav2vec2.conv0"),
        c1(1, 512, 3199, 512, 3, stride=2, name="wav2vec2.conv1"),
        c1(1, 512, 199, 512, 2, stride=2, name="wav2vec2.conv5"),
        c1(1, 768, 49, 768, 128, padding=64, groups=16, name="wav2vec2.pos_conv"),
        # Whisper base encoder stem on a 30 s log-mel spectrogram
        c1(1, 80, 3000, 512, 3, padding=1, name="whisper_base.conv1"),
        c1(1, 512, 3000, 512, 3, stride=2, padding=1, name="whisper_base.conv2"),
        # Conformer (M) convolution module: depthwise, kernel 31, 10 s at 40 ms frames
        c1(1, 256, 250, 256, 31, padding=15, groups=256, name="conformer_m.dwconv"),
        # QuartzNet 5x5 block 1: depthwise kernel 33
        c1(1, 256, 800, 256, 33, padding=16, groups=256, name="quartznet.b1.dw33"),
        # WaveNet: causal dilated conv (residual 64 -> 2 x 64 gated), dilation 512
        c1(1, 64, 16384, 128, 2, dilation=512, padding=(512, 0), name="wavenet.dil512"),
    ]


def _image_filters() -> list[Case]:
    """Classic image filtering: few channels, large kernels (where OpenCV and scipy compete)."""
    return [
        c2(1, 1, 512, 512, 1, 7, 7, padding=3, name="filter.gray512.7x7"),
        c2(1, 3, 256, 256, 8, 15, 15, padding=7, name="filter.rgb256.15x15_to8"),
        c2(1, 1, 1024, 1024, 1, 31, 31, padding=15, name="filter.gray1024.31x31"),
    ]


# Named model-layer tables: the catalog the tests, the benchmark suites, the dispatcher's
# regret benchmark and `fastconv bench --suite NAME` all iterate.
SUITES: dict[str, tuple[Case, ...]] = {
    "resnet50": tuple(_resnet50()),
    "vgg16": tuple(_vgg16()),
    "mobilenet_v2": tuple(_mobilenet_v2()),
    "shufflenet_v1": tuple(_shufflenet_v1_g3()),
    "squeezenet1_1": tuple(_squeezenet_1_1()),
    "convnext_dw": tuple(_convnext_dw()),
    "large_kernel": tuple(_large_kernels()),
    "audio": tuple(_audio_1d()),
    "image_filter": tuple(_image_filters()),
}

MODEL_LAYERS: tuple[Case, ...] = tuple(case for name in ("resnet50", "vgg16", "mobilenet_v2",
                                                         "large_kernel", "audio")
                                       for case in SUITES[name])


def scaled_down(case: Case, channels: int = 16) -> Case:
    """``case`` at test size: N = 1, at most ``channels`` channels, and spatial sizes cut to a
    few output pixels; kernel, stride, dilation, padding, layout and the kind of grouping
    (none, grouped, depthwise with its multiplier) are kept."""
    g, cg, kg = case.groups, case.c_in // case.groups, case.c_out // case.groups
    if g == 1:
        c_in, c_out = min(case.c_in, channels), min(case.c_out, channels)
    elif cg == 1:  # depthwise, with its depth multiplier kg
        g = max(1, min(g, channels // kg))
        c_in, c_out = g, g * kg
    else:          # grouped: keep two groups
        g = 2
        c_in, c_out = 2 * min(cg, channels // 2), 2 * min(kg, channels // 2)
    # Spatial sizes giving about six outputs per dimension: the effective kernel minus the
    # full-size padding (large "same" kernels need few input pixels) plus five strides.
    p, dims = case.problem, case.spatial_dims
    pads = (p.padding[0] + p.padding[1], p.padding[2] + p.padding[3])[2 - dims:]
    kernel = ((p.kh - 1) * p.dilation[0] + 1, (p.kw - 1) * p.dilation[1] + 1)[2 - dims:]
    size = tuple(min(sz, max(k - pad, 1) + 5 * s)
                 for sz, k, pad, s in zip(case.size, kernel, pads, p.stride[2 - dims:]))
    return case.replace(n=1, c_in=c_in, c_out=c_out, groups=g, size=size)


def unique(cases) -> tuple[Case, ...]:
    """``cases`` without repeated ids (first one kept, names ignored)."""
    seen, kept = set(), []
    for case in cases:
        key = case.replace(name="").id
        if key not in seen:
            seen.add(key)
            kept.append(case)
    return tuple(kept)


SMALL_MODEL_LAYERS: tuple[Case, ...] = unique(scaled_down(c) for c in MODEL_LAYERS)


# ---- inputs and outputs ----------------------------------------------------------------------
def case_rng(case: Case, salt: int = 0) -> np.random.Generator:
    """A generator seeded from the case id: every case gets its own fixed data."""
    return np.random.default_rng([zlib.crc32(case.id.encode()), salt])


def make_inputs(case: Case, rng: np.random.Generator, strided: bool = False):
    """(x, weight, bias) in the case's layout and dtype, standard-normal values; bias is None
    when ``case.bias`` is False.

    strided=True returns the same values as read-only non-contiguous views: x is every other
    element of a larger buffer starting one element in (an offset view), weight is a
    Fortran-ordered copy seen through a reversed first axis (negative stride), bias every other
    element. The gaps hold NaN, so a kernel reading outside a view poisons its output.
    """
    dtype = np.dtype(case.dtype)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    w = rng.standard_normal(case.weight_shape).astype(dtype)
    b = rng.standard_normal(case.c_out).astype(dtype) if case.bias else None
    return strided_inputs(x, w, b) if strided else (x, w, b)


def strided_inputs(x, w, b):
    """The same values as read-only non-contiguous views (see :func:`make_inputs`)."""
    w = np.asfortranarray(w[::-1])[::-1]
    w.flags.writeable = False
    return strided_view(x), w, None if b is None else strided_view(b)


def strided_view(a: np.ndarray, fill=np.nan) -> np.ndarray:
    """A read-only copy of ``a`` as a non-contiguous view: every other element along the last
    axis of a NaN-filled buffer, starting at element 1."""
    buf = np.full(a.shape[:-1] + (2 * a.shape[-1] + 1,), fill, dtype=a.dtype)
    view = buf[..., 1::2]
    view[...] = a
    view.flags.writeable = False
    return view


def poisoned_output(case: Case, strided: bool = False) -> np.ndarray:
    """A NaN-filled ``out`` array for ``case``: contiguous, or (strided=True) every other
    element of a larger NaN buffer (``out.base``), whose gaps must stay NaN after the call."""
    shape, dtype = case.out_shape, np.dtype(case.dtype)
    if not strided:
        return np.full(shape, np.nan, dtype=dtype)
    buf = np.full(shape[:-1] + (2 * shape[-1] + 1,), np.nan, dtype=dtype)
    return buf[..., 1::2]


def oracle(case: Case, x, w, b) -> np.ndarray:
    """The float64 oracle's answer for these inputs."""
    return case.oracle_conv(x, w, b, **case.kwargs)


# Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, how CI without a GPU tests the cuda backend)
# runs every GPU thread as a Python thread: about a second per small problem. Under it the
# shared tests give the cuda implementations only this tiny catalog, one case per path: SMOKE
# (padding, stride + groups + NHWC, float64 depthwise, conv1d + flip) plus pointwise,
# stride > kernel, dilation with per-axis stride, asymmetric padding, a kernel larger than its
# input, and grouped NLC without bias. tests/test_cuda.py adds device arrays and edge tiles.
SIMULATOR_SMOKE: tuple[Case, ...] = SMOKE + (
    c2(1, 8, 5, 7, 6, 1, 1),
    c2(1, 2, 9, 10, 3, 2, 2, stride=3),
    c2(1, 2, 12, 13, 3, 3, 2, dilation=(2, 3), padding=2, stride=2),
    c2(1, 3, 7, 8, 4, 3, 3, padding=((0, 2), (1, 0))),
    c2(1, 2, 2, 2, 3, 5, 5, padding=2),
    c1(2, 4, 11, 6, 3, layout="NLC", flip=True, groups=2, bias=False),
)
SIMULATOR_SKIP = "CUDA simulator: only the tiny catalog (SIMULATOR_SMOKE)"


def skip_reason(impl, case: Case) -> Optional[str]:
    """Why ``impl`` cannot run ``case`` here (its own words), or None; under the CUDA
    simulator, cuda implementations also skip every case outside SIMULATOR_SMOKE."""
    why = impl.rejection(case.problem)
    if why is None and impl.backend == "cuda" and case not in SIMULATOR_SMOKE:
        from .backends import numba_cuda
        if numba_cuda.simulator():
            return SIMULATOR_SKIP
    return why


class OracleMismatch(AssertionError):
    pass


def check_against_oracle(impl, case: Case, rng: Optional[np.random.Generator] = None,
                         strided: bool = False, tol: Optional[float] = None) -> float:
    """Run ``case`` through the public API with exactly ``impl`` (algo=impl.algo,
    backend=impl.backend) into a NaN-poisoned ``out``, and check it against the oracle.

    Checks: the call returns ``out`` itself; every output element is written (no NaN left);
    with strided=True nothing outside the strided ``out`` view is written and NaN gaps around
    strided inputs are never read; inputs are unchanged; the normwise error is within
    ``tol`` (default ``tolerance(case.dtype, impl.algo)``). Raises OracleMismatch (an
    AssertionError) naming the implementation and the case; returns the error.
    """
    rng = case_rng(case) if rng is None else rng
    label = f"{impl.name} on {case.id}" + (" (strided)" if strided else "")
    x, w, b = make_inputs(case, rng)
    expected = oracle(case, x, w, b)
    args = strided_inputs(x, w, b) if strided else (x, w, b)
    before = [None if a is None else a.copy() for a in args]
    out = poisoned_output(case, strided)
    y = case.conv(*args, **case.kwargs, algo=impl.algo, backend=impl.backend, out=out)

    if y is not out:
        raise OracleMismatch(f"{label}: did not return the out array it was given")
    unwritten = int(np.isnan(y).sum())
    if unwritten:
        raise OracleMismatch(f"{label}: {unwritten} of {y.size} output elements are NaN "
                             "(never written, or NaN read from outside an input view)")
    if strided and not np.isnan(out.base[..., 0::2]).all():
        raise OracleMismatch(f"{label}: wrote outside the strided out view")
    for name, a, a0 in zip(("x", "weight", "bias"), args, before):
        if a is not None and not np.array_equal(a, a0, equal_nan=True):
            raise OracleMismatch(f"{label}: modified its input {name}")
    err = normwise_error(y, expected)
    tol = tolerance(case.dtype, impl.algo) if tol is None else tol
    if not err <= tol:
        worst = np.unravel_index(np.argmax(np.abs(y - expected)), y.shape)
        raise OracleMismatch(f"{label}: normwise error {err:.3g} > {tol:.3g}; worst element "
                             f"{worst}: {y[worst]!r} vs {expected[worst]!r}")
    return err


def time_every_phase(call, phases, max_calls: int = 50):
    """``(profile, calls)``: a fresh fc_profile into which ``call(profile)`` (C kernel calls
    whose descriptors carry ``profile``, e.g. under backends.c.profile_into) ran on one
    thread, repeated until each of ``phases`` (fc_profile fields) reads > 0, at most
    ``max_calls`` times.

    What the tests ask of a profile this way is whether each phase is instrumented and runs,
    not a clock reading: C kernels report their first thread's phase times, and with work
    taken dynamically that thread may do none of a phase (on one thread it does all of it);
    and a clock coarser than a short phase reads 0 for it now and then (one that runs
    registers after enough calls)."""
    from . import threads
    from .backends import c as c_backend
    previous = threads._num_threads
    threads.set_num_threads(1)
    profile = c_backend.new_profile()
    try:
        for calls in range(1, max_calls + 1):
            call(profile)
            if all(getattr(profile, k) > 0 for k in phases):
                break
    finally:
        threads._num_threads = previous
    return profile, calls
