"""fastconv.grad against torch.autograd: conv2d/conv1d gradients and conv_transpose2d/1d.

Every case of the shared catalog (SMOKE, EDGES, SMALL_MODEL_LAYERS) runs in float64: torch
computes the reference gradients of the same convolution, expressed in torch's own terms
(channels-last layouts permuted, flipped kernels flipped, asymmetric and string paddings as an
explicit zero pad), so no case is skipped. Results come back in NaN-filled arrays, so an
element a phase forgot to write fails the comparison.
"""
import numpy as np
import pytest

import fastconv
from fastconv import api, grad
from fastconv.testing import (
    EDGES,
    SMALL_MODEL_LAYERS,
    SMOKE,
    case_rng,
    make_inputs,
    normwise_error,
    strided_view,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

CATALOG = SMOKE + EDGES + SMALL_MODEL_LAYERS
# The bound is 1e-6; float64 results land near 1e-15, so a real bug cannot hide in it.
TOL = 1e-6


class _NaNEmptyNumpy:
    """numpy for fastconv.grad, except that ``empty`` returns NaN-filled arrays."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float, **kwargs):
        out = np.empty(shape, dtype, **kwargs)
        out.fill(np.nan)
        return out


@pytest.fixture
def nan_outputs(monkeypatch):
    monkeypatch.setattr(grad, "np", _NaNEmptyNumpy())


def torch_reference(case, x, w, dy_user):
    """torch.autograd's (grad_x, grad_w) for ``case``, in the case's layouts, float64."""
    p = case.problem
    x4 = np.ascontiguousarray(api._logical_input(x, case.layout), dtype=np.float64)
    w4 = api._logical_weight(w, case.layout)
    w4 = np.ascontiguousarray(w4[:, :, ::-1, ::-1] if case.flip else w4, dtype=np.float64)
    xt = torch.tensor(x4, requires_grad=True)
    wt = torch.tensor(w4, requires_grad=True)
    top, bottom, left, right = p.padding
    y = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, None, p.stride, 0, p.dilation,
                 p.groups)
    y.backward(torch.tensor(np.ascontiguousarray(api._logical_input(dy_user, case.layout))))
    gx = np.empty(case.x_shape)
    api._logical_input(gx, case.layout)[...] = xt.grad.numpy()
    gw = np.empty(case.weight_shape)
    view = api._logical_weight(gw, case.layout)
    (view[:, :, ::-1, ::-1] if case.flip else view)[...] = wt.grad.numpy()
    return gx, gw


def grad_fns(case):
    if case.spatial_dims == 2:
        return fastconv.conv2d_grad_input, fastconv.conv2d_grad_weight
    return fastconv.conv1d_grad_input, fastconv.conv1d_grad_weight


def inputs64(case):
    case = case.replace(dtype="float64")
    x, w, _ = make_inputs(case, case_rng(case))
    dy = case_rng(case, 1).standard_normal(case.out_shape)
    return case, x, w, dy


@pytest.mark.parametrize("case", CATALOG, ids=str)
def test_gradients_match_torch(case, nan_outputs):
    case, x, w, dy = inputs64(case)
    ex, ew = torch_reference(case, x, w, dy)
    grad_input, grad_weight = grad_fns(case)
    gx = grad_input(dy, w, case.x_shape, **case.kwargs)
    gw = grad_weight(x, dy, case.weight_shape, **case.kwargs)
    assert gx.shape == ex.shape and gx.dtype == np.float64
    assert normwise_error(gx, ex) <= TOL, case.id
    assert normwise_error(gw, ew) <= TOL, case.id


# The weight gradient has two routes (fastconv.grad.grad_weight_logical): the lowered GEMM for
# ungrouped problems under algo="auto", and the swapped correlation otherwise. The catalog above
# covers the GEMM for ungrouped cases; here every case takes the correlation, through each
# algorithm the dispatcher could give it, on strided, NaN-gapped inputs.
@pytest.mark.parametrize("algo", ["direct", "im2col"])
@pytest.mark.parametrize("case", SMOKE + EDGES, ids=str)
def test_swapped_correlation_routes(case, algo, nan_outputs):
    case, x, w, dy = inputs64(case)
    ex, ew = torch_reference(case, x, w, dy)
    grad_input, grad_weight = grad_fns(case)
    gx = grad_input(strided_view(dy), strided_view(w), case.x_shape, **case.kwargs, algo=algo)
    gw = grad_weight(strided_view(x), strided_view(dy), case.weight_shape, **case.kwargs,
                     algo=algo)
    assert normwise_error(gx, ex) <= TOL
    assert normwise_error(gw, ew) <= TOL


@pytest.mark.parametrize("case", SMOKE, ids=str)
def test_float32_gradients(case):
    """float32 in, float32 out, within the float32 GEMM tolerance of the float64 answer."""
    case = case.replace(dtype="float32")
    x, w, _ = make_inputs(case, case_rng(case))
    dy = case_rng(case, 1).standard_normal(case.out_shape).astype(np.float32)
    ex, ew = torch_reference(case, x, w, dy)
    grad_input, grad_weight = grad_fns(case)
    gx = grad_input(dy, w, case.x_shape, **case.kwargs)
    gw = grad_weight(x, dy, case.weight_shape, **case.kwargs)
    assert gx.dtype == gw.dtype == np.float32
    assert normwise_error(gx, ex) <= 1e-5 and normwise_error(gw, ew) <= 1e-5


def test_empty_batch():
    dy = np.zeros((0, 4, 6, 6))
    w = np.ones((4, 3, 3, 3))
    assert fastconv.conv2d_grad_input(dy, w, (0, 3, 8, 8)).shape == (0, 3, 8, 8)
    gw = fastconv.conv2d_grad_weight(np.zeros((0, 3, 8, 8)), dy, w.shape)
    assert gw.shape == w.shape and not gw.any()


def test_gradcheck():
    """torch.autograd.gradcheck of fastconv.torch's function on small float64 problems
    (fast_mode: a few random projections of the Jacobian instead of one call per element)."""
    import fastconv.torch as ft

    rng = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=rng, requires_grad=True)

    for args in [{"stride": 2, "padding": 1}, {"dilation": (2, 1), "padding": (2, 0)},
                 {"groups": 2, "stride": (1, 3)}]:
        x, w, b = t(2, 4, 7, 6), t(4, 4 // args.get("groups", 1), 3, 2), t(4)
        assert torch.autograd.gradcheck(
            lambda x, w, b, args=args: ft.conv2d(x, w, b, **args), (x, w, b), fast_mode=True)
    x, w, b = t(2, 3, 11), t(6, 1, 4), t(6)
    assert torch.autograd.gradcheck(
        lambda x, w, b: ft.conv1d(x, w, b, stride=2, padding=2, dilation=2, groups=3),
        (x, w, b), fast_mode=True)


# ---- conv_transpose ---------------------------------------------------------------------------
def transpose_cases():
    """The catalog's NCHW/NCL cases with torch-expressible (symmetric int) paddings, each once
    without and once with the largest output_padding torch allows."""
    params = []
    for case in CATALOG:
        if case.layout not in ("NCHW", "NCL") or case.flip:
            continue
        pads = case.problem.padding[4 - 2 * case.spatial_dims:]
        if any(pads[i] != pads[i + 1] for i in range(0, len(pads), 2)):
            continue
        padding = tuple(pads[0::2])
        p = case.problem
        strides, dils = p.stride[2 - case.spatial_dims:], p.dilation[2 - case.spatial_dims:]
        largest = tuple(max(s, d) - 1 for s, d in zip(strides, dils))
        for extra in {tuple(0 for _ in largest), largest}:
            params.append(pytest.param(case, padding, extra, id=f"{case.id}-op{extra}"))
    return params


@pytest.mark.parametrize("case, padding, output_padding", transpose_cases())
def test_conv_transpose_matches_torch(case, padding, output_padding):
    p, dims = case.problem, case.spatial_dims
    rng = case_rng(case, 2)
    # transpose of the case's convolution: its input has C_out channels, its output C_in
    out_size = (p.h_out, p.w_out)[2 - dims:]
    x = rng.standard_normal((case.n, case.c_out, *out_size)).astype(case.dtype)
    w = rng.standard_normal((case.c_out, case.c_in // case.groups, *case.kernel)).astype(
        case.dtype)
    b = rng.standard_normal(case.c_in).astype(case.dtype) if case.bias else None
    stride, dilation = p.stride[2 - dims:], p.dilation[2 - dims:]
    ours = (fastconv.conv_transpose2d if dims == 2 else fastconv.conv_transpose1d)
    theirs = F.conv_transpose2d if dims == 2 else F.conv_transpose1d
    y = ours(x, w, b, stride, padding, output_padding, case.groups, dilation)
    ref = theirs(torch.tensor(x, dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                 None if b is None else torch.tensor(b, dtype=torch.float64), stride, padding,
                 output_padding, case.groups, dilation).numpy()
    assert y.shape == ref.shape and y.dtype == np.dtype(case.dtype)
    tol = 1e-12 if case.dtype == "float64" else 2e-6
    assert normwise_error(y, ref) <= tol


def test_conv_transpose_layer_shapes():
    """A decoder's upsampling layers: 2x and 4x with output_padding, grouped, dilated."""
    rng = np.random.default_rng(0)
    for (c_in, c_out, k, s, p, op, g, d) in [(8, 4, 4, 2, 1, 0, 1, 1), (6, 6, 3, 2, 1, 1, 3, 1),
                                             (4, 2, 5, 4, 2, 3, 2, 1), (3, 5, 3, 1, 2, 1, 1, 2)]:
        x = rng.standard_normal((2, c_in, 5, 7))
        w = rng.standard_normal((c_in, c_out // g, k, k))
        y = fastconv.conv_transpose2d(x, w, None, s, p, op, g, d)
        ref = F.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, s, p, op, g, d)
        assert normwise_error(y, ref.numpy()) <= 1e-12


# ---- argument errors --------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, words", [
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)),
                                        (1, 1, 6, 5)), ValueError, "grad_out"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)),
                                        (1, 1, 5)), ValueError, "input_shape"),
    (lambda: fastconv.conv2d_grad_input(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)),
                                        (1, 1, 5, 5), stride=0), ValueError, "stride"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 1, 5, 5)), np.ones((1, 2, 3, 3)),
                                         (2, 1, 3)), ValueError, "weight_shape"),
    (lambda: fastconv.conv2d_grad_weight(np.ones((1, 1, 5, 5)), np.ones((1, 2, 3, 3)),
                                         (2, 1, 3, 3), groups=1.0), TypeError, "groups"),
    (lambda: fastconv.conv1d_grad_weight(np.ones((1, 1, 5)), np.ones((1, 2, 3), complex),
                                         (2, 1, 3)), TypeError, "grad_out"),
    (lambda: fastconv.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), stride=2,
                                       output_padding=2), ValueError, "output_padding"),
    (lambda: fastconv.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((3, 1, 3, 3))),
     ValueError, "C_in"),
    (lambda: fastconv.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)),
                                       groups=3), ValueError, "groups"),
    (lambda: fastconv.conv_transpose2d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)),
                                       padding="same"), ValueError, "padding"),
    (lambda: fastconv.conv_transpose2d(np.ones((1, 2, 1, 1)), np.ones((2, 1, 1, 1)),
                                       padding=1), ValueError, "padding"),
    (lambda: fastconv.conv_transpose1d(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3))),
     ValueError, "x must be 3-D"),
])
def test_argument_errors(call, error, words):
    with pytest.raises(error, match=words):
        call()
