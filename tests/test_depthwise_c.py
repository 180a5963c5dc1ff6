"""The depthwise kernel (csrc/conv_depthwise_impl.h, reached through direct:c when groups == C_in)
on every instruction set this CPU runs.

Its paths: the row path (NCHW, or any layout it cannot vectorise along channels) packs input rows
into a ring, split into stride_w phases, and runs tiles of R output rows x NV vectors (R*NV <= 12
or 24; rows cut into balanced blocks, widths into balanced tiles, wide rows into column chunks);
the channel path (NHWC, multiplier 1, at least one vector of channels) runs P pixels x CV channel
vectors with a masked channel remainder and one-pixel border tiles; the packed channel path (NCHW,
multiplier 1, at least one vector of channels, output rows of at most one vector) copies bands of
input rows into a zero-padded [row][col][channel] buffer and runs the channel path's tiles on
it; kernels beyond 64 taps a side
or strides beyond 16 take the generic loops. The cases below reach each path and sit below, on
and above the vector widths (1, 4, 8, 16) for float32 and float64, with NaN-poisoned (and
strided) outputs and strided, offset, negatively strided inputs, against the float64 oracle.
"""
import pytest

from fastconv.registry import BY_NAME
from fastconv.testing import c1, c2, check_against_oracle

c_backend = pytest.importorskip("fastconv.backends.c")


DIRECT_C = BY_NAME["direct:c"]
DTYPES = ["float32", "float64"]


def dw(c, h, w, k, mult=1, n=1, **kwargs):
    """A depthwise case: c channels, multiplier mult, square kernel k."""
    return c2(n, c, h, w, c * mult, k, k, groups=c, **kwargs)


CASES = [
    # kernel sizes 3..31, "same" padding, widths around the vector widths
    *(dw(3, 9, width, 3, padding=1) for width in (1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 25, 33)),
    dw(2, 11, 13, 5, padding=2),
    dw(2, 12, 19, 7, padding=3),
    dw(2, 20, 23, 11, padding=5),
    dw(2, 33, 40, 31, padding=15),
    dw(1, 40, 45, 31, padding=15, bias=False),
    # no padding, asymmetric padding, padding larger than the kernel
    dw(3, 10, 12, 3),
    dw(2, 9, 14, 3, padding=((0, 2), (1, 0))),
    dw(2, 6, 7, 3, padding=4),
    # stride 2 and 3 (phases of the packed rows), per-axis strides
    dw(4, 14, 14, 3, stride=2, padding=1),
    dw(3, 15, 29, 3, stride=2, padding=1),
    dw(3, 17, 18, 5, stride=2, padding=2),
    dw(2, 13, 16, 7, stride=(1, 2), padding=3),
    dw(2, 16, 19, 3, stride=3, padding=1),
    # dilation (also combined with stride)
    dw(2, 14, 15, 3, dilation=2, padding=2),
    dw(2, 19, 21, 5, dilation=(2, 3), padding=(4, 6)),
    dw(2, 17, 22, 3, dilation=2, stride=2, padding=2),
    # depth multiplier > 1, batch > 1
    dw(3, 9, 10, 3, mult=2, padding=1),
    dw(2, 8, 13, 5, mult=3, n=2, stride=2, padding=2),
    # many rows per plane (row blocks and bands), single-plane image filter
    dw(1, 70, 37, 7, padding=3),
    dw(1, 64, 64, 7, padding=3, n=2),
    # a row too wide for the ring: column chunks
    dw(1, 40, 700, 31, padding=15),
    dw(1, 6, 2100, 9, padding=4, stride=2),
    # beyond the stack limits: generic loops
    dw(1, 6, 70, 65, padding=32),
    dw(2, 5, 60, 3, stride=(1, 17), padding=1),
    # NHWC: channel path (multiplier 1, channel counts around the vector widths, remainders)
    *(dw(c, 8, 9, 3, padding=1, layout="NHWC") for c in (4, 8, 9, 16, 17, 24, 33, 40)),
    dw(16, 11, 13, 7, padding=3, layout="NHWC"),
    dw(20, 9, 12, 5, stride=2, padding=2, layout="NHWC", n=2),
    dw(17, 12, 13, 3, dilation=2, padding=2, layout="NHWC"),
    dw(16, 9, 30, 3, padding=0, layout="NHWC"),
    dw(16, 40, 36, 31, padding=15, layout="NHWC"),
    # NHWC the channel path declines: multiplier > 1, fewer channels than a vector, flipped
    dw(8, 8, 9, 3, mult=2, padding=1, layout="NHWC"),
    dw(3, 8, 11, 5, padding=2, layout="NHWC"),
    dw(16, 7, 8, 3, padding=1, layout="NHWC", flip=True, bias=False),
    # 1 -> k (groups 1, one input channel) and conv1d depthwise
    c2(1, 1, 9, 10, 4, 3, 3, padding=1),
    c1(2, 6, 40, 6, 9, groups=6, padding=4),
    c1(1, 5, 300, 10, 33, groups=5, padding=16, stride=2),
    # stride-2 rows of several vectors, asymmetric padding: both phases split in one pass,
    # with the phases' valid ranges differing at both ends
    dw(3, 9, 70, 3, stride=2, padding=((1, 0), (0, 3))),
    dw(2, 7, 67, 5, stride=2, padding=((2, 2), (4, 1))),
    # NCHW rows of at most one vector: packed channel path (channel blocks and remainders,
    # strides, dilation, asymmetric padding, bands of rows, widths 1 to 16)
    *(dw(c, 9, 7, 3, padding=1) for c in (8, 16, 17, 33, 40, 65)),
    dw(24, 14, 14, 3, stride=2, padding=1),
    dw(20, 9, 4, 5, padding=2, n=2),
    dw(16, 200, 3, 3, padding=1),
    dw(16, 12, 7, 3, dilation=2, padding=2, bias=False),
    dw(17, 11, 9, 3, stride=(2, 1), padding=((0, 2), (1, 0))),
    dw(9, 7, 1, 3, padding=1),
    dw(18, 10, 6, 7, padding=3, stride=2),
    # rows of 14 to 16 output columns: input rows of two vectors and more (the transposed
    # packing's column remainders), whole-vector output rows
    dw(20, 28, 28, 3, stride=2, padding=1),
    dw(40, 9, 30, 3, stride=2, padding=1, n=2),
    dw(33, 6, 16, 3, padding=1),
]
PACKED = CASES[-16:]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_depthwise_matches_oracle(isa, case, dtype):
    check_against_oracle(DIRECT_C, case.replace(dtype=dtype))


# Strided (non-contiguous, offset, negatively strided) inputs and a strided out, on a subset.
STRIDED = [CASES[i] for i in (0, 5, 22, 27, 30, 33, 35, 41, 46, 50)] + PACKED[::3]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", STRIDED, ids=str)
def test_depthwise_strided(isa, case, dtype):
    check_against_oracle(DIRECT_C, case.replace(dtype=dtype), strided=True)


def test_profile_filled():
    """fc_profile: one call adds its total and multiply time and one call."""
    import numpy as np

    from fastconv.testing import case_rng, make_inputs, time_every_phase
    case = dw(8, 20, 21, 3, padding=1)
    ffi, lib = c_backend._native()
    x, w, b = make_inputs(case, case_rng(case))
    y = np.full(case.out_shape, np.nan, np.float32)
    d = c_backend.conv2d_desc(case.problem, x, w, b, y)
    prof = ffi.new("fc_profile *")
    d.profile = prof
    ptr = c_backend.pointer
    assert lib.fc_f32_conv2d_depthwise(d, ptr(x), ptr(w), ptr(b), ptr(y)) == 0
    assert prof.calls == 1 and 0 <= prof.multiply <= prof.total
    assert not np.isnan(y).any()

    def call(p):  # one thread, until timed (no clock reading asserted: time_every_phase)
        d1 = c_backend.conv2d_desc(case.problem, x, w, b, y)
        d1.profile = p
        assert lib.fc_f32_conv2d_depthwise(d1, ptr(x), ptr(w), ptr(b), ptr(y)) == 0
    timed, calls = time_every_phase(call, ("multiply",))
    assert timed.calls == calls and 0 < timed.multiply <= timed.total
