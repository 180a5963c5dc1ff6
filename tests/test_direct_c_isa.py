"""direct:c on every instruction set this CPU runs, at the edges of its tiles.

The kernel (csrc/conv_direct_impl.h) cuts each output row into register tiles of NV vectors of VL
lanes (scalar 2 x 1, AVX2 3 x 8 floats / 3 x 4 doubles, AVX-512 3 x 16 / 3 x 8) and the output
channels into blocks of 2*KB (KB = 4, 4, 8), split into power-of-two pieces at a remainder; it
chooses per tile between direct loads (interior), masked loads (borders), a packed stack buffer
(strided x, stride_w > 1, wide kernels) and a generic scalar path (huge dilations). The cases below
sit below, on and above those sizes and reach every path, for float32 and float64, always with
the output poisoned with NaN (through ``out=``) and compared normwise with the float64 oracle.
"""
import numpy as np
import pytest

import fastconv
from fastconv import reference

c_backend = pytest.importorskip("fastconv.backends.c")


def _isas():
    try:
        return c_backend.supported_isas()
    except ImportError:  # extension not built: the tests skip
        return []


TOL = {np.float32: 2e-6, np.float64: 1e-12}  # normwise relative error
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=_isas() or [pytest.param(None, marks=pytest.mark.skip(
    "C extension not built"))])
def isa(request):
    c_backend.set_isa(request.param)
    yield request.param
    c_backend.set_isa(None)


def check(dtype, x, w, bias=None, *, conv1d=False, out_view=None, **kw):
    """Run direct:c into a NaN-filled ``out`` and compare with the oracle."""
    fn, oracle = ((fastconv.conv1d, reference.conv1d) if conv1d
                  else (fastconv.conv2d, reference.conv2d))
    ref = oracle(x, w, bias, **kw)
    if out_view is None:
        out = np.full(ref.shape, np.nan, dtype=dtype)
    else:  # a strided view of a larger NaN buffer: the kernel gets non-unit y strides
        out = out_view(np.full(out_view.base_shape(ref.shape), np.nan, dtype=dtype))
        assert out.shape == ref.shape
    y = fn(x, w, bias, algo="direct", backend="c", out=out, **kw)
    assert y is out
    assert not np.isnan(y).any(), "some output elements were not written"
    err = np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-300)
    assert err <= TOL[dtype], f"normwise relative error {err:.3g}"


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# Output widths below, on and above the vector widths (1, 4, 8, 16) and full tiles (2, 12, 24,
# 48) of every variant, and the ResNet widths 7, 14, 28, 56.
WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 14, 16, 17, 23, 24, 25, 28, 31, 47, 48, 49, 56, 97]


@pytest.mark.parametrize("dtype", DTYPES)
def test_widths_padding(isa, dtype):
    rng = np.random.default_rng(1)
    w = rand(rng, (5, 3, 3, 3), dtype)
    b = rand(rng, 5, dtype)
    for width in WIDTHS:
        x = rand(rng, (1, 3, 4, width), dtype)
        check(dtype, x, w, b, padding=1)       # borders on both sides (masked tiles)
        if width >= 3:
            check(dtype, x, w, padding=0)      # interior only, ragged right end


@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_remainders(isa, dtype):
    rng = np.random.default_rng(2)
    x = rand(rng, (1, 6, 5, 21), dtype)
    for c_out in [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31]:
        check(dtype, x, rand(rng, (c_out, 6, 2, 3), dtype), rand(rng, c_out, dtype),
              padding=((1, 0), (2, 1)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_stride_dilation_asymmetric_padding(isa, dtype):
    rng = np.random.default_rng(3)
    x = rand(rng, (2, 4, 11, 37), dtype)
    w = rand(rng, (9, 4, 3, 2), dtype)
    check(dtype, x, w, stride=2, padding=1)
    check(dtype, x, w, dilation=2, padding=((0, 3), (5, 0)))
    check(dtype, x, w, stride=(2, 3), dilation=(2, 3), padding=((4, 1), (0, 7)))
    # padding larger than the (dilated) kernel: whole output rows and columns see only zeros
    check(dtype, x, w, rand(rng, 9, dtype), padding=((6, 5), (9, 12)))
    check(dtype, x, w, stride=2, dilation=2, padding=((7, 2), (11, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_groups_depthwise(isa, dtype):
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 6, 9, 30), dtype)
    check(dtype, x, rand(rng, (15, 2, 3, 3), dtype), rand(rng, 15, dtype), groups=3, padding=1)
    check(dtype, x, rand(rng, (6, 1, 3, 3), dtype), groups=6, padding=1)             # depthwise
    check(dtype, x, rand(rng, (12, 1, 5, 5), dtype), groups=6, padding=2, stride=2)  # multiplier 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_and_strided_operands(isa, dtype):
    rng = np.random.default_rng(5)
    x = rand(rng, (1, 5, 8, 45), dtype)
    w = rand(rng, (7, 5, 3, 4), dtype)
    bias = rand(rng, 14, dtype)[::2]                             # strided bias
    check(dtype, x, w, bias, flip=True, padding=((2, 1), (3, 0)))  # negative weight strides
    check(dtype, x[:, :, :, ::2], w, padding=1)                    # x stride 2 along w
    check(dtype, x[:, ::-1], w, padding=1, flip=True)              # negative x channel stride

    class EveryOther:  # out as y[..., ::2]: y stride 2 along w
        @staticmethod
        def base_shape(shape):
            return shape[:-1] + (2 * shape[-1],)

        def __call__(self, buf):
            return buf[..., ::2]
    check(dtype, x, w, padding=1, out_view=EveryOther())


@pytest.mark.parametrize("dtype", DTYPES)
def test_nhwc(isa, dtype):
    rng = np.random.default_rng(6)
    x = rand(rng, (2, 9, 26, 5), dtype)   # N, H, W, C
    w = rand(rng, (3, 3, 5, 11), dtype)   # kH, kW, C_in, C_out
    check(dtype, x, w, rand(rng, 11, dtype), layout="NHWC", padding=1)
    check(dtype, x, w, layout="NHWC", stride=2, padding=((1, 2), (4, 0)), flip=True)
    check(dtype, x, rand(rng, (3, 3, 1, 10), dtype), layout="NHWC", groups=5, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d(isa, dtype):
    rng = np.random.default_rng(7)
    x = rand(rng, (1, 3, 1000), dtype)   # few channel blocks: the row is split across threads
    check(dtype, x, rand(rng, (2, 3, 7), dtype), rand(rng, 2, dtype), conv1d=True, padding=3)
    check(dtype, x, rand(rng, (5, 3, 5), dtype), conv1d=True, stride=3, dilation=2,
          padding=(9, 1))
    check(dtype, x, rand(rng, (6, 1, 4), dtype), conv1d=True, groups=3, padding="same")
    xl = rand(rng, (2, 200, 4), dtype)   # N, L, C
    check(dtype, xl, rand(rng, (3, 4, 5), dtype), conv1d=True, layout="NLC", padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_kernels_and_huge_dilation(isa, dtype):
    rng = np.random.default_rng(8)
    # kernel wider than the precomputed border masks: packed borders with unit stride
    check(dtype, rand(rng, (1, 2, 3, 60), dtype), rand(rng, (3, 2, 2, 19), dtype), padding=(1, 9))
    # span past the packed stack buffer: the generic path
    check(dtype, rand(rng, (1, 2, 9000), dtype), rand(rng, (2, 2, 3), dtype), conv1d=True,
          dilation=3000, padding=5)
