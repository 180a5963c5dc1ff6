"""conv2d and conv1d: normalise and validate arguments into a ConvProblem, never compute.

Everything a user can get wrong is caught here with a one-line TypeError or ValueError that
names the argument, before any kernel runs. What reaches a kernel is a ConvProblem plus arrays
in logical NCHW order (views wherever possible: channels-last layouts, flipped kernels and
conv1d are strides, not copies).
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional

import numpy as np

from . import dispatch, profiling
from .problem import LAYOUTS_1D, LAYOUTS_2D, ConvProblem

PADDING_MODES = ("valid", "same", "same_lower")
BACKEND_NAMES = ("c", "numba", "cuda", "numpy")
INT64_MAX = 2**63 - 1  # sizes, strides and paddings cross into C as int64_t


class PreparedCall(NamedTuple):
    problem: ConvProblem
    x: np.ndarray      # (n, c_in, h, w), problem dtype, kernel-ready strides
    w: np.ndarray      # (c_out, c_in/groups, kh, kw), flip applied
    bias: Optional[np.ndarray]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           flip=False, algo="auto", backend="auto", out=None):
    """2-D convolution (cross-correlation, as in PyTorch) of ``x`` with ``weight``.

    x: (N, C_in, H, W), or (N, H, W, C_in) with ``layout="NHWC"``.
    weight: (C_out, C_in/groups, kH, kW), or (kH, kW, C_in/groups, C_out) ("HWIO") for NHWC.
    bias: (C_out,) or None.
    stride, dilation: int or (int, int), each >= 1.
    padding: int; or per dimension an int or a (before, after) pair; or "valid"; or "same"
        (output ceil(in/stride), odd extra padding at the end) or "same_lower" (at the start).
    groups: splits channels into independent groups (groups == C_in: depthwise).
    flip: True computes the mathematical convolution (kernel flipped in space).
    algo: "auto", "direct", "im2col", "fft", "reference", or a tuple of them to choose among.
    backend: "auto", "c", "numba", "cuda" ("numpy" for the reference).
    out: preallocated output of exactly the result's shape and dtype, not overlapping inputs.

    Returns the output, (N, C_out, H_out, W_out) or (N, H_out, W_out, C_out) for NHWC, as
    float32 or float64 (other real dtypes are promoted as np.result_type(x, weight, float32)).
    """
    return _convolve(2, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend, out)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCL",
           flip=False, algo="auto", backend="auto", out=None):
    """1-D convolution: ``x`` (N, C_in, L) or (N, L, C_in) with ``layout="NLC"``; ``weight``
    (C_out, C_in/groups, K) or (K, C_in/groups, C_out) for NLC. ``padding`` may also be a
    (before, after) pair. Everything else as :func:`conv2d`."""
    return _convolve(1, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend, out)


def _convolve(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip,
              algo, backend, out):
    key = _call_key(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout,
                    flip, algo, backend)
    known = _KNOWN_CALLS.get(key) if key is not None else None
    if known is not None:  # validated before: only the operands are new
        problem, algos, backend_name = known
        call = _operands(problem, _logical_input(x, problem.layout),
                         _logical_weight(weight, problem.layout), bias)
    else:
        algos = _parse_algo(algo)
        backend_name = _parse_backend(backend)
        if any(_on_cuda_device(a) for a in (x, weight, bias)):
            return _convolve_on_device(spatial_dims, x, weight, bias, stride, padding, dilation,
                                       groups, layout, flip, algos, backend_name, out)
        call = prepare(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout,
                       flip)
    # the output first: an impossible size fails fast, before the cost model looks at it
    output = _output(call.problem, out, (x, weight, bias))
    impl = dispatch.select(call.problem, algos, backend_name)  # in-memory LRU once known
    if key is not None and known is None:
        if len(_KNOWN_CALLS) >= KNOWN_CALLS_MAX:
            _KNOWN_CALLS.clear()
        _KNOWN_CALLS[key] = (call.problem, algos, backend_name)
    return execute(call, impl.name, impl.run, out, (x, weight, bias), output)


# ---- repeated calls ------------------------------------------------------------------------
# Validation costs tens of microseconds of Python per call, as much as a small layer's kernel.
# A call whose arrays have the shapes, strides and dtypes and whose other arguments have the
# values (and types) of an earlier valid call describes the same problem: it is looked up here
# instead of validated again. Only NumPy arrays and plain int / str / bool / tuple arguments
# make a key (a list or a torch tensor is validated every time), and only calls that passed
# validation are remembered. Operand conversion (dtype, alignment) still runs per call: it
# depends on the data's address.
KNOWN_CALLS_MAX = 1024
_KNOWN_CALLS: dict[tuple, tuple] = {}


def _value_key(v):
    """A hashable key for an argument that distinguishes types (stride=True is invalid where
    stride=1 is not, though True == 1), or None when the argument is not a plain value."""
    t = type(v)
    if t is int or t is str or t is bool or v is None:
        return (t, v)
    if t is tuple:
        parts = tuple(_value_key(e) for e in v)
        return None if None in parts else (t, parts)
    return None


def _array_key(a):
    if type(a) is not np.ndarray:
        return None
    return (a.shape, a.strides, a.dtype)


def _call_key(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip,
              algo, backend):
    arrays = (_array_key(x), _array_key(weight), (None if bias is None else _array_key(bias)))
    if arrays[0] is None or arrays[1] is None or (bias is not None and arrays[2] is None):
        return None
    values = tuple(_value_key(v) for v in (stride, padding, dilation, groups, layout, flip,
                                           algo, backend))
    if None in values:
        return None
    return (spatial_dims, arrays, values)


def execute(call: PreparedCall, impl_name: str, run, out, inputs, output=None):
    """``run(problem, x, w, bias, y)`` (implementation ``impl_name``'s, or a plan's prepared
    one) on a validated call, into ``out`` or a new array (``output``: what ``_output``
    already returned for them): the output handling (and the profiling hook) conv2d and
    ConvPlan share."""
    problem = call.problem
    result, y, copy_back = output if output is not None else _output(problem, out, inputs)
    if 0 in problem.out_shape:
        return result
    if profiling.recorder is None:
        run(problem, call.x, call.w, call.bias, y)
    else:  # inside fastconv.profile(): timed, C phases collected
        profiling.recorder.record(problem, impl_name, run, problem, call.x, call.w, call.bias, y)
    if copy_back:
        logical_output(problem, result)[...] = y
    return result


# ---- CUDA device arrays ------------------------------------------------------------------
def _on_cuda_device(a) -> bool:
    """Whether ``a`` lives on a CUDA device: __cuda_array_interface__ (CuPy, torch CUDA
    tensors, Numba device arrays) or a Numba device array (the simulator's lack the interface).
    Attribute checks only: nothing is imported or copied."""
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


def _convolve_on_device(spatial_dims, x, weight, bias, stride, padding, dilation, groups,
                        layout, flip, algos, backend_name, out):
    """Device inputs: validated by the same ``prepare`` on zero-stride host placeholders of
    their shapes and dtypes (no copy), computed by a cuda implementation on the device, and
    answered with a device array in the user's layout (host weight or bias are copied over)."""
    if backend_name not in (None, "cuda"):
        raise NotImplementedError(f"CUDA device arrays are not supported by backend "
                                  f"{backend_name!r}: use backend='cuda' (or 'auto')")
    if out is not None:
        raise NotImplementedError("out= is not supported for CUDA device arrays: the result "
                                  "is returned as a new device array")
    from .backends import numba_cuda
    shadows = [None if a is None else _as_real_array(numba_cuda.host_placeholder(a), name)
               for a, name in ((x, "x"), (weight, "weight"), (bias, "bias"))]
    dtype = _compute_dtype(*shadows)
    # placeholders already in the compute dtype, so that prepare() converts nothing
    shadows = [None if a is None else np.broadcast_to(np.zeros((), dtype), a.shape)
               for a in shadows]
    problem = prepare(spatial_dims, *shadows, stride, padding, dilation, groups, layout, flip,
                      dtype=dtype).problem
    impl = dispatch.select(problem, algos, "cuda")
    return numba_cuda.run_on_device(impl, problem, x, weight, bias)


# ---- argument normalisation ----------------------------------------------------------------
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


def _parse_algo(algo) -> Optional[tuple[str, ...]]:
    """None for "auto", else the tuple of algorithm names to choose among."""
    known = dispatch.algo_names()
    if isinstance(algo, str):
        if algo == "auto":
            return None
        names = (algo,)
    elif isinstance(algo, (list, tuple)) and algo:
        names = tuple(algo)
    else:
        raise TypeError(f"algo must be 'auto', an algorithm name or a tuple of names, got "
                        f"{algo!r}")
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"algo {name!r} is unknown; choose from {('auto',) + known}")
    return names


def _parse_backend(backend) -> Optional[str]:
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    if backend == "auto":
        return None
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend {backend!r} is unknown; choose from "
                         f"{('auto',) + BACKEND_NAMES}")
    return backend


# ---- output ------------------------------------------------------------------------------
def _output(problem: ConvProblem, out, inputs):
    """(array returned to the user, logical array the kernel writes, whether that array is a
    temporary to copy back: ``out`` with strides the kernels cannot take)."""
    shape, dtype = problem.user_out_shape, problem.np_dtype
    if out is None:
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        try:
            result = np.empty(shape, dtype=dtype)
        except (MemoryError, ValueError):
            raise MemoryError(f"cannot allocate the output {shape} {dtype} "
                              f"({nbytes / 2**30:.3g} GiB)") from None
        return result, logical_output(problem, result), False
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {shape} and dtype {dtype}, got {out.shape} "
                         f"{out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    for arr in inputs:
        if isinstance(arr, np.ndarray) and _overlaps(out, arr):
            raise ValueError("out must not overlap the inputs (x, weight, bias)")
    if out.flags.aligned and all(s % dtype.itemsize == 0 for s in out.strides):
        return out, logical_output(problem, out), False
    return out, np.empty(problem.out_shape, dtype=dtype), True


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except np.exceptions.TooHardError:
        return True  # cannot prove they are disjoint: refuse rather than corrupt

