"""Gradients of conv2d/conv1d and the transposed convolution, built on the forward convolutions.

Nothing here loops over pixels: every gradient is one or a few calls of fastconv.conv2d (the
dispatcher picks direct, im2col or fft and the backend) on views of the operands, plus NumPy
re-layouts of the small weight tensor.

- grad_input is the sum, over every output pixel, of grad_out times the kernel, scattered
  back onto the input: a correlation of grad_out with the flipped, channel-transposed kernel.
  With stride s the scatter only reaches every s-th input pixel from each tap, so instead of
  correlating a zero-inserted grad_out (s^2 times the work, mostly multiplying zeros) the input
  is split into its s x s phases (the "sub-pixel" decomposition): the input pixels p, p + s,
  p + 2s, ... are reached only by the taps r with r * dilation = p (mod s), and form a stride-1
  correlation of grad_out with those taps, at dilation dilation / gcd(stride, dilation).
  Each phase is one conv2d call writing into a strided view of the result.
- grad_weight is the correlation of x with grad_out with roles swapped: x's channels become the
  batch, the batch becomes the reduction, grad_out is the kernel, the forward stride becomes the
  dilation and the forward dilation the stride; its output is the kernel-sized gradient.
- the bias gradient is grad_out summed over batch and space (``grad_out.sum((0, 2, 3))``).
- conv_transpose2d / conv_transpose1d (torch semantics) are grad_input of the convolution they
  transpose, plus the bias.

Arguments are validated by fastconv.api.prepare on the forward problem they describe, so every
mistake is reported in the words the forward API uses.
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np

from . import api, backends, workspace
from .problem import ConvProblem


# ---- public functions ----------------------------------------------------------------------
def conv2d_grad_input(grad_out, weight, input_shape, stride=1, padding=0, dilation=1, groups=1,
                      *, layout="NCHW", flip=False, algo="auto", backend="auto"):
    """Gradient of ``conv2d(x, weight, ...)`` with respect to ``x`` (torch's semantics).

    A correlation of ``grad_out`` with the flipped, channel-transposed kernel; with stride s,
    split into the s x s phases of the input (each a stride-1 correlation with the taps that
    reach it), so no zeros are inserted and no multiply is wasted.

    Parameters
    ----------
    grad_out : array_like
        Gradient of the loss with respect to the convolution's output: the output's shape,
        in ``layout``.
    weight : array_like
        The forward kernel, as :func:`fastconv.conv2d` takes it.
    input_shape : tuple of 4 ints
        Shape of the forward input ``x``, in ``layout`` (it cannot always be inferred: with
        stride > 1 several input sizes give the same output size).
    stride, padding, dilation, groups, layout, flip : optional
        The forward convolution's arguments, with the meaning, defaults and checks of
        :func:`fastconv.conv2d` (every padding form, layout and ``flip``).
    algo, backend : str, optional
        Which forward implementations compute it (as :func:`fastconv.conv2d`); "auto"
        lets the dispatcher choose for each call it makes.

    Returns
    -------
    numpy.ndarray
        The gradient with respect to ``x``: ``input_shape``, float32 or float64.

    Raises
    ------
    TypeError
        An argument of the wrong type, or an array that does not hold real numbers.
    ValueError
        ``grad_out`` not of the forward output's shape, or any argument
        :func:`fastconv.conv2d` would refuse for the forward problem (the message is the
        forward API's).
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run one of the convolutions needed.
    MemoryError
        The result or a workspace cannot be allocated within the limits.

    See Also
    --------
    conv2d_grad_weight, conv_transpose2d, fastconv.torch.Conv2d
    """
    return _grad_input(2, grad_out, weight, input_shape, stride, padding, dilation, groups,
                       layout, flip, algo, backend)


def conv1d_grad_input(grad_out, weight, input_shape, stride=1, padding=0, dilation=1, groups=1,
                      *, layout="NCL", flip=False, algo="auto", backend="auto"):
    """Gradient of ``conv1d(x, weight, ...)`` with respect to ``x``.

    Parameters
    ----------
    grad_out : array_like
        Gradient with respect to the output: ``(N, C_out, L_out)`` (NCL) or
        ``(N, L_out, C_out)`` (NLC).
    weight : array_like
        The forward kernel, as :func:`fastconv.conv1d` takes it.
    input_shape : tuple of 3 ints
        Shape of the forward input ``x``, in ``layout``.
    stride, padding, dilation, groups, layout, flip : optional
        The forward convolution's arguments, with the meaning, defaults and checks of
        :func:`fastconv.conv1d` (every padding form, layout and ``flip``).
    algo, backend : str, optional
        Which forward implementations compute it (as :func:`fastconv.conv1d`); "auto"
        lets the dispatcher choose for each call it makes.

    Returns
    -------
    numpy.ndarray
        The gradient with respect to ``x``: ``input_shape``.

    Raises
    ------
    TypeError
        An argument of the wrong type, or an array that does not hold real numbers.
    ValueError
        ``grad_out`` not of the forward output's shape, or any argument
        :func:`fastconv.conv1d` would refuse for the forward problem (the message is the
        forward API's).
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run one of the convolutions needed.
    MemoryError
        The result or a workspace cannot be allocated within the limits.

    See Also
    --------
    conv2d_grad_input
    """
    return _grad_input(1, grad_out, weight, input_shape, stride, padding, dilation, groups,
                       layout, flip, algo, backend)


def conv2d_grad_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCHW", flip=False, algo="auto", backend="auto"):
    """Gradient of ``conv2d(x, weight, ...)`` with respect to ``weight`` (torch's semantics).

    For ungrouped problems under ``algo="auto"``, a GEMM of ``grad_out`` with the lowered
    ``x`` (fastconv's GEMM, batch chunks within the workspace limit); otherwise ``x``
    correlated with ``grad_out`` with roles swapped (channels as the batch, stride and
    dilation exchanged). The bias gradient needs no call: it is ``grad_out.sum((0, 2, 3))``
    (NCHW) or ``grad_out.sum((0, 1, 2))`` (NHWC).

    Parameters
    ----------
    x : array_like
        The forward input, as :func:`fastconv.conv2d` takes it.
    grad_out : array_like
        Gradient with respect to the output: the output's shape, in ``layout``.
    weight_shape : tuple of 4 ints
        Shape of the forward kernel in the layout's weight order: OIHW, or HWIO for NHWC.
    stride, padding, dilation, groups, layout, flip : optional
        The forward convolution's arguments, with the meaning, defaults and checks of
        :func:`fastconv.conv2d` (every padding form, layout and ``flip``).
    algo, backend : str, optional
        Which forward implementations compute it (as :func:`fastconv.conv2d`); "auto"
        lets the dispatcher choose for each call it makes.

    Returns
    -------
    numpy.ndarray
        The gradient with respect to ``weight``: ``weight_shape``.

    Raises
    ------
    TypeError
        An argument of the wrong type, or an array that does not hold real numbers.
    ValueError
        ``grad_out`` not of the forward output's shape, or any argument
        :func:`fastconv.conv2d` would refuse for the forward problem (the message is the
        forward API's).
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run one of the convolutions needed.
    MemoryError
        The result or a workspace cannot be allocated within the limits.

    See Also
    --------
    conv2d_grad_input
    """
    return _grad_weight(2, x, grad_out, weight_shape, stride, padding, dilation, groups, layout,
                        flip, algo, backend)


def conv1d_grad_weight(x, grad_out, weight_shape, stride=1, padding=0, dilation=1, groups=1,
                       *, layout="NCL", flip=False, algo="auto", backend="auto"):
    """Gradient of ``conv1d(x, weight, ...)`` with respect to ``weight``.

    The bias gradient is ``grad_out.sum((0, 2))`` (NCL) or ``grad_out.sum((0, 1))`` (NLC).

    Parameters
    ----------
    x : array_like
        The forward input, as :func:`fastconv.conv1d` takes it.
    grad_out : array_like
        Gradient with respect to the output, in ``layout``.
    weight_shape : tuple of 3 ints
        Shape of the forward kernel: ``(C_out, C_in/groups, K)``, or ``(K, C_in/groups,
        C_out)`` for NLC.
    stride, padding, dilation, groups, layout, flip : optional
        The forward convolution's arguments, with the meaning, defaults and checks of
        :func:`fastconv.conv1d` (every padding form, layout and ``flip``).
    algo, backend : str, optional
        Which forward implementations compute it (as :func:`fastconv.conv1d`); "auto"
        lets the dispatcher choose for each call it makes.

    Returns
    -------
    numpy.ndarray
        The gradient with respect to ``weight``: ``weight_shape``.

    Raises
    ------
    TypeError
        An argument of the wrong type, or an array that does not hold real numbers.
    ValueError
        ``grad_out`` not of the forward output's shape, or any argument
        :func:`fastconv.conv1d` would refuse for the forward problem (the message is the
        forward API's).
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run one of the convolutions needed.
    MemoryError
        The result or a workspace cannot be allocated within the limits.

    See Also
    --------
    conv2d_grad_weight
    """
    return _grad_weight(1, x, grad_out, weight_shape, stride, padding, dilation, groups, layout,
                        flip, algo, backend)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algo="auto", backend="auto"):
    """Transposed 2-D convolution with ``torch.nn.functional.conv_transpose2d``'s semantics.

    The gradient with respect to the input of the convolution it transposes, plus the bias.

    Parameters
    ----------
    x : array_like
        ``(N, C_in, H, W)`` (NCHW only).
    weight : array_like
        ``(C_in, C_out/groups, kH, kW)``, as torch lays out a transposed convolution's kernel.
    bias : array_like or None, optional
        ``(C_out,)``. Default None.
    stride, dilation : int or (int, int), optional
        Each >= 1. Default 1.
    padding : int or tuple, optional
        An int, one int per dimension, or ``(before, after)`` pairs per dimension (then
        ``H_out`` uses ``before + after`` instead of ``2 * padding``). String modes are
        refused. Default 0.
    output_padding : int or (int, int), optional
        Extra rows / columns at the end of the output, each smaller than stride or
        dilation, as in torch. Default 0.
    groups : int, optional
        Channel groups, dividing C_in. Default 1.
    algo, backend : str, optional
        Which forward implementations compute it (as :func:`fastconv.conv2d`).

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H_out, W_out)`` with ``H_out = (H - 1) * stride - 2 * padding +
        dilation * (kH - 1) + output_padding + 1``.

    Raises
    ------
    TypeError
        An argument of the wrong type, or an array that does not hold real numbers.
    ValueError
        Wrong dimensions, ``weight.shape[0] != C_in``, groups not dividing C_in, a string
        padding, ``output_padding`` not below stride or dilation, padding that leaves no
        output, or a bias of the wrong shape.
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run the convolutions needed.
    MemoryError
        The result or a workspace cannot be allocated within the limits.

    See Also
    --------
    conv_transpose1d, conv2d_grad_input
    """
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, algo, backend)


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, algo="auto", backend="auto"):
    """Transposed 1-D convolution with ``torch.nn.functional.conv_transpose1d``'s semantics.

    Parameters
    ----------
    x : array_like
        ``(N, C_in, L)``.
    weight : array_like
        ``(C_in, C_out/groups, K)``.
    bias : array_like or None, optional
        ``(C_out,)``. Default None.
    stride, padding, output_padding, groups, dilation : optional
        As :func:`conv_transpose2d`, one value (or one pair) for the one dimension.
    algo, backend : str, optional
        As :func:`fastconv.conv1d`.

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, L_out)``, ``L_out = (L - 1) * stride - 2 * padding + dilation * (K - 1)
        + output_padding + 1``.

    Raises
    ------
    TypeError, ValueError, NotImplementedError, MemoryError
        As :func:`conv_transpose2d`.
    """
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups,
                           dilation, algo, backend)


# ---- validation: the forward problem each gradient belongs to ------------------------------
def _shape(value, name: str, ndim: int) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != ndim:
        raise ValueError(f"{name} must be a tuple of {ndim} ints, got {value!r}")
    if any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) or v < 0
           for v in value):
        raise ValueError(f"{name} must hold {ndim} non-negative ints, got {value!r}")
    return tuple(int(v) for v in value)


def _placeholder(shape, dtype) -> np.ndarray:
    """A zero-stride array of ``shape``: lets api.prepare validate a shape at no cost."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _check_grad_out(problem: ConvProblem, grad_out: np.ndarray) -> None:
    if grad_out.shape != problem.user_out_shape:
        raise ValueError(f"grad_out must have the convolution's output shape "
                         f"{problem.user_out_shape}, got {grad_out.shape}")


def _grad_input(spatial_dims, grad_out, weight, input_shape, stride, padding, dilation, groups,
                layout, flip, algo, backend):
    grad_out = api._as_real_array(grad_out, "grad_out")
    weight = api._as_real_array(weight, "weight")
    dtype = api._compute_dtype(grad_out, weight, None)
    input_shape = _shape(input_shape, "input_shape", spatial_dims + 2)
    call = api.prepare(spatial_dims, _placeholder(input_shape, dtype), weight, None, stride,
                       padding, dilation, groups, layout, flip, dtype=dtype)
    problem = call.problem
    _check_grad_out(problem, grad_out)
    dy = api._kernel_operand(api._logical_input(grad_out, layout), dtype)
    result = np.empty(input_shape, dtype=dtype)
    grad_input_logical(problem, dy, call.w, api._logical_input(result, layout), algo, backend)
    return result


def _grad_weight(spatial_dims, x, grad_out, weight_shape, stride, padding, dilation, groups,
                 layout, flip, algo, backend):
    x = api._as_real_array(x, "x")
    grad_out = api._as_real_array(grad_out, "grad_out")
    dtype = api._compute_dtype(x, grad_out, None)
    weight_shape = _shape(weight_shape, "weight_shape", spatial_dims + 2)
    call = api.prepare(spatial_dims, x, _placeholder(weight_shape, dtype), None, stride,
                       padding, dilation, groups, layout, flip, dtype=dtype)
    problem = call.problem
    _check_grad_out(problem, grad_out)
    dy = api._kernel_operand(api._logical_input(grad_out, layout), dtype)
    result = np.empty(weight_shape, dtype=dtype)
    dw = api._logical_weight(result, layout)
    if flip:  # the user's kernel is the flipped logical kernel: so is its gradient
        dw = dw[:, :, ::-1, ::-1]
    grad_weight_logical(problem, call.x, dy, dw, algo, backend)
    return result


def _output_padding(value, spatial_dims: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if len(value) != spatial_dims:
            raise ValueError(f"output_padding must be an int or {spatial_dims} ints, got "
                             f"{value!r}")
        return tuple(api._nonnegative_int(v, "output_padding") for v in value)
    return (api._nonnegative_int(value, "output_padding"),) * spatial_dims


def _conv_transpose(spatial_dims, x, weight, bias, stride, padding, output_padding, groups,
                    dilation, algo, backend):
    x = api._as_real_array(x, "x")
    weight = api._as_real_array(weight, "weight")
    bias = None if bias is None else api._as_real_array(bias, "bias")
    dtype = api._compute_dtype(x, weight, bias)
    ndim = spatial_dims + 2
    if x.ndim != ndim:
        raise ValueError(f"x must be {ndim}-D (N, C_in, {'H, W' if ndim == 4 else 'L'}), got "
                         f"shape {x.shape}")
    if weight.ndim != ndim:
        raise ValueError(f"weight must be {ndim}-D (C_in, C_out/groups, "
                         f"{'kH, kW' if ndim == 4 else 'K'}), got shape {weight.shape}")
    if isinstance(padding, str):
        # A ValueError, as for any other unknown padding: strings are valid types elsewhere.
        message = f"padding of a transposed convolution must be ints or pairs, got {padding!r}"
        raise ValueError(message)  # noqa: TRY004
    groups = api._positive_int(groups, "groups")
    strides = api._per_dim(stride, "stride", spatial_dims)[2 - spatial_dims:]
    dilations = api._per_dim(dilation, "dilation", spatial_dims)[2 - spatial_dims:]
    extra = _output_padding(output_padding, spatial_dims)
    if weight.shape[0] != x.shape[1]:
        raise ValueError(f"weight's first dimension ({weight.shape[0]}) must be x's channels "
                         f"C_in={x.shape[1]} (weight is (C_in, C_out/groups, ...))")
    if x.shape[1] % groups:
        raise ValueError(f"groups={groups} must divide x's channels C_in={x.shape[1]}")
    # The padding as the forward convolution resolves it (string forms were refused above).
    pads = api._padding(padding, spatial_dims, None, None, None, None)
    pads = pads[2 * (2 - spatial_dims):]
    out_size = []
    for axis, (size, k, s, d, op) in enumerate(zip(x.shape[2:], weight.shape[2:], strides,
                                                   dilations, extra)):
        if op >= max(s, d):
            raise ValueError(f"output_padding {op} must be smaller than stride {s} or "
                             f"dilation {d}")
        before, after = pads[2 * axis:2 * axis + 2]
        length = (size - 1) * s - before - after + d * (k - 1) + op + 1
        if length < 1:
            raise ValueError(f"padding {before} + {after} leaves no output: a transposed "
                             f"convolution of size {size} with kernel {k}, stride {s} and "
                             f"dilation {d} gives {length}")
        out_size.append(length)
    c_out = weight.shape[1] * groups
    out_shape = (x.shape[0], c_out, *out_size)
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (C_out), got {bias.shape}")
    # The convolution this transposes: input out_shape, weight as given (it reads C_out/groups
    # input channels per group and writes C_in), producing x's shape.
    call = api.prepare(spatial_dims, _placeholder(out_shape, dtype), weight, None, stride,
                       padding, dilation, groups, "NCHW" if spatial_dims == 2 else "NCL", False,
                       dtype=dtype)
    result = np.empty(out_shape, dtype=dtype)
    if result.size:
        dy = api._kernel_operand(api._logical_input(x, "NCHW" if spatial_dims == 2 else "NCL"),
                                 dtype)
        y = api._logical_input(result, "NCHW" if spatial_dims == 2 else "NCL")
        grad_input_logical(call.problem, dy, call.w, y, algo, backend)
        if bias is not None:
            y += bias.astype(dtype, copy=False)[None, :, None, None]
    return result


# ---- the computations, on logical NCHW arrays ----------------------------------------------
class _Phase(NamedTuple):
    """One residue class of input positions along one axis (see the module docstring)."""
    out: slice        # the input positions of this phase (a slice of the gradient's axis)
    taps: np.ndarray | None  # kernel taps, last first (a correlation); None: no term
    src: slice        # the part of grad_out the correlation reads
    pad: tuple[int, int]  # zeros before and after that part
    dilation: int


def _phases(size, out_size, k, stride, dilation, before) -> list[_Phase]:
    """For one axis: the stride-1 correlations whose results interleave into grad_input.

    Input position i (padded coordinate i + before) receives grad_out[o] * w[r] for every
    o * stride + r * dilation = i + before. For the phase p = (i + before) mod stride the taps
    are r_j = r0 + j * stride / g (g = gcd(stride, dilation)) and o = q - m_j, where
    q = (i + before) // stride and m_j = m0 + j * D, D = dilation / g: a correlation of grad_out
    with the taps reversed, at dilation D. Phases no tap reaches are zero.
    """
    g = math.gcd(stride, dilation)
    step = dilation // g
    phases = []
    for p in range(stride):
        q_first = -((p - before) // stride)           # ceil((before - p) / stride)
        q_last = (before + size - 1 - p) // stride
        count = q_last - q_first + 1
        if count <= 0:
            continue
        first = p + stride * q_first - before
        out = slice(first, first + stride * (count - 1) + 1, stride)
        taps = [r for r in range(k) if (r * dilation) % stride == p]
        if not taps:
            phases.append(_Phase(out, None, slice(0, 0), (0, 0), 1))
            continue
        m0 = (taps[0] * dilation - p) // stride
        pad_before = m0 + (len(taps) - 1) * step - q_first
        pad_after = count + (len(taps) - 1) * step - out_size - pad_before
        lo, hi = max(0, -pad_before), out_size - max(0, -pad_after)
        if hi <= lo:  # every term reads beyond grad_out: the phase is zero
            phases.append(_Phase(out, None, slice(0, 0), (0, 0), 1))
            continue
        phases.append(_Phase(out, np.array(taps[::-1]), slice(lo, hi),
                             (max(0, pad_before), max(0, pad_after)), step))
    return phases


def grad_input_logical(problem: ConvProblem, dy, w, dx, algo="auto", backend="auto") -> None:
    """Write the gradient of ``problem``'s convolution with respect to its input into ``dx``
    (n, c_in, h, w), from ``dy`` (n, c_out, h_out', w_out') and the logical kernel ``w``
    (c_out, c_in/groups, kh, kw, flip applied). ``dy``'s spatial size may exceed the problem's
    output (conv_transpose with output_padding >= stride): every entry of ``dy`` is used."""
    g, kg, cg = problem.groups, problem.c_out_per_group, problem.c_in_per_group
    if 0 in dx.shape:
        return
    # Per group, (c_out, c_in) becomes (c_in, c_out): the correlation maps c_out to c_in.
    wt = (np.asarray(w).reshape(g, kg, cg, problem.kh, problem.kw).transpose(0, 2, 1, 3, 4)
          .reshape(problem.c_in, kg, problem.kh, problem.kw))
    rows = _phases(problem.h, dy.shape[2], problem.kh, problem.stride[0], problem.dilation[0],
                   problem.padding[0])
    cols = _phases(problem.w, dy.shape[3], problem.kw, problem.stride[1], problem.dilation[1],
                   problem.padding[2])
    for row in rows:
        for col in cols:
            target = dx[:, :, row.out, col.out]
            if row.taps is None or col.taps is None:
                target[...] = 0
                continue
            kernel = wt[:, :, row.taps][:, :, :, col.taps]
            api.conv2d(dy[:, :, row.src, col.src], kernel, None, stride=1,
                       padding=(row.pad, col.pad), dilation=(row.dilation, col.dilation),
                       groups=g, algo=algo, backend=backend, out=target)


def grad_weight_logical(problem: ConvProblem, x, dy, dw, algo="auto", backend="auto") -> None:
    """Write the gradient of ``problem``'s convolution with respect to its logical kernel into
    ``dw`` (c_out, c_in/groups, kh, kw) from ``x`` (n, c_in, h, w) and ``dy``.

    Ungrouped problems with algo and backend left to fastconv run as one GEMM of grad_out with
    lowered x (_grad_weight_gemm); the rest, and every explicit algo/backend request, as the
    correlation with roles swapped (_grad_weight_swapped)."""
    if problem.n == 0:
        dw[...] = 0
        return
    if (algo == "auto" and backend in ("auto", "c") and problem.groups == 1
            and backends.unavailable_reason("c") is None):
        _grad_weight_gemm(problem, x, dy, dw)
    else:
        _grad_weight_swapped(problem, x, dy, dw, algo, backend)


def _grad_weight_gemm(problem: ConvProblem, x, dy, dw) -> None:
    """dw (c_out x c_in*kh*kw) = grad_out (c_out x n*h_out*w_out) @ lowered x^T, with fastconv's
    GEMM, over chunks of the batch whose lowered x fits the workspace limit.

    Why not the swapped correlation here: its output is only kh x kw pixels per (c_in, c_out)
    pair, so its GEMM has kh*kw columns (a sliver of the 6x16 register tile) and its FFT
    transforms whole planes to produce nine numbers; the lowered GEMM has c_in*kh*kw columns."""
    from .backends import c as c_backend

    n, c, _, _ = x.shape
    k, ho, wo = problem.c_out, problem.h_out, problem.w_out
    (sh, sw), (dh, dwid) = problem.stride, problem.dilation
    top, bottom, left, right = problem.padding
    if top or bottom or left or right:  # (np.pad does the same at several times the cost)
        xp = np.zeros((n, c, problem.h + top + bottom, problem.w + left + right), x.dtype)
        xp[:, :, top:top + problem.h, left:left + problem.w] = x
    else:
        xp = x
    s_n, s_c, s_h, s_w = xp.strides
    # lowered[c, r, s, n, i, j] = xp[n, c, i*sh + r*dh, j*sw + s*dw]: a view, copied per chunk
    lowered = np.lib.stride_tricks.as_strided(
        xp, (c, problem.kh, problem.kw, n, ho, wo),
        (s_c, dh * s_h, dwid * s_w, s_n, sh * s_h, sw * s_w), writeable=False)
    rows = c * problem.kh * problem.kw
    per_sample = rows * ho * wo * xp.itemsize
    chunk = max(1, min(n, workspace.get_workspace_limit() // max(per_sample, 1)))
    result = np.empty((k, rows), dtype=xp.dtype)
    for first in range(0, n, chunk):
        part = slice(first, min(n, first + chunk))
        cols = np.ascontiguousarray(lowered[:, :, :, part]).reshape(rows, -1)
        grads = np.ascontiguousarray(dy[part].transpose(1, 0, 2, 3)).reshape(k, -1)
        c_backend.gemm(grads, cols.T, out=result, beta=0.0 if first == 0 else 1.0)
    dw[...] = result.reshape(dw.shape)


def _grad_weight_swapped(problem: ConvProblem, x, dy, dw, algo, backend) -> None:
    """dw as a correlation of x with grad_out: x's channels become the batch and the batch the
    reduction (per group), grad_out is the kernel, stride and dilation trade places."""
    g, cg, n = problem.groups, problem.c_in_per_group, problem.n
    crops, pads = [], []
    for size, out, k, s, d, (before, after) in zip(
            (problem.h, problem.w), (problem.h_out, problem.w_out), (problem.kh, problem.kw),
            problem.stride, problem.dilation, (problem.padding[:2], problem.padding[2:])):
        # Trailing rows no tap ever reaches (stride skipping them) are dropped, so that the
        # swapped correlation produces exactly k taps.
        excess = size + before + after - (s * (out - 1) + d * (k - 1) + 1)
        cut = max(0, excess - after)
        crops.append(size - cut)
        pads.append((before, after - (excess - cut)))
    if min(crops) <= 0:  # x lies entirely in rows no tap reaches: its gradient is zero
        dw[...] = 0
        return
    x = x[:, :, :crops[0], :crops[1]]
    xs = (x.reshape(n, g, cg, crops[0], crops[1]).transpose(2, 1, 0, 3, 4)
          .reshape(cg, g * n, crops[0], crops[1]))
    if algo == "auto":
        # The output is kh x kw: whole-plane FFTs cannot pay off (see _grad_weight_gemm).
        algo = ("direct", "im2col")
    api.conv2d(xs, dy.transpose(1, 0, 2, 3), None, stride=problem.dilation,
               padding=tuple(pads), dilation=problem.stride, groups=g, algo=algo,
               backend=backend, out=dw.transpose(1, 0, 2, 3))
