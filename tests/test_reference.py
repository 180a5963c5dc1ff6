"""The oracle itself, checked independently: the textbook example, a brute-force loop nest,
PyTorch and SciPy (each skipped when not installed)."""
import itertools

import numpy as np
import pytest

import fastconv
from fastconv import implementations, reference
from fastconv.testing import c1, c2, make_inputs, tolerance

AVAILABLE = [impl for impl in implementations() if impl.available]


# ---- the textbook example --------------------------------------------------------------------
X = np.arange(9).reshape(3, 3)
K = np.array([[0, 1], [2, 3]])
EXPECTED = np.array([[19, 25], [37, 43]])


def test_textbook_example_oracle():
    y = reference.conv2d(X[None, None], K[None, None])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y[0, 0], EXPECTED)


@pytest.mark.parametrize("impl", AVAILABLE, ids=lambda impl: impl.name)
def test_textbook_example_every_impl(impl):
    # Exact in every dtype: every partial sum is a small integer. int64 promotes to float64
    # (np.result_type(int64, float32)), int16 to float32.
    reason = impl.rejection(c2(1, 1, 3, 3, 1, 2, 2).problem)  # winograd: 3x3 kernels only
    if reason:
        pytest.skip(reason)
    for x, k, dtype in ((X, K, np.float64), (X.astype(np.int16), K.astype(np.int16), np.float32),
                        (X.astype(np.float32), K.astype(np.float32), np.float32)):
        y = fastconv.conv2d(x[None, None], k[None, None], algo=impl.algo, backend=impl.backend)
        assert y.dtype == dtype and y.shape == (1, 1, 2, 2)
        if impl.algo == "fft":  # exact only up to transform rounding (testing.TOLERANCES)
            np.testing.assert_allclose(y[0, 0], EXPECTED, rtol=tolerance(dtype, "fft"))
        else:
            np.testing.assert_array_equal(y[0, 0], EXPECTED)


def test_textbook_example_auto_layouts_and_conv1d():
    np.testing.assert_array_equal(fastconv.conv2d(X[None, None], K[None, None])[0, 0], EXPECTED)
    y = fastconv.conv2d(X[None, :, :, None], K[:, :, None, None], layout="NHWC")
    np.testing.assert_array_equal(y[0, :, :, 0], EXPECTED)
    # Each output row of the 2-D example is a 1-D correlation of two input rows with the two
    # kernel rows: rows 0,1 of X with K gives [19, 25].
    y1 = fastconv.conv1d(X[None, 0:2], K[None])
    np.testing.assert_array_equal(y1[0, 0], EXPECTED[0])
    # flip=True: true convolution, the kernel turned by 180 degrees.
    # y[i, j] = 3 X[i, j] + 2 X[i, j+1] + 1 X[i+1, j] + 0 X[i+1, j+1]
    yf = fastconv.conv2d(X[None, None], K[None, None], flip=True)[0, 0]
    np.testing.assert_array_equal(yf, [[5, 11], [23, 29]])


# ---- brute force: the definition as seven nested loops ---------------------------------------
def tf_same(size, k, stride, dilation, lower=False):
    """TensorFlow's SAME padding (before, after), written out independently of the API."""
    out = (size + stride - 1) // stride
    eff = (k - 1) * dilation + 1
    total = max((out - 1) * stride + eff - size, 0)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


def brute_force_nchw(x, w, bias, stride, pads, dilation, groups):
    """y[b,k,i,j] = bias[k] + sum_{c,r,s} w[k,c,r,s] * x[b, g*cg+c, i*sh + r*dh - top,
    j*sw + s*dw - left], zero outside x; pure Python loops over float64 values."""
    n, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), (top, bottom, left, right) = stride, dilation, pads
    ho = (h + top + bottom - (kh - 1) * dh - 1) // sh + 1
    wo = (wd + left + right - (kw - 1) * dw - 1) // sw + 1
    kg = c_out // groups
    y = np.zeros((n, c_out, ho, wo))
    for b, k, i, j in itertools.product(range(n), range(c_out), range(ho), range(wo)):
        acc = 0.0 if bias is None else float(bias[k])
        g = k // kg
        for c, r, s in itertools.product(range(cg), range(kh), range(kw)):
            ii, jj = i * sh + r * dh - top, j * sw + s * dw - left
            if 0 <= ii < h and 0 <= jj < wd:
                acc += float(w[k, c, r, s]) * float(x[b, g * cg + c, ii, jj])
        y[b, k, i, j] = acc
    return y


def explicit_pads(case):
    """(top, bottom, left, right) from the case's padding argument, without the API."""
    dims, p = case.spatial_dims, case.padding
    stride = case.stride if isinstance(case.stride, tuple) else (case.stride,) * dims
    dil = case.dilation if isinstance(case.dilation, tuple) else (case.dilation,) * dims
    if isinstance(p, str):
        pairs = [(0, 0) if p == "valid" else tf_same(sz, k, s, d, lower=(p == "same_lower"))
                 for sz, k, s, d in zip(case.size, case.kernel, stride, dil)]
    elif isinstance(p, int):
        pairs = [(p, p)] * dims
    elif dims == 1:
        pairs = [tuple(p)]
    else:
        pairs = [e if isinstance(e, tuple) else (e, e) for e in p]
    if dims == 1:
        pairs = [(0, 0)] + pairs
        stride, dil = (1,) + stride, (1,) + dil
    return stride, pairs[0] + pairs[1], dil


BRUTE_CASES = [
    c2(1, 1, 3, 3, 1, 2, 2),
    c2(2, 3, 5, 6, 2, 3, 2, stride=(2, 1), padding=((1, 0), (2, 1)), bias=False),
    c2(1, 4, 6, 5, 6, 3, 3, groups=2, dilation=(2, 1), padding=2),
    c2(1, 3, 5, 5, 3, 3, 3, groups=3, padding="same", stride=2),
    c2(1, 2, 6, 5, 2, 2, 3, padding="same_lower", stride=2, dilation=(1, 2)),
    c2(1, 2, 4, 5, 3, 2, 3, flip=True, padding=1),
    c2(2, 2, 4, 4, 4, 3, 2, layout="NHWC", flip=True, groups=2, stride=2, padding="same"),
    c2(1, 2, 3, 3, 2, 3, 3, padding=3, layout="NHWC"),
    c2(1, 2, 5, 4, 2, 3, 1, padding="valid", dtype="float64"),
    c1(2, 3, 9, 2, 3, stride=2, padding=(2, 1)),
    c1(1, 4, 8, 4, 2, groups=4, dilation=3, padding="same", flip=True),
    c1(1, 2, 7, 3, 3, layout="NLC", flip=True, padding="same_lower", stride=2),
]


@pytest.mark.parametrize("case", BRUTE_CASES, ids=str)
def test_oracle_matches_brute_force(case):
    x, w, b = make_inputs(case, np.random.default_rng(7))
    # Bring everything to NCHW / OIHW with np.transpose and explicit flips, on float64 copies.
    x4, w4 = x.astype(np.float64), w.astype(np.float64)
    if case.spatial_dims == 2 and case.channels_last:
        x4, w4 = np.transpose(x4, (0, 3, 1, 2)), np.transpose(w4, (3, 2, 0, 1))
    elif case.channels_last:
        x4, w4 = np.transpose(x4, (0, 2, 1)), np.transpose(w4, (2, 1, 0))
    if case.spatial_dims == 1:
        x4, w4 = x4[:, :, None, :], w4[:, :, None, :]
    if case.flip:
        w4 = w4[:, :, ::-1, ::-1]
    stride, pads, dil = explicit_pads(case)
    expected = brute_force_nchw(x4, w4, b, stride, pads, dil, case.groups)
    if case.spatial_dims == 1:
        expected = expected[:, :, 0, :]
        if case.channels_last:
            expected = np.transpose(expected, (0, 2, 1))
    elif case.channels_last:
        expected = np.transpose(expected, (0, 2, 3, 1))

    got = reference.conv2d if case.spatial_dims == 2 else reference.conv1d
    y = got(x, w, b, **case.kwargs)
    assert y.dtype == np.float64 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


# ---- PyTorch ---------------------------------------------------------------------------------
TORCH_2D = [  # (n, c_in, h, w, c_out, kh, kw, kwargs)
    (2, 3, 9, 10, 4, 3, 3, dict(stride=1, padding=1, dilation=1, groups=1)),
    (1, 4, 11, 9, 6, 3, 2, dict(stride=(2, 3), padding=(1, 0), dilation=(1, 2), groups=2)),
    (1, 6, 8, 8, 12, 5, 5, dict(stride=1, padding=2, dilation=1, groups=6)),
    (2, 2, 7, 9, 3, 4, 2, dict(stride=1, padding="same", dilation=2, groups=1)),
    (1, 3, 6, 7, 2, 3, 3, dict(stride=2, padding="valid", dilation=1, groups=1)),
]
TORCH_1D = [  # (n, c_in, l, c_out, k, kwargs)
    (2, 3, 20, 4, 5, dict(stride=2, padding=2, dilation=1, groups=1)),
    (1, 4, 17, 8, 3, dict(stride=1, padding="same", dilation=3, groups=4)),
    (1, 6, 15, 3, 4, dict(stride=3, padding=0, dilation=2, groups=3)),
]


@pytest.mark.parametrize("shape", TORCH_2D, ids=lambda s: "n{}c{}h{}w{}k{}r{}s{}".format(*s[:7]))
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
def test_oracle_matches_torch_conv2d(shape, with_bias):
    torch = pytest.importorskip("torch")
    n, c, h, w, k, r, s, kw = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((k, c // kw["groups"], r, s))
    b = rng.standard_normal(k) if with_bias else None
    expected = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(wt), None if b is None else torch.from_numpy(b),
        **kw).numpy()
    np.testing.assert_allclose(reference.conv2d(x, wt, b, **kw), expected, rtol=1e-12,
                               atol=1e-12)
    # and channels-last through fastconv's layout argument
    y = reference.conv2d(x.transpose(0, 2, 3, 1), wt.transpose(2, 3, 1, 0), b, **kw,
                         layout="NHWC")
    np.testing.assert_allclose(y.transpose(0, 3, 1, 2), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", TORCH_1D, ids=lambda s: "n{}c{}w{}k{}s{}".format(*s[:5]))
def test_oracle_matches_torch_conv1d(shape):
    torch = pytest.importorskip("torch")
    n, c, length, k, s, kw = shape
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, c, length))
    wt = rng.standard_normal((k, c // kw["groups"], s))
    b = rng.standard_normal(k)
    expected = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(wt),
                                          torch.from_numpy(b), **kw).numpy()
    np.testing.assert_allclose(reference.conv1d(x, wt, b, **kw), expected, rtol=1e-12,
                               atol=1e-12)
    y = reference.conv1d(x.transpose(0, 2, 1), wt.transpose(2, 1, 0), b, **kw, layout="NLC")
    np.testing.assert_allclose(y.transpose(0, 2, 1), expected, rtol=1e-12, atol=1e-12)


def test_asymmetric_padding_matches_torch_pad_then_conv():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, wt = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    xt = torch.nn.functional.pad(torch.from_numpy(x), (2, 0, 0, 3))  # (left, right, top, bottom)
    expected = torch.nn.functional.conv2d(xt, torch.from_numpy(wt), stride=2).numpy()
    y = reference.conv2d(x, wt, stride=2, padding=((0, 3), (2, 0)))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


# ---- SciPy -----------------------------------------------------------------------------------
SCIPY_SHAPES = [((7, 9), (3, 3)), ((8, 5), (5, 3)), ((6, 6), (2, 4)), ((4, 5), (4, 5))]


@pytest.mark.parametrize("xs, ks", SCIPY_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("flip", [False, True], ids=["correlate2d", "convolve2d"])
def test_oracle_matches_scipy(xs, ks, flip):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    x, k = rng.standard_normal(xs), rng.standard_normal(ks)
    scipy_fn = signal.convolve2d if flip else signal.correlate2d
    kh, kw = ks
    modes = {"valid": 0, "full": ((kh - 1, kh - 1), (kw - 1, kw - 1))}
    if kh % 2 and kw % 2:  # scipy centres "same" like padding (k-1)/2 only for odd kernels
        modes["same"] = "same"
    for mode, padding in modes.items():
        y = reference.conv2d(x[None, None], k[None, None], padding=padding, flip=flip)[0, 0]
        np.testing.assert_allclose(y, scipy_fn(x, k, mode=mode), rtol=1e-12, atol=1e-12,
                                   err_msg=mode)
