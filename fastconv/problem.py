"""ConvProblem: the one description of a convolution that travels from the API to the kernels.

A problem is frozen and hashable. It holds sizes in logical NCHW order whatever the user's
layout (conv1d is the h = kh = 1 case of conv2d), the stride, dilation and the four resolved
paddings, groups, dtype, layout and flip, and derives the output shape, FLOP count and a short
id (after oneDNN benchdnn's descriptors) used as pytest id, benchmark name, plan-cache key and
the string a user pastes into a bug report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYOUTS_2D = ("NCHW", "NHWC")
LAYOUTS_1D = ("NCL", "NLC")
CHANNELS_LAST = ("NHWC", "NLC")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class ConvProblem:
    """One convolution, as every layer of fastconv sees it: frozen and hashable.

    Sizes are in logical NCHW order whatever the user's layout (conv1d is the
    ``h = kh = 1`` case). Made by argument validation (:func:`fastconv.conv2d`,
    :func:`fastconv.plan`); ``ConvPlan.problem`` and ``Explanation.problem`` hold one.

    Attributes
    ----------
    n, c_in, h, w : int
        Batch, input channels, input height and width.
    c_out, kh, kw : int
        Output channels, kernel height and width.
    stride, dilation : tuple of 2 ints
        Per spatial dimension (height, width).
    padding : tuple of 4 ints
        Top, bottom, left, right, resolved ("same" already turned into numbers).
    groups : int
        Channel groups.
    dtype : str
        "float32" or "float64".
    layout : str
        The user's layout: "NCHW", "NHWC", "NCL" or "NLC".
    flip : bool
        Mathematical convolution (kernel flipped) rather than correlation.
    spatial_dims : int
        2, or 1 for conv1d problems.
    h_out, w_out : int
        Output height and width (derived).
    id : str
        A short name after oneDNN benchdnn's descriptors, e.g.
        ``n1c64h56w56k64r3s3_s1p1``: the pytest id, the benchmark name, the plan-cache key
        and the string to paste into a bug report.
    flops : int
        2 x the multiply-adds of the direct definition (what GFLOP/s figures count,
        whatever the algorithm).
    """

    n: int
    c_in: int
    h: int
    w: int
    c_out: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, bottom, left, right
    groups: int = 1
    dtype: str = "float32"
    layout: str = "NCHW"
    flip: bool = False
    spatial_dims: int = 2  # 1 for conv1d problems (then h = kh = 1)
    h_out: int = field(init=False)
    w_out: int = field(init=False)

    def __post_init__(self):
        # Derived sizes are computed here once; the API has already checked that they are >= 1.
        object.__setattr__(self, "h_out", _out_size(self.h, self.kh, self.stride[0],
                                                    self.dilation[0], *self.padding[0:2]))
        object.__setattr__(self, "w_out", _out_size(self.w, self.kw, self.stride[1],
                                                    self.dilation[1], *self.padding[2:4]))

    # ---- derived quantities -------------------------------------------------------------
    @property
    def c_in_per_group(self) -> int:
        return self.c_in // self.groups

    @property
    def c_out_per_group(self) -> int:
        return self.c_out // self.groups

    @property
    def is_depthwise(self) -> bool:
        return self.groups == self.c_in and self.groups > 1

    @property
    def is_pointwise(self) -> bool:
        """1x1, stride 1, unpadded: the input already is a GEMM operand."""
        return (self.kh, self.kw, self.stride, self.padding) == (1, 1, (1, 1), (0, 0, 0, 0))

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.h, self.w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in_per_group, self.kh, self.kw)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        """Output shape in logical NCHW order."""
        return (self.n, self.c_out, self.h_out, self.w_out)

    @property
    def user_out_shape(self) -> tuple[int, ...]:
        """Output shape as the user sees it (their layout, their number of dimensions)."""
        n, k, ho, wo = self.out_shape
        if self.spatial_dims == 1:
            return (n, wo, k) if self.layout in CHANNELS_LAST else (n, k, wo)
        return (n, ho, wo, k) if self.layout in CHANNELS_LAST else (n, k, ho, wo)

    @property
    def macs(self) -> int:
        return (self.n * self.c_out * self.h_out * self.w_out
                * self.c_in_per_group * self.kh * self.kw)

    @property
    def flops(self) -> int:
        """2 x multiply-adds of the direct definition (the number every GFLOP/s figure uses)."""
        return 2 * self.macs

    @property
    def min_bytes(self) -> int:
        """Bytes that any implementation must move at least once: x, weight, bias, output."""
        elems = (self.n * self.c_in * self.h * self.w + self.c_out * self.c_in_per_group
                 * self.kh * self.kw + self.c_out + self.n * self.c_out * self.h_out * self.w_out)
        return elems * self.np_dtype.itemsize

    @property
    def id(self) -> str:
        """Short descriptor, e.g. ``n1c64h56w56k64r3s3_s1p1`` (r, s: kernel height, width)."""
        if self.spatial_dims == 1:
            head = f"n{self.n}c{self.c_in}w{self.w}k{self.c_out}s{self.kw}"
            stride, dil, pads = self.stride[1:], self.dilation[1:], self.padding[2:]
        else:
            head = f"n{self.n}c{self.c_in}h{self.h}w{self.w}k{self.c_out}r{self.kh}s{self.kw}"
            stride, dil, pads = self.stride, self.dilation, self.padding
        parts = [f"s{_compact(stride)}", f"p{_compact_padding(pads)}"]
        if any(d != 1 for d in dil):
            parts.append(f"d{_compact(dil)}")
        if self.groups != 1:
            parts.append(f"g{self.groups}")
        if self.dtype != "float32":
            parts.append("f64")
        if self.layout in CHANNELS_LAST:
            parts.append(self.layout.lower())
        if self.flip:
            parts.append("flip")
        return head + "_" + "".join(parts[:2]) + "".join("_" + p for p in parts[2:])

    def __str__(self) -> str:
        return self.id


def _out_size(size: int, k: int, stride: int, dilation: int, before: int, after: int) -> int:
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def _compact(values) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _compact_padding(pads) -> str:
    if len(set(pads)) == 1:
        return str(pads[0])
    pairs = [pads[i:i + 2] for i in range(0, len(pads), 2)]
    if all(a == b for a, b in pairs):
        return "x".join(str(a) for a, _ in pairs)
    return ",".join(map(str, pads))
