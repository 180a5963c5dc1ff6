"""Argument normalisation shared by every entry point: validate what a user passed to conv2d /
conv1d (or the gradients, the oracle, fastconv.dask) and build a ConvProblem plus kernel-ready
arrays in logical NCHW order.

Everything a user can get wrong is caught here with a one-line TypeError or ValueError that
names the argument. The module sits below both ``fastconv.api`` (which dispatches and runs) and
``fastconv.reference`` (the oracle), so that the oracle checks the API's semantics without
importing the API: imports run one way, from the API down.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

import numpy as np

from .problem import LAYOUTS_1D, LAYOUTS_2D, ConvProblem

PADDING_MODES = ("valid", "same", "same_lower")
INT64_MAX = 2**63 - 1  # sizes, strides and paddings cross into C as int64_t


class PreparedCall(NamedTuple):
    """A validated call: the problem and its operands as kernels take them."""
    problem: ConvProblem
    x: np.ndarray      # (n, c_in, h, w), problem dtype, kernel-ready strides
    w: np.ndarray      # (c_out, c_in/groups, kh, kw), flip applied
    bias: Optional[np.ndarray]


def prepare(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip,
            dtype=None) -> PreparedCall:
    """Validate every argument and build the problem plus kernel-ready logical arrays."""
    layouts = LAYOUTS_2D if spatial_dims == 2 else LAYOUTS_1D
    if not isinstance(layout, str) or layout not in layouts:
        raise ValueError(f"layout must be one of {layouts}, got {layout!r}")
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"flip must be a bool, got {type(flip).__name__}")
    x = _as_real_array(x, "x")
    weight = _as_real_array(weight, "weight")
    bias = None if bias is None else _as_real_array(bias, "bias")
    dtype = _compute_dtype(x, weight, bias) if dtype is None else np.dtype(dtype)

    ndim = spatial_dims + 2
    if x.ndim != ndim:
        raise ValueError(f"x must be {ndim}-D {_x_layout_text(layout)}, got shape {x.shape}")
    if weight.ndim != ndim:
        raise ValueError(f"weight must be {ndim}-D {_w_layout_text(layout)}, got shape "
                         f"{weight.shape}")
    x4, w4 = _logical_input(x, layout), _logical_weight(weight, layout)
    n, c_in, h, w = x4.shape
    c_out, c_in_g, kh, kw = w4.shape

    groups = _positive_int(groups, "groups")
    if c_in == 0:
        raise ValueError(f"x has no input channels (shape {x.shape})")
    if h == 0 or w == 0:
        raise ValueError(f"x has an empty spatial dimension (shape {x.shape})")
    if kh == 0 or kw == 0:
        raise ValueError(f"weight has an empty kernel dimension (shape {weight.shape})")
    if c_in % groups or c_out % groups:
        raise ValueError(f"groups={groups} must divide both C_in={c_in} and C_out={c_out}")
    if c_in_g != c_in // groups:
        raise ValueError(f"weight expects {c_in_g} input channels per group but x has "
                         f"C_in={c_in} with groups={groups} ({c_in // groups} per group)")
    if bias is not None and bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) (C_out), got {bias.shape}")

    stride2 = _per_dim(stride, "stride", spatial_dims)
    dilation2 = _per_dim(dilation, "dilation", spatial_dims)
    pads = _padding(padding, spatial_dims, (h, w), (kh, kw), stride2, dilation2)
    for axis, (size, k, s, d, before, after) in enumerate(
            zip((h, w), (kh, kw), stride2, dilation2, pads[0::2], pads[1::2])):
        if size + before + after < d * (k - 1) + 1:
            name = ("length" if spatial_dims == 1 else ("height", "width")[axis])
            raise ValueError(f"weight's kernel {name} {k} (dilation {d}: spans "
                             f"{d * (k - 1) + 1}) is larger than the padded input {name} "
                             f"{size + before + after} (x: {size}, padding: {before} + {after})")
        if size + before + after > INT64_MAX:
            name = ("length" if spatial_dims == 1 else ("height", "width")[axis])
            raise ValueError(f"padding {before} + {after} makes the padded input {name} "
                             f"{size + before + after}, beyond the int64 sizes the kernels take")

    problem = ConvProblem(n=n, c_in=c_in, h=h, w=w, c_out=c_out, kh=kh, kw=kw, stride=stride2,
                          dilation=dilation2, padding=pads, groups=groups, dtype=dtype.name,
                          layout=layout, flip=bool(flip), spatial_dims=spatial_dims)
    return _operands(problem, x4, w4, bias)


def _operands(problem: ConvProblem, x4: np.ndarray, w4: np.ndarray,
              bias: Optional[np.ndarray]) -> PreparedCall:
    """The validated logical views of ``problem`` (_logical_input, _logical_weight) as kernels
    take them: flip applied, compute dtype, aligned."""
    dtype = problem.np_dtype
    if problem.flip:
        w4 = w4[:, :, ::-1, ::-1]
    return PreparedCall(problem, _kernel_operand(x4, dtype), _kernel_operand(w4, dtype),
                        None if bias is None else _kernel_operand(bias, dtype))


def _as_real_array(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype "
                        f"{arr.dtype}")
    return arr


def _compute_dtype(x, weight, bias) -> np.dtype:
    for name, arr in (("x", x), ("weight", weight), ("bias", bias)):
        if arr is not None and np.result_type(arr.dtype, np.float32) not in (np.float32,
                                                                              np.float64):
            raise TypeError(f"{name} has dtype {arr.dtype}, which is not supported: fastconv "
                            f"computes in float32 or float64 (cast {name} explicitly)")
    # The output dtype follows x and weight alone (bias is cast to it), as the API promises.
    return np.result_type(x.dtype, weight.dtype, np.float32)


def _x_layout_text(layout: str) -> str:
    return {"NCHW": "(N, C_in, H, W)", "NHWC": "(N, H, W, C_in)", "NCL": "(N, C_in, L)",
            "NLC": "(N, L, C_in)"}[layout]


def _w_layout_text(layout: str) -> str:
    return {"NCHW": "(C_out, C_in/groups, kH, kW)", "NHWC": "(kH, kW, C_in/groups, C_out)",
            "NCL": "(C_out, C_in/groups, K)", "NLC": "(K, C_in/groups, C_out)"}[layout]


def _logical_input(x: np.ndarray, layout: str) -> np.ndarray:
    """x as a (n, c, h, w) view, whatever the layout (conv1d: h = 1)."""
    if layout == "NHWC":
        return x.transpose(0, 3, 1, 2)
    if layout == "NCL":
        return x[:, :, None, :]
    if layout == "NLC":
        return x.transpose(0, 2, 1)[:, :, None, :]
    return x


def _logical_weight(w: np.ndarray, layout: str) -> np.ndarray:
    """weight as a (c_out, c_in/groups, kh, kw) view (HWIO and WIO are transposed views)."""
    if layout == "NHWC":
        return w.transpose(3, 2, 0, 1)
    if layout == "NCL":
        return w[:, :, None, :]
    if layout == "NLC":
        return w.transpose(2, 1, 0)[:, :, None, :]
    return w


def logical_output(problem: ConvProblem, out: np.ndarray) -> np.ndarray:
    """The user's output array as a (n, c_out, h_out, w_out) view."""
    return _logical_input(out, problem.layout)


def _kernel_operand(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` as kernels take it: the compute dtype, native byte order, aligned, strides in whole
    elements. Views that already are pass through; anything else is copied once. Never
    written to, so read-only inputs are fine."""
    if (a.dtype == dtype and a.flags.aligned
            and all(s % dtype.itemsize == 0 for s in a.strides)):
        return a
    # a fresh copy: np.ascontiguousarray would hand back a contiguous but misaligned array
    # unchanged (misaligned float loads are undefined behaviour in C; UBSan caught it)
    return np.array(a, dtype=dtype, order="C", copy=True)


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if not 1 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be >= 1 and fit in int64, got {value}")
    return int(value)


def _per_dim(value, name: str, spatial_dims: int) -> tuple[int, int]:
    """An int or one int per spatial dimension -> (height, width) values (conv1d: height 1)."""
    if isinstance(value, (list, tuple)):
        if len(value) != spatial_dims:
            raise ValueError(f"{name} must be an int or {spatial_dims} ints, got {value!r}")
        values = tuple(_positive_int(v, name) for v in value)
    else:
        values = (_positive_int(value, name),) * spatial_dims
    return values if spatial_dims == 2 else (1,) + values


def _nonnegative_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} ({value!r})")
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{name} must be >= 0 and fit in int64, got {value}")
    return int(value)


def _padding(padding, spatial_dims, sizes, kernel, stride, dilation) -> tuple[int, int, int, int]:
    """Resolve ``padding`` to (top, bottom, left, right); conv1d gets top = bottom = 0."""
    if isinstance(padding, str):
        if padding not in PADDING_MODES:
            raise ValueError(f"padding must be an int, per-dimension ints or (before, after) "
                             f"pairs, or one of {PADDING_MODES}; got {padding!r}")
        pairs = []
        for size, k, s, d in zip(sizes, kernel, stride, dilation):
            if padding == "valid":
                pairs.append((0, 0))
                continue
            out = -(-size // s)  # ceil(size / stride)
            total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
            small, large = total // 2, total - total // 2
            pairs.append((small, large) if padding == "same" else (large, small))
        return pairs[0] + pairs[1]

    if isinstance(padding, (list, tuple)):
        entries = list(padding)
        if spatial_dims == 1 and len(entries) == 2 and all(
                not isinstance(e, (list, tuple)) for e in entries):
            entries = [tuple(entries)]  # conv1d: (before, after)
        if len(entries) != spatial_dims:
            raise ValueError(f"padding must have {spatial_dims} entries (one per spatial "
                             f"dimension), got {padding!r}")
        pairs = []
        for entry in entries:
            if isinstance(entry, (list, tuple)):
                if len(entry) != 2:
                    raise ValueError(f"padding entries must be an int or a (before, after) "
                                     f"pair, got {entry!r}")
                pairs.append(tuple(_nonnegative_int(e, "padding") for e in entry))
            else:
                p = _nonnegative_int(entry, "padding")
                pairs.append((p, p))
    else:
        p = _nonnegative_int(padding, "padding")
        pairs = [(p, p)] * spatial_dims
    if spatial_dims == 1:
        pairs = [(0, 0)] + pairs
    return pairs[0] + pairs[1]
